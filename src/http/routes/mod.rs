//! The route table: one list of (method, path, handler) that is registered under `/api` and
//! `/api/v1` and checked against the OpenAPI document by a test.

pub mod account;
pub mod admin;
pub mod admin_users;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod exercises;
pub mod noise;
pub mod platform;
pub mod security;
pub mod setup;
pub mod status;
pub mod tokens;

use actix_web::web;
use serde_json::json;

use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::extract::Meta;
use crate::store::audit::{AuditEvent, Outcome};

/// The audit record of a change made by an authenticated caller.
pub fn user_event(
    caller: &Caller,
    meta: &Meta,
    action: &str,
    target: String,
    details: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        tenant_id: Some(caller.tenant.id.clone()),
        actor_type: caller.actor_type.into(),
        actor_id: Some(caller.actor_id.clone()),
        action: action.into(),
        target: Some(target),
        outcome: Outcome::Success,
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        request_id: Some(meta.request_id.clone()),
        details,
    }
}

/// The actor of a use case: the caller as `app` sees it, with the capabilities it can use now.
pub fn actor(caller: &Caller, meta: &Meta) -> crate::app::Actor {
    crate::app::Actor {
        tenant: crate::domain::ids::TenantId::from_raw(caller.tenant.id.clone()),
        caps: caller.usable_caps(),
        user: caller
            .user
            .as_ref()
            .map(|u| crate::domain::ids::UserId::from_raw(u.user_id.clone())),
        template: user_event(caller, meta, "", String::new(), serde_json::Value::Null),
    }
}

/// Sends a message after the change that caused it has committed, off the request path (so
/// the answer's timing reveals nothing). A failure is logged and audited; it never undoes the
/// change.
pub fn send_mail(
    state: &web::Data<AppState>,
    tenant_id: Option<String>,
    to: String,
    subject: &'static str,
    body: String,
    kind: &'static str,
) {
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let result = state.mailer.send(&to, subject, &body);
        let (outcome, details) = match &result {
            Ok(via) => (
                Outcome::Success,
                json!({"kind": kind, "to": to, "via": via}),
            ),
            Err(e) => {
                log::error!("mail ({kind}) to {to} failed: {e}");
                (
                    Outcome::Failure,
                    json!({"kind": kind, "to": to, "error": e}),
                )
            }
        };
        let ev = AuditEvent {
            tenant_id,
            actor_type: "system".into(),
            actor_id: Some("mailer".into()),
            action: "mail.send".into(),
            target: Some(format!("mail:{to}")),
            outcome,
            details,
            ..Default::default()
        };
        if let Err(e) = crate::store::write_blocking(&state.pool, |tx| {
            crate::store::audit::append(tx, &ev).map(|_| ())
        }) {
            log::error!("could not audit mail delivery: {e}");
        }
    });
}

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
        route!(post "/auth/mfa/setup" => account::mfa_setup),
        route!(post "/auth/mfa/validate" => account::mfa_validate),
        route!(post "/auth/mfa/disable" => account::mfa_disable),
        route!(post "/auth/change-password" => account::change_password),
        route!(post "/auth/forgot-password" => account::forgot_password),
        route!(post "/auth/reset-password" => account::reset_password),
        route!(get "/auth/sessions" => account::my_sessions),
        route!(delete "/auth/sessions/{id}" => account::end_my_session),
        route!(get "/auth/tenants" => account::my_tenants),
        route!(post "/auth/switch-tenant" => account::switch_tenant),
        route!(post "/auth/invite" => account::accept_invitation),
        route!(get "/auth/verify-email" => account::verify_email),
        route!(get "/admin/users" => admin_users::list),
        route!(post "/admin/users" => admin_users::create),
        route!(get "/admin/users/{id}" => admin_users::get),
        route!(patch "/admin/users/{id}" => admin_users::update),
        route!(delete "/admin/users/{id}" => admin_users::delete),
        route!(post "/admin/users/{id}/reset-password" => admin_users::reset_password),
        route!(get "/admin/sessions" => admin_users::sessions_list),
        route!(delete "/admin/sessions/{id}" => admin_users::sessions_end),
        route!(get "/admin/roles" => admin::roles_list),
        route!(post "/admin/roles" => admin::roles_create),
        route!(get "/admin/roles/{id}" => admin::roles_get),
        route!(put "/admin/roles/{id}" => admin::roles_update),
        route!(delete "/admin/roles/{id}" => admin::roles_delete),
        route!(get "/admin/invitations" => admin::invitations_list),
        route!(post "/admin/invitations" => admin::invite),
        route!(delete "/admin/invitations/{id}" => admin::invitations_revoke),
        route!(get "/admin/settings" => admin::settings_get),
        route!(put "/admin/settings" => admin::settings_put),
        route!(get "/admin/security/ip-allowlist" => security::allow_list),
        route!(post "/admin/security/ip-allowlist" => security::allow_add),
        route!(delete "/admin/security/ip-allowlist/{id}" => security::allow_remove),
        route!(get "/admin/security/ip-blocklist" => security::block_list),
        route!(post "/admin/security/ip-blocklist" => security::block_add),
        route!(delete "/admin/security/ip-blocklist/{id}" => security::block_remove),
        route!(post "/sessions/start" => exercises::start),
        route!(delete "/sessions" => exercises::end),
        route!(get "/sessions" => exercises::list),
        route!(get "/noise/profiles" => noise::profiles),
        route!(get "/noise/sinks" => noise::sinks_list),
        route!(post "/noise/sinks" => noise::sinks_create),
        route!(get "/noise/sinks/{id}" => noise::sinks_get),
        route!(patch "/noise/sinks/{id}" => noise::sinks_update),
        route!(delete "/noise/sinks/{id}" => noise::sinks_delete),
        route!(post "/noise/run" => noise::run),
        route!(get "/noise/runs" => noise::runs_list),
        route!(get "/noise/runs/{id}" => noise::runs_get),
        route!(get "/noise/schedules" => noise::schedules_list),
        route!(post "/noise/schedules" => noise::schedules_create),
        route!(get "/noise/schedules/{id}" => noise::schedules_get),
        route!(patch "/noise/schedules/{id}" => noise::schedules_update),
        route!(delete "/noise/schedules/{id}" => noise::schedules_delete),
        route!(get "/platform-status" => platform::status),
        route!(get "/platform-status/events" => platform::events),
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
