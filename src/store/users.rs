//! Users, memberships and the permissions they resolve to.

use super::db::{Db, Row};
use crate::params;

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

fn user_row(r: &Row) -> StoreResult<User> {
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
/// A bare address (SPEC §3.2); see `domain::ids::Email`.
pub fn valid_email(email: &str) -> bool {
    crate::domain::ids::Email::parse(email).is_ok()
}

pub fn find_by_email(conn: &Db, email: &str) -> StoreResult<Option<User>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {USER_COLS} FROM users WHERE email_norm = ?1"
    ))?;
    optional(st.query_row(params![normalize_email(email)], user_row))
}

pub fn get(conn: &Db, id: &str) -> StoreResult<Option<User>> {
    let mut st = conn.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))?;
    optional(st.query_row(params![id], user_row))
}

pub fn count(conn: &Db) -> StoreResult<i64> {
    conn.query_row("SELECT COUNT(*) FROM users", params![], |r| r.get(0))
}

/// Creates a user; a duplicate email (case-insensitive) is `Conflict`.
pub fn create(
    conn: &Db,
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
    .map_err(|e| match e {
        StoreError::Conflict(_) => StoreError::Conflict("a user with this email already exists".into()),
        other => other,
    })?;
    Ok(u)
}

/// Resolves role names of one tenant to ids; an unknown name is `Invalid` on field `roles`.
pub fn role_ids(conn: &Db, tenant_id: &str, roles: &[String]) -> StoreResult<Vec<String>> {
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

pub fn is_member(conn: &Db, user_id: &str, tenant_id: &str) -> StoreResult<bool> {
    let mut st =
        conn.prepare_cached("SELECT 1 FROM memberships WHERE user_id = ?1 AND tenant_id = ?2")?;
    Ok(optional(st.query_row(params![user_id, tenant_id], |_| Ok(())))?.is_some())
}

/// Adds a membership with the given roles; an existing membership is `Conflict`.
pub fn add_membership(
    conn: &Db,
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
            "INSERT INTO membership_roles (user_id, tenant_id, role_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![user_id, tenant_id, id],
        )?;
    }
    Ok(())
}

/// Adds roles to an existing membership (roles it already holds are kept).
pub fn add_roles(conn: &Db, user_id: &str, tenant_id: &str, roles: &[String]) -> StoreResult<()> {
    for id in role_ids(conn, tenant_id, roles)? {
        conn.execute(
            "INSERT INTO membership_roles (user_id, tenant_id, role_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
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
pub fn principal(conn: &Db, user_id: &str, tenant_id: &str) -> StoreResult<Option<Principal>> {
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
    let mut p: Option<Principal> = None;
    st.for_each_row(params![user_id, tenant_id], |r| {
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
        Ok(true)
    })?;
    Ok(p)
}

/// Removes MFA enrollment (confirmed and pending) and the replay guard.
pub fn clear_mfa(conn: &Db, user_id: &str) -> StoreResult<()> {
    conn.execute(
        "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = NULL WHERE id = ?1",
        params![user_id],
    )?;
    conn.execute(
        "DELETE FROM recovery_codes WHERE user_id = ?1",
        params![user_id],
    )?;
    Ok(())
}

/// A member of a tenant as the admin routes show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Member {
    pub id: String,
    pub email: String,
    pub name: String,
    pub status: String,
    pub email_verified: bool,
    pub mfa_enabled: bool,
    pub created_at: String,
    pub roles: Vec<String>,
}

const MEMBER_SELECT: &str = "SELECT u.id, u.email, u.name, u.status, u.email_verified, u.totp_secret IS NOT NULL, u.created_at,
        (SELECT COALESCE(json_group_array(r.name), '[]') FROM membership_roles mr JOIN roles r ON r.id = mr.role_id
          WHERE mr.user_id = u.id AND mr.tenant_id = m.tenant_id)
     FROM users u JOIN memberships m ON m.user_id = u.id";

fn member_row(r: &Row) -> StoreResult<Member> {
    let roles: String = r.get(7)?;
    let mut roles: Vec<String> = serde_json::from_str(&roles).unwrap_or_default();
    roles.sort();
    Ok(Member {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        status: r.get(3)?,
        email_verified: r.get(4)?,
        mfa_enabled: r.get(5)?,
        created_at: r.get(6)?,
        roles,
    })
}

pub fn member(conn: &Db, tenant_id: &str, user_id: &str) -> StoreResult<Option<Member>> {
    let mut st = conn.prepare_cached(&format!(
        "{MEMBER_SELECT} WHERE m.tenant_id = ?1 AND u.id = ?2"
    ))?;
    optional(st.query_row(params![tenant_id, user_id], member_row))
}

/// Members of a tenant, filtered by a substring of email or name and by status.
pub fn members(
    conn: &Db,
    tenant_id: &str,
    q: Option<&str>,
    status: Option<&str>,
    limit: u32,
    offset: u64,
) -> StoreResult<(Vec<Member>, u64)> {
    let like = q.map(|q| {
        format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    let cond = "m.tenant_id = ?1 AND (?2 IS NULL OR lower(u.email) LIKE lower(?2) ESCAPE '\\' OR lower(u.name) LIKE lower(?2) ESCAPE '\\')
                AND (?3 IS NULL OR u.status = ?3)";
    let total: i64 = conn.query_row(
        &format!(
            "SELECT COUNT(*) FROM users u JOIN memberships m ON m.user_id = u.id WHERE {cond}"
        ),
        params![tenant_id, like, status],
        |r| r.get(0),
    )?;
    let mut st = conn.prepare_cached(&format!(
        "{MEMBER_SELECT} WHERE {cond} ORDER BY u.created_at, u.email LIMIT ?4 OFFSET ?5"
    ))?;
    let rows = st
        .query_map(
            params![tenant_id, like, status, limit, offset as i64],
            member_row,
        )?
        .collect::<Result<_, _>>()?;
    Ok((rows, total as u64))
}

/// Replaces the roles of a membership.
pub fn set_roles(conn: &Db, user_id: &str, tenant_id: &str, roles: &[String]) -> StoreResult<()> {
    let ids = role_ids(conn, tenant_id, roles)?;
    conn.execute(
        "DELETE FROM membership_roles WHERE user_id = ?1 AND tenant_id = ?2",
        params![user_id, tenant_id],
    )?;
    for id in ids {
        conn.execute(
            "INSERT INTO membership_roles (user_id, tenant_id, role_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![user_id, tenant_id, id],
        )?;
    }
    Ok(())
}

pub fn set_name(conn: &Db, user_id: &str, name: &str) -> StoreResult<()> {
    conn.execute(
        "UPDATE users SET name = ?2 WHERE id = ?1",
        params![user_id, name],
    )?;
    Ok(())
}

pub fn set_status(conn: &Db, user_id: &str, status: &str) -> StoreResult<()> {
    conn.execute(
        "UPDATE users SET status = ?2 WHERE id = ?1",
        params![user_id, status],
    )?;
    Ok(())
}

pub fn set_password(conn: &Db, user_id: &str, hash: &str) -> StoreResult<()> {
    conn.execute(
        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
        params![user_id, hash],
    )?;
    Ok(())
}

pub fn set_email_verified(conn: &Db, user_id: &str) -> StoreResult<()> {
    conn.execute(
        "UPDATE users SET email_verified = 1 WHERE id = ?1",
        params![user_id],
    )?;
    Ok(())
}

/// Removes a membership; deletes the user when it was their last tenant. Returns true when the
/// user itself was deleted.
pub fn remove_from_tenant(conn: &Db, user_id: &str, tenant_id: &str) -> StoreResult<bool> {
    conn.execute(
        "DELETE FROM memberships WHERE user_id = ?1 AND tenant_id = ?2",
        params![user_id, tenant_id],
    )?;
    let left: i64 = conn.query_row(
        "SELECT COUNT(*) FROM memberships WHERE user_id = ?1",
        params![user_id],
        |r| r.get(0),
    )?;
    if left == 0 {
        conn.execute("DELETE FROM users WHERE id = ?1", params![user_id])?;
        return Ok(true);
    }
    conn.execute(
        "DELETE FROM login_sessions WHERE user_id = ?1 AND tenant_id = ?2",
        params![user_id, tenant_id],
    )?;
    conn.execute(
        "DELETE FROM personal_tokens WHERE user_id = ?1 AND tenant_id = ?2",
        params![user_id, tenant_id],
    )?;
    // Keys of this tenant handed to the user are no longer theirs to reveal.
    conn.execute(
        "DELETE FROM api_key_shares WHERE user_id = ?1
           AND key_id IN (SELECT id FROM api_keys WHERE tenant_id = ?2)",
        params![user_id, tenant_id],
    )?;
    Ok(false)
}

/// Active members of a tenant holding `admin.users` through any of their roles.
pub fn count_active_user_admins(conn: &Db, tenant_id: &str) -> StoreResult<i64> {
    conn.query_row(
        conn.pick(
            "SELECT COUNT(DISTINCT u.id) FROM users u
         JOIN membership_roles mr ON mr.user_id = u.id AND mr.tenant_id = ?1
         JOIN roles r ON r.id = mr.role_id
         WHERE u.status = 'active' AND EXISTS (SELECT 1 FROM json_each(r.permissions) WHERE value = 'admin.users')",
            "SELECT COUNT(DISTINCT u.id) FROM users u
         JOIN membership_roles mr ON mr.user_id = u.id AND mr.tenant_id = ?1
         JOIN roles r ON r.id = mr.role_id
         WHERE u.status = 'active'
           AND EXISTS (SELECT 1 FROM json_array_elements_text(r.permissions::json) AS p(value) WHERE value = 'admin.users')",
        ),
        params![tenant_id],
        |r| r.get(0),
    )
}

/// The encrypted TOTP secrets and the replay guard.
pub struct MfaState {
    pub secret: Option<Vec<u8>>,
    pub pending: Option<Vec<u8>>,
    pub last_step: Option<i64>,
}

pub fn mfa_state(conn: &Db, user_id: &str) -> StoreResult<MfaState> {
    conn.query_row(
        "SELECT totp_secret, totp_pending, totp_last_step FROM users WHERE id = ?1",
        params![user_id],
        |r| {
            Ok(MfaState {
                secret: r.get(0)?,
                pending: r.get(1)?,
                last_step: r.get(2)?,
            })
        },
    )
}

pub fn set_mfa_pending(conn: &Db, user_id: &str, enc: &[u8]) -> StoreResult<()> {
    conn.execute(
        "UPDATE users SET totp_pending = ?2 WHERE id = ?1",
        params![user_id, enc],
    )?;
    Ok(())
}

/// Turns the pending enrollment into the active one, recording the step just used.
pub fn confirm_mfa(
    conn: &Db,
    user_id: &str,
    step: i64,
    recovery_hashes: &[String],
) -> StoreResult<()> {
    conn.execute(
        "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = ?2 WHERE id = ?1",
        params![user_id, step],
    )?;
    replace_recovery_codes(conn, user_id, recovery_hashes)
}

/// A new set of recovery codes in place of every earlier one, used or not.
pub fn replace_recovery_codes(
    conn: &Db,
    user_id: &str,
    recovery_hashes: &[String],
) -> StoreResult<()> {
    conn.execute(
        "DELETE FROM recovery_codes WHERE user_id = ?1",
        params![user_id],
    )?;
    for h in recovery_hashes {
        conn.execute(
            "INSERT INTO recovery_codes (user_id, code_hash) VALUES (?1, ?2)",
            params![user_id, h],
        )?;
    }
    Ok(())
}

/// Records an accepted TOTP step; false when a concurrent request already used it or a later one.
pub fn advance_totp_step(conn: &Db, user_id: &str, step: i64) -> StoreResult<bool> {
    Ok(conn.execute(
        "UPDATE users SET totp_last_step = ?2 WHERE id = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
        params![user_id, step],
    )? == 1)
}

/// Spends an unused recovery code; false when unknown or used.
pub fn use_recovery_code(conn: &Db, user_id: &str, hash: &str) -> StoreResult<bool> {
    Ok(conn.execute(
        "UPDATE recovery_codes SET used_at = ?3 WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
        params![user_id, hash, time::fmt(time::now())],
    )? == 1)
}

/// Checks a second factor inside a write transaction: a TOTP code (accepted once per time
/// step) or an unused recovery code (spent). False for anything else, including no enrollment.
pub fn verify_second_factor(
    conn: &Db,
    key: &crate::domain::crypto::DataKey,
    user_id: &str,
    code: &str,
) -> StoreResult<bool> {
    use crate::domain::totp;
    let st = mfa_state(conn, user_id)?;
    let Some(secret) = st.secret.as_deref().and_then(|enc| key.decrypt(enc)) else {
        return Ok(false);
    };
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        let now = time::now().timestamp().max(0) as u64;
        return match totp::verify(&secret, code, now, st.last_step) {
            Some(step) => advance_totp_step(conn, user_id, step),
            None => Ok(false),
        };
    }
    use_recovery_code(conn, user_id, &totp::recovery_hash(code))
}

/// The union of the capabilities of role names in a tenant (unknown names are `Invalid`).
pub fn roles_caps(conn: &Db, tenant_id: &str, roles: &[String]) -> StoreResult<CapSet> {
    role_ids(conn, tenant_id, roles)?;
    let mut st =
        conn.prepare_cached("SELECT permissions FROM roles WHERE tenant_id = ?1 AND name = ?2")?;
    let mut caps = CapSet::empty();
    for r in roles {
        let perms: String = st.query_row(params![tenant_id, r], |row| row.get(0))?;
        let names: Vec<String> = serde_json::from_str(&perms).unwrap_or_default();
        caps = caps.union(
            names
                .iter()
                .filter_map(|n| crate::domain::capability::Capability::parse(n))
                .collect(),
        );
    }
    Ok(caps)
}
