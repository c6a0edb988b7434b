//! Exercise sessions: start and end (`manage_exercises`), list (any caller).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::actor;
use crate::app::exercises;
use crate::http::AppState;
use crate::http::auth::{Caller, ManageExercises, Require};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, filters, paged, url_pairs};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartExercise {
    pub name: String,
    pub scenario: Option<String>,
}

/// Start an exercise session; a running one of the same name is 409.
#[utoipa::path(post, path = "/api/sessions/start", tag = "lab", request_body = StartExercise,
    responses((status = 201, description = "started", body = crate::store::exercises::Exercise), (status = 409, description = "already running")))]
pub async fn start(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageExercises>,
    meta: Meta,
    body: Json<StartExercise>,
) -> Result<HttpResponse, ApiError> {
    let StartExercise { name, scenario } = body.0;
    let a = actor(&caller, &meta);
    let ex = exercises::start(&state.app, a, &name, scenario.as_deref()).await?;
    Ok(HttpResponse::Created().json(ex))
}

/// End every running session of the tenant, or only `?id=`.
#[utoipa::path(delete, path = "/api/sessions", tag = "lab", params(("id" = Option<String>, Query)),
    responses((status = 200, description = "`{ended: n}`")))]
pub async fn end(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(caller, ..): Require<ManageExercises>,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let id = url_pairs(req.query_string())
        .into_iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v);
    let n = exercises::end(&state.app, actor(&caller, &meta), id).await?;
    Ok(HttpResponse::Ok().json(json!({"ended": n})))
}

/// Exercise sessions of the tenant (`?status=running|ended`).
#[utoipa::path(get, path = "/api/sessions", tag = "lab", params(("status" = Option<String>, Query)),
    responses((status = 200, description = "sessions")))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let status = filters(req.query_string())
        .into_iter()
        .find(|(k, _)| k == "status")
        .map(|(_, v)| exercises::Status::parse(&v))
        .transpose()?;
    let (a, limit, offset) = (actor(&caller, &meta), page.limit, page.offset());
    let (rows, total) = exercises::list(&state.app, &a, status, limit, offset).await?;
    Ok(paged(&req, page, total, rows))
}
