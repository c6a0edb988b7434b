//! Opening and closing the database around a server or a command: the key file, what a
//! previous process left behind, the change epoch commands bump, the signing keys, and the
//! checkpoint at exit.

use std::path::Path;

use super::App;
use crate::config::Config;
use crate::domain::jwt::Keys;
use crate::store::keys::{self, Unsealed};
use crate::store::{self, Pool};

/// The schema version this binary writes and understands.
pub const SCHEMA_VERSION: i64 = store::SCHEMA_VERSION;

/// Where the key file is when none is named: beside the database (`<db>.key`).
pub fn default_key_file(db: &Path, named: Option<&Path>) -> std::path::PathBuf {
    store::keyfile::default_path(db, named)
}

/// Marks the database as used by this server for the process's life (`<db>.lock`); a second
/// server on the same file, and `labgate restore` while one runs, are refused.
pub fn lock_for_server(db: &Path) -> Result<Option<std::fs::File>, String> {
    store::lock_for_server(db)
}

/// The schema version of a database file, read without changing it (0: not set up).
pub fn schema_version_of(db: &Path) -> Result<i64, String> {
    store::schema_version_of(db)
        .map_err(|e| format!("cannot read database {}: {e}", store::shown(db)))
}

/// Opens (creating and migrating as needed) the database with the key file's keys.
pub fn open(db: &Path, key_file: &Path) -> Result<(Pool, Unsealed), String> {
    keys::open_database(db, key_file)
}

/// Opens the database for a server: as `open`, then checks what the settings name in it (the
/// dispatch tenant must exist, SPEC §1), and marks runs a previous process left queued or
/// running as failed (they cannot resume).
pub fn open_for_server(config: &Config) -> Result<(Pool, Unsealed), String> {
    // PostgreSQL's TLS trusts what every outgoing connection trusts (SPEC §12.2).
    store::pg::set_trust(config.trust.clone());
    let (pool, unsealed) = open(&config.db, &config.key_file)?;
    let cannot = |e: store::StoreError| format!("cannot open database: {e}");
    if config.noise_dispatch_token.is_some() {
        let slug = config.noise_dispatch_tenant.clone();
        let found =
            store::run_blocking(&pool, |c| store::tenants::find(c, &slug)).map_err(cannot)?;
        if found.is_none() {
            return Err(format!(
                "LABGATE_NOISE_DISPATCH_TENANT: no tenant {slug:?} exists (create it with `labgate tenant create`)"
            ));
        }
    }
    store::write_blocking(&pool, |tx| {
        store::noise::fail_unfinished(
            tx,
            &config.node,
            "the server stopped before the run finished",
        )
    })
    .map_err(cannot)?;
    Ok((pool, unsealed))
}

/// The signing keys that sign and verify access tokens.
pub fn signing_keys(unsealed: &Unsealed, config: &Config) -> Keys {
    keys::signing_keys(unsealed, config.signing_window(), &config.public_url)
}

/// The signing keys as the key file and the database hold them now (after
/// `labgate keys rotate-signing`).
pub fn reload_signing(app: &App) -> Result<Keys, String> {
    let unsealed = keys::reload(&app.pool, &app.config.key_file)?;
    Ok(signing_keys(&unsealed, &app.config))
}

/// `keys rotate-signing`: a new current signing key; the previous one's tokens stay valid for
/// `window`. Answers the new key's id.
pub fn rotate_signing(app: &App, window: std::time::Duration) -> Result<String, String> {
    keys::rotate_signing(&app.pool, &app.config.key_file, window)
}

impl App {
    /// The change epoch: commands bump it, so a running server knows to drop its caches.
    pub async fn epoch(&self) -> Option<i64> {
        self.read(store::epoch).await.ok()
    }

    /// `epoch` for code off the async workers.
    pub fn epoch_now(&self) -> Option<i64> {
        store::run_blocking(&self.pool, store::epoch).ok()
    }

    /// Folds the write-ahead log into the database file and empties it (at a clean exit);
    /// whether it was emptied.
    pub fn checkpoint(&self) -> bool {
        matches!(store::checkpoint(&self.pool), Ok(true))
    }
}

/// A tenant's id by its slug (or id).
pub fn tenant_id(app: &App, slug: &str) -> Option<crate::domain::ids::TenantId> {
    let s = slug.to_string();
    store::run_blocking(&app.pool, move |c| store::tenants::find(c, &s))
        .ok()
        .flatten()
        .map(|t| crate::domain::ids::TenantId::from_raw(t.id))
}

/// What `labgate check` found about the database and its key file, changing nothing: the
/// lines to print, and the problems (each one line; none when a server would start).
#[derive(Debug, Default)]
pub struct Checked {
    pub ok: Vec<String>,
    pub problems: Vec<String>,
}

/// Checks the database and the key file as a start would open them, without creating,
/// migrating or sealing anything: a missing database is fine when its directory can take one
/// (the first start creates it, and the key file with it).
pub fn check_database(db: &Path, key_file: &Path) -> Checked {
    let mut c = Checked::default();
    if store::pg::is_postgres(db) {
        match store::schema_version_of(db) {
            Ok(v) => c.ok.push(format!(
                "database {} answers (schema version {v}{})",
                store::shown(db),
                if v == 0 {
                    ": the first start sets it up"
                } else {
                    ""
                }
            )),
            Err(e) => c.problems.push(format!("LABGATE_DB: {e}")),
        }
        if key_file.as_os_str().is_empty() {
            c.problems.push(
                "LABGATE_KEY_FILE: on PostgreSQL the key file has no default path; name it".into(),
            );
        } else if !key_file.exists() {
            c.ok.push(format!(
                "the key file {} does not exist: the first node to start makes it (copy it to the others)",
                key_file.display()
            ));
        }
        return c;
    }
    let shown = std::path::absolute(db).unwrap_or_else(|_| db.to_path_buf());
    let key_file = &std::path::absolute(key_file).unwrap_or_else(|_| key_file.to_path_buf());
    if !db.exists() {
        let dir = shown.parent().unwrap_or(Path::new("/"));
        match writable_dir(dir) {
            Ok(()) => c.ok.push(format!(
                "database {} does not exist yet: the first start creates it (and the key file {})",
                shown.display(),
                key_file.display()
            )),
            Err(e) => c.problems.push(format!(
                "LABGATE_DB: the database {} cannot be created: {e}",
                shown.display()
            )),
        }
        if key_file.exists() {
            c.ok.push(format!(
                "the key file {} exists without a database: a new database is sealed under it",
                key_file.display()
            ));
        }
        return c;
    }
    let version = match schema_version_of(db) {
        Ok(v) => v,
        Err(e) => {
            c.problems.push(format!("LABGATE_DB: {e}"));
            return c;
        }
    };
    if version > SCHEMA_VERSION {
        c.problems.push(format!(
            "LABGATE_DB: {} is at schema version {version}, written by a newer labgate (this one knows {SCHEMA_VERSION})",
            shown.display()
        ));
        return c;
    }
    if version < SCHEMA_VERSION {
        // An older schema is only read by the start that migrates it: here the key file is
        // looked at, not the keys (their tables may not have today's shape).
        match store::keyfile::read(key_file) {
            Ok(Some(_)) => c.ok.push(format!(
                "database {} is at schema version {version}: the next start migrates it to {SCHEMA_VERSION} (key file {})",
                shown.display(),
                key_file.display()
            )),
            Ok(None) => c.ok.push(format!(
                "database {} is at schema version {version}: the next start migrates it to {SCHEMA_VERSION}; its key file {} is not there (made at that start if its keys are not sealed yet; if they are, the start is refused until it is back)",
                shown.display(),
                key_file.display()
            )),
            Err(e) => c.problems.push(e),
        }
        return c;
    }
    match store::keyfile::read(key_file) {
        Ok(Some(_)) => {}
        Ok(None) => {
            let pool = match store::open(db) {
                Ok(p) => p,
                Err(e) => {
                    c.problems
                        .push(format!("LABGATE_DB: cannot open {}: {e}", shown.display()));
                    return c;
                }
            };
            let sealed = store::run_blocking(&pool, keys::any_sealed).unwrap_or(true);
            if sealed {
                c.problems.push(format!(
                    "LABGATE_KEY_FILE: {} is missing; the keys of {} are sealed under it (restore the key file)",
                    key_file.display(),
                    shown.display()
                ));
            } else {
                c.ok.push(format!(
                    "database {} holds keys from before the key file: the next start seals them under a new key file {}",
                    shown.display(),
                    key_file.display()
                ));
            }
            return c;
        }
        Err(e) => {
            c.problems.push(e);
            return c;
        }
    }
    match open_existing(db, key_file) {
        Ok(users) => {
            c.ok.push(format!(
                "database {} opens with the key file {} (schema version {version}, {users} users)",
                shown.display(),
                key_file.display()
            ));
        }
        Err(e) => c.problems.push(e),
    }
    c
}

/// Opens an existing database's keys with the key file (reading only: nothing is created or
/// sealed) and counts its users.
fn open_existing(db: &Path, key_file: &Path) -> Result<i64, String> {
    let pool = store::open(db)
        .map_err(|e| format!("LABGATE_DB: cannot open {}: {e}", store::shown(db)))?;
    keys::reload(&pool, key_file).map_err(|e| {
        format!(
            "LABGATE_KEY_FILE: the keys of {} do not open with {}: {e}",
            store::shown(db),
            key_file.display()
        )
    })?;
    store::run_blocking(&pool, store::users::count)
        .map_err(|e| format!("LABGATE_DB: cannot read {}: {e}", store::shown(db)))
}

/// Whether files can be created in `dir` (tried, not guessed from its mode: ownership,
/// ACLs and read-only mounts all count).
pub fn writable_dir(dir: &Path) -> Result<(), String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    // A new name of its own, never a file (or a link) that is there already.
    let probe = dir.join(format!(".labgate-check-{}", crate::store::new_id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!("{} is not writable: {e}", dir.display())),
    }
}
