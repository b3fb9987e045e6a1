//! A task's environment, built from nothing: what the operator lets tasks
//! inherit from the agent (`--task-env-allow`), who the task runs as, the
//! task's own `env`, and which attempt it is. Nothing else of the agent's
//! environment (its token above all) reaches a task.

use std::collections::BTreeMap;
use std::ffi::OsString;

use switchyard_protocol::Assignment;

use crate::identity::TaskUser;

/// Variables of the agent's environment that tasks inherit, taken once at
/// start-up (after the agent dropped its token from its environment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Inherited(Vec<(String, String)>);

impl Inherited {
    /// The variables of `environment` that `allow` names: exact names, or
    /// prefixes written `LC_*`. Names or values that are not UTF-8 are left
    /// out. `SWITCHYARD_*` never passes, whatever `allow` says.
    pub(crate) fn select(
        allow: &[String],
        environment: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Self {
        let allowed = |name: &str| {
            !name.starts_with("SWITCHYARD")
                && allow.iter().any(|pattern| match pattern.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix),
                    None => name == pattern,
                })
        };
        let mut vars: Vec<(String, String)> = environment
            .into_iter()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .filter(|(name, _)| allowed(name))
            .collect();
        vars.sort();
        Self(vars)
    }
}

/// The whole environment of one attempt. Later sources win: inherited
/// variables, then the user's identity, then the task's own `env`, then
/// `SWITCHYARD_TASK_ID` and `SWITCHYARD_ATTEMPT`, which the task cannot
/// override.
pub(crate) fn build(
    inherited: &Inherited,
    user: &TaskUser,
    assignment: &Assignment,
) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = inherited.0.iter().cloned().collect();
    env.insert("HOME".into(), user.home.display().to_string());
    env.insert("USER".into(), user.name.clone());
    env.insert("LOGNAME".into(), user.name.clone());
    env.insert("SHELL".into(), user.shell.display().to_string());
    env.extend(assignment.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.insert(
        "SWITCHYARD_TASK_ID".into(),
        assignment.task_id.0.to_string(),
    );
    env.insert("SWITCHYARD_ATTEMPT".into(), assignment.attempt.to_string());
    env.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use switchyard_protocol::TaskId;

    use super::*;

    fn user() -> TaskUser {
        TaskUser {
            name: "nobody".into(),
            uid: 65534,
            gid: 65534,
            groups: vec![65534],
            home: PathBuf::from("/nonexistent"),
            shell: PathBuf::from("/usr/sbin/nologin"),
        }
    }

    fn vars(list: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        list.iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn only_allowed_variables_are_inherited_and_never_our_own() {
        let allow = [
            "PATH".to_owned(),
            "LC_*".to_owned(),
            "SWITCHYARD_TOKEN".to_owned(),
        ];
        let inherited = Inherited::select(
            &allow,
            vars(&[
                ("PATH", "/usr/bin"),
                ("LC_ALL", "C"),
                ("LANG", "en"),
                ("AWS_SECRET_ACCESS_KEY", "x"),
                ("SWITCHYARD_TOKEN", "sy_secret"),
                ("PATHX", "no"),
            ]),
        );
        assert_eq!(
            inherited,
            Inherited(vec![
                ("LC_ALL".into(), "C".into()),
                ("PATH".into(), "/usr/bin".into()),
            ])
        );
    }

    #[test]
    fn the_task_env_wins_but_not_over_the_attempt() {
        let inherited = Inherited(vec![("PATH".into(), "/usr/bin".into())]);
        let assignment = Assignment {
            task_id: TaskId(12),
            attempt: 3,
            argv: vec!["true".into()],
            env: [
                ("PATH".to_owned(), "/opt/bin".to_owned()),
                ("SWITCHYARD_ATTEMPT".to_owned(), "99".to_owned()),
            ]
            .into(),
            working_dir: None,
            timeout_secs: 10,
        };
        let env: BTreeMap<_, _> = build(&inherited, &user(), &assignment)
            .into_iter()
            .collect();
        assert_eq!(env["PATH"], "/opt/bin");
        assert_eq!(env["HOME"], "/nonexistent");
        assert_eq!(env["USER"], "nobody");
        assert_eq!(env["LOGNAME"], "nobody");
        assert_eq!(env["SWITCHYARD_TASK_ID"], "12");
        assert_eq!(env["SWITCHYARD_ATTEMPT"], "3");
        assert_eq!(env.len(), 7, "{env:?}");
    }
}
