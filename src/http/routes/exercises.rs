//! Exercise sessions: start and end (`manage_exercises`), list (any caller).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::user_event;
use crate::domain::ids::display_name as valid_name;
use crate::http::AppState;
use crate::http::auth::{Caller, ManageExercises, Require};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, paged, url_pairs};
use crate::store::{self, audit, events, exercises};

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
    let name = valid_name("name", &body.0.name)?;
    let scenario = body
        .0
        .scenario
        .map(|s| valid_name("scenario", &s))
        .transpose()?;
    let tid = caller.tenant.id.clone();
    let by = caller.actor_id.clone();
    let mut ev = user_event(
        &caller,
        &meta,
        "exercise.start",
        String::new(),
        json!({"name": name, "scenario": scenario}),
    );
    let (ex, event) = store::write(&state.pool, move |tx| {
        let ex = exercises::start(tx, &tid, &name, scenario.as_deref(), &by)?;
        ev.target = Some(format!("exercise:{}", ex.id));
        audit::append(tx, &ev)?;
        let e = events::emit(
            tx,
            Some(&tid),
            "exercise.started",
            &serde_json::to_value(&ex).unwrap_or_default(),
        )?;
        Ok((ex, e))
    })
    .await?;
    state.events.publish(event);
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
    if let Some(i) = &id
        && uuid::Uuid::parse_str(i).is_err()
    {
        return Err(ApiError::validation("id", "must be a UUID"));
    }
    let tid = caller.tenant.id.clone();
    let by = caller.actor_id.clone();
    let ev = user_event(
        &caller,
        &meta,
        "exercise.end",
        id.clone()
            .map(|i| format!("exercise:{i}"))
            .unwrap_or_else(|| "exercise:*".into()),
        json!({}),
    );
    let emitted = store::write(&state.pool, move |tx| {
        let ended = exercises::end(tx, &tid, id.as_deref(), &by)?;
        let mut ev = ev;
        ev.details = json!({"ended": ended.iter().map(|e| &e.id).collect::<Vec<_>>()});
        audit::append(tx, &ev)?;
        ended
            .iter()
            .map(|e| {
                events::emit(
                    tx,
                    Some(&tid),
                    "exercise.ended",
                    &serde_json::to_value(e).unwrap_or_default(),
                )
            })
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let n = emitted.len();
    for e in emitted {
        state.events.publish(e);
    }
    Ok(HttpResponse::Ok().json(json!({"ended": n})))
}

/// Exercise sessions of the tenant (`?status=running|ended`).
#[utoipa::path(get, path = "/api/sessions", tag = "lab", params(("status" = Option<String>, Query)),
    responses((status = 200, description = "sessions")))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let status = url_pairs(req.query_string())
        .into_iter()
        .find(|(k, _)| k == "status")
        .map(|(_, v)| v);
    if let Some(s) = &status
        && s != "running"
        && s != "ended"
    {
        return Err(ApiError::validation("status", "must be running or ended"));
    }
    let tid = caller.tenant.id.clone();
    let (rows, total) = store::run(&state.pool, move |c| {
        exercises::list(c, &tid, status.as_deref(), page.limit, page.offset())
    })
    .await?;
    Ok(paged(&req, page, total, rows))
}
