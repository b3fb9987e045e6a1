//! Principals and their tokens: who may call the API, and as what.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::WorkerId;
use crate::schema;

/// What a principal may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Submits tasks, and sees, changes and cancels its own.
    User,
    /// A fleet of agents: registers workers, each of which then acts only as itself.
    Worker,
    /// Everything, including other principals' tasks and the admin API.
    Admin,
}

impl Role {
    /// The role as it appears on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Worker => "worker",
            Self::Admin => "admin",
        }
    }
}

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Authenticates a user's or an admin's requests.
    Api,
    /// Lets an agent register a worker (and nothing else).
    Registration,
    /// Issued at registration: acts as that one worker and nothing else,
    /// whoever registered it; dies with that worker.
    Worker,
}

impl TokenKind {
    /// The kind as it appears on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Registration => "registration",
            Self::Worker => "worker",
        }
    }
}

/// Create a principal, and its first token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePrincipal {
    /// Unique; 1 to 64 bytes of letters, digits and `- _ . @`. Tasks a user
    /// submits carry it as their owner.
    #[schema(value_type = schema::PrincipalName)]
    pub name: String,
    pub role: Role,
}

/// Create another token for a principal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A note for people (`ci`, `laptop`); at most 128 bytes.
    #[serde(default)]
    #[schema(value_type = Option<schema::TokenLabel>)]
    pub label: Option<String>,
    /// Lifetime in seconds; no expiry when absent.
    #[serde(default)]
    #[schema(value_type = Option<schema::TokenLifetimeSecs>)]
    pub expires_in_secs: Option<i64>,
}

/// A token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub principal: String,
    pub role: Role,
    pub kind: TokenKind,
    /// The first characters of the token, to tell tokens apart.
    pub prefix: String,
    pub label: Option<String>,
    /// For a worker token: the worker it acts as.
    pub worker_id: Option<WorkerId>,
    /// For a worker token: the token that registered its worker (revoking
    /// that one revokes this one); absent for the bootstrap admin's workers.
    #[serde(default)]
    pub registered_with: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A newly made token: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedToken {
    /// Send it as `Authorization: Bearer <token>`. It is not stored, only its
    /// hash: keep it now, it cannot be shown again.
    pub token: String,
    pub info: TokenInfo,
}

/// Who a token authenticates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Whoami {
    pub principal: String,
    pub role: Role,
    /// For a worker token: the worker it acts as.
    pub worker_id: Option<WorkerId>,
}
