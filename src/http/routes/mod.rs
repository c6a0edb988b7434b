//! The handlers, one module per resource (registered by `http::table`), and the helpers they
//! share: the actor of a use case, audit records of changes, mail after commit.

pub mod account;
pub mod admin;
pub mod admin_users;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod exercises;
pub mod noise;
pub mod passkeys;
pub mod platform;
pub mod security;
pub mod setup;
pub mod status;
pub mod tokens;

use crate::http::auth::Caller;
use crate::http::error::ApiError;
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
        second_factor: crate::domain::settings::has_second_factor(&caller.amr),
        template: user_event(caller, meta, "", String::new(), serde_json::Value::Null),
    }
}

/// The signed-in person acting on their own account (an interactive session only).
pub fn me(caller: &Caller, meta: &Meta) -> Result<crate::app::account::Me, ApiError> {
    let (user, sid) = caller.require_interactive()?;
    Ok(crate::app::account::Me {
        actor: actor(caller, meta),
        user: user.clone(),
        session: sid.to_string(),
    })
}
