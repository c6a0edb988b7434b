//! Leaked credentials (SPEC §16.3): secrets found where they should not be (a repository, a
//! paste, a log), recognised by prefix and checksum, looked up by hash and, when still in force,
//! revoked at once. Each revocation is audited as `credential.leaked`, raises the platform event
//! of that name, and the owner of a personal access token is mailed. Nothing here ever keeps,
//! logs or answers the secret itself: only its kind and its first eight characters.

use serde::Serialize;
use serde_json::json;

use super::mail::Mail;
use super::{Actor, App, AppResult, Invalidation};
use crate::domain::token::{self, Kind};
use crate::store::audit::{self, AuditEvent};
use crate::store::events::{self, Event};
use crate::store::leaks::{self, Found, Owner};

/// What a reported string turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Active,
    Revoked,
    Expired,
    /// Well formed, but no credential of this appliance.
    Unknown,
    /// Not a labgate secret (no prefix, or a checksum that does not match).
    Invalid,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Revoked => "revoked",
            State::Expired => "expired",
            State::Unknown => "unknown",
            State::Invalid => "invalid",
        }
    }
}

/// One reported secret: its kind and prefix, its state before this report, and whether this
/// report revoked it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Finding {
    /// `pat`, `api_key`, `refresh`, `session` or `one_time`; null for an invalid string.
    pub kind: Option<&'static str>,
    /// The first 8 characters (`lgp_AbCd`); empty for a string that is no labgate secret.
    pub prefix: String,
    pub state: State,
    pub revoked_now: bool,
}

pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Pat => "pat",
        Kind::ApiKey => "api_key",
        Kind::Refresh => "refresh",
        Kind::Session => "session",
        Kind::OneTime => "one_time",
    }
}

/// The kind of `s` when it is a well-formed labgate secret (prefix and checksum).
pub fn recognise(s: &str) -> Option<Kind> {
    token::kind_of(s).filter(|k| token::well_formed(*k, s))
}

/// Looks up each of `secrets` and, with `revoke`, ends the active ones in one transaction:
/// the audit record (in the credential's tenant, by `actor`), the platform event and the
/// cache invalidation go with each. Answers in the order given. `source` says where they were
/// found. Blocking: from the CLI, or off the async workers.
pub fn report_blocking(
    app: &App,
    actor: &AuditEvent,
    secrets: &[String],
    source: &str,
    revoke: bool,
    mail: bool,
) -> AppResult<Vec<Finding>> {
    let now = app.now();
    let idle = app.config.session_idle;
    let looked: Vec<(Option<Kind>, String, String)> = secrets
        .iter()
        .map(|s| {
            let kind = recognise(s);
            let prefix = if token::kind_of(s).is_some() {
                token::display_prefix(s)
            } else {
                String::new()
            };
            (kind, prefix, token::hash(s))
        })
        .collect();
    let source = source.to_string();
    let (findings, published, mails) = app.write_blocking(move |tx, fx| {
        let mut findings = Vec::with_capacity(looked.len());
        let mut published: Vec<Event> = Vec::new();
        let mut mails: Vec<(String, String, String)> = Vec::new();
        for (kind, prefix, hash) in &looked {
            let Some(kind) = *kind else {
                findings.push(Finding {
                    kind: token::kind_of(prefix).map(kind_name),
                    prefix: prefix.clone(),
                    state: State::Invalid,
                    revoked_now: false,
                });
                continue;
            };
            let found = leaks::find(tx, kind, hash, now, idle)?;
            let (state, revoked_now) = match &found {
                None => (State::Unknown, false),
                Some((_, Found::Revoked)) => (State::Revoked, false),
                Some((_, Found::Expired)) => (State::Expired, false),
                Some((owner, Found::Active)) => {
                    let done = revoke && leaks::revoke(tx, owner, now)?;
                    if done {
                        // One-time tokens are never cached: nothing to drop for them.
                        match owner {
                            Owner::Pat { .. } => fx.invalidate(Invalidation::Pat(hash.clone())),
                            Owner::ApiKey { .. } => fx.invalidate(Invalidation::Keys),
                            Owner::Session { id, .. } => {
                                fx.invalidate(Invalidation::Sessions(vec![id.clone()]))
                            }
                            Owner::OneTime { .. } => {}
                        }
                        let details = json!({
                            "kind": kind_name(kind), "prefix": prefix, "source": source,
                        });
                        audit::append(
                            tx,
                            &AuditEvent {
                                tenant_id: owner.tenant().map(str::to_string),
                                action: "credential.leaked".into(),
                                target: Some(owner.target()),
                                details: details.clone(),
                                ..actor.clone()
                            },
                        )?;
                        published.push(events::emit(
                            tx,
                            owner.tenant(),
                            "credential.leaked",
                            &details,
                        )?);
                        if let Owner::Pat {
                            user_id, tenant_id, ..
                        } = owner
                            && let Some(email) = leaks::email_of(tx, user_id)?
                        {
                            mails.push((tenant_id.clone(), email, prefix.clone()));
                        }
                    }
                    (State::Active, done)
                }
            };
            findings.push(Finding {
                kind: Some(kind_name(kind)),
                prefix: prefix.clone(),
                state,
                revoked_now,
            });
        }
        if findings.iter().any(|f| f.revoked_now) {
            // A server running beside the CLI drops its caches and sees the revocation.
            crate::store::bump_epoch(tx)?;
        }
        Ok((findings, published, mails))
    })?;
    for e in published {
        app.events.publish(e);
    }
    if mail {
        for (tenant, to, prefix) in mails {
            app.send_now(leaked_mail(tenant, to, &prefix, secrets_source(actor)));
        }
    }
    Ok(findings)
}

/// Who reported, for the owner's mail.
fn secrets_source(actor: &AuditEvent) -> String {
    match actor.actor_id.as_deref() {
        Some("cli") => "labgate scan".into(),
        _ => "a report to labgate".into(),
    }
}

/// The mail to the owner of a personal access token that was revoked as leaked.
fn leaked_mail(tenant: String, to: String, prefix: &str, by: String) -> Mail {
    Mail {
        tenant: Some(tenant),
        to,
        subject: "labgate: a personal access token of yours was leaked and is revoked",
        body: format!(
            "Your labgate personal access token {prefix}... was found where it should not be \
             ({by}) and has been revoked: it no longer works.\n\nCreate a new token in the \
             console if you still need one, and keep it out of files, repositories and logs.\n"
        ),
        kind: "credential_leaked",
    }
}

/// `POST /api/admin/security/leaked-credentials`: what a lab's scanning pipeline reports.
pub async fn report(
    app: &App,
    actor: Actor,
    secrets: Vec<String>,
    source: String,
) -> AppResult<Vec<Finding>> {
    let a = app.clone();
    let template = actor.template.clone();
    tokio::task::spawn_blocking(move || {
        report_blocking(&a, &template, &secrets, &source, true, true)
    })
    .await
    .map_err(|_| crate::domain::error::DomainError::internal())?
}

/// How long before its end a token's owner (a key's creator) is told it expires.
pub const EXPIRY_NOTICE: chrono::Duration = chrono::Duration::days(7);

/// Mails the owner of every token and key that expires within 7 days, once each (blocking).
/// Answers how many were told.
pub fn notify_expiring(app: &App) -> AppResult<usize> {
    let now = app.now();
    let due = app.write_blocking(move |tx, _| Ok(leaks::take_expiring(tx, now, EXPIRY_NOTICE)?))?;
    for e in &due {
        let what = if e.kind == "pat" {
            "personal access token"
        } else {
            "API key"
        };
        app.send_now(Mail {
            tenant: Some(e.tenant_id.clone()),
            to: e.email.clone(),
            subject: "labgate: a credential of yours expires within 7 days",
            body: format!(
                "Your labgate {what} \"{}\" ({}...) expires at {} UTC.\n\nMake a new one \
                 before then if it is still needed, and replace it where it is used.\n",
                e.name,
                e.prefix,
                e.expires_at.format("%Y-%m-%d %H:%M")
            ),
            kind: "credential_expiring",
        });
    }
    Ok(due.len())
}
