//! Organization API keys (SPEC §4.4) beyond their creation: reveal, share, unshare, edit and
//! delete, each under the reach rule: acting on a key needs every capability its services grant
//! (`domain::reach::over_key`), so a `manage_api_keys`-only holder cannot take over a key that
//! can do more than it can.

use rusqlite::Connection;
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
fn reached(tx: &Connection, actor: &Actor, key: &KeyId) -> Result<KeyInfo, WriteError> {
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
