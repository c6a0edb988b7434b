//! Platform status and the tenant's event stream (Server-Sent Events, or a JSON list).

use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::actor;
use crate::app::platform::{self, Feed};
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::http::extract::{Meta, Page, filters, paged};
use crate::store::events::Event;

/// A comment frame on every quiet stream. SPEC §7 asks one at least every 15 s; every 3 s, so a
/// client that went away is noticed (the write after its close fails) within about 6 s and its
/// stream released.
const HEARTBEAT: Duration = Duration::from_secs(3);

/// A summary of the lab for the caller's tenant.
#[utoipa::path(get, path = "/api/platform-status", tag = "lab", responses((status = 200, description = "status")))]
pub async fn status(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let s = platform::summary(&state.app, &actor(&caller, &meta)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
        "exercises_running": s.exercises_running,
        "noise_runs_24h": s.noise_runs_24h,
        "schedules": {"enabled": s.schedules_enabled, "next_run_at": s.next_run_at},
    })))
}

fn sse_frame(e: &Event) -> web::Bytes {
    let data = serde_json::to_string(
        &json!({"id": e.id, "type": e.kind, "data": e.data, "created_at": e.created_at}),
    )
    .unwrap_or_default();
    web::Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        e.id, e.kind, data
    ))
}

/// With `Accept: text/event-stream`: the tenant's events as they happen (resumable with
/// `Last-Event-ID`, a comment heartbeat every 3 s, so streams of clients that left are
/// released within seconds). Otherwise: a JSON list, newest first, `?since_id=` for those
/// after an id.
#[utoipa::path(get, path = "/api/platform-status/events", tag = "lab", params(("since_id" = Option<i64>, Query)),
    responses((status = 200, description = "SSE stream or a list of events")))]
pub async fn events(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let id = |field: &str, v: &str| {
        v.trim()
            .parse::<i64>()
            .map_err(|_| ApiError::validation(field, "must be an event id"))
    };
    let since = match filters(req.query_string())
        .into_iter()
        .find(|(k, _)| k == "since_id")
    {
        Some((_, v)) => Some(id("since_id", &v)?),
        None => None,
    };
    let header_of = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let wants_sse = header_of(header::ACCEPT).is_some_and(|a| a.contains("text/event-stream"));
    let a = actor(&caller, &meta);
    if !wants_sse {
        let (s, limit, offset) = (since.unwrap_or(0), page.limit, page.offset());
        let (rows, total) = platform::events(&state.app, &a, s, limit, offset).await?;
        return Ok(paged(&req, page, total, rows));
    }
    let resume = match header_of(header::HeaderName::from_static("last-event-id")) {
        Some(v) => Some(id("Last-Event-ID", v)?),
        None => since,
    };
    let feed = platform::feed(&state.app, &a, resume).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(sse(feed)))
}

/// The event stream's body: each event as a frame, a heartbeat comment when quiet; it ends
/// when the feed fell behind (the client resumes with `Last-Event-ID`).
fn sse(feed: Feed) -> impl futures_util::Stream<Item = Result<web::Bytes, std::io::Error>> {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.reset();
    futures_util::stream::unfold((feed, heartbeat), |(mut feed, mut beat)| async move {
        let frame = tokio::select! {
            e = feed.next() => sse_frame(&e?),
            _ = beat.tick() => web::Bytes::from_static(b": heartbeat\n\n"),
        };
        Some((Ok(frame), (feed, beat)))
    })
}
