//! Liveness and credential checks.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::store;

/// Health: no credential, no rate limit; 503 when the database cannot be read.
#[utoipa::path(get, path = "/api/health", tag = "status",
    responses((status = 200, description = "healthy"), (status = 503, description = "database unavailable")))]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let db = store::run(&state.pool, |c| {
        Ok(c.query_row("SELECT COUNT(*) FROM tenants", [], |r| r.get::<_, i64>(0))?)
    })
    .await;
    let mut body = match db {
        Ok(_) => json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "database": "ok"}),
        Err(e) => {
            log::warn!("health check: {e}");
            json!({"status": "degraded", "version": env!("CARGO_PKG_VERSION"), "database": "unavailable"})
        }
    };
    if state.config.global_api_key.is_some() {
        body["global_api_key"] = json!("enabled");
    }
    if body["status"] == "ok" {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// The quickest way to check a credential: `{"status": "ok"}` for any valid one.
#[utoipa::path(get, path = "/api/ping", tag = "status", responses((status = 200, description = "the credential is valid"), (status = 401, description = "refused")))]
pub async fn ping(_caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(json!({"status": "ok"})))
}
