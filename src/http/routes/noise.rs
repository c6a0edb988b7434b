//! Noise: profiles, sinks, runs and schedules. Changes need `manage_noise_logs` (or, for a
//! run, the dispatch token); reads are open to any caller of the tenant.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::user_event;
use crate::domain::ids::display_name as valid_name;
use crate::domain::{cron, time};
use crate::http::AppState;
use crate::http::auth::{Caller, ManageNoiseLogs, Require};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, paged, paged_all};
use crate::lab::noise::{PROFILES, exists};
use crate::lab::runner;
use crate::lab::sinks::SinkSpec;
use crate::store::noise::{self, NewRun, Schedule};
use crate::store::{self, StoreError, audit, events};

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
) -> Result<SinkSpec, ApiError> {
    let spec = SinkSpec::parse(kind, body, &state.config.noise_dir_of(tenant_slug))
        .map_err(|(f, m)| ApiError::validation(&f, m))?;
    spec.check_destination(&state.app.destinations())
        .map_err(|(f, m)| ApiError::validation(&f, m))?;
    Ok(spec)
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
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let tid = caller.tenant.id.clone();
    let all = store::run(&state.pool, move |c| noise::sinks(c, &tid)).await?;
    Ok(paged_all(&req, page, all))
}

/// Create a sink: `file` (`path` in the tenant's own noise directory), `syslog` (`host`, `port`, `protocol`,
/// `format`) or `http` (`url`, `batch_size`).
#[utoipa::path(post, path = "/api/noise/sinks", tag = "noise", request_body = Object,
    responses((status = 201, description = "created", body = crate::store::noise::Sink), (status = 400, description = "invalid settings, path escape"), (status = 409, description = "name taken")))]
pub async fn sinks_create(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageNoiseLogs>,
    meta: Meta,
    body: Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let (name, kind, settings) = sink_body(body.0)?;
    let name = valid_name(
        "name",
        name.as_deref()
            .ok_or_else(|| ApiError::validation("name", "is required"))?,
    )?;
    let kind = kind.ok_or_else(|| ApiError::validation("kind", "is required"))?;
    let spec = spec_of(&state, &caller.tenant.slug, &kind, &settings)?;
    let tid = caller.tenant.id.clone();
    let mut ev = user_event(
        &caller,
        &meta,
        "noise.sink.create",
        String::new(),
        json!({"name": name, "kind": kind, "settings": spec.config()}),
    );
    let sink = store::write(&state.pool, move |tx| {
        let s = noise::create_sink(tx, &tid, &name, spec.kind(), &spec.config())?;
        ev.target = Some(format!("sink:{}", s.id));
        audit::append(tx, &ev)?;
        Ok(s)
    })
    .await?;
    Ok(HttpResponse::Created().json(sink))
}

/// One sink.
#[utoipa::path(get, path = "/api/noise/sinks/{id}", tag = "noise", params(("id" = String, Path)), responses((status = 200, description = "the sink")))]
pub async fn sinks_get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let s = store::run(&state.pool, move |c| noise::sink(c, &tid, &id))
        .await?
        .ok_or_else(ApiError::not_found)?;
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
    let name = name.map(|n| valid_name("name", &n)).transpose()?;
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let (t2, i2) = (tid.clone(), id.clone());
    let current = store::run(&state.pool, move |c| noise::sink(c, &t2, &i2))
        .await?
        .ok_or_else(ApiError::not_found)?;
    let kind = kind.unwrap_or_else(|| current.kind.clone());
    let mut merged = if kind == current.kind {
        current.config.clone()
    } else {
        Map::new()
    };
    merged.extend(settings);
    let spec = spec_of(&state, &caller.tenant.slug, &kind, &merged)?;
    let name = name.unwrap_or(current.name);
    // `{id}` may have named the sink; the change applies to the sink found.
    let id = current.id;
    let ev = user_event(
        &caller,
        &meta,
        "noise.sink.update",
        format!("sink:{id}"),
        json!({"name": name, "kind": kind, "settings": spec.config()}),
    );
    let sink = store::write(&state.pool, move |tx| {
        noise::update_sink(tx, &tid, &id, &name, spec.kind(), &spec.config())?;
        audit::append(tx, &ev)?;
        noise::sink(tx, &tid, &id)?.ok_or(StoreError::NotFound)
    })
    .await?;
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
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let ev = user_event(
        &caller,
        &meta,
        "noise.sink.delete",
        format!("sink:{id}"),
        json!({}),
    );
    store::write(&state.pool, move |tx| {
        let s = noise::sink(tx, &tid, &id)?
            .filter(|s| s.id == id)
            .ok_or(StoreError::NotFound)?;
        if noise::sink_in_use(tx, &s.id)? {
            return Err(StoreError::Conflict(
                "A schedule uses this sink; change or delete the schedule first.".into(),
            ));
        }
        noise::delete_sink(tx, &tid, &s.id)?;
        audit::append(tx, &ev).map(|_| ())
    })
    .await?;
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
    let b = body.0;
    if !exists(&b.profile) {
        return Err(ApiError::validation(
            "profile",
            format!(
                "unknown profile (one of {})",
                PROFILES
                    .iter()
                    .map(|p| p.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if !(1..=1_000_000).contains(&b.count) {
        return Err(ApiError::validation("count", "must be 1-1000000"));
    }
    let trigger = if caller.method == crate::http::auth::AuthMethod::Dispatch {
        "dispatch"
    } else {
        "api"
    };
    let seed = b.seed.unwrap_or_else(rand::random) as i64;
    let sink_ref = b.sink.unwrap_or_else(|| "default".into());
    let tid = caller.tenant.id.clone();
    let by = caller.actor_id.clone();
    let mut ev = user_event(
        &caller,
        &meta,
        "noise.run",
        String::new(),
        json!({"profile": b.profile, "count": b.count, "sink": sink_ref, "trigger": trigger}),
    );
    let profile = b.profile.clone();
    let (run, event) = store::write(&state.pool, move |tx| {
        let sink = noise::sink(tx, &tid, &sink_ref)?.ok_or_else(|| StoreError::Invalid { field: "sink".into(), message: format!("no sink {sink_ref:?} in this tenant") })?;
        let run = noise::create_run(
            tx,
            NewRun { tenant_id: &tid, profile: &profile, count: b.count as i64, seed, sink: &sink, trigger, schedule_id: None, created_by: &by },
        )?;
        ev.target = Some(format!("noise_run:{}", run.id));
        audit::append(tx, &ev)?;
        let e = events::emit(tx, Some(&tid), "noise.run.queued", &json!({"run_id": run.id, "profile": run.profile, "count": run.count, "trigger": trigger}))?;
        Ok((run, e))
    })
    .await?;
    state.events.publish(event);
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
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let tid = caller.tenant.id.clone();
    let (rows, total) = store::run(&state.pool, move |c| {
        noise::runs(c, &tid, page.limit, page.offset())
    })
    .await?;
    Ok(paged(&req, page, total, rows))
}

/// One run.
#[utoipa::path(get, path = "/api/noise/runs/{id}", tag = "noise", params(("id" = String, Path)), responses((status = 200, description = "the run", body = crate::store::noise::Run)))]
pub async fn runs_get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let r = store::run(&state.pool, move |c| noise::run(c, &tid, &id))
        .await?
        .ok_or_else(ApiError::not_found)?;
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

/// Validates a schedule (all fields present after merging) and computes its next time.
async fn complete(
    state: &web::Data<AppState>,
    tenant_id: &str,
    mut s: Schedule,
    b: ScheduleBody,
) -> Result<Schedule, ApiError> {
    if let Some(n) = b.name {
        s.name = valid_name("name", &n)?;
    }
    if let Some(c) = b.cron {
        s.cron = c.trim().to_string();
    }
    let parsed = cron::parse(&s.cron).map_err(|m| ApiError::validation("cron", m))?;
    if let Some(p) = b.profile {
        s.profile = p;
    }
    if !exists(&s.profile) {
        return Err(ApiError::validation("profile", "unknown profile"));
    }
    if let Some(c) = b.count {
        if !(1..=1_000_000).contains(&c) {
            return Err(ApiError::validation("count", "must be 1-1000000"));
        }
        s.count = c as i64;
    }
    if let Some(m) = b.misfire {
        if m != "skip" && m != "run_once" {
            return Err(ApiError::validation("misfire", "must be skip or run_once"));
        }
        s.misfire = m;
    }
    if let Some(e) = b.enabled {
        s.enabled = e;
    }
    if let Some(sink) = b.sink {
        let tid = tenant_id.to_string();
        let found = store::run(&state.pool, move |c| noise::sink(c, &tid, &sink)).await?;
        let found =
            found.ok_or_else(|| ApiError::validation("sink", "no such sink in this tenant"))?;
        s.sink_id = found.id;
        s.sink = found.name;
    }
    s.next_run_at = if s.enabled {
        cron::next_after(&parsed, time::now()).map(time::fmt)
    } else {
        None
    };
    Ok(s)
}

/// The tenant's schedules.
#[utoipa::path(get, path = "/api/noise/schedules", tag = "noise", responses((status = 200, description = "schedules")))]
pub async fn schedules_list(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let tid = caller.tenant.id.clone();
    let all = store::run(&state.pool, move |c| noise::schedules(c, &tid)).await?;
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
    let b = body.0;
    for (field, missing) in [
        ("name", b.name.is_none()),
        ("cron", b.cron.is_none()),
        ("profile", b.profile.is_none()),
        ("count", b.count.is_none()),
    ] {
        if missing {
            return Err(ApiError::validation(field, "is required"));
        }
    }
    let mut b = b;
    if b.sink.is_none() {
        b.sink = Some("default".into());
    }
    let blank = Schedule {
        id: String::new(),
        name: String::new(),
        cron: String::new(),
        profile: String::new(),
        count: 0,
        sink: String::new(),
        sink_id: String::new(),
        enabled: true,
        misfire: "skip".into(),
        next_run_at: None,
        last_run_at: None,
        last_run_id: None,
        created_at: String::new(),
        tenant_id: caller.tenant.id.clone(),
    };
    let s = complete(&state, &caller.tenant.id, blank, b).await?;
    let tid = caller.tenant.id.clone();
    let mut ev = user_event(
        &caller,
        &meta,
        "noise.schedule.create",
        String::new(),
        json!({"name": s.name, "cron": s.cron, "profile": s.profile, "count": s.count}),
    );
    let created = store::write(&state.pool, move |tx| {
        let c = noise::create_schedule(tx, &tid, &s)?;
        ev.target = Some(format!("schedule:{}", c.id));
        audit::append(tx, &ev)?;
        Ok(c)
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

/// One schedule.
#[utoipa::path(get, path = "/api/noise/schedules/{id}", tag = "noise", params(("id" = String, Path)), responses((status = 200, description = "the schedule")))]
pub async fn schedules_get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let s = store::run(&state.pool, move |c| noise::schedule(c, &tid, &id))
        .await?
        .ok_or_else(ApiError::not_found)?;
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
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let (t2, i2) = (tid.clone(), id.clone());
    let current = store::run(&state.pool, move |c| noise::schedule(c, &t2, &i2))
        .await?
        .ok_or_else(ApiError::not_found)?;
    let s = complete(&state, &tid, current, body.0).await?;
    let ev = user_event(
        &caller,
        &meta,
        "noise.schedule.update",
        format!("schedule:{id}"),
        json!({"name": s.name, "cron": s.cron, "enabled": s.enabled}),
    );
    let updated = store::write(&state.pool, move |tx| {
        noise::update_schedule(tx, &tid, &s)?;
        audit::append(tx, &ev)?;
        noise::schedule(tx, &tid, &id)?.ok_or(StoreError::NotFound)
    })
    .await?;
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
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let ev = user_event(
        &caller,
        &meta,
        "noise.schedule.delete",
        format!("schedule:{id}"),
        json!({}),
    );
    store::write(&state.pool, move |tx| {
        if !noise::delete_schedule(tx, &tid, &id)? {
            return Err(StoreError::NotFound);
        }
        audit::append(tx, &ev).map(|_| ())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
