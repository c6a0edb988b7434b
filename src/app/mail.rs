//! Mail a use case sends once its change has committed: the messages (links into the
//! console) and their delivery off the request path, audited whatever happens.

use serde_json::json;

use super::App;
use crate::domain::token::Secret;
use crate::mail::Sent;
use crate::store::audit::{AuditEvent, Outcome};

/// One message to send.
pub struct Mail {
    /// The tenant whose audit log records the delivery.
    pub tenant: Option<String>,
    pub to: String,
    pub subject: &'static str,
    pub body: String,
    /// What the message is for, in its audit record (`password_reset`, `invitation`, ...).
    pub kind: &'static str,
}

/// The console link that sets a new password with a reset token (the token after `#`, so it
/// never reaches a server log or a `Referer`).
pub fn reset_link(app: &App, token: &Secret) -> String {
    format!(
        "{}/reset-password#token={}",
        app.config.public_url,
        token.expose()
    )
}

/// The reset mail a person asked for themselves.
pub fn reset_asked(app: &App, tenant: Option<String>, to: String, token: &Secret) -> Mail {
    let tail =
        "\nIf you did not ask for this, ignore this message; your password stays as it is.\n";
    reset(
        app,
        tenant,
        to,
        token,
        "A password reset was requested",
        tail,
    )
}

/// The reset mail an administrator started.
pub fn reset_started(app: &App, tenant: Option<String>, to: String, token: &Secret) -> Mail {
    reset(
        app,
        tenant,
        to,
        token,
        "An administrator started a password reset",
        "",
    )
}

fn reset(
    app: &App,
    tenant: Option<String>,
    to: String,
    token: &Secret,
    what: &str,
    tail: &str,
) -> Mail {
    let link = reset_link(app, token);
    Mail {
        tenant,
        to,
        subject: "labgate password reset",
        body: format!(
            "{what} for your labgate account.\n\nOpen this link within 30 minutes to choose a new password:\n\n{link}\n{tail}"
        ),
        kind: "password_reset",
    }
}

/// The mail with the link that confirms an email address.
pub fn verification(app: &App, tenant: &str, to: &str, token: &str) -> Mail {
    let link = format!("{}/api/auth/verify-email?t={token}", app.config.public_url);
    Mail {
        tenant: Some(tenant.to_string()),
        to: to.to_string(),
        subject: "labgate: confirm your email address",
        body: format!("Confirm the email address of your labgate account by opening:\n\n{link}\n"),
        kind: "verify_email",
    }
}

/// The invitation into a tenant.
pub fn invitation(app: &App, tenant: &str, tenant_name: &str, to: &str, token: &Secret) -> Mail {
    let link = format!("{}/invite#token={}", app.config.public_url, token.expose());
    Mail {
        tenant: Some(tenant.to_string()),
        to: to.to_string(),
        subject: "labgate invitation",
        body: format!(
            "You have been invited to the labgate tenant \"{tenant_name}\".\n\nOpen this link within 7 days to accept and set your password:\n\n{link}\n"
        ),
        kind: "invitation",
    }
}

impl App {
    /// Sends a message after the change that caused it has committed, off the request path
    /// (so the answer's timing reveals nothing). A message the relay cannot take now waits in
    /// the queue (`retry_mail`); each final outcome is audited. It never undoes the change.
    pub fn send(&self, mail: Mail) {
        let app = self.clone();
        tokio::task::spawn_blocking(move || {
            let Mail {
                tenant,
                to,
                subject,
                body,
                kind,
            } = mail;
            let meta = crate::mail::Meta {
                tenant,
                kind: kind.to_string(),
            };
            let sent = app
                .mailer
                .send(&to, subject, &body, meta.clone(), app.now());
            app.mail_outcome(meta, to, sent);
        });
    }

    /// `send`, on this thread (already off the async workers).
    pub fn send_now(&self, mail: Mail) {
        let Mail {
            tenant,
            to,
            subject,
            body,
            kind,
        } = mail;
        let meta = crate::mail::Meta {
            tenant,
            kind: kind.to_string(),
        };
        let sent = self
            .mailer
            .send(&to, subject, &body, meta.clone(), self.now());
        self.mail_outcome(meta, to, sent);
    }

    /// Tries the queued messages that are due (blocking); audits those delivered or given up.
    pub fn retry_mail(&self) {
        for (meta, to, sent) in self.mailer.retry_due(self.now()) {
            self.mail_outcome(meta, to, sent);
        }
    }

    /// Audits a message's final outcome; a message only queued is logged, not yet audited.
    fn mail_outcome(&self, meta: crate::mail::Meta, to: String, sent: Sent) {
        let kind = meta.kind;
        let (outcome, details) = match sent {
            Sent::Delivered { via, attempts } => (
                Outcome::Success,
                json!({"kind": kind, "to": to, "via": via, "attempts": attempts}),
            ),
            Sent::Queued { error } => {
                log::warn!("mail ({kind}) to {to} queued to be tried again: {error}");
                return;
            }
            Sent::Failed { error, attempts } => {
                log::error!("mail ({kind}) to {to} failed: {error}");
                (
                    Outcome::Failure,
                    json!({"kind": kind, "to": to, "error": error, "attempts": attempts}),
                )
            }
        };
        // The mail is gone either way: its record is kept until the database takes it.
        self.record(AuditEvent {
            tenant_id: meta.tenant,
            actor_type: "system".into(),
            actor_id: Some("mailer".into()),
            action: "mail.send".into(),
            target: Some(format!("mail:{to}")),
            outcome,
            details,
            ..Default::default()
        });
    }
}
