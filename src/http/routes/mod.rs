//! The route table: one list of (method, path, handler) that is registered under `/api` and
//! `/api/v1` and checked against the OpenAPI document by a test.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod setup;
pub mod status;
pub mod tokens;

use actix_web::web;

/// One registered route. `path` is relative to `/api`.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    make: fn() -> actix_web::Route,
}

macro_rules! route {
    ($m:ident $path:literal => $h:path) => {
        Route {
            method: stringify!($m),
            path: $path,
            make: || web::$m().to($h),
        }
    };
}

pub fn table() -> Vec<Route> {
    vec![
        route!(get "/health" => status::health),
        route!(get "/ping" => status::ping),
        route!(post "/setup" => setup::setup),
        route!(post "/auth/login" => auth::login),
        route!(post "/auth/refresh" => auth::refresh),
        route!(post "/auth/logout" => auth::logout),
        route!(get "/auth/me" => auth::me),
        route!(get "/auth/public-key" => auth::public_key),
        route!(get "/admin/audit" => audit::list),
        route!(get "/admin/audit/export" => audit::export),
        route!(post "/tokens" => tokens::create),
        route!(get "/tokens" => tokens::list),
        route!(delete "/tokens/{id}" => tokens::revoke),
        route!(post "/api-keys" => api_keys::create),
        route!(get "/api-keys" => api_keys::list),
        route!(get "/api-keys/{id}" => api_keys::get),
        route!(patch "/api-keys/{id}" => api_keys::update),
        route!(delete "/api-keys/{id}" => api_keys::delete),
        route!(get "/api-keys/{id}/secret" => api_keys::reveal),
        route!(post "/api-keys/{id}/shares" => api_keys::share),
        route!(delete "/api-keys/{id}/shares/{user_id}" => api_keys::unshare),
    ]
}

async fn method_not_allowed() -> Result<actix_web::HttpResponse, crate::http::error::ApiError> {
    Err(crate::http::error::ApiError::from_status(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
    ))
}

/// Registers every route, grouping methods of one path into one resource so a wrong method
/// answers 405 (not 404).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let table = table();
    let mut paths: Vec<&'static str> = table.iter().map(|r| r.path).collect();
    paths.dedup();
    let mut seen = std::collections::HashSet::new();
    for path in paths {
        if !seen.insert(path) {
            continue;
        }
        let mut res = web::resource(path);
        for r in table.iter().filter(|r| r.path == path) {
            res = res.route((r.make)());
        }
        cfg.service(res.default_service(web::to(method_not_allowed)));
    }
}
