//! Noise: profiles, sinks, runs and schedules. Changes need `manage_noise_logs` (or, for a
//! run, the dispatch token); reads are open to any caller of the tenant.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::actor;
use crate::app::noise::{self as noise_app, RunRequest as Run, ScheduleInput, SinkSettings};
use crate::http::AppState;
use crate::http::auth::{AuthMethod, Caller, ManageNoiseLogs, Require};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, paged, paged_all};
use crate::lab::noise::{PROFILES, exists};
use crate::lab::runner;
use crate::lab::sinks::SinkSpec;

/// The built-in noise profiles.
#[utoipa::path(get, path = "/api/noise/profiles", tag = "noise", responses((status = 200, description = "profiles")))]
pub async fn profiles(
    req: HttpRequest,
    _caller: Caller,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let all: Vec<Value> = PROFILES
        .iter()
        .map(|p| json!({"name": p.name, "description": p.description}))
        .collect();
    Ok(paged_all(&req, page, all))
}

fn spec_of(
    state: &AppState,
    tenant_slug: &str,
    kind: &str,
    body: &Map<String, Value>,
) -> Result<SinkSettings, ApiError> {
    let spec = SinkSpec::parse(kind, body, &state.config.noise_dir_of(tenant_slug))
        .map_err(|(f, m)| ApiError::validation(&f, m))?;
    spec.check_destination(&state.app.destinations())
        .map_err(|(f, m)| ApiError::validation(&f, m))?;
    Ok(SinkSettings {
        kind: spec.kind(),
        config: spec.config(),
    })
}

/// A sink body split into name, kind and the kind's settings.
type SinkBody = (Option<String>, Option<String>, Map<String, Value>);

fn sink_body(v: Value) -> Result<SinkBody, ApiError> {
    let Value::Object(mut m) = v else {
        return Err(ApiError::validation("body", "must be a JSON object"));
    };
    let take = |m: &mut Map<String, Value>, k: &str| -> Result<Option<String>, ApiError> {
        match m.remove(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::validation(k, "must be a string")),
        }
    };
    let name = take(&mut m, "name")?;
    let kind = take(&mut m, "kind")?;
    Ok((name, kind, m))
}

/// The tenant's sinks.
#[utoipa::path(get, path = "/api/noise/sinks", tag = "noise", responses((status = 200, description = "sinks")))]
pub async fn sinks_list(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let all = noise_app::sinks(&state.app, &actor(&caller, &meta)).await?;
    Ok(paged_all(&req, page, all))
}

/// Create a sink: `file` (`path` in the tenant's own noise directory), `syslog` (`host`, `port`
/// (514, or 6514 for TLS), `protocol` `udp`/`tcp`/`tls`, `format`, `max_rate` events a second
/// (10000 for UDP, unlimited otherwise)) or `http` (`url` http:// or https://, `batch_size`).
#[utoipa::path(post, path = "/api/noise/sinks", tag = "noise", request_body = Object,
    responses((status = 201, description = "created", body = crate::store::noise::Sink), (status = 400, description = "invalid settings, path escape"), (status = 409, description = "name taken")))]
pub async fn sinks_create(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageNoiseLogs>,
    meta: Meta,
    body: Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (name, kind, settings) = sink_body(body.0)?;
    let name = name.ok_or_else(|| ApiError::validation("name", "is required"))?;
    crate::domain::ids::display_name("name", &name)?;
    let kind = kind.ok_or_else(|| ApiError::validation("kind", "is required"))?;
    let spec = spec_of(&state, &caller.tenant.slug, &kind, &settings)?;
    let sink = noise_app::create_sink(&state.app, actor(&caller, &meta), &name, spec).await?;
    Ok(HttpResponse::Created().json(sink))
}

/// One sink.
#[utoipa::path(get, path = "/api/noise/sinks/{id}", tag = "noise", params(("id" = String, Path)), responses((status = 200, description = "the sink")))]
pub async fn sinks_get(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = noise_app::sink(&state.app, &actor(&caller, &meta), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(s))
}

/// Change a sink's name or settings (a new `kind` replaces the settings).
#[utoipa::path(patch, path = "/api/noise/sinks/{id}", tag = "noise", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, description = "changed"), (status = 400, description = "invalid settings")))]
pub async fn sinks_update(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageNoiseLogs>,
    meta: Meta,
    id: web::Path<String>,
    body: Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (name, kind, settings) = sink_body(body.0)?;
    if let Some(n) = &name {
        crate::domain::ids::display_name("name", n)?;
    }
    let a = actor(&caller, &meta);
    // `{id}` may name the sink; the change applies to the sink found.
    let current = noise_app::sink(&state.app, &a, id.into_inner()).await?;
    let kind = kind.unwrap_or_else(|| current.kind.clone());
    // The same kind keeps the settings not given; a new kind replaces them.
    let mut merged = if kind == current.kind {
        current.config.clone()
    } else {
        Map::new()
    };
    merged.extend(settings);
    let spec = spec_of(&state, &caller.tenant.slug, &kind, &merged)?;
    let sink = noise_app::update_sink(&state.app, a, current, name.as_deref(), spec).await?;
    Ok(HttpResponse::Ok().json(sink))
}

/// Delete a sink no schedule uses.
#[utoipa::path(delete, path = "/api/noise/sinks/{id}", tag = "noise", params(("id" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 409, description = "used by a schedule")))]
pub async fn sinks_delete(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageNoiseLogs>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    noise_app::delete_sink(&state.app, actor(&caller, &meta), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    pub profile: String,
    #[serde(deserialize_with = "crate::http::extract::whole::required")]
    pub count: u64,
    /// sink name or id (default: `default`)
    pub sink: Option<String>,
    #[serde(default, deserialize_with = "crate::http::extract::whole::optional")]
    pub seed: Option<u64>,
}

/// Queue a run: `count` events of `profile` to `sink`, in the background.
#[utoipa::path(post, path = "/api/noise/run", tag = "noise", request_body = RunRequest,
    responses((status = 202, description = "`{id, status: queued}`"), (status = 404, description = "no such sink")))]
pub async fn run(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    body: Json<RunRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(crate::domain::capability::Capability::ManageNoiseLogs)?;
    let RunRequest {
        profile,
        count,
        sink,
        seed,
    } = body.0;
    if !exists(&profile) {
        let names: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
        let why = format!("unknown profile (one of {})", names.join(", "));
        return Err(ApiError::validation("profile", why));
    }
    let dispatch = caller.method == AuthMethod::Dispatch;
    let trigger = if dispatch { "dispatch" } else { "api" };
    let r = Run {
        profile,
        count,
        sink,
        seed,
        trigger,
    };
    let run = noise_app::queue_run(&state.app, actor(&caller, &meta), r).await?;
    let id = run.id.clone();
    runner::start(state.app.clone(), state.runner.clone(), run);
    Ok(HttpResponse::Accepted().json(json!({"id": id, "status": "queued"})))
}

/// The tenant's runs, newest first.
#[utoipa::path(get, path = "/api/noise/runs", tag = "noise", responses((status = 200, description = "runs")))]
pub async fn runs_list(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let a = actor(&caller, &meta);
    let (rows, total) = noise_app::runs(&state.app, &a, page.limit, page.offset()).await?;
    Ok(paged(&req, page, total, rows))
}

/// One run.
#[utoipa::path(get, path = "/api/noise/runs/{id}", tag = "noise", params(("id" = String, Path)), responses((status = 200, description = "the run", body = crate::store::noise::Run)))]
pub async fn runs_get(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let r = noise_app::run(&state.app, &actor(&caller, &meta), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(r))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    pub name: Option<String>,
    pub cron: Option<String>,
    pub profile: Option<String>,
    #[serde(default, deserialize_with = "crate::http::extract::whole::optional")]
    pub count: Option<u64>,
    pub sink: Option<String>,
    pub enabled: Option<bool>,
    /// `skip` or `run_once`
    pub misfire: Option<String>,
}

impl From<ScheduleBody> for ScheduleInput {
    fn from(b: ScheduleBody) -> ScheduleInput {
        ScheduleInput {
            name: b.name,
            cron: b.cron,
            profile: b.profile,
            count: b.count,
            sink: b.sink,
            enabled: b.enabled,
            misfire: b.misfire,
        }
    }
}

/// The tenant's schedules.
#[utoipa::path(get, path = "/api/noise/schedules", tag = "noise", responses((status = 200, description = "schedules")))]
pub async fn schedules_list(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let all = noise_app::schedules(&state.app, &actor(&caller, &meta)).await?;
    Ok(paged_all(&req, page, all))
}

/// Create a schedule (`cron` has 5 fields, UTC).
#[utoipa::path(post, path = "/api/noise/schedules", tag = "noise", request_body = ScheduleBody,
    responses((status = 201, description = "created", body = crate::store::noise::Schedule), (status = 400, description = "invalid cron or fields")))]
pub async fn schedules_create(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageNoiseLogs>,
    meta: Meta,
    body: Json<ScheduleBody>,
) -> Result<HttpResponse, ApiError> {
    let (a, input) = (actor(&caller, &meta), body.0.into());
    let created = noise_app::create_schedule(&state.app, a, input, exists).await?;
    Ok(HttpResponse::Created().json(created))
}

/// One schedule.
#[utoipa::path(get, path = "/api/noise/schedules/{id}", tag = "noise", params(("id" = String, Path)), responses((status = 200, description = "the schedule")))]
pub async fn schedules_get(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = noise_app::schedule(&state.app, &actor(&caller, &meta), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(s))
}

/// Change a schedule; applies from the next tick, no restart needed.
#[utoipa::path(patch, path = "/api/noise/schedules/{id}", tag = "noise", params(("id" = String, Path)), request_body = ScheduleBody,
    responses((status = 200, description = "changed"), (status = 400, description = "invalid cron or fields")))]
pub async fn schedules_update(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageNoiseLogs>,
    meta: Meta,
    id: web::Path<String>,
    body: Json<ScheduleBody>,
) -> Result<HttpResponse, ApiError> {
    let (a, id, input) = (actor(&caller, &meta), id.into_inner(), body.0.into());
    let updated = noise_app::update_schedule(&state.app, a, id, input, exists).await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// Delete a schedule.
#[utoipa::path(delete, path = "/api/noise/schedules/{id}", tag = "noise", params(("id" = String, Path)), responses((status = 204, description = "deleted")))]
pub async fn schedules_delete(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageNoiseLogs>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    noise_app::delete_schedule(&state.app, actor(&caller, &meta), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
