//! Principals and tokens: `/api/v1/admin/principals`, `/api/v1/admin/tokens`
//! (admins) and `/api/v1/whoami` (anyone with a token).

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use switchyard_protocol::{CreatePrincipal, CreateToken, IssuedToken, TokenInfo, Whoami};

use super::auth::{Admin, Caller};
use super::created;
use super::extract::{Json, Path};
use crate::error::ApiError;
use crate::service::{AppState, auth};

/// The token routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/principals", post(create_principal))
        .route("/admin/principals/{name}/tokens", post(create_token))
        .route("/admin/tokens", get(list_tokens))
        .route("/admin/tokens/{id}", delete(revoke_token))
        .route("/whoami", get(whoami))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/principals",
    tag = "admin",
    request_body = CreatePrincipal,
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "The principal and its first token (a registration token for a worker principal), shown once", body = IssuedToken),
        (status = 400, description = "Malformed body or path", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "Not an admin", body = switchyard_protocol::ErrorBody),
        (status = 409, description = "The name is taken", body = switchyard_protocol::ErrorBody),
        (status = 422, description = "Invalid name", body = switchyard_protocol::ErrorBody),
    )
)]
async fn create_principal(
    _: Admin,
    State(state): State<AppState>,
    Json(request): Json<CreatePrincipal>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(created(auth::create_principal(&state, request).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/principals/{name}/tokens",
    tag = "admin",
    params(("name" = String, Path, description = "The principal")),
    request_body = CreateToken,
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "A new token, shown once", body = IssuedToken),
        (status = 400, description = "Malformed body or path", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "Not an admin", body = switchyard_protocol::ErrorBody),
        (status = 404, description = "No such principal", body = switchyard_protocol::ErrorBody),
        (status = 422, description = "Invalid label or lifetime", body = switchyard_protocol::ErrorBody),
    )
)]
async fn create_token(
    _: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(request): Json<CreateToken>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(created(auth::create_token(&state, &name, request).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/tokens",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Every token, without secrets, newest first", body = Vec<TokenInfo>),
        (status = 400, description = "Malformed body or path", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "Not an admin", body = switchyard_protocol::ErrorBody),
    )
)]
async fn list_tokens(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    Ok(Json(auth::list_tokens(&state).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/tokens/{id}",
    tag = "admin",
    params(("id" = i64, Path, description = "The token")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The token, revoked, with every worker token registered with it", body = TokenInfo),
        (status = 400, description = "Malformed body or path", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "Not an admin", body = switchyard_protocol::ErrorBody),
        (status = 404, description = "No such token", body = switchyard_protocol::ErrorBody),
    )
)]
async fn revoke_token(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<TokenInfo>, ApiError> {
    Ok(Json(auth::revoke_token(&state, id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/whoami",
    tag = "operations",
    security(("token" = [])),
    responses(
        (status = 200, description = "Who the token authenticates", body = Whoami),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
    )
)]
async fn whoami(Caller(principal): Caller) -> Json<Whoami> {
    Json(Whoami {
        role: principal.role(),
        worker_id: principal.worker(),
        principal: principal.name,
    })
}
