//! Failures of a command, and what the user should be told about them:
//! each says what went wrong and what to do, and carries its exit status.

use switchyard_protocol::error::error_chain;
use switchyard_protocol::{ClientError, ErrorBody, ErrorCode, TaskId, WorkerId};

use crate::exit;

/// What a failed request was about, so that "not found" can name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    None,
    Task(TaskId),
    Worker(WorkerId),
    Token(i64),
    Principal(String),
}

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// A request to the coordinator failed.
    Client {
        error: ClientError,
        subject: Subject,
    },
    /// The command could not be run as asked (no token, say), with its status.
    Message { text: String, status: u8 },
}

impl CliError {
    /// A failure at run time that is not the coordinator's answer (status 1).
    pub fn failure(text: impl Into<String>) -> Self {
        Self::Message {
            text: text.into(),
            status: exit::FAILURE,
        }
    }

    /// A failure of the setup: no token, an unreadable token file (status 3).
    pub fn setup(text: impl Into<String>) -> Self {
        Self::Message {
            text: text.into(),
            status: exit::UNREACHABLE,
        }
    }

    /// The exit status of this failure.
    pub fn status(&self) -> u8 {
        match self {
            Self::Client { error, .. } => client_status(error),
            Self::Message { status, .. } => *status,
        }
    }

    /// The API's error body, when the coordinator answered with one.
    pub fn body(&self) -> Option<&ErrorBody> {
        match self {
            Self::Client {
                error: ClientError::Api { body, .. },
                ..
            } => Some(body),
            _ => None,
        }
    }

    /// What to tell the user; `urls` names the coordinators asked.
    pub fn advice(&self, urls: &str) -> String {
        match self {
            Self::Client { error, subject } => client_advice(error, subject, urls),
            Self::Message { text, .. } => text.clone(),
        }
    }
}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> Self {
        Self::Client {
            error,
            subject: Subject::None,
        }
    }
}

/// Turns a client error into a [`CliError`] about `subject`, for `map_err`.
pub fn about(subject: Subject) -> impl FnOnce(ClientError) -> CliError {
    move |error| CliError::Client { error, subject }
}

/// 3 when the coordinator could not be reached or TLS failed; 1 for an answer.
fn client_status(error: &ClientError) -> u8 {
    match error {
        ClientError::Transport(e) if !e.is_decode() && !e.is_body() => exit::UNREACHABLE,
        ClientError::UntrustedCertificate { .. }
        | ClientError::Tls { .. }
        | ClientError::Setup(_) => exit::UNREACHABLE,
        ClientError::Api { .. } | ClientError::Unexpected { .. } | ClientError::Transport(_) => {
            exit::FAILURE
        }
    }
}

fn client_advice(error: &ClientError, subject: &Subject, urls: &str) -> String {
    match error {
        ClientError::Api { body, .. } => api_advice(body, subject, urls),
        ClientError::Unexpected { status, text } => format!(
            "unexpected answer from the coordinator at {urls} ({status}): {}; is \
             SWITCHYARD_URL the coordinator's address, not a proxy's?",
            crate::table::truncate(text, 200)
        ),
        ClientError::Transport(e) if e.is_timeout() => format!(
            "the coordinator at {urls} did not answer in time: is it overloaded or cut off \
             from its database? ({})",
            error_chain(error)
        ),
        ClientError::Transport(e) if e.is_decode() || e.is_body() => format!(
            "could not read the coordinator's answer from {urls}: {}",
            error_chain(error)
        ),
        ClientError::Transport(_) => format!(
            "cannot reach the coordinator at {urls}: is it running? (SWITCHYARD_URL or --url) \
             ({})",
            error_chain(error)
        ),
        ClientError::UntrustedCertificate { reason, .. } => format!(
            "the certificate of the coordinator at {urls} is not trusted ({reason}): name the \
             CA that signed it with SWITCHYARD_CA_FILE or --ca-file"
        ),
        ClientError::Tls { reason, .. } => format!(
            "TLS with the coordinator at {urls} failed ({reason}): does the URL's scheme \
             (http:// or https://) match what the coordinator speaks?"
        ),
        ClientError::Setup(e) => format!("cannot set up the client: {e}"),
    }
}

fn api_advice(body: &ErrorBody, subject: &Subject, urls: &str) -> String {
    let message = &body.message;
    match (body.code, subject) {
        (ErrorCode::Unauthorized, _) => format!(
            "the coordinator refused the token ({message}): set SWITCHYARD_TOKEN or put a \
             token in ~/.config/switchyard/token"
        ),
        (ErrorCode::Forbidden, _) => format!(
            "the token's principal may not do this ({message}); admin commands need an admin \
             token"
        ),
        (ErrorCode::TaskNotFound, Subject::Task(id)) => {
            format!("no task {id} (or it is not yours)")
        }
        (ErrorCode::WorkerNotFound, Subject::Worker(id)) => format!("no worker {id}"),
        (ErrorCode::TokenNotFound, Subject::Token(id)) => format!("no token {id}"),
        (ErrorCode::PrincipalNotFound, Subject::Principal(name)) => {
            format!("no principal named {name}")
        }
        (ErrorCode::PrincipalExists, Subject::Principal(name)) => {
            format!("a principal named {name} exists already")
        }
        (ErrorCode::ValidationFailed, _) => match &body.field {
            Some(field) => format!("the coordinator refused `{field}`: {message}"),
            None => format!("the coordinator refused the request: {message}"),
        },
        (ErrorCode::InvalidStateTransition, _) => format!("not possible now: {message}"),
        (ErrorCode::WorkerGone, Subject::Worker(id)) => {
            format!("worker {id} is gone: {message}")
        }
        (ErrorCode::NotFound | ErrorCode::MethodNotAllowed, _) => format!(
            "the coordinator at {urls} does not know this request ({message}): is it an older \
             version than this client?"
        ),
        (
            ErrorCode::Unavailable
            | ErrorCode::NotLeader
            | ErrorCode::TooManyConnections
            | ErrorCode::AuthBusy
            | ErrorCode::QueueFull,
            _,
        ) => format!("the coordinator is busy or unavailable ({message}): try again shortly"),
        (code, _) => format!("{message} ({code})"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use switchyard_protocol::StatusCode;

    use super::*;

    fn api(status: u16, code: ErrorCode, subject: Subject) -> CliError {
        CliError::Client {
            error: ClientError::Api {
                status: StatusCode::from_u16(status).unwrap(),
                body: ErrorBody {
                    code,
                    message: "the message".to_owned(),
                    field: None,
                    leader_url: None,
                },
            },
            subject,
        }
    }

    #[test]
    fn api_errors_say_what_to_do_and_exit_1() {
        let refused = api(401, ErrorCode::Unauthorized, Subject::None);
        assert_eq!(refused.status(), 1);
        assert!(refused.advice("u").contains("set SWITCHYARD_TOKEN"));
        assert_eq!(refused.body().unwrap().code, ErrorCode::Unauthorized);
        let missing = api(404, ErrorCode::TaskNotFound, Subject::Task(TaskId(42)));
        assert_eq!(missing.advice("u"), "no task 42 (or it is not yours)");
        let route = api(404, ErrorCode::NotFound, Subject::Task(TaskId(42)));
        assert!(route.advice("http://c:1").contains("older version"));
    }

    #[test]
    fn messages_carry_their_status() {
        assert_eq!(CliError::setup("no token").status(), 3);
        assert_eq!(CliError::failure("x").status(), 1);
        assert!(CliError::failure("x").body().is_none());
    }
}
