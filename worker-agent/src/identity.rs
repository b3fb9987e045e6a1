//! Whom tasks run as: `--run-as USER`, or the agent's own user, and never
//! root unless the operator says so (`--allow-root-tasks`).
//!
//! A task that runs as the agent's own user can do whatever the agent can:
//! read its token file, signal it, kill its supervisors. Running tasks as
//! another, unprivileged user is what keeps the fleet's credentials out of
//! their reach; see the security guide.

use std::ffi::CString;
use std::path::PathBuf;

use anyhow::{Context, bail};
use nix::unistd::{Gid, Uid, User, getgrouplist};

use crate::supervisor::wire::Credentials;

/// The user a task runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskUser {
    pub(crate) name: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Supplementary groups, the primary one included.
    pub(crate) groups: Vec<u32>,
    pub(crate) home: PathBuf,
    pub(crate) shell: PathBuf,
}

/// Whom tasks run as, and whether the agent must switch user to get there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) user: TaskUser,
    /// What the exec step switches to; `None` when tasks run as the agent's
    /// own user.
    pub(crate) switch: Option<Credentials>,
}

impl Identity {
    /// Resolves `run_as` (a name or a numeric uid; `None`: the agent's own
    /// user) and applies the root policy.
    pub(crate) fn resolve(run_as: Option<&str>, allow_root: bool) -> anyhow::Result<Self> {
        let me = Uid::effective();
        let (user, switch) = match run_as {
            Some(spec) => {
                let user = lookup(spec)?;
                let switch = if user.uid == me.as_raw() {
                    None
                } else if me.is_root() {
                    Some(Credentials {
                        uid: user.uid,
                        gid: user.gid,
                        groups: user.groups.clone(),
                    })
                } else {
                    bail!(
                        "--run-as {spec} needs the agent to run as root (it runs as uid {me}); \
                         start it as root, or drop --run-as to run tasks as uid {me}"
                    );
                };
                (user, switch)
            }
            None => (own_user(me), None),
        };
        if user.uid == 0 && !allow_root {
            bail!(
                "refusing to run tasks as root: a task could then read the agent's token and \
                 take over the machine. Pass --run-as USER (an unprivileged user with no access \
                 to the token file), or --allow-root-tasks if tasks really must run as root"
            );
        }
        Ok(Self { user, switch })
    }
}

/// A user by name or numeric uid, with its groups.
fn lookup(spec: &str) -> anyhow::Result<TaskUser> {
    let found = match spec.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(spec),
    }
    .with_context(|| format!("failed to look up the user `{spec}`"))?;
    let Some(user) = found else {
        bail!("--run-as: there is no user `{spec}` on this machine");
    };
    task_user(user)
}

fn task_user(user: User) -> anyhow::Result<TaskUser> {
    let name = CString::new(user.name.clone())
        .with_context(|| format!("user name `{}` holds a NUL", user.name))?;
    let groups = getgrouplist(&name, user.gid)
        .with_context(|| format!("failed to read the groups of `{}`", user.name))?;
    Ok(TaskUser {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        groups: groups.into_iter().map(Gid::as_raw).collect(),
        home: user.dir,
        shell: user.shell,
    })
}

/// The agent's own user; one without an entry in the user database gets a
/// name that is its uid.
fn own_user(me: Uid) -> TaskUser {
    match User::from_uid(me).ok().flatten().map(task_user) {
        Some(Ok(user)) => user,
        _ => TaskUser {
            name: me.to_string(),
            uid: me.as_raw(),
            gid: Gid::effective().as_raw(),
            groups: vec![Gid::effective().as_raw()],
            home: PathBuf::from("/"),
            shell: PathBuf::from("/bin/sh"),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn root_needs_permission() {
        let root_agent = Uid::effective().is_root();
        let own = Identity::resolve(None, false);
        assert_eq!(own.is_err(), root_agent, "{own:?}");
        if root_agent {
            let message = own.unwrap_err().to_string();
            assert!(message.contains("--run-as"), "{message}");
            assert!(Identity::resolve(None, true).unwrap().switch.is_none());
            assert!(Identity::resolve(Some("root"), false).is_err());
            let nobody = Identity::resolve(Some("nobody"), false).unwrap();
            assert_eq!(nobody.user.name, "nobody");
            let switch = nobody.switch.unwrap();
            assert_ne!(switch.uid, 0);
            assert!(switch.groups.contains(&switch.gid));
        }
    }

    #[test]
    fn unknown_users_are_named() {
        let error = Identity::resolve(Some("no-such-user-here"), true).unwrap_err();
        assert!(error.to_string().contains("no-such-user-here"), "{error}");
    }
}
