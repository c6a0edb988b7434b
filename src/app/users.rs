//! Member administration (SPEC §8): change, remove, reset the password of, and end the sessions
//! of a member of the actor's tenant. Each applies the reach rule (`domain::reach`) inside the
//! transaction that makes the change, so no check can race the data it checks.

use std::time::Duration;

use crate::store::Db;
use serde_json::json;

use super::{Actor, App, AppResult, Invalidation, WriteError};
use crate::domain::capability::{CapSet, Capability};
use crate::domain::error::DomainError;
use crate::domain::ids::{SessionId, UserId};
use crate::domain::reach;
use crate::domain::time::{self, Timestamp};
use crate::domain::token::Secret;
use crate::store::users::Member;
use crate::store::{StoreError, audit, one_time, sessions, tenants, users};

/// The purpose of a password-reset one-time token, and how long it lives (SPEC §5).
pub const RESET_PURPOSE: &str = "reset";
pub const RESET_TTL: Duration = Duration::from_secs(30 * 60);

/// Member status, parsed from the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Disabled,
}

impl Status {
    pub fn parse(s: &str) -> Result<Status, DomainError> {
        match s {
            "active" => Ok(Status::Active),
            "disabled" => Ok(Status::Disabled),
            _ => Err(DomainError::validation(
                "status",
                "must be active or disabled",
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Disabled => "disabled",
        }
    }
}

/// A display name: at most 200 printable characters, trimmed.
pub fn parse_name(n: &str) -> Result<String, DomainError> {
    if n.chars().count() > 200 || n.chars().any(char::is_control) {
        return Err(DomainError::validation(
            "name",
            "must be at most 200 printable characters",
        ));
    }
    Ok(n.trim().to_string())
}

/// Role names for a membership: at least one.
pub fn parse_roles(roles: Vec<String>) -> Result<Vec<String>, DomainError> {
    if roles.is_empty() {
        return Err(DomainError::validation("roles", "name at least one role"));
    }
    Ok(roles)
}

#[derive(Debug, Default)]
pub struct MemberChange {
    pub name: Option<String>,
    pub status: Option<Status>,
    pub roles: Option<Vec<String>>,
}

/// No change may leave a tenant without an active member holding `admin.users`.
pub fn keep_an_admin(tx: &Db, tenant_id: &str) -> Result<(), WriteError> {
    if users::count_active_user_admins(tx, tenant_id)? == 0 {
        return Err(DomainError::conflict(
            "This change would leave the tenant without an active member holding admin.users.",
        )
        .into());
    }
    Ok(())
}

/// The caller may hand out only capabilities it holds itself.
pub fn check_grant(
    tx: &Db,
    tenant_id: &str,
    roles: &[String],
    held: CapSet,
) -> Result<(), WriteError> {
    let granted = users::roles_caps(tx, tenant_id, roles)?;
    // The refusal names a capability the caller lacks (SPEC §4.2).
    Ok(reach::grant(held, granted)?)
}

/// What the member holds in the actor's tenant; `NotFound` when they are no member there.
fn member_caps(tx: &Db, actor: &Actor, user: &UserId) -> Result<CapSet, WriteError> {
    let p =
        users::principal(tx, user.as_str(), actor.tenant.as_str())?.ok_or(StoreError::NotFound)?;
    Ok(p.caps)
}

/// A change to what belongs to the user rather than to one membership (name, status, a reset
/// link answered to the caller) reaches every tenant of the user: the actor must administer
/// users in each of them and, where `reach` is set, hold everything the user holds there.
fn reach_every_tenant(
    tx: &Db,
    actor: &Actor,
    user: &UserId,
    reach_caps: bool,
) -> Result<(), WriteError> {
    // Refused as SPEC §8 says: 403 MISSING_CAPABILITY naming one the caller lacks there
    // (holding nothing in a tenant, it lacks `admin.users` first).
    for t in tenants::for_user(tx, user.as_str())? {
        if t.id == actor.tenant.as_str() {
            continue;
        }
        let mut mine = match &actor.user {
            Some(me) => users::principal(tx, me.as_str(), &t.id)?
                .filter(|p| p.active())
                .map(|p| p.caps)
                .unwrap_or_default(),
            None => CapSet::empty(),
        };
        // What that tenant's MFA policy holds back from a credential without a second factor
        // is not held there either (SPEC §4.2, as in the caller's own tenant).
        // Nor from an address that tenant's IP lists refuse (SPEC §8 "IP lists").
        if !super::signin::address_permitted(tx, &t.id, actor.template.ip.as_deref())? {
            mine = CapSet::empty();
        }
        let policy = tenants::settings(tx, &t.id)?;
        if !actor.second_factor
            && policy["require_mfa"]
                .as_str()
                .is_some_and(|p| p == "admins" || p == "all")
        {
            let mut held_back = CapSet::empty();
            held_back.insert(Capability::AdminUsers);
            held_back.insert(Capability::AdminSettings);
            mine = mine.without(held_back);
        }
        let mut needed = CapSet::empty();
        needed.insert(Capability::AdminUsers);
        if reach_caps {
            let theirs = users::principal(tx, user.as_str(), &t.id)?
                .map(|p| p.caps)
                .unwrap_or_default();
            needed = needed.union(theirs);
        }
        reach::over_member(mine, needed)?;
    }
    Ok(())
}

/// PATCH of a member: name, status, roles (SPEC §8).
pub async fn change_member(
    app: &App,
    actor: Actor,
    user: UserId,
    change: MemberChange,
) -> AppResult<Member> {
    app.change(move |tx, fx| {
        let target = member_caps(tx, &actor, &user)?;
        if change.status.is_some() || change.roles.is_some() {
            reach::over_member(actor.caps, target)?;
        }
        if change.name.is_some() || change.status.is_some() {
            reach_every_tenant(tx, &actor, &user, change.status.is_some())?;
        }
        let (tid, uid) = (actor.tenant.as_str(), user.as_str());
        if let Some(n) = &change.name {
            users::set_name(tx, uid, n)?;
        }
        if let Some(r) = &change.roles {
            check_grant(tx, tid, r, actor.caps)?;
            users::set_roles(tx, uid, tid, r)?;
        }
        if let Some(s) = change.status {
            users::set_status(tx, uid, s.as_str())?;
            if s == Status::Disabled {
                let ended = sessions::end_all_for_user(tx, uid, None, "user_disabled")?;
                fx.invalidate(Invalidation::Sessions(ended));
            }
        }
        // A status change reaches every tenant of the user: none may lose its last admin.
        for t in tenants::for_user(tx, uid)? {
            keep_an_admin(tx, &t.id)?;
        }
        keep_an_admin(tx, tid)?;
        let roles: Option<&Vec<String>> = change.roles.as_ref();
        audit::append(
            tx,
            &actor.event(
                "user.update",
                format!("user:{uid}"),
                json!({"name": change.name, "status": change.status.map(Status::as_str), "roles": roles}),
            ),
        )?;
        fx.invalidate(Invalidation::Principals);
        Ok(users::member(tx, tid, uid)?.ok_or(StoreError::NotFound)?)
    })
    .await
}

/// DELETE of a member: the membership goes, and the user with it when this was their last
/// tenant (with their sessions and personal tokens).
pub async fn remove_member(app: &App, actor: Actor, user: UserId) -> AppResult<()> {
    app.change(move |tx, fx| {
        let target = member_caps(tx, &actor, &user)?;
        reach::over_member(actor.caps, target)?;
        let (tid, uid) = (actor.tenant.as_str(), user.as_str());
        let deleted = users::remove_from_tenant(tx, uid, tid)?;
        keep_an_admin(tx, tid)?;
        audit::append(
            tx,
            &actor.event(
                "user.remove",
                format!("user:{uid}"),
                json!({"user_deleted": deleted}),
            ),
        )?;
        fx.invalidate(Invalidation::Principals);
        fx.invalidate(Invalidation::AllSessions);
        fx.invalidate(Invalidation::AllPats);
        Ok(())
    })
    .await
}

/// How an admin-started reset reaches the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deliver {
    Mail,
    /// The link is answered to the caller: it opens the whole account.
    Response,
}

impl Deliver {
    pub fn parse(s: Option<&str>) -> Result<Deliver, DomainError> {
        match s.unwrap_or("mail") {
            "mail" => Ok(Deliver::Mail),
            "response" => Ok(Deliver::Response),
            _ => Err(DomainError::validation(
                "deliver",
                "must be mail or response",
            )),
        }
    }
}

/// An issued reset token and where it goes.
pub struct ResetIssued {
    pub token: Secret,
    pub email: String,
    pub expires_at: Timestamp,
}

/// POST /admin/users/{id}/reset-password: a one-time reset token for a member the actor
/// reaches (in every tenant of theirs when it is answered rather than mailed); mailed to the
/// member unless it is to be answered.
pub async fn reset_password(
    app: &App,
    actor: Actor,
    user: UserId,
    deliver: Deliver,
) -> AppResult<ResetIssued> {
    let now = app.now();
    let tenant = actor.tenant.as_str().to_string();
    let issued = app
        .change(move |tx, _| {
            let target = member_caps(tx, &actor, &user)?;
            reach::over_member(actor.caps, target)?;
            if deliver == Deliver::Response {
                reach_every_tenant(tx, &actor, &user, true)?;
            }
            let (tid, uid) = (actor.tenant.as_str(), user.as_str());
            let m = users::member(tx, tid, uid)?.ok_or(StoreError::NotFound)?;
            let token = one_time::issue(
                tx,
                RESET_PURPOSE,
                Some(uid),
                Some(tid),
                &json!({}),
                RESET_TTL,
            )?;
            let how = match deliver {
                Deliver::Mail => "mail",
                Deliver::Response => "response",
            };
            audit::append(
                tx,
                &actor.event(
                    "user.reset_password",
                    format!("user:{uid}"),
                    json!({"deliver": how}),
                ),
            )?;
            Ok(ResetIssued {
                token,
                email: m.email,
                expires_at: time::plus(now, RESET_TTL),
            })
        })
        .await?;
    if deliver == Deliver::Mail {
        let mail =
            super::mail::reset_started(app, Some(tenant), issued.email.clone(), &issued.token);
        app.send(mail);
    }
    Ok(issued)
}

/// DELETE /admin/sessions/{id}: ends one of the tenant's login sessions, when the actor
/// reaches its user. An unknown, ended or foreign session is `NotFound`.
pub async fn end_member_session(app: &App, actor: Actor, session: SessionId) -> AppResult<()> {
    app.change(move |tx, fx| {
        let s = sessions::get(tx, session.as_str())?
            .filter(|s| s.tenant_id == actor.tenant.as_str() && !s.ended)
            .ok_or(StoreError::NotFound)?;
        let target = users::principal(tx, &s.user_id, &s.tenant_id)?
            .map(|p| p.caps)
            .unwrap_or_default();
        reach::over_member(actor.caps, target)?;
        if !sessions::end(tx, &s.id, "revoked_by_admin")? {
            return Err(StoreError::NotFound.into());
        }
        audit::append(
            tx,
            &actor.event("session.revoke", format!("session:{}", s.id), json!({})),
        )?;
        fx.invalidate(Invalidation::Sessions(vec![s.id]));
        Ok(())
    })
    .await
}

/// A new member of the actor's tenant.
pub struct NewMember {
    pub email: String,
    pub name: String,
    pub password: Option<String>,
    pub roles: Vec<String>,
}

/// POST /admin/users: creates a user in the actor's tenant, or adds a membership to an
/// existing user of another tenant (whose password is kept; one given is not used). A member
/// already here is a conflict. A new user is mailed the email-verification link.
pub async fn create_member(app: &App, actor: Actor, new: NewMember) -> AppResult<Member> {
    if !users::valid_email(&new.email) {
        return Err(DomainError::validation("email", "invalid email format"));
    }
    let roles = parse_roles(new.roles)?;
    let name = parse_name(&new.name)?;
    let (tid, email) = (actor.tenant.as_str().to_string(), new.email);
    let e2 = email.clone();
    let exists = app
        .read(move |c| users::find_by_email(c, &e2))
        .await?
        .is_some();
    let hash = match (new.password, exists) {
        (Some(pw), false) => {
            super::account::check_policy(app, Some(&tid), "password", &pw).await?;
            Some(app.passwords.hash(pw).await)
        }
        _ => None,
    };
    let held = actor.caps;
    let details = json!({"email": email, "roles": roles});
    let mut ev = actor.event("user.create", String::new(), details);
    let t2 = tid.clone();
    let (member, verify) = app
        .change(move |tx, fx| {
            fx.invalidate(Invalidation::Principals);
            let (user, created) = match users::find_by_email(tx, &email)? {
                Some(u) => (u, false),
                None => (users::create(tx, &email, &name, hash.as_deref())?, true),
            };
            check_grant(tx, &t2, &roles, held)?;
            users::add_membership(tx, &user.id, &t2, &roles)?;
            if !created {
                ev.action = "membership.add".into();
            }
            ev.target = Some(format!("user:{}", user.id));
            audit::append(tx, &ev)?;
            let verify = if created {
                let purpose = super::account::VERIFY_PURPOSE;
                let ttl = Duration::from_secs(7 * 86400);
                let t = one_time::issue(tx, purpose, Some(&user.id), Some(&t2), &json!({}), ttl)?;
                Some(t)
            } else {
                None
            };
            let member = users::member(tx, &t2, &user.id)?.ok_or(StoreError::NotFound)?;
            Ok((member, verify))
        })
        .await?;
    if let Some(t) = verify {
        app.send(super::mail::verification(
            app,
            &tid,
            &member.email,
            t.expose(),
        ));
    }
    Ok(member)
}

/// A page of the actor's tenant's members (`q` matches email or name), and how many match.
pub async fn members(
    app: &App,
    actor: &Actor,
    q: Option<String>,
    status: Option<Status>,
    limit: u32,
    offset: u64,
) -> AppResult<(Vec<Member>, u64)> {
    let tid = actor.tenant.as_str().to_string();
    Ok(app
        .read(move |c| {
            users::members(
                c,
                &tid,
                q.as_deref(),
                status.map(Status::as_str),
                limit,
                offset,
            )
        })
        .await?)
}

/// One member of the actor's tenant.
pub async fn member(app: &App, actor: &Actor, user: UserId) -> AppResult<Member> {
    let tid = actor.tenant.as_str().to_string();
    app.read(move |c| users::member(c, &tid, user.as_str()))
        .await?
        .ok_or_else(DomainError::not_found)
}

/// The actor's tenant's open login sessions.
pub async fn tenant_sessions(app: &App, actor: &Actor) -> AppResult<Vec<sessions::SessionInfo>> {
    let tid = actor.tenant.as_str().to_string();
    Ok(app
        .read(move |c| sessions::list_open(c, &tid, None))
        .await?)
}
