//! Who is calling: tokens, principals and what each role may do.
//!
//! A token is 32 random bytes, shown once and stored only as its SHA-256.
//! A lookup hashes the presented token and finds the row by hash, so the
//! database never holds a usable secret and comparing secrets never happens
//! byte by byte. The bootstrap admin token from the configuration is
//! compared in constant time. Recently seen tokens are cached for a few
//! seconds so that every request does not cost a database round trip;
//! revoking through this coordinator clears the cache at once, other
//! coordinators notice within [`CACHE_TTL`].

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};
use switchyard_protocol::{
    CreatePrincipal, CreateToken, IssuedToken, Role, TaskId, TokenInfo, TokenKind, WorkerId,
};

use super::AppState;
use crate::domain::{ValidationError, validate};
use crate::error::ApiError;
use crate::storage::{self, principals::NewToken, principals::TokenRow};

/// How long a looked-up token is trusted without asking the database again.
pub const CACHE_TTL: Duration = Duration::from_secs(10);

/// The name tasks submitted with the bootstrap admin token carry as owner.
pub const BOOTSTRAP_ADMIN: &str = "bootstrap-admin";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Tasks it submits carry this as their owner.
    pub name: String,
    pub role: Role,
    pub kind: TokenKind,
    /// For a worker token: the one worker it acts as.
    pub worker: Option<WorkerId>,
    /// The principal's row; `None` for the bootstrap admin.
    pub principal_id: Option<i64>,
}

impl Principal {
    /// Whether it may do anything.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Submitting tasks: users and admins, with an API token.
    pub fn may_submit(&self) -> Result<(), ApiError> {
        match (self.role, self.kind) {
            (Role::User | Role::Admin, TokenKind::Api) => Ok(()),
            _ => Err(ApiError::Forbidden("only users and admins submit tasks")),
        }
    }

    /// Seeing, changing or cancelling a task of `owner`: its owner or an
    /// admin. Anyone else is told it does not exist, so ids reveal nothing.
    pub fn may_see_task(&self, task: TaskId, owner: &str) -> Result<(), ApiError> {
        if self.is_admin() || (self.kind == TokenKind::Api && self.name == owner) {
            Ok(())
        } else {
            Err(ApiError::TaskNotFound(task))
        }
    }

    /// Listing tasks: whose tasks it sees (`None`: everyone's).
    pub fn task_owner_filter(&self) -> Result<Option<String>, ApiError> {
        match (self.role, self.kind) {
            (Role::Admin, _) => Ok(None),
            (Role::User, TokenKind::Api) => Ok(Some(self.name.clone())),
            _ => Err(ApiError::Forbidden("workers do not list tasks")),
        }
    }

    /// Acting as worker `id`: that worker's own token, or an admin.
    pub fn may_act_as(&self, id: WorkerId) -> Result<(), ApiError> {
        if self.is_admin() || (self.kind == TokenKind::Worker && self.worker == Some(id)) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "a worker token acts only as its own worker",
            ))
        }
    }

    /// Registering a worker: a registration token, or an admin.
    pub fn may_register(&self) -> Result<(), ApiError> {
        if self.is_admin() || self.kind == TokenKind::Registration {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "registering a worker needs a registration token",
            ))
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

/// Recently authenticated tokens, by hash.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<Vec<u8>, (Instant, i64, Principal)>>,
}

impl TokenCache {
    fn get(&self, hash: &[u8]) -> Option<Principal> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(hash)
            .filter(|(at, _, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, _, principal)| principal.clone())
    }

    fn put(&self, hash: Vec<u8>, token_id: i64, principal: Principal) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() > 10_000 {
            entries.retain(|_, (at, _, _)| at.elapsed() < CACHE_TTL);
        }
        entries.insert(hash, (Instant::now(), token_id, principal));
    }

    /// Forgets tokens: one by id, or every worker token of a worker.
    fn forget(&self, matches: impl Fn(i64, &Principal) -> bool) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, (_, id, principal)| !matches(*id, principal));
    }
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Compares without an early exit, so timing does not reveal how much of a
/// guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

fn role(text: &str) -> Role {
    match text {
        "admin" => Role::Admin,
        "worker" => Role::Worker,
        _ => Role::User,
    }
}

fn kind(text: &str) -> TokenKind {
    match text {
        "registration" => TokenKind::Registration,
        "worker" => TokenKind::Worker,
        _ => TokenKind::Api,
    }
}

fn principal_of(row: &TokenRow) -> Principal {
    Principal {
        name: row.principal.clone(),
        role: role(&row.role),
        kind: kind(&row.kind),
        worker: row.worker_id.map(WorkerId),
        principal_id: Some(row.principal_id),
    }
}

fn info(row: TokenRow) -> TokenInfo {
    TokenInfo {
        id: row.id,
        role: role(&row.role),
        kind: kind(&row.kind),
        principal: row.principal,
        prefix: row.prefix,
        label: row.label,
        worker_id: row.worker_id.map(WorkerId),
        created_at: row.created_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
    }
}

/// Who presents `token`: 401 when nobody (unknown, revoked or expired).
pub async fn authenticate(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    if let Some(admin) = &state.settings().admin_token
        && constant_time_eq(token.as_bytes(), admin.expose().as_bytes())
    {
        return Ok(Principal {
            name: BOOTSTRAP_ADMIN.to_owned(),
            role: Role::Admin,
            kind: TokenKind::Api,
            worker: None,
            principal_id: None,
        });
    }
    let hash = hash(token);
    if let Some(principal) = state.tokens().get(&hash) {
        return Ok(principal);
    }
    let row = storage::principals::live_token(state.db(), &hash)
        .await?
        .ok_or(ApiError::Unauthorized("invalid, expired or revoked token"))?;
    let principal = principal_of(&row);
    state.tokens().put(hash, row.id, principal.clone());
    Ok(principal)
}

/// A fresh secret: `sy_` and 43 characters (256 random bits).
fn generate() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("no randomness for a token: {e}")))?;
    Ok(format!(
        "sy_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

async fn issue(
    state: &AppState,
    principal_id: i64,
    kind: TokenKind,
    label: Option<String>,
    worker: Option<WorkerId>,
    expires_in_secs: Option<i64>,
) -> Result<IssuedToken, ApiError> {
    let token = generate()?;
    let row = storage::principals::insert_token(
        state.db(),
        NewToken {
            principal_id,
            kind: kind.as_str(),
            hash: hash(&token),
            prefix: token.chars().take(10).collect(),
            label,
            worker_id: worker.map(|w| w.0),
            expires_in_secs,
        },
    )
    .await?;
    Ok(IssuedToken {
        token,
        info: info(row),
    })
}

fn invalid(field: &str, message: &str) -> ApiError {
    ValidationError {
        field: field.to_owned(),
        message: message.to_owned(),
    }
    .into()
}

/// The kind of token a principal of `role` is issued.
fn kind_for(role: Role) -> TokenKind {
    match role {
        Role::Worker => TokenKind::Registration,
        Role::User | Role::Admin => TokenKind::Api,
    }
}

/// Creates a principal and its first token (a registration token for a
/// worker principal, an API token otherwise).
pub async fn create_principal(
    state: &AppState,
    request: CreatePrincipal,
) -> Result<IssuedToken, ApiError> {
    validate::principal_name(&request.name)?;
    if request.name == BOOTSTRAP_ADMIN {
        return Err(invalid("name", "bootstrap-admin is reserved"));
    }
    let row =
        storage::principals::create_principal(state.db(), &request.name, request.role.as_str())
            .await?
            .ok_or_else(|| ApiError::PrincipalExists(request.name.clone()))?;
    issue(state, row.id, kind_for(request.role), None, None, None).await
}

/// Creates another token for the principal `name`.
pub async fn create_token(
    state: &AppState,
    name: &str,
    request: CreateToken,
) -> Result<IssuedToken, ApiError> {
    validate::token_request(&request)?;
    if validate::principal_name(name).is_err() {
        return Err(ApiError::PrincipalNotFound(name.to_owned()));
    }
    let row = storage::principals::principal_by_name(state.db(), name)
        .await?
        .ok_or_else(|| ApiError::PrincipalNotFound(name.to_owned()))?;
    issue(
        state,
        row.id,
        kind_for(role(&row.role)),
        request.label,
        None,
        request.expires_in_secs,
    )
    .await
}

/// The token a newly registered worker acts with, issued to the principal
/// that registered it (the bootstrap admin's workers get no principal row,
/// so they act with the admin's token instead: `None`).
pub async fn issue_worker_token(
    state: &AppState,
    registrar: &Principal,
    worker: WorkerId,
) -> Result<Option<String>, ApiError> {
    let Some(principal_id) = registrar.principal_id else {
        return Ok(None);
    };
    let issued = issue(
        state,
        principal_id,
        TokenKind::Worker,
        Some(format!("worker {worker}")),
        Some(worker),
        None,
    )
    .await?;
    Ok(Some(issued.token))
}

/// Every token, without secrets, newest first.
pub async fn list_tokens(state: &AppState) -> Result<Vec<TokenInfo>, ApiError> {
    let rows = storage::principals::tokens(state.db()).await?;
    Ok(rows.into_iter().map(info).collect())
}

/// Revokes a token; it stops working at once on this coordinator.
pub async fn revoke_token(state: &AppState, id: i64) -> Result<TokenInfo, ApiError> {
    let row = storage::principals::revoke(state.db(), id)
        .await?
        .ok_or(ApiError::TokenNotFound(id))?;
    state.tokens().forget(|token_id, _| token_id == id);
    Ok(info(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("sy_") && a.len() == 46, "{a}");
        assert_eq!(hash(&a).len(), 32);
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn constant_time_eq_only_when_identical() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token", b"secret-tokem"));
        assert!(!constant_time_eq(b"secret", b"secret-token"));
    }

    fn principal(role: Role, kind: TokenKind, worker: Option<i64>) -> Principal {
        Principal {
            name: "alice".into(),
            role,
            kind,
            worker: worker.map(WorkerId),
            principal_id: Some(1),
        }
    }

    #[test]
    fn roles_allow_what_they_should() {
        let user = principal(Role::User, TokenKind::Api, None);
        let worker = principal(Role::Worker, TokenKind::Worker, Some(7));
        let registrar = principal(Role::Worker, TokenKind::Registration, None);
        let admin = principal(Role::Admin, TokenKind::Api, None);
        assert!(user.may_submit().is_ok());
        assert!(worker.may_submit().is_err());
        assert!(user.may_see_task(TaskId(1), "alice").is_ok());
        assert!(user.may_see_task(TaskId(1), "bob").is_err());
        assert!(admin.may_see_task(TaskId(1), "bob").is_ok());
        assert!(worker.may_act_as(WorkerId(7)).is_ok());
        assert!(worker.may_act_as(WorkerId(8)).is_err());
        assert!(user.may_act_as(WorkerId(7)).is_err());
        assert!(registrar.may_register().is_ok());
        assert!(registrar.may_act_as(WorkerId(7)).is_err());
        assert!(user.may_register().is_err());
        assert!(admin.must_be_admin().is_ok() && user.must_be_admin().is_err());
    }
}
