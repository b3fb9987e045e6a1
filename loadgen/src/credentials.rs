//! Who the run acts as. Submissions carry a user's token and workers
//! register with a fleet's registration token, then act with the worker
//! token each registration hands back — the path real clients take, token
//! checks included. Given only the admin token, the run makes a user and a
//! worker principal of its own.

use std::time::{SystemTime, UNIX_EPOCH};

use switchyard_protocol::{Client, CreatePrincipal, Role};

use crate::args::BenchArgs;

/// The tokens of a run.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Sent with submissions.
    pub submit: Option<String>,
    /// Sent with registrations (each worker then uses its own token, when
    /// the answer carries one).
    pub register: Option<String>,
    /// How they were obtained, for the report.
    pub source: String,
}

impl Credentials {
    /// The tokens `args` name; for those missing, principals made with the
    /// admin token (or the admin token itself when that fails, e.g. on a
    /// coordinator without principals).
    pub async fn resolve(args: &BenchArgs) -> Self {
        let given =
            |t: &Option<switchyard_config::Secret>| t.as_ref().map(|t| t.expose().to_owned());
        let mut submit = given(&args.token);
        let mut register = given(&args.registration_token);
        let mut notes = [
            describe("submit", &submit, "token given"),
            describe("register", &register, "token given"),
        ];
        if let Some(admin) = given(&args.admin_token) {
            let stamp = format!(
                "{}-{}",
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                std::process::id()
            );
            let client = Client::new(&args.url)
                .ok()
                .map(|c| c.with_token(admin.clone()));
            for (index, (slot, role, name)) in [
                (&mut submit, Role::User, format!("bench-user-{stamp}")),
                (&mut register, Role::Worker, format!("bench-fleet-{stamp}")),
            ]
            .into_iter()
            .enumerate()
            {
                if slot.is_some() {
                    continue;
                }
                let issued = match &client {
                    Some(client) => client
                        .admin_create_principal(&CreatePrincipal {
                            name: name.clone(),
                            role,
                        })
                        .await
                        .map_err(|e| e.to_string()),
                    None => Err("no HTTP client".to_owned()),
                };
                let what = if index == 0 { "submit" } else { "register" };
                *slot = Some(match issued {
                    Ok(issued) => {
                        notes[index] = format!(
                            "{what}: {} principal `{name}` made for this run",
                            role.as_str()
                        );
                        issued.token
                    }
                    Err(error) => {
                        tracing::warn!(%error, "could not make a {} principal; using the admin token", role.as_str());
                        notes[index] = format!("{what}: admin token");
                        admin.clone()
                    }
                });
            }
        }
        let source = notes.join("; ");
        Self {
            submit,
            register,
            source,
        }
    }
}

fn describe(what: &str, token: &Option<String>, given: &str) -> String {
    match token {
        Some(_) => format!("{what}: {given}"),
        None => format!("{what}: no token"),
    }
}
