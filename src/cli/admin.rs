//! The provisioning commands: migrate, user create, user reset-mfa, tenant create, audit verify.

use std::io::BufRead;
use std::path::Path;

use std::sync::Arc;

use crate::app::{App, NoCache, PasswordWorkers, provision};
use crate::domain::password;
use crate::store::{self, Pool, audit, users};

fn open(db: &Path) -> Result<Pool, String> {
    let pool =
        store::open(db).map_err(|e| format!("cannot open database {}: {e}", db.display()))?;
    store::migrate(&pool)?;
    Ok(pool)
}

/// The use cases' context for a command: no cache of its own (the epoch tells a running
/// server), hashing on this thread's pool.
fn app(db: &Path, pool: Pool) -> Result<App, String> {
    let config =
        crate::config::Config::from_args(db.into(), &crate::config::ServeArgs::defaults())?;
    let data_key = {
        let c = pool
            .get()
            .map_err(|e| format!("cannot open database: {e}"))?;
        store::keys::data_key(&c).map_err(|e| format!("cannot load data key: {e}"))?
    };
    Ok(App::new(
        pool,
        Arc::new(config),
        data_key,
        Arc::new(NoCache),
        PasswordWorkers::new(1),
    ))
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
    let app = app(db, open(db)?)?;
    let id = provision::create_tenant(&app, slug, name).map_err(|e| provision::message(&e))?;
    println!("{id}");
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
    let app = app(db, open(db)?)?;
    let id =
        provision::provision_user(&app, email, name.unwrap_or(""), role, tenant, pw.as_deref())
            .map_err(|e| provision::message(&e))?;
    println!("{id}");
    Ok(())
}

pub fn user_reset_mfa(db: &Path, email: &str) -> Result<(), String> {
    let app = app(db, open(db)?)?;
    provision::reset_mfa(&app, email).map_err(|e| provision::message(&e))?;
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
