//! Liveness and credential checks.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;

/// Health: no credential, no rate limit; 503 when the database cannot be read.
#[utoipa::path(get, path = "/api/health", tag = "status",
    responses((status = 200, description = "healthy"), (status = 503, description = "database unavailable")))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let ok = database_ok(&state).await;
    let mut body = if ok {
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "database": "ok"})
    } else {
        json!({"status": "degraded", "version": env!("CARGO_PKG_VERSION"), "database": "unavailable"})
    };
    if state.config.global_api_key.is_some() {
        body["global_api_key"] = json!("enabled");
    }
    body["engine"] = json!(state.app.pool.engine().as_str());
    body["node"] = json!(state.config.node);
    if body["status"] == "ok" {
        HttpResponse::Ok().json(body)
    } else {
        let mut res = HttpResponse::ServiceUnavailable().json(body);
        res.extensions_mut()
            .insert(crate::http::middleware::KeepBody);
        res
    }
}

/// Whether the database can be read, checked at most every 250 ms: a health probe under load
/// then costs no database round trip, and an outage shows within a quarter of a second.
async fn database_ok(state: &web::Data<AppState>) -> bool {
    use std::sync::atomic::Ordering;
    let now = state.started.elapsed().as_millis() as u64;
    let last = state.health.checked_at_ms.load(Ordering::Relaxed);
    if last != 0 && now.saturating_sub(last) < 250 {
        return state.health.ok.load(Ordering::Relaxed);
    }
    // A database file deleted, replaced or made read-only still answers reads from the open
    // file, but nothing written now would last: degraded.
    let db = crate::app::platform::database_check(&state.app).await;
    if let Err(e) = &db {
        log::warn!("health check: {e}");
    }
    state.health.ok.store(db.is_ok(), Ordering::Relaxed);
    state
        .health
        .checked_at_ms
        .store(now.max(1), Ordering::Relaxed);
    db.is_ok()
}

/// The quickest way to check a credential: `{"status": "ok"}` for any valid one.
#[utoipa::path(get, path = "/api/ping", tag = "status", responses((status = 200, description = "the credential is valid"), (status = 401, description = "refused")))]
pub async fn ping(_caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(json!({"status": "ok"})))
}
