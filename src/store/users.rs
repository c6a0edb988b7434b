//! Users, memberships and the permissions they resolve to.

use rusqlite::{Connection, params};

use super::{StoreError, StoreResult, new_id, optional};
use crate::domain::capability::CapSet;
use crate::domain::time;

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub status: String,
    pub email_verified: bool,
    pub mfa_enabled: bool,
    pub created_at: String,
    pub password_hash: Option<String>,
}

const USER_COLS: &str =
    "id, email, name, status, email_verified, totp_secret IS NOT NULL, created_at, password_hash";

fn user_row(r: &rusqlite::Row) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        status: r.get(3)?,
        email_verified: r.get(4)?,
        mfa_enabled: r.get(5)?,
        created_at: r.get(6)?,
        password_hash: r.get(7)?,
    })
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A syntactic check good enough to catch typos; delivery is the real test.
pub fn valid_email(email: &str) -> bool {
    let e = email.trim();
    let Some((local, domain)) = e.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && e.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
}

pub fn find_by_email(conn: &Connection, email: &str) -> StoreResult<Option<User>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {USER_COLS} FROM users WHERE email_norm = ?1"
    ))?;
    optional(st.query_row([normalize_email(email)], user_row))
}

pub fn get(conn: &Connection, id: &str) -> StoreResult<Option<User>> {
    let mut st = conn.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))?;
    optional(st.query_row([id], user_row))
}

pub fn count(conn: &Connection) -> StoreResult<i64> {
    Ok(conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?)
}

/// Creates a user; a duplicate email (case-insensitive) is `Conflict`.
pub fn create(
    conn: &Connection,
    email: &str,
    name: &str,
    password_hash: Option<&str>,
) -> StoreResult<User> {
    let u = User {
        id: new_id(),
        email: email.trim().to_string(),
        name: name.to_string(),
        status: "active".into(),
        email_verified: false,
        mfa_enabled: false,
        created_at: time::fmt(time::now()),
        password_hash: password_hash.map(str::to_string),
    };
    conn.execute(
        "INSERT INTO users (id, email, email_norm, name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![u.id, u.email, normalize_email(email), u.name, u.password_hash, u.created_at],
    )
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict("a user with this email already exists".into()),
        other => other,
    })?;
    Ok(u)
}

/// Resolves role names of one tenant to ids; an unknown name is `Invalid` on field `roles`.
pub fn role_ids(conn: &Connection, tenant_id: &str, roles: &[String]) -> StoreResult<Vec<String>> {
    let mut st = conn.prepare_cached("SELECT id FROM roles WHERE tenant_id = ?1 AND name = ?2")?;
    let mut ids = Vec::with_capacity(roles.len());
    for name in roles {
        match optional(st.query_row(params![tenant_id, name], |r| r.get::<_, String>(0)))? {
            Some(id) => ids.push(id),
            None => {
                return Err(StoreError::Invalid {
                    field: "roles".into(),
                    message: format!("unknown role {name:?}"),
                });
            }
        }
    }
    Ok(ids)
}

pub fn is_member(conn: &Connection, user_id: &str, tenant_id: &str) -> StoreResult<bool> {
    let mut st =
        conn.prepare_cached("SELECT 1 FROM memberships WHERE user_id = ?1 AND tenant_id = ?2")?;
    Ok(optional(st.query_row(params![user_id, tenant_id], |_| Ok(())))?.is_some())
}

/// Adds a membership with the given roles; an existing membership is `Conflict`.
pub fn add_membership(
    conn: &Connection,
    user_id: &str,
    tenant_id: &str,
    roles: &[String],
) -> StoreResult<()> {
    let ids = role_ids(conn, tenant_id, roles)?;
    if is_member(conn, user_id, tenant_id)? {
        return Err(StoreError::Conflict(
            "the user is already a member of this tenant".into(),
        ));
    }
    conn.execute(
        "INSERT INTO memberships (user_id, tenant_id, created_at) VALUES (?1, ?2, ?3)",
        params![user_id, tenant_id, time::fmt(time::now())],
    )?;
    for id in ids {
        conn.execute(
            "INSERT OR IGNORE INTO membership_roles (user_id, tenant_id, role_id) VALUES (?1, ?2, ?3)",
            params![user_id, tenant_id, id],
        )?;
    }
    Ok(())
}

/// A user as seen in one tenant: identity, state, and the capabilities its roles grant there.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub status: String,
    pub email_verified: bool,
    pub mfa_enabled: bool,
    pub created_at: String,
    pub roles: Vec<String>,
    pub caps: CapSet,
}

impl Principal {
    pub fn active(&self) -> bool {
        self.status == "active"
    }
}

/// The user's principal in a tenant, or `None` when the user is not a member there.
/// One query: identity joined with every role the membership holds.
pub fn principal(
    conn: &Connection,
    user_id: &str,
    tenant_id: &str,
) -> StoreResult<Option<Principal>> {
    let mut st = conn.prepare_cached(
        "SELECT u.email, u.name, u.status, u.email_verified, u.totp_secret IS NOT NULL, u.created_at,
                r.name, r.permissions
         FROM users u
         JOIN memberships m ON m.user_id = u.id AND m.tenant_id = ?2
         LEFT JOIN membership_roles mr ON mr.user_id = u.id AND mr.tenant_id = m.tenant_id
         LEFT JOIN roles r ON r.id = mr.role_id
         WHERE u.id = ?1
         ORDER BY r.name",
    )?;
    let mut rows = st.query(params![user_id, tenant_id])?;
    let mut p: Option<Principal> = None;
    while let Some(r) = rows.next()? {
        let p = p.get_or_insert_with(|| Principal {
            user_id: user_id.to_string(),
            email: r.get(0).unwrap_or_default(),
            name: r.get(1).unwrap_or_default(),
            status: r.get(2).unwrap_or_default(),
            email_verified: r.get(3).unwrap_or_default(),
            mfa_enabled: r.get(4).unwrap_or_default(),
            created_at: r.get(5).unwrap_or_default(),
            roles: Vec::new(),
            caps: CapSet::empty(),
        });
        if let Some(role) = r.get::<_, Option<String>>(6)? {
            let perms: String = r.get(7)?;
            let names: Vec<String> = serde_json::from_str(&perms).unwrap_or_default();
            // Unknown names in stored data grant nothing rather than failing the request.
            for n in &names {
                if let Some(c) = crate::domain::capability::Capability::parse(n) {
                    p.caps.insert(c);
                }
            }
            p.roles.push(role);
        }
    }
    Ok(p)
}

/// Removes MFA enrollment (confirmed and pending) and the replay guard.
pub fn clear_mfa(conn: &Connection, user_id: &str) -> StoreResult<()> {
    conn.execute(
        "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL WHERE id = ?1",
        [user_id],
    )?;
    Ok(())
}
