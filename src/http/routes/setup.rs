//! First-admin bootstrap with the setup token printed at start.

use crate::app::Invalidation;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::error::Code;
use crate::domain::password;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta};
use crate::store::audit::{self, AuditEvent, Outcome};
use crate::store::one_time::{self, Refused};
use crate::store::{self, StoreError, tenants, users};

pub const SETUP_PURPOSE: &str = "setup";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    pub setup_token: String,
    pub email: String,
    pub password: String,
    pub name: Option<String>,
}

fn gone() -> ApiError {
    ApiError::new(
        Code::SetupComplete,
        "Setup is complete: a user already exists.",
    )
}

enum Outcome2 {
    Created(users::User),
    Refused(Refused),
    Gone,
}

/// Create the first admin (in the `default` tenant); 410 once any user exists.
#[utoipa::path(post, path = "/api/setup", tag = "setup", request_body = SetupRequest,
    responses((status = 201, description = "first admin created"), (status = 401, description = "INVALID_TOKEN"), (status = 410, description = "a user already exists")))]
pub async fn setup(
    state: web::Data<AppState>,
    meta: Meta,
    body: Json<SetupRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    if store::run(&state.pool, users::count).await? > 0 {
        return Err(gone());
    }
    if !users::valid_email(&b.email) {
        return Err(ApiError::validation("email", "invalid email format"));
    }
    password::check_policy(&b.password, password::MIN_LEN)
        .map_err(|m| ApiError::validation("password", m))?;
    let hash = state.passwords.hash(b.password).await;
    let name = b.name.unwrap_or_default();
    let ev = |outcome, actor: Option<String>, details| AuditEvent {
        tenant_id: None,
        actor_type: if actor.is_some() { "user" } else { "anonymous" }.into(),
        actor_id: actor,
        action: "setup.first_admin".into(),
        target: None,
        outcome,
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        request_id: Some(meta.request_id.clone()),
        details,
    };
    let fail_ev = ev(
        Outcome::Failure,
        None,
        json!({"reason": "invalid_setup_token"}),
    );
    let email = b.email.clone();
    let token = b.setup_token.clone();
    let ok_ev = ev(Outcome::Success, None, json!({"email": b.email}));
    let out = state
        .app
        .write(move |tx, fx| {
            fx.invalidate(Invalidation::Principals);
            if users::count(tx)? > 0 {
                return Ok(Outcome2::Gone);
            }
            match one_time::consume(tx, SETUP_PURPOSE, &token)? {
                Err(r) => {
                    audit::append(tx, &fail_ev)?;
                    Ok(Outcome2::Refused(r))
                }
                Ok(_) => {
                    let default = tenants::find(tx, "default")?.ok_or(StoreError::NotFound)?;
                    let u = users::create(tx, &email, &name, Some(&hash))?;
                    users::add_membership(tx, &u.id, &default.id, &["admin".to_string()])?;
                    let mut ok_ev = ok_ev;
                    ok_ev.actor_type = "user".into();
                    ok_ev.actor_id = Some(u.id.clone());
                    ok_ev.tenant_id = Some(default.id.clone());
                    ok_ev.target = Some(format!("user:{}", u.id));
                    audit::append(tx, &ok_ev)?;
                    Ok(Outcome2::Created(u))
                }
            }
        })
        .await?;
    match out {
        Outcome2::Gone => Err(gone()),
        Outcome2::Refused(Refused::Expired) => Err(ApiError::token_expired().already_audited()),
        Outcome2::Refused(Refused::Invalid) => Err(ApiError::invalid_token().already_audited()),
        Outcome2::Created(u) => {
            log::info!("setup complete: first admin {} created", u.id);
            Ok(HttpResponse::Created().json(json!({
                "id": u.id, "email": u.email, "name": u.name, "status": u.status,
                "email_verified": u.email_verified, "mfa_enabled": u.mfa_enabled,
                "created_at": u.created_at, "roles": ["admin"],
            })))
        }
    }
}

/// Issues a fresh setup token while no user exists (earlier ones are revoked).
pub fn issue_setup_token(pool: &store::Pool) -> Result<Option<String>, StoreError> {
    store::write_blocking(pool, |tx| {
        if users::count(tx)? > 0 {
            return Ok(None);
        }
        one_time::revoke_purpose(tx, SETUP_PURPOSE)?;
        let t = one_time::issue(
            tx,
            SETUP_PURPOSE,
            None,
            None,
            &json!({}),
            std::time::Duration::from_secs(7 * 86400),
        )?;
        Ok(Some(t.expose().to_string()))
    })
}
