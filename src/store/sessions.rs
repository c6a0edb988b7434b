//! Login sessions and their refresh tokens.

use super::db::{Db, Row};
use crate::params;

use super::{StoreResult, new_id, optional};
use crate::domain::time::{self, Timestamp};
use crate::domain::token::{self, Kind, Secret};

/// What the authenticator needs to know about a login session on every request.
#[derive(Debug, Clone)]
pub struct SessionState {
    pub id: String,
    pub user_id: String,
    pub tenant_id: String,
    pub amr: Vec<String>,
    pub csrf_hash: String,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
    pub ended: bool,
}

impl SessionState {
    /// Alive: not ended, not past its absolute lifetime, not idle for too long.
    pub fn alive(&self, now: Timestamp, idle: std::time::Duration) -> bool {
        !self.ended && now < self.expires_at && now < time::plus(self.last_used_at, idle)
    }
}

const COLS: &str = "id, user_id, tenant_id, amr, csrf_hash, created_at, last_used_at, expires_at, ended_at IS NOT NULL";

fn row(r: &Row) -> StoreResult<SessionState> {
    let amr: String = r.get(3)?;
    let ts = |i: usize| -> StoreResult<Timestamp> {
        let s: String = r.get(i)?;
        Ok(time::parse(&s).unwrap_or_default())
    };
    Ok(SessionState {
        id: r.get(0)?,
        user_id: r.get(1)?,
        tenant_id: r.get(2)?,
        amr: serde_json::from_str(&amr).unwrap_or_default(),
        csrf_hash: r.get(4)?,
        created_at: ts(5)?,
        last_used_at: ts(6)?,
        expires_at: ts(7)?,
        ended: r.get(8)?,
    })
}

/// The secrets of a freshly started session, handed to the client once.
pub struct NewSession {
    pub id: String,
    pub cookie: Secret,
    pub csrf: Secret,
    pub refresh: Secret,
    pub amr: Vec<String>,
}

pub struct StartSession<'a> {
    pub user_id: &'a str,
    pub tenant_id: &'a str,
    pub amr: Vec<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub lifetime: std::time::Duration,
}

pub fn start(conn: &Db, s: StartSession) -> StoreResult<NewSession> {
    let now = time::now();
    let id = new_id();
    let cookie = token::generate(Kind::Session);
    let csrf = token::random_string(32);
    conn.execute(
        "INSERT INTO login_sessions (id, user_id, tenant_id, cookie_hash, csrf_hash, amr, ip, user_agent,
                                     created_at, last_used_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)",
        params![
            id,
            s.user_id,
            s.tenant_id,
            token::hash(cookie.expose()),
            token::hash(csrf.expose()),
            serde_json::to_string(&s.amr).unwrap(),
            s.ip,
            s.user_agent,
            time::fmt(now),
            time::fmt(time::plus(now, s.lifetime)),
        ],
    )?;
    let refresh = add_refresh(conn, &id)?;
    Ok(NewSession {
        id,
        cookie,
        csrf,
        refresh,
        amr: s.amr,
    })
}

pub fn add_refresh(conn: &Db, session_id: &str) -> StoreResult<Secret> {
    let refresh = token::generate(Kind::Refresh);
    conn.execute(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?1, ?2, ?3)",
        params![
            token::hash(refresh.expose()),
            session_id,
            time::fmt(time::now())
        ],
    )?;
    Ok(refresh)
}

pub fn get(conn: &Db, id: &str) -> StoreResult<Option<SessionState>> {
    let mut st =
        conn.prepare_cached(&format!("SELECT {COLS} FROM login_sessions WHERE id = ?1"))?;
    optional(st.query_row(params![id], row))
}

pub fn find_by_cookie(conn: &Db, cookie_hash: &str) -> StoreResult<Option<SessionState>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM login_sessions WHERE cookie_hash = ?1"
    ))?;
    optional(st.query_row(params![cookie_hash], row))
}

/// A refresh token's session and whether it was already spent.
pub fn find_refresh(conn: &Db, token_hash: &str) -> StoreResult<Option<(String, bool)>> {
    let mut st = conn.prepare_cached(
        "SELECT session_id, spent_at IS NOT NULL FROM refresh_tokens WHERE token_hash = ?1",
    )?;
    optional(st.query_row(params![token_hash], |r| Ok((r.get(0)?, r.get(1)?))))
}

/// Spends a refresh token; false when it was already spent (a concurrent refresh won).
pub fn spend_refresh(conn: &Db, token_hash: &str) -> StoreResult<bool> {
    let n = conn.execute(
        "UPDATE refresh_tokens SET spent_at = ?2 WHERE token_hash = ?1 AND spent_at IS NULL",
        params![token_hash, time::fmt(time::now())],
    )?;
    Ok(n == 1)
}

pub fn touch(conn: &Db, id: &str, at: Timestamp) -> StoreResult<()> {
    conn.execute(
        "UPDATE login_sessions SET last_used_at = ?2 WHERE id = ?1 AND ended_at IS NULL",
        params![id, time::fmt(at)],
    )?;
    Ok(())
}

/// Ends a session; true when it was still open.
pub fn end(conn: &Db, id: &str, reason: &str) -> StoreResult<bool> {
    let n = conn.execute(
        "UPDATE login_sessions SET ended_at = ?2, ended_reason = ?3 WHERE id = ?1 AND ended_at IS NULL",
        params![id, time::fmt(time::now()), reason],
    )?;
    Ok(n == 1)
}

/// Ends every open session of a user, except `keep`; returns the ids ended.
pub fn end_all_for_user(
    conn: &Db,
    user_id: &str,
    keep: Option<&str>,
    reason: &str,
) -> StoreResult<Vec<String>> {
    let mut st = conn.prepare_cached(
        "UPDATE login_sessions SET ended_at = ?3, ended_reason = ?4
         WHERE user_id = ?1 AND ended_at IS NULL AND id IS DISTINCT FROM ?2 RETURNING id",
    )?;
    let ids = st
        .query_map(
            params![user_id, keep, time::fmt(time::now()), reason],
            |r| r.get(0),
        )?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(ids)
}

/// A login session as listed to its owner or an admin.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub id: String,
    pub user_id: String,
    pub email: String,
    pub created_at: String,
    pub last_used_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub amr: Vec<String>,
}

/// Open sessions, of one user (`user_id`) or of a whole tenant, newest first.
pub fn list_open(
    conn: &Db,
    tenant_id: &str,
    user_id: Option<&str>,
) -> StoreResult<Vec<SessionInfo>> {
    let mut st = conn.prepare_cached(
        "SELECT s.id, s.user_id, u.email, s.created_at, s.last_used_at, s.ip, s.user_agent, s.amr, s.expires_at
         FROM login_sessions s JOIN users u ON u.id = s.user_id
         WHERE s.tenant_id = ?1 AND (?2 IS NULL OR s.user_id = ?2) AND s.ended_at IS NULL AND s.expires_at > ?3
         ORDER BY s.created_at DESC, s.rowid DESC",
    )?;
    let rows = st.query_map(params![tenant_id, user_id, time::fmt(time::now())], |r| {
        Ok(SessionInfo {
            id: r.get(0)?,
            user_id: r.get(1)?,
            email: r.get(2)?,
            created_at: r.get(3)?,
            last_used_at: r.get(4)?,
            ip: r.get(5)?,
            user_agent: r.get(6)?,
            amr: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default(),
        })
    })?;
    rows.collect::<Result<_, _>>()
}
