//! The first admin (SPEC §1.1): while no user exists, the setup token printed at start lets one
//! person create the first admin of the `default` tenant. Once any user exists it is gone.

use serde_json::json;

use super::signin::{Origin, one_time_refused};
use super::{App, AppResult, Invalidation};
use crate::domain::error::{Code, DomainError};
use crate::domain::password;
use crate::store::audit::{self, Outcome};
use crate::store::users::{self, User};
use crate::store::{StoreError, one_time, tenants};

pub const SETUP_PURPOSE: &str = "setup";

fn gone() -> DomainError {
    DomainError::new(
        Code::SetupComplete,
        "Setup is complete: a user already exists.",
    )
}

/// What the first admin is to be.
pub struct FirstAdmin {
    pub setup_token: String,
    pub email: String,
    pub password: String,
    pub name: Option<String>,
}

/// Creates the first admin with the setup token (spent by it); `SETUP_COMPLETE` once any user
/// exists. A wrong token is audited.
pub async fn first_admin(app: &App, origin: &Origin, new: FirstAdmin) -> AppResult<User> {
    if app.read(users::count).await? > 0 {
        return Err(gone());
    }
    if !users::valid_email(&new.email) {
        return Err(DomainError::validation("email", "invalid email format"));
    }
    password::check_policy(&new.password, password::MIN_LEN)
        .map_err(|m| DomainError::validation("password", m))?;
    let hash = app.passwords.hash(new.password).await;
    let (o, action) = (origin.clone(), "setup.first_admin");
    let (email, name, token) = (new.email, new.name.unwrap_or_default(), new.setup_token);
    let refused = app
        .change(move |tx, fx| {
            fx.invalidate(Invalidation::Principals);
            if users::count(tx)? > 0 {
                return Err(gone().into());
            }
            if let Err(r) = one_time::consume(tx, SETUP_PURPOSE, &token)? {
                let details = json!({"reason": "invalid_setup_token"});
                audit::append(tx, &o.event(None, None, action, Outcome::Failure, details))?;
                return Ok(Err(r));
            }
            let default = tenants::find(tx, "default")?.ok_or(StoreError::NotFound)?;
            let u = users::create(tx, &email, &name, Some(&hash))?;
            users::add_membership(tx, &u.id, &default.id, &["admin".to_string()])?;
            let details = json!({"email": email});
            let ev = o.event(
                Some(&default.id),
                Some(&u.id),
                action,
                Outcome::Success,
                details,
            );
            audit::append(tx, &ev)?;
            Ok(Ok(u))
        })
        .await?;
    let user = refused.map_err(|r| one_time_refused(r).audited())?;
    log::info!("setup complete: first admin {} created", user.id);
    Ok(user)
}

/// Issues a fresh setup token while no user exists (earlier ones are revoked); at start.
///
/// Several nodes on one PostgreSQL database (SPEC §15) issue one token for the database: a
/// node that finds one still open from another node issues none (it says which node has it);
/// a node restarted under its own name replaces its own.
pub fn issue_setup_token(app: &App) -> AppResult<Option<String>> {
    let node = app.config.node.clone();
    app.write_blocking(|tx, _| {
        // Nodes starting together take turns here.
        crate::store::pg::lock_setup(tx)?;
        if users::count(tx)? > 0 {
            return Ok(None);
        }
        if tx.engine() == crate::store::Engine::Postgres
            && let Some(other) = one_time::open_issuers(tx, SETUP_PURPOSE)?
                .into_iter()
                .find(|n| *n != node)
        {
            log::info!(
                "no setup token printed here: node {other} issued the database's one (see its log)"
            );
            return Ok(None);
        }
        one_time::revoke_purpose(tx, SETUP_PURPOSE)?;
        let ttl = std::time::Duration::from_secs(7 * 86400);
        let t = one_time::issue(tx, SETUP_PURPOSE, None, None, &json!({"node": node}), ttl)?;
        Ok(Some(t.expose().to_string()))
    })
}
