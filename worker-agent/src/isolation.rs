//! How this agent keeps tasks apart from itself and from each other, decided
//! once at start-up: whom tasks run as, what of the agent's environment they
//! inherit, where their working directories and the agent's records live,
//! and whether each task gets a cgroup. See the security guide for the
//! threat model this serves.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;
use nix::fcntl::Flock;
use switchyard_config::{AgentConfig, CgroupMode};

use crate::cgroup::Cgroups;
use crate::identity::Identity;
use crate::statedir::StateDir;
use crate::taskenv::Inherited;

/// Everything the runner needs to start an attempt apart from its spec.
#[derive(Debug, Clone)]
pub(crate) struct Isolation {
    /// The program run as each attempt's supervisor: this binary.
    pub(crate) supervisor: PathBuf,
    pub(crate) identity: Identity,
    pub(crate) inherited: Inherited,
    pub(crate) state: StateDir,
    pub(crate) keep_work_dirs: bool,
    /// `None`: the supervisor alone holds each task.
    pub(crate) cgroups: Option<Cgroups>,
    /// The state folder's lock, held while the agent runs (`None` in tests
    /// that make an isolation by hand).
    pub(crate) _lock: Option<Arc<Flock<File>>>,
}

impl Isolation {
    /// Resolves the configuration; fails with a message an operator can act
    /// on when tasks could not be run safely as configured.
    pub(crate) fn prepare(config: &AgentConfig) -> anyhow::Result<Self> {
        let identity = Identity::resolve(config.run_as.as_deref(), config.allow_root_tasks)?;
        let state = StateDir::open(config.state_dir.as_deref())?;
        let lock = state.lock()?;
        if identity.switch.is_some() {
            state.check_reachable_by(&identity.user)?;
        }
        let cgroups = match config.cgroups {
            CgroupMode::Off => None,
            CgroupMode::Auto => match Cgroups::discover(state.root()) {
                Ok(cgroups) => Some(cgroups),
                Err(reason) => {
                    tracing::warn!(
                        %reason,
                        "tasks run without cgroups: a task process that leaves its process \
                         tree (setsid and re-parenting) is still killed by its supervisor, but \
                         not if the supervisor itself is killed"
                    );
                    None
                }
            },
            CgroupMode::Required => match Cgroups::discover(state.root()) {
                Ok(cgroups) => Some(cgroups),
                Err(reason) => bail!("--cgroups required, but {reason}"),
            },
        };
        Ok(Self {
            supervisor: PathBuf::from("/proc/self/exe"),
            identity,
            inherited: Inherited::select(&config.task_env_allow, std::env::vars_os()),
            state,
            keep_work_dirs: config.keep_work_dirs,
            cgroups,
            _lock: Some(Arc::new(lock)),
        })
    }

    /// A line for the start-up log: how tasks are held here.
    pub(crate) fn describe(&self) -> String {
        let user = &self.identity.user;
        let containment = match &self.cgroups {
            Some(cgroups) => format!("a cgroup each under {}", cgroups.root().display()),
            None => "a supervisor each, no cgroups".to_owned(),
        };
        format!(
            "tasks run as {} (uid {}) in {}, with {containment}",
            user.name,
            user.uid,
            self.state.work().display()
        )
    }
}
