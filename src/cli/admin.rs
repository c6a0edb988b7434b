//! The provisioning commands: migrate, user create, user reset-mfa, tenant create, audit verify.

use std::io::BufRead;
use std::path::Path;

use serde_json::json;

use crate::domain::password;
use crate::store::audit::{self, AuditEvent, Outcome};
use crate::store::{self, Pool, StoreError, tenants, users};

fn open(db: &Path) -> Result<Pool, String> {
    let pool =
        store::open(db).map_err(|e| format!("cannot open database {}: {e}", db.display()))?;
    store::migrate(&pool)?;
    Ok(pool)
}

fn cli_event(
    tenant: Option<&str>,
    action: &str,
    target: String,
    details: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        tenant_id: tenant.map(str::to_string),
        actor_type: "system".into(),
        actor_id: Some("cli".into()),
        action: action.into(),
        target: Some(target),
        outcome: Outcome::Success,
        details,
        ..Default::default()
    }
}

fn store_err(e: StoreError) -> String {
    match e {
        StoreError::Invalid { field, message } => format!("{field}: {message}"),
        StoreError::Conflict(m) => m,
        other => other.to_string(),
    }
}

pub fn migrate(db: &Path) -> Result<(), String> {
    open(db)?;
    println!(
        "database {} is at schema version {}",
        db.display(),
        store::SCHEMA_VERSION
    );
    Ok(())
}

pub fn tenant_create(db: &Path, slug: &str, name: &str) -> Result<(), String> {
    if !tenants::valid_slug(slug) {
        return Err(format!(
            "--slug: {slug:?} is not a valid slug (lower-case letters, digits and dashes)"
        ));
    }
    let pool = open(db)?;
    let t = store::write_blocking(&pool, |tx| {
        if tenants::find(tx, slug)?.is_some() {
            return Err(StoreError::Conflict(format!(
                "a tenant with slug {slug:?} already exists"
            )));
        }
        let t = tenants::create(tx, slug, name)?;
        store::bump_epoch(tx)?;
        audit::append(
            tx,
            &cli_event(
                Some(&t.id),
                "tenant.create",
                format!("tenant:{}", t.id),
                json!({"slug": slug}),
            ),
        )?;
        Ok(t)
    })
    .map_err(store_err)?;
    println!("{}", t.id);
    Ok(())
}

pub fn user_create(
    db: &Path,
    email: &str,
    role: &str,
    tenant: &str,
    name: Option<&str>,
    password_stdin: bool,
) -> Result<(), String> {
    if !users::valid_email(email) {
        return Err("--email: invalid email format".into());
    }
    let pw = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read password from stdin: {e}"))?;
        let line = line.trim_end_matches(['\n', '\r']).to_string();
        password::check_policy(&line, password::MIN_LEN).map_err(|m| format!("password: {m}"))?;
        Some(password::hash(&line))
    } else {
        None
    };
    let pool = open(db)?;
    let id = store::write_blocking(&pool, |tx| {
        let t = tenants::find(tx, tenant)?
            .ok_or_else(|| StoreError::Invalid { field: "--tenant".into(), message: format!("no tenant {tenant:?}") })?;
        let roles = vec![role.to_string()];
        let (user, created) = match users::find_by_email(tx, email)? {
            Some(u) => (u, false),
            None => (users::create(tx, email, name.unwrap_or(""), pw.as_deref())?, true),
        };
        if users::is_member(tx, &user.id, &t.id)? {
            let ids = users::role_ids(tx, &t.id, &roles)?;
            for rid in ids {
                tx.execute(
                    "INSERT OR IGNORE INTO membership_roles (user_id, tenant_id, role_id) VALUES (?1, ?2, ?3)",
                    rusqlite::params![user.id, t.id, rid],
                )?;
            }
        } else {
            users::add_membership(tx, &user.id, &t.id, &roles)?;
        }
        let action = if created { "user.create" } else { "membership.add" };
        store::bump_epoch(tx)?;
        audit::append(tx, &cli_event(Some(&t.id), action, format!("user:{}", user.id), json!({"email": user.email, "role": role})))?;
        Ok(user.id)
    })
    .map_err(store_err)?;
    println!("{id}");
    Ok(())
}

pub fn user_reset_mfa(db: &Path, email: &str) -> Result<(), String> {
    let pool = open(db)?;
    store::write_blocking(&pool, |tx| {
        let u = users::find_by_email(tx, email)?.ok_or_else(|| StoreError::Invalid {
            field: "--email".into(),
            message: "no such user".into(),
        })?;
        users::clear_mfa(tx, &u.id)?;
        store::sessions::end_all_for_user(tx, &u.id, None, "mfa_reset")?;
        store::bump_epoch(tx)?;
        audit::append(
            tx,
            &cli_event(
                None,
                "user.mfa_reset",
                format!("user:{}", u.id),
                json!({"email": u.email}),
            ),
        )?;
        Ok(())
    })
    .map_err(store_err)?;
    println!("MFA removed for {email}; the user signs in with the password and can enroll again");
    Ok(())
}

pub fn audit_verify(db: &Path) -> Result<(), String> {
    let pool = open(db)?;
    let conn = pool.get().map_err(|e| e.to_string())?;
    match audit::verify(&conn).map_err(|e| e.to_string())? {
        Ok(n) => {
            println!("audit chain intact: {n} records");
            Ok(())
        }
        Err(bad) => Err(format!("audit chain broken: {bad}")),
    }
}
