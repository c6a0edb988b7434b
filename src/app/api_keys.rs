//! Organization API keys (SPEC §4.4) beyond their creation: reveal, share, unshare, edit and
//! delete, each under the reach rule: acting on a key needs every capability its services grant
//! (`domain::reach::over_key`), so a `manage_api_keys`-only holder cannot take over a key that
//! can do more than it can.

use crate::store::Db;
use serde_json::json;

use super::{Actor, App, AppResult, Invalidation, WriteError};
use crate::domain::api_key;
use crate::domain::capability::Capability;
use crate::domain::crypto::DataKey;
use crate::domain::error::{Code, DomainError};
use crate::domain::ids::{KeyId, UserId};
use crate::domain::reach;
use crate::domain::token::Secret;
use crate::store::api_keys::{self, KeyChange, KeyInfo};
use crate::store::{StoreError, audit, users};

/// The key, in the actor's tenant, if the actor reaches it.
fn reached(tx: &Db, actor: &Actor, key: &KeyId) -> Result<KeyInfo, WriteError> {
    let info =
        api_keys::get(tx, actor.tenant.as_str(), key.as_str())?.ok_or(StoreError::NotFound)?;
    reach::over_key(actor.caps, api_key::grants(&info.services))?;
    Ok(info)
}

/// GET /api-keys/{id}/secret: to holders of `manage_api_keys` who reach the key, and to users
/// it was shared with (a share was a deliberate hand-over by someone who reached it).
pub async fn reveal(app: &App, actor: Actor, key: KeyId, dk: DataKey) -> AppResult<Secret> {
    let manages = actor.caps.contains(Capability::ManageApiKeys);
    if !manages && actor.user.is_none() {
        return Err(missing_manage());
    }
    app.change(move |tx, _| {
        let (tid, kid) = (actor.tenant.as_str(), key.as_str());
        let info = api_keys::get(tx, tid, kid)?.ok_or(StoreError::NotFound)?;
        let uid = actor.user.as_ref().map(UserId::as_str).unwrap_or("");
        let reach = reach::over_key(actor.caps, api_key::grants(&info.services));
        let via = match reach {
            Ok(()) if manages => "manage_api_keys",
            // A share is a hand-over by someone who reached the key (and ends when the key's
            // grant changes), so its receiver may reveal it whatever they hold.
            _ if actor.user.is_some() && api_keys::is_shared_with(tx, kid, uid)? => "share",
            Err(e) if manages => return Err(e.into()),
            _ => return Err(missing_manage().into()),
        };
        let s = api_keys::reveal(tx, &dk, tid, kid)?.ok_or(StoreError::NotFound)?;
        audit::append(
            tx,
            &actor.event(
                "api_key.reveal",
                format!("api_key:{kid}"),
                json!({"via": via}),
            ),
        )?;
        Ok(s)
    })
    .await
}

fn missing_manage() -> DomainError {
    DomainError::new(
        Code::MissingCapability,
        "This action requires the capability manage_api_keys.",
    )
}

/// POST /api-keys/{id}/shares: hands the key to another member of the tenant.
pub async fn share(app: &App, actor: Actor, key: KeyId, with: UserId) -> AppResult<()> {
    app.change(move |tx, fx| {
        reached(tx, &actor, &key)?;
        if !users::is_member(tx, with.as_str(), actor.tenant.as_str())? {
            return Err(StoreError::NotFound.into());
        }
        api_keys::share(tx, key.as_str(), with.as_str())?;
        audit::append(
            tx,
            &actor.event(
                "api_key.share",
                format!("api_key:{key}"),
                json!({"user_id": with.as_str()}),
            ),
        )?;
        fx.invalidate(Invalidation::Keys);
        Ok(())
    })
    .await
}

/// DELETE /api-keys/{id}/shares/{user_id}: the user can no longer reveal it (the key keeps
/// working).
pub async fn unshare(app: &App, actor: Actor, key: KeyId, with: UserId) -> AppResult<()> {
    app.change(move |tx, fx| {
        reached(tx, &actor, &key)?;
        if !api_keys::unshare(tx, key.as_str(), with.as_str())? {
            return Err(StoreError::NotFound.into());
        }
        audit::append(
            tx,
            &actor.event(
                "api_key.unshare",
                format!("api_key:{key}"),
                json!({"user_id": with.as_str()}),
            ),
        )?;
        fx.invalidate(Invalidation::Keys);
        Ok(())
    })
    .await
}

/// PATCH /api-keys/{id}: the actor must reach the key as it is, and may grant only what it
/// holds (checked by the caller with the new services before this runs).
pub async fn update(app: &App, actor: Actor, key: KeyId, change: KeyChange) -> AppResult<KeyInfo> {
    app.change(move |tx, fx| {
        reached(tx, &actor, &key)?;
        let (tid, kid) = (actor.tenant.as_str(), key.as_str());
        if let Some(services) = &change.services {
            // The new grant, too, must be within the editor's reach.
            reach::over_key(actor.caps, api_key::grants(services))?;
        }
        if !api_keys::update(tx, tid, kid, &change)? {
            return Err(StoreError::NotFound.into());
        }
        if change.services.is_some() {
            api_keys::unshare_all(tx, kid)?;
        }
        audit::append(
            tx,
            &actor.event(
                "api_key.update",
                format!("api_key:{kid}"),
                json!({
                    "name": change.name, "services": change.services,
                    "allowed_subnets": change.allowed_subnets, "allowed_origins": change.allowed_origins,
                }),
            ),
        )?;
        fx.invalidate(Invalidation::Keys);
        Ok(api_keys::get(tx, tid, kid)?.ok_or(StoreError::NotFound)?)
    })
    .await
}

/// DELETE /api-keys/{id}: the key stops working at once.
pub async fn delete(app: &App, actor: Actor, key: KeyId) -> AppResult<()> {
    app.change(move |tx, fx| {
        reached(tx, &actor, &key)?;
        if !api_keys::delete(tx, actor.tenant.as_str(), key.as_str())? {
            return Err(StoreError::NotFound.into());
        }
        audit::append(
            tx,
            &actor.event("api_key.delete", format!("api_key:{key}"), json!({})),
        )?;
        fx.invalidate(Invalidation::Keys);
        Ok(())
    })
    .await
}

/// What a new key is to be.
pub struct NewKeyInput {
    pub name: String,
    pub services: std::collections::BTreeMap<String, api_keys::Access>,
    /// RFC 3339, in the future; never changed afterwards.
    pub expires_at: Option<String>,
    pub allowed_subnets: Vec<String>,
    pub allowed_origins: Vec<String>,
}

/// POST /api-keys: a new key of the actor's tenant, granting only what the actor could do
/// itself; its secret is answered here (and can be revealed again later).
pub async fn create(app: &App, actor: Actor, new: NewKeyInput) -> AppResult<(KeyInfo, Secret)> {
    let name = crate::domain::ids::display_name("name", &new.name)?;
    api_key::check_services(actor.caps, &new.services)?;
    let subnets = api_key::check_subnets(&new.allowed_subnets)?;
    let origins = api_key::check_origins(&new.allowed_origins)?;
    let expires_at = match &new.expires_at {
        None => None,
        Some(s) => {
            let t = crate::domain::time::parse(s)
                .ok_or_else(|| DomainError::validation("expires_at", "must be an RFC 3339 time"))?;
            if t <= app.now() {
                return Err(DomainError::validation(
                    "expires_at",
                    "must be in the future",
                ));
            }
            Some(t)
        }
    };
    let tid = actor.tenant.as_str().to_string();
    // A key made by a user is that user's; one made by another key names that key.
    let creator = actor
        .user
        .as_ref()
        .map(|u| u.as_str().to_string())
        .or_else(|| actor.template.actor_id.clone())
        .unwrap_or_default();
    let details = json!({"name": name, "services": new.services});
    let mut ev = actor.event("api_key.create", String::new(), details);
    let (dk, services) = (app.data_key.clone(), new.services);
    app.write(move |tx, fx| {
        fx.invalidate(Invalidation::Keys);
        let key = api_keys::NewKey {
            tenant_id: &tid,
            name: &name,
            services: &services,
            allowed_subnets: &subnets,
            allowed_origins: &origins,
            expires_at,
            created_by: Some(&creator),
        };
        let (info, secret) = api_keys::create(tx, &dk, key)?;
        ev.target = Some(format!("api_key:{}", info.id));
        audit::append(tx, &ev)?;
        Ok((info, secret))
    })
    .await
}

/// A page of the actor's tenant's keys (never the secrets), and how many there are.
pub async fn list(
    app: &App,
    actor: &Actor,
    limit: u32,
    offset: u64,
) -> AppResult<(Vec<KeyInfo>, u64)> {
    let tid = actor.tenant.as_str().to_string();
    Ok(app
        .read(move |c| api_keys::list(c, &tid, limit, offset))
        .await?)
}

/// One key of the actor's tenant (never its secret).
pub async fn get(app: &App, actor: &Actor, key: KeyId) -> AppResult<KeyInfo> {
    let tid = actor.tenant.as_str().to_string();
    app.read(move |c| api_keys::get(c, &tid, key.as_str()))
        .await?
        .ok_or_else(DomainError::not_found)
}
