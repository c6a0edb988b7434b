//! The provisioning commands: migrate, user create, user reset-mfa, tenant create, audit verify.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::app::lifecycle::SCHEMA_VERSION;
use crate::app::{App, NoCache, PasswordWorkers, provision};
use crate::domain::password;
use crate::store::Pool;

/// The database a command works on, and its key file.
pub struct Target {
    pub db: PathBuf,
    pub key_file: PathBuf,
}

/// Moves the audit head file to the chain's new end (a running server does so too, within a
/// second; this covers the case where none runs), starting the chain of a new database.
fn anchor(app: &App) {
    if let Err(e) = crate::app::audit::start(app) {
        eprintln!(
            "labgate: warning: the audit head was not updated: {}",
            e.message
        );
    }
    // A command leaves no write-ahead log behind either (when a server runs, its readers may
    // keep the log for a moment; the server folds it in itself).
    let _ = app.checkpoint();
}

/// Opens the database (creating and migrating it as needed) and its keys.
fn open(t: &Target) -> Result<(Pool, crate::store::keys::Unsealed), String> {
    crate::app::lifecycle::open(&t.db, &t.key_file)
}

fn absolute(p: &Path) -> PathBuf {
    if crate::store::pg::is_postgres(p) {
        // Not a path: shown as given, without its password.
        return PathBuf::from(crate::store::shown(p));
    }
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Refuses a command that works on existing data when the database is not there: a wrong
/// directory or `--db` is named, never answered with an empty database (SPEC §1.1).
pub(crate) fn existing(t: &Target) -> Result<(), String> {
    if crate::store::pg::is_postgres(&t.db) {
        // A PostgreSQL database exists for labgate once it holds labgate's schema.
        return match crate::app::lifecycle::schema_version_of(&t.db) {
            Ok(v) if v > 0 => Ok(()),
            Ok(_) => Err(
                "the PostgreSQL database LABGATE_DB names holds no labgate data (start the server or run `labgate migrate` first)"
                    .into(),
            ),
            Err(e) => Err(e),
        };
    }
    if t.db.exists() {
        return Ok(());
    }
    Err(format!(
        "database {} does not exist (run the command where the database is, or give --db / LABGATE_DB)",
        absolute(&t.db).display()
    ))
}

/// `labgate db copy`: the whole appliance into a new database, verified.
pub fn copy(from: &Target, to: &Path) -> Result<(), String> {
    existing(from)?;
    let s = crate::app::backup::copy_database(&from.db, &from.key_file, to)?;
    println!(
        "copied {} rows of {} tables into {}: {} audit records, the chain verified and ending where the source's does (record {})",
        s.rows,
        s.tables,
        crate::store::shown(to),
        s.audit_records,
        s.head_seq
    );
    Ok(())
}

/// The use cases' context for a command: no cache of its own (the epoch tells a running
/// server), hashing on this thread's pool. A database it creates is named, with its key file.
pub(crate) fn app(t: &Target) -> Result<App, String> {
    let created = if crate::store::pg::is_postgres(&t.db) {
        crate::app::lifecycle::schema_version_of(&t.db)? == 0
    } else {
        !t.db.exists()
    };
    let (pool, keys) = open(t)?;
    if created {
        eprintln!(
            "labgate: created database {} and its key file {}",
            absolute(&t.db).display(),
            absolute(&t.key_file).display()
        );
    }
    let mut config =
        crate::config::Config::from_args(t.db.clone(), &crate::config::ServeArgs::defaults())?;
    config.key_file = t.key_file.clone();
    Ok(App::new(
        pool,
        Arc::new(config),
        keys,
        Arc::new(NoCache),
        PasswordWorkers::new(1),
    ))
}

pub fn migrate(t: &Target) -> Result<(), String> {
    anchor(&app(t)?);
    let db = &t.db;
    println!(
        "database {} is at schema version {}",
        crate::store::shown(db),
        SCHEMA_VERSION
    );
    Ok(())
}

pub fn tenant_create(t: &Target, slug: &str, name: &str) -> Result<(), String> {
    let app = app(t)?;
    let id = provision::create_tenant(&app, slug, name).map_err(|e| provision::message(&e))?;
    anchor(&app);
    println!("{id}");
    Ok(())
}

pub fn user_create(
    t: &Target,
    email: &str,
    role: &str,
    tenant: &str,
    name: Option<&str>,
    password_stdin: bool,
) -> Result<(), String> {
    if crate::domain::ids::Email::parse(email).is_err() {
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
    let app = app(t)?;
    let (id, created) =
        provision::provision_user(&app, email, name.unwrap_or(""), role, tenant, pw.as_deref())
            .map_err(|e| provision::message(&e))?;
    anchor(&app);
    if !created {
        let kept = if pw.is_some() {
            "; their password was kept (the one given was not used)"
        } else {
            ""
        };
        eprintln!("{email} already has an account: role {role} added in tenant {tenant}{kept}");
    }
    println!("{id}");
    Ok(())
}

pub fn user_reset_mfa(t: &Target, email: &str) -> Result<(), String> {
    existing(t)?;
    let app = app(t)?;
    if !provision::reset_mfa(&app, email).map_err(|e| provision::message(&e))? {
        println!("{email} has no MFA enrollment and no passkey: nothing changed");
        return Ok(());
    }
    anchor(&app);
    println!(
        "MFA and passkeys removed for {email}; the user signs in with the password and can enroll again"
    );
    Ok(())
}

pub fn audit_verify(t: &Target, head: Option<&Path>) -> Result<(), String> {
    // Verifying never creates a database: a wrong path, or an empty file, is an error.
    existing(t)?;
    let version = crate::app::lifecycle::schema_version_of(&t.db)?;
    if version == 0 {
        return Err(format!(
            "{} is not a labgate database (it is empty): audit chain broken: every record was removed",
            crate::store::shown(&t.db)
        ));
    }
    let app = app(t)?;
    let v = crate::app::audit::verify(&app, head)?;
    match v
        .anchored_at
        .and_then(|at| chrono::DateTime::from_timestamp(at, 0))
    {
        Some(at) => {
            let age = (app.now() - at).num_seconds().max(0);
            println!(
                "audit chain intact: {} records, its end anchored at {} ({age} s ago)",
                v.records,
                crate::domain::time::fmt(at)
            );
            if age > 120 {
                println!(
                    "note: a running server anchors every second; if one ran after that time, records written since were removed"
                );
            }
        }
        None if v.anchored => println!(
            "audit chain intact: {} records, its end anchored",
            v.records
        ),
        None => println!(
            "audit chain intact: {} records; its end is not anchored here (no head file: set LABGATE_AUDIT_HEAD, or forward the audit records)",
            v.records
        ),
    }
    for (ts, seq) in &v.head_losses {
        println!(
            "note: at {ts} (record seq {seq}) the audit head file was found missing or not authentic and was written anew: records removed from the end before then cannot be detected"
        );
    }
    Ok(())
}

pub fn audit_prune(t: &Target, before: &str) -> Result<(), String> {
    existing(t)?;
    let app = app(t)?;
    let removed = crate::app::audit::prune(&app, before).map_err(|e| provision::message(&e))?;
    println!("removed {removed} records older than {before}; the rest verifies from a checkpoint");
    Ok(())
}

pub fn rotate_signing(t: &Target, args: &crate::config::ServeArgs) -> Result<(), String> {
    let mut config = crate::config::Config::from_args(t.db.clone(), args)?;
    config.key_file = t.key_file.clone();
    existing(t)?;
    let app = app(t)?;
    let window = config.signing_window();
    let kid = crate::app::lifecycle::rotate_signing(&app, window)?;
    anchor(&app);
    println!(
        "signing key {kid} is current; tokens of the previous key stay valid for {} s",
        window.as_secs()
    );
    Ok(())
}

fn say(what: &str, s: &crate::app::backup::Summary) {
    println!(
        "{what} {}: {} bytes, {} tenants, {} users, {} audit records; integrity and audit chain verified",
        s.path.display(),
        s.bytes,
        s.tenants,
        s.users,
        s.audit_records
    );
}

pub fn backup(t: &Target, to: &Path) -> Result<(), String> {
    existing(t)?;
    let app = app(t)?;
    let s = crate::app::backup::backup(&app, to)?;
    say("backup", &s);
    println!(
        "restoring it needs the key file {} too: keep a copy of it apart from the backup",
        t.key_file.display()
    );
    Ok(())
}

pub fn restore(t: &Target, from: &Path) -> Result<(), String> {
    let s = crate::app::backup::restore(&t.db, &t.key_file, from)?;
    say("restored", &s);
    println!(
        "the replaced database (if any) is kept as {}.before-restore",
        crate::store::shown(&t.db)
    );
    Ok(())
}
