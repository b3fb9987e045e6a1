//! Principals and tokens: `/api/v1/admin/principals`, `/api/v1/admin/tokens`
//! (admins) and `/api/v1/whoami` (anyone with a token).

use axum::extract::State;
use axum::response::IntoResponse;
use switchyard_protocol::{CreatePrincipal, CreateToken, IssuedToken, TokenInfo, Whoami};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use super::auth::{Admin, Caller};
use super::created;
use super::extract::{Json, Path};
use super::responses::{
    AuthErrors, BadRequest, Conflict, InputErrors, PrincipalNotFound, TokenNotFound,
    Unauthenticated,
};
use crate::error::ApiError;
use crate::service::{AppState, auth};

/// The principal and token routes, with their documentation.
pub fn routes() -> Vec<UtoipaMethodRouter<AppState>> {
    vec![
        routes!(create_principal),
        routes!(create_token),
        routes!(list_tokens),
        routes!(revoke_token),
        routes!(whoami),
    ]
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/principals",
    tag = "admin",
    request_body = CreatePrincipal,
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "The principal and its first token (a registration token for a worker principal), shown once", body = IssuedToken),
        AuthErrors, InputErrors, Conflict,
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
        AuthErrors, InputErrors, PrincipalNotFound,
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
        AuthErrors,
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
        AuthErrors, BadRequest, TokenNotFound,
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
        Unauthenticated,
    )
)]
async fn whoami(Caller(principal): Caller) -> Json<Whoami> {
    Json(Whoami {
        role: principal.role(),
        worker_id: principal.worker(),
        principal: principal.name,
    })
}
