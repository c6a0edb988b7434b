//! What a leaked secret is (SPEC §16.3): the credential a SHA-256 hash belongs to, its state,
//! and its revocation. Each kind of secret lives in its own table; this is the one place that
//! looks across them.

use super::db::Db;
use crate::params;

use super::{StoreResult, optional};
use crate::domain::time::{self, Timestamp};
use crate::domain::token::Kind;

/// Whom a found secret belongs to, and what revoking it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Pat {
        id: String,
        user_id: String,
        tenant_id: String,
    },
    ApiKey {
        id: String,
        tenant_id: String,
    },
    /// A session cookie, or a refresh token of the session.
    Session {
        id: String,
        tenant_id: String,
    },
    OneTime {
        hash: String,
        tenant_id: Option<String>,
    },
}

impl Owner {
    pub fn tenant(&self) -> Option<&str> {
        match self {
            Owner::Pat { tenant_id, .. }
            | Owner::ApiKey { tenant_id, .. }
            | Owner::Session { tenant_id, .. } => Some(tenant_id),
            Owner::OneTime { tenant_id, .. } => tenant_id.as_deref(),
        }
    }

    /// The audit target.
    pub fn target(&self) -> String {
        match self {
            Owner::Pat { id, .. } => format!("token:{id}"),
            Owner::ApiKey { id, .. } => format!("api_key:{id}"),
            Owner::Session { id, .. } => format!("session:{id}"),
            Owner::OneTime { .. } => "one_time_token".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Active,
    Revoked,
    Expired,
}

/// The credential whose hash is `hash`, as a `kind` secret, and its state at `now`; `None`
/// when no such credential exists. `idle` is the session idle limit.
pub fn find(
    conn: &Db,
    kind: Kind,
    hash: &str,
    now: Timestamp,
    idle: std::time::Duration,
) -> StoreResult<Option<(Owner, Found)>> {
    let expired = |at: Option<String>| {
        at.as_deref()
            .and_then(time::parse)
            .is_some_and(|e| e <= now)
    };
    Ok(match kind {
        Kind::Pat => optional(conn.query_row(
            "SELECT id, user_id, tenant_id, expires_at, revoked_at IS NOT NULL
               FROM personal_tokens WHERE token_hash = ?1",
            params![hash],
            |r| {
                let owner = Owner::Pat {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    tenant_id: r.get(2)?,
                };
                let state = if r.get::<_, bool>(4)? {
                    Found::Revoked
                } else if expired(r.get(3)?) {
                    Found::Expired
                } else {
                    Found::Active
                };
                Ok((owner, state))
            },
        ))?,
        Kind::ApiKey => optional(conn.query_row(
            "SELECT id, tenant_id, expires_at, deleted_at IS NOT NULL FROM api_keys WHERE key_hash = ?1",
            params![hash],
            |r| {
                let owner = Owner::ApiKey {
                    id: r.get(0)?,
                    tenant_id: r.get(1)?,
                };
                let state = if r.get::<_, bool>(3)? {
                    Found::Revoked
                } else if expired(r.get(2)?) {
                    Found::Expired
                } else {
                    Found::Active
                };
                Ok((owner, state))
            },
        ))?,
        Kind::Session | Kind::Refresh => {
            let session = if kind == Kind::Session {
                super::sessions::find_by_cookie(conn, hash)?.map(|s| (s, false))
            } else {
                match super::sessions::find_refresh(conn, hash)? {
                    Some((id, spent)) => super::sessions::get(conn, &id)?.map(|s| (s, spent)),
                    None => None,
                }
            };
            session.map(|(s, spent)| {
                let state = if s.ended || spent {
                    Found::Revoked
                } else if s.alive(now, idle) {
                    Found::Active
                } else {
                    Found::Expired
                };
                (
                    Owner::Session {
                        id: s.id,
                        tenant_id: s.tenant_id,
                    },
                    state,
                )
            })
        }
        Kind::OneTime => optional(conn.query_row(
            "SELECT tenant_id, expires_at, used_at IS NOT NULL OR revoked_at IS NOT NULL
               FROM one_time_tokens WHERE token_hash = ?1",
            params![hash],
            |r| {
                let owner = Owner::OneTime {
                    hash: hash.to_string(),
                    tenant_id: r.get(0)?,
                };
                let state = if r.get::<_, bool>(2)? {
                    Found::Revoked
                } else if expired(r.get(1)?) {
                    Found::Expired
                } else {
                    Found::Active
                };
                Ok((owner, state))
            },
        ))?,
    })
}

/// Ends what `owner` names; true when it was still in force.
pub fn revoke(conn: &Db, owner: &Owner, now: Timestamp) -> StoreResult<bool> {
    let at = time::fmt(now);
    let n = match owner {
        Owner::Pat { id, .. } => conn.execute(
            "UPDATE personal_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, at],
        )?,
        Owner::ApiKey { id, .. } => conn.execute(
            "UPDATE api_keys SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
            params![id, at],
        )?,
        Owner::Session { id, .. } => conn.execute(
            "UPDATE login_sessions SET ended_at = ?2, ended_reason = 'credential_leaked'
              WHERE id = ?1 AND ended_at IS NULL",
            params![id, at],
        )?,
        Owner::OneTime { hash, .. } => conn.execute(
            "UPDATE one_time_tokens SET revoked_at = ?2
              WHERE token_hash = ?1 AND used_at IS NULL AND revoked_at IS NULL",
            params![hash, at],
        )?,
    };
    Ok(n == 1)
}

/// The email of a user (a token's owner, to be told).
pub fn email_of(conn: &Db, user_id: &str) -> StoreResult<Option<String>> {
    optional(conn.query_row(
        "SELECT email FROM users WHERE id = ?1",
        params![user_id],
        |r| r.get(0),
    ))
}

/// A token or key that expires soon, and whom to tell.
#[derive(Debug, Clone)]
pub struct Expiring {
    /// `pat` or `api_key`.
    pub kind: &'static str,
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub prefix: String,
    pub expires_at: Timestamp,
    pub email: String,
}

/// Tokens and keys in force that expire within `within` of `now` and whose owner (a key's
/// creator) was not told yet; each is marked told in the same transaction.
pub fn take_expiring(
    conn: &Db,
    now: Timestamp,
    within: chrono::Duration,
) -> StoreResult<Vec<Expiring>> {
    let mut out = Vec::new();
    for (kind, sql) in [
        (
            "pat",
            "SELECT t.id, t.tenant_id, t.name, t.prefix, t.expires_at, u.email
               FROM personal_tokens t JOIN users u ON u.id = t.user_id
              WHERE t.expires_at IS NOT NULL AND t.revoked_at IS NULL AND t.expiry_noticed_at IS NULL",
        ),
        (
            "api_key",
            "SELECT k.id, k.tenant_id, k.name, k.prefix, k.expires_at, u.email
               FROM api_keys k JOIN users u ON u.id = k.created_by
              WHERE k.expires_at IS NOT NULL AND k.deleted_at IS NULL AND k.expiry_noticed_at IS NULL",
        ),
    ] {
        let mut st = conn.prepare_cached(sql)?;
        let rows: Vec<(String, String, String, String, String, String)> = st
            .query_map(params![], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })?
            .collect::<Result<_, _>>()?;
        for (id, tenant_id, name, prefix, exp, email) in rows {
            let Some(expires_at) = time::parse(&exp) else {
                continue;
            };
            if expires_at <= now || expires_at > now + within {
                continue;
            }
            let table = if kind == "pat" { "personal_tokens" } else { "api_keys" };
            conn.execute(
                &format!("UPDATE {table} SET expiry_noticed_at = ?2 WHERE id = ?1"),
                params![id, time::fmt(now)],
            )?;
            out.push(Expiring {
                kind,
                id,
                tenant_id,
                name,
                prefix,
                expires_at,
                email,
            });
        }
    }
    Ok(out)
}
