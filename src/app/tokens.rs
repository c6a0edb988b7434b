//! Personal access tokens (SPEC §4.3): made by a signed-in person for scripts, listed and
//! revoked by their owner only.

use serde_json::json;

use super::account::Me;
use super::{Actor, App, AppResult, Invalidation};
use crate::domain::error::{Code, DomainError};
use crate::domain::settings::RequireMfa;
use crate::domain::token::Secret;
use crate::store::audit;
use crate::store::tokens::{self, TokenInfo};

/// A token's lifetime as the API names it: days, or none for `never`.
pub fn lifetime_days(s: &str) -> Result<Option<i64>, DomainError> {
    Ok(match s {
        "15d" => Some(15),
        "30d" => Some(30),
        "90d" => Some(90),
        "1y" => Some(365),
        "2y" => Some(730),
        "never" => None,
        _ => {
            return Err(DomainError::validation(
                "expires_in",
                "must be one of 15d, 30d, 90d, 1y, 2y, never",
            ));
        }
    })
}

/// POST /tokens: a new token of the signed-in person in this tenant, with the factors of the
/// session that made it (the MFA policy judges it as that session); its secret is answered
/// here only. Under an MFA policy a password-only session cannot make one: the token would
/// carry capabilities that session itself cannot use.
pub async fn create(
    app: &App,
    me: Me,
    amr: Vec<String>,
    name: &str,
    expires_in: &str,
) -> AppResult<(TokenInfo, Secret)> {
    let tid = me.actor.tenant.as_str().to_string();
    let policy = super::credentials::settings(app, tid.clone()).await?;
    if policy.require_mfa != RequireMfa::Off && !crate::domain::settings::has_second_factor(&amr) {
        return Err(DomainError::new(
            Code::MfaRequired,
            "This tenant requires MFA: sign in with a second factor to create tokens.",
        ));
    }
    let name = crate::domain::ids::display_name("name", name)?;
    let expires_at = lifetime_days(expires_in)?.map(|d| app.now() + chrono::Duration::days(d));
    let uid = me.user.user_id.clone();
    let details = json!({"name": name, "expires_in": expires_in});
    let mut ev = me.actor.event("token.create", String::new(), details);
    app.write(move |tx, _| {
        let (info, secret) = tokens::create(tx, &uid, &tid, &name, expires_at, &amr)?;
        ev.target = Some(format!("token:{}", info.id));
        audit::append(tx, &ev)?;
        Ok((info, secret))
    })
    .await
}

/// The person's own tokens in the actor's tenant (never the secrets).
pub async fn list(app: &App, actor: &Actor, user: String) -> AppResult<Vec<TokenInfo>> {
    let tid = actor.tenant.as_str().to_string();
    Ok(app.read(move |c| tokens::list(c, &user, &tid)).await?)
}

/// Revokes one of the person's own tokens at once; anyone else's is `NotFound`.
pub async fn revoke(app: &App, actor: Actor, user: String, id: String) -> AppResult<()> {
    let ev = actor.event("token.revoke", format!("token:{id}"), json!({}));
    app.change(move |tx, fx| {
        let Some(h) = tokens::revoke(tx, &user, &id)? else {
            return Err(DomainError::not_found().into());
        };
        audit::append(tx, &ev)?;
        fx.invalidate(Invalidation::Pat(h));
        Ok(())
    })
    .await
}
