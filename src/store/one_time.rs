//! One-time `lgx_` tokens: setup, password reset, invitation, email verification, MFA step.

use super::db::Db;
use crate::params;
use serde_json::Value;

use super::{StoreResult, optional};
use crate::domain::time;
use crate::domain::token::{self, Kind, Secret};

#[derive(Debug, Clone)]
pub struct OneTime {
    pub token_hash: String,
    pub user_id: Option<String>,
    pub tenant_id: Option<String>,
    pub data: Value,
}

/// Why a one-time token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// unknown, revoked, already used, or of another purpose
    Invalid,
    /// past its lifetime
    Expired,
}

pub fn issue(
    conn: &Db,
    purpose: &str,
    user_id: Option<&str>,
    tenant_id: Option<&str>,
    data: &Value,
    ttl: std::time::Duration,
) -> StoreResult<Secret> {
    let t = token::generate(Kind::OneTime);
    let now = time::now();
    conn.execute(
        "INSERT INTO one_time_tokens (token_hash, purpose, user_id, tenant_id, data, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            token::hash(t.expose()),
            purpose,
            user_id,
            tenant_id,
            data.to_string(),
            time::fmt(now),
            time::fmt(time::plus(now, ttl))
        ],
    )?;
    Ok(t)
}

/// Checks a token without spending it.
pub fn check(conn: &Db, purpose: &str, presented: &str) -> StoreResult<Result<OneTime, Refused>> {
    if !token::well_formed(Kind::OneTime, presented) {
        return Ok(Err(Refused::Invalid));
    }
    let h = token::hash(presented);
    let row = optional(conn.query_row(
        "SELECT purpose, user_id, tenant_id, data, expires_at, used_at IS NOT NULL OR revoked_at IS NOT NULL
         FROM one_time_tokens WHERE token_hash = ?1",
        params![&h],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, bool>(5)?,
            ))
        },
    ))?;
    let Some((p, user_id, tenant_id, data, expires_at, spent)) = row else {
        return Ok(Err(Refused::Invalid));
    };
    if p != purpose || spent {
        return Ok(Err(Refused::Invalid));
    }
    if time::parse(&expires_at).is_none_or(|e| e <= time::now()) {
        return Ok(Err(Refused::Expired));
    }
    Ok(Ok(OneTime {
        token_hash: h,
        user_id,
        tenant_id,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
    }))
}

/// Checks and spends a token in the caller's transaction; a concurrent second use loses.
pub fn consume(conn: &Db, purpose: &str, presented: &str) -> StoreResult<Result<OneTime, Refused>> {
    let ot = match check(conn, purpose, presented)? {
        Ok(ot) => ot,
        Err(r) => return Ok(Err(r)),
    };
    let n = conn.execute(
        "UPDATE one_time_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL AND revoked_at IS NULL",
        params![ot.token_hash, time::fmt(time::now())],
    )?;
    Ok(if n == 1 {
        Ok(ot)
    } else {
        Err(Refused::Invalid)
    })
}

/// Spends a token known by its hash (a passkey ceremony keeps the MFA step's hash, never the
/// token): false when it was already spent, revoked, expired or is of another purpose.
pub fn consume_hash(
    conn: &Db,
    purpose: &str,
    hash: &str,
    now: time::Timestamp,
) -> StoreResult<bool> {
    let n = conn.execute(
        "UPDATE one_time_tokens SET used_at = ?3 WHERE token_hash = ?1 AND purpose = ?2
         AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?3",
        params![hash, purpose, time::fmt(now)],
    )?;
    Ok(n == 1)
}

/// Revokes every open token of a purpose (e.g. earlier setup tokens when a new one is printed).
pub fn revoke_purpose(conn: &Db, purpose: &str) -> StoreResult<()> {
    conn.execute(
        "UPDATE one_time_tokens SET revoked_at = ?2 WHERE purpose = ?1 AND used_at IS NULL AND revoked_at IS NULL",
        params![purpose, time::fmt(time::now())],
    )?;
    Ok(())
}

/// The `node` named in the data of every open, unexpired token of a purpose (the nodes that
/// issued the setup tokens still usable).
pub fn open_issuers(conn: &Db, purpose: &str) -> StoreResult<Vec<String>> {
    let rows = conn.query_map(
        "SELECT data FROM one_time_tokens
          WHERE purpose = ?1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2",
        params![purpose, time::fmt(time::now())],
        |r| r.get::<_, String>(0),
    )?;
    Ok(rows
        .iter()
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .map(|d| d["node"].as_str().unwrap_or_default().to_string())
        .collect())
}

/// Revokes a user's open tokens of a purpose (e.g. reset links once the password changed).
pub fn revoke_user_purpose(conn: &Db, user_id: &str, purpose: &str) -> StoreResult<()> {
    conn.execute(
        "UPDATE one_time_tokens SET revoked_at = ?3 WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL AND revoked_at IS NULL",
        params![user_id, purpose, time::fmt(time::now())],
    )?;
    Ok(())
}
