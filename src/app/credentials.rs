//! What the authenticator asks the database about a presented credential (SPEC §3): the
//! token, key or session a hash names, whom and which tenant it acts for, the tenant's
//! policies, and the note of a credential's use. The authenticator (`http::auth`) caches the
//! answers and is told when they change (`Invalidation`).

use super::{App, AppResult};
use crate::domain::capability::CapSet;
use crate::domain::net::IpLists;
use crate::domain::settings::Settings;
use crate::domain::time::Timestamp;
use crate::store::api_keys::{self, KeyState};
use crate::store::audit::AuditEvent;
use crate::store::events::{self, Event};
use crate::store::sessions::{self, SessionState};
use crate::store::tenants::{self, Tenant};
use crate::store::tokens::{self, TokenState};
use crate::store::users::{self, Principal};
use crate::store::{audit, ip_rules, roles};

pub async fn pat(app: &App, hash: String) -> AppResult<Option<TokenState>> {
    Ok(app.read(move |c| tokens::find_by_hash(c, &hash)).await?)
}

pub async fn api_key(app: &App, hash: String) -> AppResult<Option<KeyState>> {
    Ok(app.read(move |c| api_keys::find_by_hash(c, &hash)).await?)
}

/// Every origin some live key allows (for CORS preflights, which name no key).
pub async fn key_origins(app: &App) -> AppResult<Vec<String>> {
    Ok(app.read(api_keys::all_origins).await?)
}

pub async fn session_by_cookie(app: &App, hash: String) -> AppResult<Option<SessionState>> {
    Ok(app
        .read(move |c| sessions::find_by_cookie(c, &hash))
        .await?)
}

pub async fn session(app: &App, id: String) -> AppResult<Option<SessionState>> {
    Ok(app.read(move |c| sessions::get(c, &id)).await?)
}

/// A user as a member of a tenant, with what they hold there.
pub async fn principal(app: &App, user: String, tenant: String) -> AppResult<Option<Principal>> {
    Ok(app
        .read(move |c| users::principal(c, &user, &tenant))
        .await?)
}

/// A tenant by id or slug.
pub async fn tenant(app: &App, id_or_slug: String) -> AppResult<Option<Tenant>> {
    Ok(app.read(move |c| tenants::find(c, &id_or_slug)).await?)
}

/// What a role (by name) grants in a tenant.
pub async fn role_caps(app: &App, tenant: String, role: String) -> AppResult<CapSet> {
    Ok(app
        .read(move |c| roles::caps_by_name(c, &tenant, &role))
        .await?)
}

pub async fn settings(app: &App, tenant: String) -> AppResult<Settings> {
    let v = app.read(move |c| tenants::settings(c, &tenant)).await?;
    Ok(Settings::from_json(&v))
}

pub async fn ip_lists(app: &App, tenant: String) -> AppResult<IpLists> {
    let (allow, block) = app
        .read(move |c| {
            Ok((
                ip_rules::list(c, &tenant, "allow")?,
                ip_rules::list(c, &tenant, "block")?,
            ))
        })
        .await?;
    let cidrs =
        |rules: Vec<ip_rules::IpRule>| rules.into_iter().map(|r| r.cidr).collect::<Vec<_>>();
    Ok(IpLists::parse(&cidrs(allow), &cidrs(block)))
}

/// A credential whose last use is kept.
#[derive(Debug, Clone, Copy)]
pub enum Used {
    Pat,
    Key,
    Session,
}

/// Notes a credential's use (time and address), off the request path; a failure is logged
/// (it costs only the note).
pub fn note_used(app: &App, what: Used, id: String, at: Timestamp, ip: Option<String>) {
    let app = app.clone();
    tokio::task::spawn_blocking(move || {
        // Through the writer's queue: many notes share a group commit.
        let r = crate::store::write_queued(&app.pool, move |tx| match what {
            Used::Pat => tokens::touch(tx, &id, at, ip.as_deref()),
            Used::Key => api_keys::touch(tx, &id, at, ip.as_deref()),
            Used::Session => sessions::touch(tx, &id, at),
        });
        if let Err(e) = r {
            log::warn!("could not record credential use: {e}");
        }
    });
}

/// Writes the audit record of a break-glass use and its platform event, and publishes it.
pub async fn audit_break_glass(
    app: &App,
    ev: AuditEvent,
    tenant: Option<String>,
    mut data: serde_json::Value,
) -> AppResult<()> {
    let e: Event = app
        .write(move |tx, _| {
            audit::append(tx, &ev)?;
            data["outcome"] = serde_json::json!(ev.outcome.as_str());
            events::emit(tx, tenant.as_deref(), "breakglass.used", &data)
        })
        .await?;
    app.events.publish(e);
    Ok(())
}
