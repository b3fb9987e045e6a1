//! Who a caller is and what it may do. A token's rights come from its
//! [`Scope`], decided once when the token is looked up: a worker token's
//! scope is its worker, whatever the role of the principal that registered
//! it, so no check below can mistake it for that principal.

use switchyard_protocol::{Role, TaskId, TokenKind, WorkerId};

use crate::error::ApiError;

/// What a token may act as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// An admin's API token, or the bootstrap admin token: everything.
    Admin,
    /// A user's API token: its own tasks, and reading the fleet.
    User,
    /// A registration token: registering workers, nothing else.
    Registrar,
    /// A worker token: acting as this one worker, nothing else.
    Worker(WorkerId),
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The principal's name; tasks it submits carry it as their owner. For
    /// a worker token, the name of whoever registered the worker.
    pub name: String,
    pub scope: Scope,
    /// The token's row; `None` for the bootstrap admin token.
    pub token_id: Option<i64>,
    /// The principal's row; `None` for the bootstrap admin and the worker
    /// tokens it registered.
    pub principal_id: Option<i64>,
}

impl Scope {
    /// The scope of a token row: `kind` first, the principal's role only
    /// for API tokens. `None` for a combination no token is issued with
    /// (such a token is refused).
    pub fn of(kind: TokenKind, role: Option<Role>, worker: Option<WorkerId>) -> Option<Self> {
        match (kind, role, worker) {
            (TokenKind::Worker, _, Some(id)) => Some(Self::Worker(id)),
            (TokenKind::Registration, Some(Role::Worker), None) => Some(Self::Registrar),
            (TokenKind::Api, Some(Role::Admin), None) => Some(Self::Admin),
            (TokenKind::Api, Some(Role::User), None) => Some(Self::User),
            _ => None,
        }
    }

    /// The role a token of this scope acts with (what `whoami` and the
    /// token listing show).
    pub fn role(self) -> Role {
        match self {
            Self::Admin => Role::Admin,
            Self::User => Role::User,
            Self::Registrar | Self::Worker(_) => Role::Worker,
        }
    }

    /// The kind of token issued with this scope (the inverse of [`of`](Self::of)).
    pub fn kind(self) -> TokenKind {
        match self {
            Self::Admin | Self::User => TokenKind::Api,
            Self::Registrar => TokenKind::Registration,
            Self::Worker(_) => TokenKind::Worker,
        }
    }

    /// The worker this scope acts as, if it is a worker token's.
    pub fn worker(self) -> Option<WorkerId> {
        match self {
            Self::Worker(id) => Some(id),
            _ => None,
        }
    }
}

impl Principal {
    /// The role this token acts with.
    pub fn role(&self) -> Role {
        self.scope.role()
    }

    /// The worker a worker token acts as.
    pub fn worker(&self) -> Option<WorkerId> {
        self.scope.worker()
    }

    /// Whether it may do anything.
    pub fn is_admin(&self) -> bool {
        self.scope == Scope::Admin
    }

    /// Submitting tasks: users and admins.
    pub fn may_submit(&self) -> Result<(), ApiError> {
        match self.scope {
            Scope::Admin | Scope::User => Ok(()),
            Scope::Registrar | Scope::Worker(_) => {
                Err(ApiError::Forbidden("only users and admins submit tasks"))
            }
        }
    }

    /// Seeing, changing or cancelling a task of `owner`: its owner or an
    /// admin. Anyone else is told it does not exist, as for an id that
    /// does not exist, so ids reveal nothing (a worker token is never a
    /// task's owner, even for tasks its registrar submitted).
    pub fn may_see_task(&self, task: TaskId, owner: &str) -> Result<(), ApiError> {
        match self.scope {
            Scope::Admin => Ok(()),
            Scope::User if self.name == owner => Ok(()),
            Scope::User | Scope::Registrar | Scope::Worker(_) => Err(ApiError::TaskNotFound(task)),
        }
    }

    /// Listing tasks: whose tasks it sees (`None`: everyone's).
    pub fn task_owner_filter(&self) -> Result<Option<String>, ApiError> {
        match self.scope {
            Scope::Admin => Ok(None),
            Scope::User => Ok(Some(self.name.clone())),
            Scope::Registrar | Scope::Worker(_) => {
                Err(ApiError::Forbidden("only users and admins list tasks"))
            }
        }
    }

    /// Reading the fleet and the operator pages (workers, `/stats`,
    /// `/metrics`): users and admins.
    pub fn may_observe(&self) -> Result<(), ApiError> {
        match self.scope {
            Scope::Admin | Scope::User => Ok(()),
            Scope::Registrar | Scope::Worker(_) => Err(ApiError::Forbidden(
                "worker and registration tokens do not read the fleet",
            )),
        }
    }

    /// Reading worker `id`: users and admins, and that worker's own token.
    pub fn may_read_worker(&self, id: WorkerId) -> Result<(), ApiError> {
        if self.scope == Scope::Worker(id) {
            Ok(())
        } else {
            self.may_observe()
        }
    }

    /// Acting as worker `id`: that worker's own token, or an admin.
    pub fn may_act_as(&self, id: WorkerId) -> Result<(), ApiError> {
        match self.scope {
            Scope::Admin => Ok(()),
            Scope::Worker(own) if own == id => Ok(()),
            _ => Err(ApiError::Forbidden(
                "a worker token acts only as its own worker",
            )),
        }
    }

    /// Registering a worker: a registration token, or an admin.
    pub fn may_register(&self) -> Result<(), ApiError> {
        match self.scope {
            Scope::Admin | Scope::Registrar => Ok(()),
            Scope::User | Scope::Worker(_) => Err(ApiError::Forbidden(
                "registering a worker needs a registration token",
            )),
        }
    }

    /// The admin API.
    pub fn must_be_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden("admins only"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(scope: Scope) -> Principal {
        Principal {
            name: "alice".into(),
            scope,
            token_id: Some(1),
            principal_id: Some(1),
        }
    }

    #[test]
    fn a_worker_token_is_its_worker_whatever_registered_it() {
        for role in [
            Some(Role::Admin),
            Some(Role::Worker),
            Some(Role::User),
            None,
        ] {
            assert_eq!(
                Scope::of(TokenKind::Worker, role, Some(WorkerId(7))),
                Some(Scope::Worker(WorkerId(7))),
                "{role:?}"
            );
        }
        assert_eq!(Scope::of(TokenKind::Worker, Some(Role::Admin), None), None);
        assert_eq!(
            Scope::of(TokenKind::Api, Some(Role::Admin), None),
            Some(Scope::Admin)
        );
        // Combinations never issued are refused, not guessed.
        assert_eq!(Scope::of(TokenKind::Api, Some(Role::Worker), None), None);
        assert_eq!(
            Scope::of(TokenKind::Registration, Some(Role::Admin), None),
            None
        );
        assert_eq!(
            Scope::of(TokenKind::Api, Some(Role::Admin), Some(WorkerId(7))),
            None
        );
        assert_eq!(Scope::of(TokenKind::Api, None, None), None);
    }

    #[test]
    fn scopes_allow_what_they_should() {
        let user = principal(Scope::User);
        let worker = principal(Scope::Worker(WorkerId(7)));
        let registrar = principal(Scope::Registrar);
        let admin = principal(Scope::Admin);
        assert!(user.may_submit().is_ok() && admin.may_submit().is_ok());
        assert!(worker.may_submit().is_err() && registrar.may_submit().is_err());
        assert!(user.may_see_task(TaskId(1), "alice").is_ok());
        assert!(user.may_see_task(TaskId(1), "bob").is_err());
        assert!(admin.may_see_task(TaskId(1), "bob").is_ok());
        // A worker token is refused even for its registrar's own tasks.
        assert!(worker.may_see_task(TaskId(1), "alice").is_err());
        assert!(worker.task_owner_filter().is_err());
        assert!(worker.may_act_as(WorkerId(7)).is_ok());
        assert!(worker.may_act_as(WorkerId(8)).is_err());
        assert!(worker.may_read_worker(WorkerId(7)).is_ok());
        assert!(worker.may_read_worker(WorkerId(8)).is_err());
        assert!(worker.may_observe().is_err() && registrar.may_observe().is_err());
        assert!(user.may_observe().is_ok() && user.may_read_worker(WorkerId(8)).is_ok());
        assert!(user.may_act_as(WorkerId(7)).is_err());
        assert!(registrar.may_register().is_ok() && admin.may_register().is_ok());
        assert!(worker.may_register().is_err() && user.may_register().is_err());
        assert!(registrar.may_act_as(WorkerId(7)).is_err());
        assert!(admin.must_be_admin().is_ok());
        for other in [&user, &worker, &registrar] {
            assert!(other.must_be_admin().is_err());
        }
        assert_eq!(worker.role(), Role::Worker);
        assert_eq!(worker.worker(), Some(WorkerId(7)));
        assert_eq!(admin.worker(), None);
    }
}
