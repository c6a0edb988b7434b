//! Extractors: JSON bodies with the SPEC's errors, the client IP, request metadata, pagination.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::{ApiError, FieldError};
use crate::domain::net;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The correlation id of the request, set by the pipeline before anything else runs.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Parses a JSON body; errors name the field (serde_path_to_error) without echoing values.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // A NUL character is refused wherever it is (SPEC §10 "bad input"): no field of labgate's
    // can hold one, and neither engine treats it alike (PostgreSQL cannot store it at all).
    if bytes.windows(5).any(|w| w.eq_ignore_ascii_case(b"u0000"))
        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(field) = nul_at(&v, String::new())
    {
        return Err(ApiError::validation(
            &field,
            "must not contain a NUL character",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let out: Result<T, _> = serde_path_to_error::deserialize(de);
    match out {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let mut err = super::error::serde_error(&inner);
            if path != "."
                && !path.is_empty()
                && err.details.as_ref().is_some_and(|d| d[0].field == "body")
            {
                let message = err
                    .details
                    .as_ref()
                    .map(|d| d[0].message.clone())
                    .unwrap_or_default();
                err.message = format!("{path}: {message}");
                err.details = Some(vec![FieldError {
                    field: path,
                    message,
                }]);
            }
            Err(err)
        }
    }
}

/// The path of the first string (or key) that holds a NUL character.
fn nul_at(v: &serde_json::Value, path: String) -> Option<String> {
    let here = || {
        if path.is_empty() {
            "body".to_string()
        } else {
            path.clone()
        }
    };
    match v {
        serde_json::Value::String(s) if s.contains('\0') => Some(here()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, x)| nul_at(x, format!("{}[{i}]", here()))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, x)| {
            let at = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k.contains('\0') {
                Some(at)
            } else {
                nul_at(x, at)
            }
        }),
        _ => None,
    }
}

async fn read_body(req: &HttpRequest, payload: &mut Payload) -> Result<web::Bytes, ApiError> {
    match web::Bytes::from_request(req, payload).await {
        Ok(b) => Ok(b),
        Err(e) => {
            let status = e.as_response_error().status_code();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                Err(ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE))
            } else {
                Err(ApiError::validation(
                    "body",
                    "the request body could not be read",
                ))
            }
        }
    }
}

/// A required JSON body (`Content-Type: application/json`, at most 1 MiB, no unknown fields).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            if !is_json(&req) {
                return Err(ApiError::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
            }
            let bytes = read_body(&req, &mut payload).await?;
            parse_json(&bytes).map(Json)
        })
    }
}

/// A JSON body that may be left out entirely (e.g. refresh, which can use its cookie instead).
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let bytes = read_body(&req, &mut payload).await?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(None));
            }
            if !is_json(&req) {
                return Err(ApiError::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
            }
            parse_json(&bytes).map(|v| OptionalJson(Some(v)))
        })
    }
}

/// The client address: the peer, or the rightmost untrusted `X-Forwarded-For` hop when the
/// peer is a trusted proxy. Never taken from the header otherwise.
pub fn client_ip(req: &HttpRequest, state: &AppState) -> Option<IpAddr> {
    let peer = net::canonical(req.peer_addr()?.ip());
    let trusted = &state.config.trusted_proxies;
    if !net::contains_any(trusted, peer) {
        return Some(peer);
    }
    let mut ip = peer;
    for value in req
        .headers()
        .get_all("x-forwarded-for")
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
    {
        let Ok(v) = value.to_str() else {
            return Some(ip);
        };
        for hop in v.split(',').rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(h) => {
                    ip = net::canonical(h);
                    if !net::contains_any(trusted, ip) {
                        return Some(ip);
                    }
                }
                Err(_) => return Some(ip),
            }
        }
    }
    Some(ip)
}

/// Who is asking from where: for audit records and sessions.
#[derive(Clone, Debug)]
pub struct Meta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: String,
}

impl Meta {
    /// The request's origin as the use cases see it.
    pub fn origin(&self) -> crate::app::signin::Origin {
        crate::app::signin::Origin {
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            request_id: self.request_id.clone(),
        }
    }

    pub fn of(req: &HttpRequest) -> Meta {
        let ip = req
            .app_data::<web::Data<AppState>>()
            .and_then(|s| client_ip(req, s))
            .map(|i| i.to_string());
        Meta {
            ip,
            user_agent: req
                .headers()
                .get(actix_web::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(512).collect()),
            request_id: request_id(req),
        }
    }
}

impl FromRequest for Meta {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Meta, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Meta::of(req)))
    }
}

/// `page` (1-based) and `limit` (1..=100, default 20) query parameters.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: u64,
    pub limit: u32,
}

impl Page {
    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.limit as u64)
    }
}

impl FromRequest for Page {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Page, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let mut page = 1u64;
        let mut limit = 20u32;
        for (k, v) in filters(req.query_string()) {
            match k.as_str() {
                "page" => match v.parse::<u64>() {
                    Ok(p) if (1..=1_000_000_000).contains(&p) => page = p,
                    _ => {
                        return std::future::ready(Err(ApiError::validation(
                            "page",
                            "must be a whole number of 1 or more",
                        )));
                    }
                },
                "limit" => match v.parse::<u32>() {
                    Ok(l) if (1..=100).contains(&l) => limit = l,
                    _ => {
                        return std::future::ready(Err(ApiError::validation(
                            "limit",
                            "must be between 1 and 100",
                        )));
                    }
                },
                _ => {}
            }
        }
        std::future::ready(Ok(Page { page, limit }))
    }
}

/// Decoded `key=value` pairs of a query string.
pub fn url_pairs(q: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default()
}

/// The filters of a query string: its decoded pairs that have a value. `name=` (a form left
/// empty, a script's unset variable) means "no filter", never a 400.
pub fn filters(q: &str) -> Vec<(String, String)> {
    url_pairs(q)
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect()
}

/// A list answer: `{"data": [...], "meta": {total, page, limit, totalPages}}` with a `Link`
/// header carrying `rel="next"` / `rel="prev"` where they exist.
pub fn paged<T: serde::Serialize>(
    req: &HttpRequest,
    page: Page,
    total: u64,
    data: Vec<T>,
) -> actix_web::HttpResponse {
    let total_pages = total.div_ceil(page.limit as u64);
    let mut links = Vec::new();
    let link = |p: u64, rel: &str| {
        let mut pairs: Vec<(String, String)> = url_pairs(req.query_string())
            .into_iter()
            .filter(|(k, _)| k != "page" && k != "limit")
            .collect();
        pairs.push(("page".into(), p.to_string()));
        pairs.push(("limit".into(), page.limit.to_string()));
        let q = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("<{}?{q}>; rel=\"{rel}\"", req.path())
    };
    if page.page < total_pages {
        links.push(link(page.page + 1, "next"));
    }
    if page.page > 1 {
        links.push(link((page.page - 1).min(total_pages.max(1)), "prev"));
    }
    let mut res = actix_web::HttpResponse::Ok();
    if !links.is_empty() {
        res.insert_header((actix_web::http::header::LINK, links.join(", ")));
    }
    res.json(serde_json::json!({
        "data": data,
        "meta": {"total": total, "page": page.page, "limit": page.limit, "totalPages": total_pages},
    }))
}

/// `paged` over a list already read whole (short lists: a user's tokens, a tenant's roles).
pub fn paged_all<T: serde::Serialize>(
    req: &HttpRequest,
    page: Page,
    all: Vec<T>,
) -> actix_web::HttpResponse {
    let total = all.len() as u64;
    let items: Vec<T> = all
        .into_iter()
        .skip(page.offset() as usize)
        .take(page.limit as usize)
        .collect();
    paged(req, page, total, items)
}

/// JSON numbers that are whole but written with a fraction (`300409.0`) are still whole
/// numbers: JSON Schema's `integer` admits them, so the server does too.
pub mod whole {
    use serde::{Deserialize, Deserializer, de::Error};

    fn from_number<E: Error>(n: serde_json::Number) -> Result<u64, E> {
        if let Some(u) = n.as_u64() {
            return Ok(u);
        }
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&f) => Ok(f as u64),
            _ => Err(E::custom("expected a whole number")),
        }
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        from_number(serde_json::Number::deserialize(d)?)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Option::<serde_json::Number>::deserialize(d)?
            .map(from_number)
            .transpose()
    }
}

/// The decoded path of a request (as the router sees it: `%6E` is `n`), without the `/api/v1`
/// alias. Every rule that classifies a request by route uses this, so an encoded path cannot
/// slip past a rate limit, a feature flag or a scope check.
pub fn route_path(req: &actix_web::HttpRequest) -> String {
    canonical_path(req.match_info().as_str())
}

/// The path without the `/api/v1` alias, for rules that look at route families.
pub fn canonical_path(path: &str) -> String {
    match path.strip_prefix("/api/v1") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("/api{rest}"),
        _ => path.to_string(),
    }
}
