//! Personal access tokens.

use super::db::Db;
use crate::params;
use serde::Serialize;

use super::{StoreResult, new_id, optional};
use crate::domain::time::{self, Timestamp};
use crate::domain::token::{self, Kind, Secret};

/// A token as listed to its owner (never the secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
}

/// What the authenticator needs about a presented token.
#[derive(Debug, Clone)]
pub struct TokenState {
    pub id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub expires_at: Option<Timestamp>,
    pub revoked: bool,
    /// The factors of the login session that created it.
    pub amr: Vec<String>,
}

pub fn create(
    conn: &Db,
    user_id: &str,
    tenant_id: &str,
    name: &str,
    expires_at: Option<Timestamp>,
    amr: &[String],
) -> StoreResult<(TokenInfo, Secret)> {
    let secret = token::generate(Kind::Pat);
    let info = TokenInfo {
        id: new_id(),
        name: name.to_string(),
        prefix: token::display_prefix(secret.expose()),
        created_at: time::fmt(time::now()),
        expires_at: expires_at.map(time::fmt),
        last_used_at: None,
        last_used_ip: None,
    };
    conn.execute(
        "INSERT INTO personal_tokens (id, user_id, tenant_id, name, token_hash, prefix, created_at, expires_at, amr)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![info.id, user_id, tenant_id, info.name, token::hash(secret.expose()), info.prefix, info.created_at, info.expires_at, serde_json::to_string(amr).unwrap_or_default()],
    )?;
    Ok((info, secret))
}

pub fn find_by_hash(conn: &Db, hash: &str) -> StoreResult<Option<TokenState>> {
    let mut st = conn.prepare_cached(
        "SELECT id, user_id, tenant_id, expires_at, revoked_at IS NOT NULL, amr FROM personal_tokens WHERE token_hash = ?1",
    )?;
    optional(st.query_row(params![hash], |r| {
        let exp: Option<String> = r.get(3)?;
        Ok(TokenState {
            id: r.get(0)?,
            user_id: r.get(1)?,
            tenant_id: r.get(2)?,
            expires_at: exp.as_deref().and_then(time::parse),
            revoked: r.get(4)?,
            // Unreadable factors count as password only: the policy then holds the token back.
            amr: serde_json::from_str(&r.get::<_, String>(5)?)
                .unwrap_or_else(|_| vec!["pwd".to_string()]),
        })
    }))
}

/// The owner's live (not revoked) tokens in one tenant, newest first.
pub fn list(conn: &Db, user_id: &str, tenant_id: &str) -> StoreResult<Vec<TokenInfo>> {
    let mut st = conn.prepare_cached(
        "SELECT id, name, prefix, created_at, expires_at, last_used_at, last_used_ip FROM personal_tokens
         WHERE user_id = ?1 AND tenant_id = ?2 AND revoked_at IS NULL ORDER BY created_at DESC, rowid DESC",
    )?;
    let rows = st.query_map(params![user_id, tenant_id], |r| {
        Ok(TokenInfo {
            id: r.get(0)?,
            name: r.get(1)?,
            prefix: r.get(2)?,
            created_at: r.get(3)?,
            expires_at: r.get(4)?,
            last_used_at: r.get(5)?,
            last_used_ip: r.get(6)?,
        })
    })?;
    rows.collect::<Result<_, _>>()
}

/// Revokes one of the owner's tokens, whatever tenant it acts in (only its owner may);
/// `None` when there is no such live token of theirs.
pub fn revoke(conn: &Db, user_id: &str, id: &str) -> StoreResult<Option<String>> {
    let mut st = conn.prepare_cached(
        "UPDATE personal_tokens SET revoked_at = ?3 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL RETURNING token_hash",
    )?;
    optional(st.query_row(params![id, user_id, time::fmt(time::now())], |r| r.get(0)))
}

pub fn touch(conn: &Db, id: &str, at: Timestamp, ip: Option<&str>) -> StoreResult<()> {
    conn.execute(
        "UPDATE personal_tokens SET last_used_at = ?2, last_used_ip = ?3 WHERE id = ?1",
        params![id, time::fmt(at), ip],
    )?;
    Ok(())
}
