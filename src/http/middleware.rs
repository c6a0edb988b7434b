//! The request pipeline around every route: correlation id, refusal of credentials in the URL,
//! error bodies for everything (actix's own errors included), the audit record of every refused
//! credential and every 403, security headers, and the access log (path only, never the query
//! string or a header value).

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, ResponseError, web};
use serde_json::json;

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
#[cfg(test)]
use super::extract::canonical_path;
use super::extract::{Meta, RequestId};
use super::ratelimit::RateInfo;
use super::table::{self, Limit, Matched};
use crate::domain::error::Code;
use crate::store::audit;

/// Query parameters that carry credentials; a URL with one is refused (URLs end up in logs,
/// browser history and proxies).
const URL_CREDENTIAL_PARAMS: [&str; 5] = ["token", "access_token", "api_key", "apikey", "key"];

fn correlation_id(req: &ServiceRequest) -> String {
    if let Some(v) = req
        .headers()
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        && (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return v.to_string();
    }
    uuid::Uuid::new_v4().to_string()
}

/// Counts the request against its route's limiter (SPEC §6); the answer when over the limit.
fn rate_limit(req: &ServiceRequest) -> Option<ApiError> {
    let state = req.app_data::<web::Data<AppState>>()?;
    let m = Matched::of(req.request());
    if !m.api {
        return None;
    }
    // A route's own limit; a wrong method or an unknown path counts against the general one,
    // except on an exempt path.
    let limit = match (m.row, m.path_row()) {
        (Some(r), _) => r.limit,
        (None, Some(r)) if r.limit == Limit::Exempt => Limit::Exempt,
        _ => Limit::General,
    };
    let limiter = state.limits.for_limit(limit)?;
    let ip = super::extract::client_ip(req.request(), state)?;
    let d = limiter.check(ip, state.app.now().timestamp().max(0) as u64);
    req.extensions_mut().insert(RateInfo(d));
    if !d.allowed {
        state.app.metrics.rate_limited(limit.name());
    }
    (!d.allowed).then(|| ApiError::rate_limited(d.retry_after))
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
fn preflight_origin(req: &ServiceRequest) -> Option<String> {
    if req.method() != actix_web::http::Method::OPTIONS
        || !req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return None;
    }
    req.headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn credential_in_url(query: &str) -> bool {
    if query.is_empty() {
        return false;
    }
    query.split('&').any(|pair| {
        let name = pair.split('=').next().unwrap_or("");
        let name = percent_decode(name).to_ascii_lowercase();
        URL_CREDENTIAL_PARAMS.contains(&name.as_str())
    })
}

fn percent_decode(s: &str) -> String {
    super::extract::url_pairs(&format!("{s}="))
        .into_iter()
        .next()
        .map(|(k, _)| k)
        .unwrap_or_else(|| s.to_string())
}

pub async fn pipeline(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let rid = correlation_id(&req);
    req.extensions_mut().insert(RequestId(rid.clone()));
    let method = req.method().clone();
    let path = req.path().to_string();
    // The route is found once; everything after reads it from the request.
    let matched = table::find(&method, req.match_info().as_str());
    req.extensions_mut().insert(matched);

    let res = if credential_in_url(req.query_string()) {
        let e = ApiError::new(
            Code::CredentialInUrl,
            "Credentials must not be sent in the URL; send them in a header.",
        );
        req.into_response(e.error_response())
    } else if let Some(limited) = rate_limit(&req) {
        req.into_response(limited.error_response())
    } else if let Some(origin) = preflight_origin(&req) {
        let allowed = match req.app_data::<web::Data<AppState>>() {
            Some(state) => super::auth::preflight_allows(req.request(), state, &origin)
                .await
                .unwrap_or(false),
            None => false,
        };
        let mut res = actix_web::HttpResponse::NoContent();
        if allowed {
            res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
                .insert_header((header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "Authorization, Content-Type, X-API-Key",
                ))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    "GET, HEAD, POST, PUT, PATCH, DELETE",
                ))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"));
        }
        res.insert_header((header::VARY, "Origin"));
        req.into_response(res.finish())
    } else {
        // Handlers' and extractors' errors arrive as responses; only a failing middleware
        // could return `Err`, and none below this one does.
        next.call(req).await?.map_into_boxed_body()
    };
    let res = finish(res, &rid).await;
    let status = res.status().as_u16();
    let took = started.elapsed();
    let state = res.request().app_data::<web::Data<AppState>>();
    let route = table::metric_slot(res.request());
    if let Some(state) = state {
        let m = &state.app.metrics;
        m.request(
            route,
            crate::metrics::method_slot(method.as_str()),
            status,
            took,
        );
    }
    let level = if status >= 500 {
        log::Level::Error
    } else if rid == "systemd-watchdog"
        && path == "/api/health"
        && res.request().peer_addr().is_some_and(|a| {
            a.ip().is_loopback() || a.ip() == res.request().app_config().local_addr().ip()
        })
    {
        // The unit's own liveness probe from this machine, every few seconds: not worth a
        // line each time (a remote client naming itself so is logged as any other).
        log::Level::Debug
    } else {
        log::Level::Info
    };
    if log::log_enabled!(level) {
        let ms = (took.as_secs_f64() * 10_000.0).round() / 10.0;
        let ip = state
            .and_then(|s| super::extract::client_ip(res.request(), s))
            .map(|i| i.to_string())
            .unwrap_or_default();
        log::log!(
            level,
            request_id = rid.as_str(),
            method = method.as_str(),
            route = table::metric_route(route),
            status = status,
            duration_ms = ms,
            ip = ip.as_str();
            "{method} {path} {status} {ms:.1}ms request_id={rid}"
        );
    }
    Ok(res)
}

/// Marks a response whose error status carries its own body by contract (the degraded
/// health answer of SPEC §10), which the error rendering leaves alone.
#[derive(Clone, Copy)]
pub struct KeepBody;

async fn finish(res: ServiceResponse<BoxBody>, rid: &str) -> ServiceResponse<BoxBody> {
    let status = res.status();
    let keep = res.response().extensions().get::<KeepBody>().is_some();
    let mut res = if status.as_u16() >= 400 && !keep {
        let err = res
            .response()
            .extensions()
            .get::<ApiError>()
            .cloned()
            .unwrap_or_else(|| ApiError::from_status(status));
        if err.code == Code::Internal {
            log::error!("internal error answered, request_id={rid}");
        }
        if err.code == Code::DbUnavailable
            && let Some(state) = res.request().app_data::<web::Data<AppState>>()
        {
            state.app.metrics.db_unavailable();
        }
        audit_refusal(&res, &err).await;
        let (req, resp) = res.into_parts();
        let body = err.body(rid).to_string();
        let mut resp = resp.set_body(BoxBody::new(body));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        ServiceResponse::new(req, resp)
    } else {
        res
    };
    let no_store = Matched::of(res.request()).no_store;
    let https = res
        .request()
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.tls.is_some());
    let (tenant, cors) = res
        .request()
        .extensions()
        .get::<Caller>()
        .map(|c| (Some(c.tenant.id.clone()), c.cors_origin.clone()))
        .unwrap_or((None, None));
    let rate = res.request().extensions().get::<RateInfo>().copied();
    let h = res.headers_mut();
    if let Some(RateInfo(d)) = rate {
        h.insert(
            HeaderName::from_static("ratelimit-limit"),
            HeaderValue::from(d.limit),
        );
        h.insert(
            HeaderName::from_static("ratelimit-remaining"),
            HeaderValue::from(d.remaining),
        );
        h.insert(
            HeaderName::from_static("ratelimit-reset"),
            HeaderValue::from(d.reset),
        );
    }
    if let Some(origin) = cors.and_then(|o| HeaderValue::from_str(&o).ok()) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    if let Ok(v) = HeaderValue::from_str(rid) {
        h.insert(HeaderName::from_static("x-correlation-id"), v);
    }
    if let Some(t) = tenant.and_then(|t| HeaderValue::from_str(&t).ok()) {
        h.insert(HeaderName::from_static("x-tenant-id"), t);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if no_store {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Every presented credential that is refused (401) and every 403 leaves an audit record,
/// unless the handler wrote a more specific one itself.
async fn audit_refusal(res: &ServiceResponse<BoxBody>, err: &ApiError) {
    let status = err.status.as_u16();
    if err.audited || !(status == 401 || status == 403) || err.code == Code::NoCredentials {
        return;
    }
    let req = res.request();
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return;
    };
    let meta = Meta::of(req);
    let caller = req.extensions().get::<Caller>().cloned();
    let identity = req.extensions().get::<super::auth::Identity>().cloned();
    let (tenant_id, actor_type, actor_id) = match (&caller, identity) {
        (Some(c), _) => (
            Some(c.tenant.id.clone()),
            c.actor_type,
            Some(c.actor_id.clone()),
        ),
        (None, Some(i)) => (Some(i.tenant_id), i.actor_type, Some(i.actor_id)),
        (None, None) => (None, "anonymous", None),
    };
    // A flood of refused anonymous credentials from one client writes one record a minute
    // (with its count). A refused credential that names someone (an authentic but expired
    // token, a revoked key) is recorded whole each time, under that name (SPEC §9, §13.2);
    // the rate limits bound how often.
    if caller.is_none() && status == 401 && actor_type == "anonymous" {
        let who = super::fold::Who {
            tenant_id: tenant_id.clone(),
            actor_type: actor_type.to_string(),
            actor_id: actor_id.clone(),
        };
        if state
            .folds
            .note(meta.ip.as_deref(), &who, state.app.now().timestamp())
            == super::fold::Fold::Folded
        {
            return;
        }
    }
    let ev = audit::AuditEvent {
        tenant_id,
        actor_type: actor_type.to_string(),
        actor_id,
        action: if status == 401 {
            "auth.credential_refused"
        } else {
            "access.denied"
        }
        .to_string(),
        target: Some(format!("{} {}", req.method(), req.path())),
        outcome: audit::Outcome::Denied,
        ip: meta.ip,
        user_agent: meta.user_agent,
        request_id: Some(meta.request_id),
        details: json!({"code": err.code.as_str(), "status": status}),
    };
    // The refusal was answered either way: its record is kept until the database takes it.
    let app = state.app.clone();
    let _ = tokio::task::spawn_blocking(move || app.record(ev)).await;
}

/// Writes the folded counts of refused anonymous credentials of minutes that are over (all of
/// them with `everything`, at shutdown), one record per client and minute.
pub async fn flush_folds(state: &web::Data<AppState>, everything: bool) {
    let due = state
        .folds
        .take_due(state.app.now().timestamp(), everything);
    if due.is_empty() {
        return;
    }
    let events: Vec<audit::AuditEvent> = due
        .iter()
        .map(|d| audit::AuditEvent {
            tenant_id: d.who.tenant_id.clone(),
            actor_type: d.who.actor_type.clone(),
            actor_id: d.who.actor_id.clone(),
            action: "auth.credential_refused".into(),
            outcome: audit::Outcome::Denied,
            ip: Some(d.client.clone()),
            details: json!({
                "folded": d.count,
                "minute": chrono::DateTime::from_timestamp(d.minute, 0).map(crate::domain::time::fmt),
            }),
            ..Default::default()
        })
        .collect();
    if let Err(e) = crate::app::audit::append_all(&state.app, events).await {
        // Kept for the next flush: the counts are never dropped.
        log::error!("could not write folded refusals (kept for the next try): {e}");
        state.folds.restore(due);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_params_are_found_in_any_spelling() {
        assert!(credential_in_url("token=abc"));
        assert!(credential_in_url("a=1&API_KEY=x"));
        assert!(credential_in_url("%6Bey=x"));
        assert!(credential_in_url("access_token"));
        assert!(!credential_in_url("page=2&tokens=3"));
        assert!(!credential_in_url(""));
    }

    #[test]
    fn v1_alias_is_canonicalised() {
        assert_eq!(canonical_path("/api/v1/auth/login"), "/api/auth/login");
        assert_eq!(canonical_path("/api/v10/x"), "/api/v10/x");
        let get = actix_web::http::Method::GET;
        assert!(table::find(&get, "/api/v1/auth/me").no_store);
        assert!(!table::find(&get, "/api/health").no_store);
    }
}
