//! SQLite storage: the pool, the schema and its versions, and the one wrapper that runs
//! blocking database work off the async workers and maps failures to fail-closed errors.

pub mod api_keys;
pub mod audit;
pub mod audit_head;
pub mod backup;
pub mod copy;
pub mod db;
pub mod events;
pub mod exercises;
pub mod invitations;
pub mod ip_rules;
pub mod keyfile;
pub mod keys;
pub mod leaks;
pub mod lockout;
pub mod noise;
pub mod one_time;
pub mod passkeys;
pub mod pg;
pub mod roles;
pub mod sessions;
pub mod tenants;
pub mod tokens;
pub mod users;

pub use db::{Db, Engine, Row};

use crate::params;

use std::path::Path;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};

/// The database: pooled connections for reads, and one writer connection through which every
/// write transaction runs, one after another (SPEC §10). Writers queue in the process instead
/// of polling SQLite's lock, so none times out on labgate's own locking, waiting writers hold
/// no pooled connection a reader needs, and the log's checkpoint gets its turn between them.
#[derive(Clone)]
pub struct Pool {
    conns: Conns,
    writer: std::sync::Arc<Writer>,
    /// Where `write` queues work for the writer thread (started with the first such write;
    /// it ends when the last clone of the pool is gone).
    jobs: std::sync::Arc<std::sync::OnceLock<tokio::sync::mpsc::Sender<Box<dyn Work>>>>,
    /// One permit per pooled connection: reads wait for one here, not on a blocking thread.
    readers: std::sync::Arc<tokio::sync::Semaphore>,
    /// The audit MAC key, held in memory only (`open_keyed`): work on a pool without it cannot
    /// append audit records.
    audit_key: Option<std::sync::Arc<crate::domain::crypto::DataKey>>,
}

type Init = std::sync::Arc<dyn Fn(&mut Connection) -> rusqlite::Result<()> + Send + Sync>;

/// The pooled read connections, of one engine or the other.
#[derive(Clone)]
enum Conns {
    Lite(r2d2::Pool<SqliteConnectionManager>),
    Pg(r2d2::Pool<pg::Manager>),
}

/// The writer's connection.
enum WriterConn {
    Lite(Connection),
    Pg(db::PgConn),
}

/// What only a SQLite writer has: its file, watched, and the schema check.
struct LiteWriter {
    /// Opens a writer connection again (its settings).
    init: Init,
    file: FileGuard,
    /// The schema version last found to hold only labgate's own schema.
    schema_checked: std::sync::atomic::AtomicI64,
}

struct Writer {
    conn: std::sync::Mutex<WriterConn>,
    lite: Option<LiteWriter>,
    /// Where a PostgreSQL writer connects again when its connection was lost.
    target: Option<pg::Target>,
    /// Write transactions committed since the pool was opened.
    commits: std::sync::atomic::AtomicU64,
    /// Writes queued (`write`) and not answered yet.
    pending: std::sync::atomic::AtomicUsize,
}

/// What in the database's schema labgate's own schema does not have. An allow-list: every
/// schema row must be one of labgate's, exactly (triggers, views, indexes, the `audit_log`
/// table), or one of its tables as a migration left it (`ALTER TABLE ... ADD COLUMN` changes
/// a table's text). Someone who can edit the file could otherwise make SQLite drop, rewrite
/// or hide audit records as labgate writes or reads them (a trigger, a conflict clause, an
/// index whose expression fails or whose WHERE leaves rows out); such a database is refused at
/// start and no write goes through while it is so.
pub fn foreign_schema(conn: &Connection) -> StoreResult<Vec<String>> {
    type Row = (String, String, Option<String>);
    static SHIPPED: std::sync::OnceLock<Vec<Row>> = std::sync::OnceLock::new();
    let rows = |c: &Connection| -> rusqlite::Result<Vec<Row>> {
        c.prepare("SELECT type, name, sql FROM sqlite_master")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect()
    };
    let shipped = SHIPPED.get_or_init(|| {
        let mem = Connection::open_in_memory().expect("an in-memory database opens");
        mem.execute_batch(SCHEMA)
            .expect("the shipped schema applies");
        rows(&mem).expect("the shipped schema lists")
    });
    // A plain table definition, past leading blanks and comments.
    let plain_table = |sql: &str| {
        let mut rest = sql;
        loop {
            let t = rest.trim_start();
            if let Some(r) = t.strip_prefix("/*") {
                rest = r.split_once("*/").map(|(_, after)| after).unwrap_or("");
            } else if let Some(r) = t.strip_prefix("--") {
                rest = r.split_once('\n').map(|(_, after)| after).unwrap_or("");
            } else {
                rest = t;
                break;
            }
        }
        let head: String = rest
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_uppercase();
        head == "CREATE TABLE"
    };
    let mut foreign = vec![];
    for (kind, name, sql) in rows(conn)? {
        let Some(text) = sql.as_deref() else {
            continue; // SQLite's own automatic indexes
        };
        let row = (kind.clone(), name.clone(), sql.clone());
        if shipped.contains(&row) {
            continue;
        }
        let migrated_table = kind == "table"
            && name != "audit_log"
            && plain_table(text)
            && shipped.iter().any(|r| r.0 == "table" && r.1 == name);
        if !migrated_table {
            foreign.push(format!("{kind} {name}"));
        }
    }
    Ok(foreign)
}

/// `foreign_schema` as a refusal naming what was found.
pub fn check_schema(db: &Db) -> StoreResult<()> {
    let Some(conn) = db.sqlite_conn() else {
        return Ok(());
    };
    let foreign = foreign_schema(conn)?;
    if foreign.is_empty() {
        return Ok(());
    }
    Err(StoreError::Unavailable(format!(
        "the database's schema holds {} that labgate never made: its schema was altered",
        foreign.join(", ")
    )))
}

impl Pool {
    fn audit_key(&self) -> Option<&crate::domain::crypto::DataKey> {
        self.audit_key.as_deref()
    }

    /// A pooled connection for reads (writes go through `write_blocking`), as a lease whose
    /// `db()` the store's functions take.
    pub fn get(&self) -> StoreResult<Lease> {
        Ok(Lease {
            conn: match &self.conns {
                Conns::Lite(p) => LeaseConn::Lite(p.get()?),
                Conns::Pg(p) => LeaseConn::Pg(p.get()?),
            },
            audit_key: self.audit_key.clone(),
        })
    }

    /// The database engine the pool is on.
    pub fn engine(&self) -> Engine {
        match self.conns {
            Conns::Lite(_) => Engine::Sqlite,
            Conns::Pg(_) => Engine::Postgres,
        }
    }

    /// Whether the database file is still the one opened, present and writable (checked at
    /// most every 200 ms); the reason when not. (PostgreSQL has no file: `None`.)
    pub fn file_problem(&self) -> Option<String> {
        self.writer.lite.as_ref().and_then(|l| l.file.problem())
    }

    /// How many write transactions were committed since the pool was opened (each one
    /// `fsync`; a group commit counts once for all the writes it holds).
    pub fn commits(&self) -> u64 {
        self.writer
            .commits
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many writes are queued for the writer thread and not answered yet.
    pub fn queued(&self) -> usize {
        self.writer
            .pending
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The writer thread's queue, started with the first write. The thread holds a pool of
    /// its own without the queue's sender, so it ends when every clone of this pool is gone.
    fn jobs(&self) -> &tokio::sync::mpsc::Sender<Box<dyn Work>> {
        self.jobs.get_or_init(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(QUEUE_MAX);
            let own = Pool {
                conns: self.conns.clone(),
                writer: self.writer.clone(),
                jobs: Default::default(),
                readers: self.readers.clone(),
                audit_key: self.audit_key.clone(),
            };
            std::thread::Builder::new()
                .name("labgate-writer".into())
                .spawn(move || writer_thread(own, rx))
                .expect("the writer thread starts");
            tx
        })
    }

    fn writer(&self) -> StoreResult<std::sync::MutexGuard<'_, WriterConn>> {
        if let Some(why) = self.writer.lite.as_ref().and_then(|l| l.file.problem_now()) {
            return Err(StoreError::Unavailable(why));
        }
        Ok(self.writer.conn.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A pooled connection, held until the lease is dropped.
pub struct Lease {
    conn: LeaseConn,
    audit_key: Option<std::sync::Arc<crate::domain::crypto::DataKey>>,
}

enum LeaseConn {
    Lite(r2d2::PooledConnection<SqliteConnectionManager>),
    Pg(r2d2::PooledConnection<pg::Manager>),
}

impl Lease {
    pub fn db(&self) -> Db<'_> {
        match &self.conn {
            LeaseConn::Lite(c) => Db::sqlite(c, self.audit_key.as_deref()),
            LeaseConn::Pg(c) => Db::postgres(c, self.audit_key.as_deref()),
        }
    }
}

/// The identity of the database file as it was opened (device and inode), checked against the
/// path so a file deleted, replaced or made read-only under the server is noticed within a
/// fraction of a second, and nothing is written into a file no one will open again.
struct FileGuard {
    path: std::path::PathBuf,
    id: (u64, u64),
    last: std::sync::Mutex<(Option<std::time::Instant>, Option<String>)>,
}

impl FileGuard {
    fn new(path: &Path) -> StoreResult<FileGuard> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(FileGuard {
            path: path.to_path_buf(),
            id: (m.dev(), m.ino()),
            last: std::sync::Mutex::new((None, None)),
        })
    }

    /// The cached look (at most one `stat` every 200 ms), for health and readers.
    fn problem(&self) -> Option<String> {
        self.look(false)
    }

    /// A look now, for the writer: one `stat` before a write transaction and one after its
    /// commit, so nothing is written into a file already gone, and a write that landed in a
    /// file removed meanwhile is not answered as stored.
    fn problem_now(&self) -> Option<String> {
        self.look(true)
    }

    fn look(&self, now: bool) -> Option<String> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let (Some(at), why) = &*last
            && !now
            && at.elapsed() < Duration::from_millis(200)
        {
            return why.clone();
        }
        let why = self.check();
        if why.is_some() && last.1.is_none() {
            log::error!(
                "database file {}: {}",
                self.path.display(),
                why.as_deref().unwrap_or("")
            );
        } else if why.is_none() && last.1.is_some() {
            log::info!("database file {} is back", self.path.display());
        }
        *last = (Some(std::time::Instant::now()), why.clone());
        why
    }

    fn check(&self) -> Option<String> {
        self.fault().map(|f| f.to_string())
    }

    fn fault(&self) -> Option<FileFault> {
        use std::os::unix::fs::MetadataExt;
        let m = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(FileFault::Removed),
            Err(_) => return Some(FileFault::Unreadable),
        };
        if (m.dev(), m.ino()) != self.id {
            return Some(FileFault::Replaced);
        }
        // The mode, not a trial open: closing any descriptor of the file would drop SQLite's
        // POSIX locks on it.
        if m.permissions().readonly() {
            return Some(FileFault::ReadOnly);
        }
        None
    }
}

/// What is wrong with the database file under a running server.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
enum FileFault {
    #[error("the database file was removed")]
    Removed,
    #[error("the database file cannot be read")]
    Unreadable,
    #[error("the database file was replaced by another file")]
    Replaced,
    #[error("the database file was made read-only")]
    ReadOnly,
}

/// The schema version this binary writes and understands.
pub const SCHEMA_VERSION: i64 = 8;
/// The whole current schema, for a new database.
const SCHEMA: &str = include_str!("../../schema.sql");

/// Schema 8: each noise run's node and its lease (SPEC §15), on both engines.
const RUN_OWNERS: &str = "ALTER TABLE noise_runs ADD COLUMN node TEXT;
     ALTER TABLE noise_runs ADD COLUMN heartbeat_at TEXT;";

/// The tables schema 7 added: the part of `schema.sql` between its passkeys heading and the
/// end marker, so the migration makes exactly what a new database gets (and nothing a later
/// version adds after it).
fn passkey_tables() -> &'static str {
    let at = SCHEMA
        .find("-- Passkeys (WebAuthn")
        .expect("schema.sql has the passkeys tables");
    let end = SCHEMA[at..]
        .find("-- (End of schema 7.)")
        .expect("schema.sql marks the end of schema 7");
    &SCHEMA[at..at + end]
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot answer (locked, read-only, full, missing, I/O): fail closed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    /// The caller asked for something the data does not allow (e.g. an unknown role name).
    #[error("invalid: {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("database error: {0}")]
    Other(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                ErrorCode::ConstraintViolation => StoreError::Conflict(e.to_string()),
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::ReadOnly
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::NotADatabase
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::OutOfMemory
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::PermissionDenied => StoreError::Unavailable(e.to_string()),
                _ => StoreError::Other(e.to_string()),
            },
            _ => StoreError::Other(e.to_string()),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Settings applied to every pooled connection: WAL, a bounded busy wait, foreign keys, and
/// `synchronous=FULL` so an answered write survives power loss.
fn init_connection(c: &mut Connection) -> rusqlite::Result<()> {
    c.busy_timeout(Duration::from_millis(2000))?;
    // journal_size_limit: after a checkpoint resets the log, its file is cut back to 4 MiB
    // instead of keeping the size of its largest burst.
    c.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;
         PRAGMA journal_size_limit = 4194304; PRAGMA trusted_schema = OFF;",
    )?;
    Ok(())
}

/// The size of the database's write-ahead log (0 when there is none).
pub fn wal_size(db: &Path) -> u64 {
    let mut p = db.as_os_str().to_os_string();
    p.push("-wal");
    std::fs::metadata(Path::new(&p))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// The log grows past this only while a checkpoint cannot finish.
pub const WAL_BOUND: u64 = 8 << 20;

/// Folds the write-ahead log into the database and empties its file (at clean shutdown; the
/// writer does the same whenever the log passes half its bound). SQLite checkpoints by itself
/// on commits, but cannot cut the log back while readers are always present; this waits
/// briefly (250 ms) for readers to move on. Returns whether the log was emptied.
pub fn checkpoint(pool: &Pool) -> StoreResult<bool> {
    // On the writer's connection, between two writes: no writer of labgate's competes.
    let conn = pool.writer()?;
    match &*conn {
        WriterConn::Lite(c) => truncate_log(c),
        WriterConn::Pg(_) => Ok(true),
    }
}

fn truncate_log(conn: &Connection) -> StoreResult<bool> {
    conn.busy_timeout(Duration::from_millis(250))?;
    let busy = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        r.get::<_, i64>(0)
    });
    conn.busy_timeout(Duration::from_millis(2000))?;
    Ok(busy? == 0)
}

/// Opens the pool. The file is created when missing (0600, so its `-wal` and `-shm` are too,
/// whatever the umask; an existing one is restricted to its owner); the schema is not touched
/// here. Its connections cannot write audit records: those need the audit MAC key
/// (`open_keyed`).
pub fn open(path: &Path) -> StoreResult<Pool> {
    open_with(path, None)
}

fn open_with(
    path: &Path,
    audit_key: Option<std::sync::Arc<crate::domain::crypto::DataKey>>,
) -> StoreResult<Pool> {
    match path.to_str().filter(|p| pg::is_url(p)) {
        Some(url) => build_pg(
            pg::Target::parse(url).map_err(StoreError::Unavailable)?,
            audit_key,
        ),
        None => build(path, std::sync::Arc::new(init_connection), audit_key),
    }
}

/// `open`, with work able to chain audit records under the audit MAC key. The key lives in
/// the process, not in the database.
pub fn open_keyed(path: &Path, audit_mac: &crate::domain::crypto::DataKey) -> StoreResult<Pool> {
    open_with(path, Some(std::sync::Arc::new(audit_mac.clone())))
}

/// The pool on PostgreSQL: as many read connections as on SQLite, and the writer's own.
fn build_pg(
    target: pg::Target,
    audit_key: Option<std::sync::Arc<crate::domain::crypto::DataKey>>,
) -> StoreResult<Pool> {
    let conns = r2d2::Pool::builder()
        .max_size(READERS as u32)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(3))
        // r2d2 logs each failed attempt itself; the pool's caller answers 503 and says why.
        .error_handler(Box::new(r2d2::NopErrorHandler))
        .build(pg::Manager(target.clone()))
        .map_err(StoreError::from)?;
    let writer = target.connect()?;
    Ok(Pool {
        conns: Conns::Pg(conns),
        writer: std::sync::Arc::new(Writer {
            conn: std::sync::Mutex::new(WriterConn::Pg(writer)),
            lite: None,
            target: Some(target),
            commits: Default::default(),
            pending: Default::default(),
        }),
        jobs: Default::default(),
        readers: std::sync::Arc::new(tokio::sync::Semaphore::new(READERS)),
        audit_key,
    })
}

fn build(
    path: &Path,
    init: Init,
    audit_key: Option<std::sync::Arc<crate::domain::crypto::DataKey>>,
) -> StoreResult<Pool> {
    use std::os::unix::fs::OpenOptionsExt;
    if !path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_os_string();
        p.push(suffix);
        let _ = keyfile::restrict(Path::new(&p));
    }
    let i = init.clone();
    let manager = SqliteConnectionManager::file(path).with_init(move |c| i(c));
    let conns = r2d2::Pool::builder()
        .max_size(READERS as u32)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(3))
        .build(manager)
        .map_err(StoreError::from)?;
    let mut conn = Connection::open(path)?;
    init(&mut conn)?;
    Ok(Pool {
        conns: Conns::Lite(conns),
        writer: std::sync::Arc::new(Writer {
            conn: std::sync::Mutex::new(WriterConn::Lite(conn)),
            lite: Some(LiteWriter {
                init,
                file: FileGuard::new(path)?,
                schema_checked: std::sync::atomic::AtomicI64::new(-1),
            }),
            target: None,
            commits: Default::default(),
            pending: Default::default(),
        }),
        jobs: Default::default(),
        readers: std::sync::Arc::new(tokio::sync::Semaphore::new(READERS)),
        audit_key,
    })
}

/// Brings the schema to `SCHEMA_VERSION`; refuses a database newer than this binary.
/// Returns true when the database was created just now.
pub fn migrate(pool: &Pool) -> Result<bool, String> {
    let lite = match &pool.conns {
        Conns::Lite(p) => p,
        Conns::Pg(p) => {
            let conn = p.get().map_err(|e| format!("cannot open database: {e}"))?;
            return pg::migrate(&conn, SCHEMA, SCHEMA_VERSION);
        }
    };
    let mut conn = lite
        .get()
        .map_err(|e| format!("cannot open database: {e}"))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| format!("cannot read database: {e}"))?;
    if version > SCHEMA_VERSION {
        return Err(format!(
            "database schema version {version} is newer than this binary understands ({SCHEMA_VERSION}); refusing to touch it"
        ));
    }
    if version == SCHEMA_VERSION {
        return Ok(false);
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Exclusive)
        .map_err(|e| format!("cannot migrate database: {e}"))?;
    let step = || -> StoreResult<()> {
        if version < 1 {
            // The keys are made, sealed under the key file, by `keys::unseal`.
            tx.execute_batch(SCHEMA)?;
            tenants::create(&Db::sqlite(&tx, None), "default", "Default")?;
        } else {
            // Ordered steps from the stored version, each keeping the data.
            if version < 2 {
                // Tokens made before version 2 did not record their factors: password only,
                // so a tenant's MFA policy holds them back rather than letting them through.
                tx.execute_batch(
                    "ALTER TABLE personal_tokens ADD COLUMN amr TEXT NOT NULL DEFAULT '[\"pwd\"]';",
                )?;
            }
            if version < 3 {
                // Keys stored before version 3 are plaintext; `keys::unseal` seals them under a
                // new key file at this start.
                tx.execute_batch(
                    "ALTER TABLE signing_keys ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;
                     ALTER TABLE appliance_keys ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;",
                )?;
            }
            if version < 4 {
                tx.execute_batch("ALTER TABLE signing_keys ADD COLUMN retired_at TEXT;")?;
                // File sinks were named under the shared noise root (`<slug>.jsonl`,
                // `<slug>/...`); from version 4 a path is relative to the tenant's own
                // directory `<noise root>/<slug>/`. Files already written stay where they are.
                tx.execute_batch(
                    "UPDATE noise_sinks SET config = json_set(config, '$.path',
                       CASE
                         WHEN name = 'default' AND json_extract(config, '$.path') =
                              (SELECT slug FROM tenants t WHERE t.id = tenant_id) || '.jsonl'
                           THEN 'default.jsonl'
                         WHEN substr(json_extract(config, '$.path'), 1,
                                     length((SELECT slug FROM tenants t WHERE t.id = tenant_id)) + 1)
                              = (SELECT slug FROM tenants t WHERE t.id = tenant_id) || '/'
                           THEN substr(json_extract(config, '$.path'),
                                       length((SELECT slug FROM tenants t WHERE t.id = tenant_id)) + 2)
                         ELSE json_extract(config, '$.path')
                       END)
                     WHERE kind = 'file';",
                )?;
            }
            if version < 5 {
                tx.execute_batch(
                    "CREATE TABLE audit_forward (
                        target      TEXT PRIMARY KEY,
                        seq         INTEGER NOT NULL,
                        updated_at  TEXT NOT NULL
                    );",
                )?;
            }
            if version < 6 {
                tx.execute_batch(
                    "ALTER TABLE personal_tokens ADD COLUMN expiry_noticed_at TEXT;
                     ALTER TABLE api_keys ADD COLUMN expiry_noticed_at TEXT;",
                )?;
            }
            if version < 7 {
                tx.execute_batch(passkey_tables())?;
            }
            if version < 8 {
                tx.execute_batch(RUN_OWNERS)?;
            }
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(())
    };
    step().map_err(|e| format!("cannot migrate database: {e}"))?;
    tx.commit()
        .map_err(|e| format!("cannot migrate database: {e}"))?;
    Ok(version < 1)
}

/// Runs read work on a pooled connection on the blocking pool.
pub async fn run<T, F>(pool: &Pool, f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Db) -> StoreResult<T> + Send + 'static,
{
    // A permit first: at most one blocking thread per pooled connection, however many
    // requests read at once.
    let permit = pool
        .readers
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| StoreError::Unavailable("the database is closing".into()))?;
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let lease = pool.get()?;
        f(&lease.db())
    })
    .await
    .map_err(|e| StoreError::Other(format!("blocking task failed: {e}")))?
}

/// `run` for code already off the async workers (start-up, the CLI).
pub fn run_blocking<T, F>(pool: &Pool, f: F) -> StoreResult<T>
where
    F: FnOnce(&Db) -> StoreResult<T>,
{
    let lease = pool.get()?;
    f(&lease.db())
}

/// Runs write work in one IMMEDIATE transaction: the change and its audit record commit
/// together or not at all.
///
/// Writes are committed in groups (SPEC §10): the work is queued, and whichever waiting
/// write takes the writer connection next runs everything queued so far in one transaction,
/// each piece of work inside its own savepoint, and commits once, so one `fsync` serves all
/// of them. Work that fails is rolled back to its savepoint alone; its neighbours still
/// commit. No answer is given before the commit that holds the work: a commit that fails is
/// every piece's failure.
pub async fn write<T, F>(pool: &Pool, f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Db) -> StoreResult<T> + Send + 'static,
{
    write_with(pool, f).await
}

/// `write` for work with an error type of its own (a refusal decided inside the transaction);
/// a store failure, the commit's included, becomes that type.
pub async fn write_with<T, E, F>(pool: &Pool, f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: FnOnce(&Db) -> Result<T, E> + Send + 'static,
{
    write_then(pool, f, |_: &T| {}).await
}

/// `write_with`, and `then` run with the result on the writer thread right after the commit
/// that holds it, before the answer: what must follow a commit (dropping cached credentials a
/// change revoked) happens even if the caller has gone away meanwhile, and in commit order.
pub async fn write_then<T, E, F, A>(pool: &Pool, f: F, then: A) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: FnOnce(&Db) -> Result<T, E> + Send + 'static,
    A: FnOnce(&T) + Send + 'static,
{
    let (reply, answer) = tokio::sync::oneshot::channel();
    let work: Box<dyn Work> = Box::new(Queued {
        work: Some(f),
        done: None,
        then: Some(then),
        reply,
    });
    // A full queue makes the caller wait here (asynchronously): memory stays bounded.
    let jobs = pool.jobs();
    match jobs.reserve().await {
        Ok(slot) => {
            // Counted once it is certain to be queued (a caller gone while waiting for room
            // queued nothing).
            pool.writer
                .pending
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            slot.send(work);
        }
        Err(_) => work.answer(Some(&StoreError::Unavailable(
            "the writer has stopped".into(),
        ))),
    }
    match answer.await {
        Ok(out) => out,
        Err(_) => Err(StoreError::Other("the write was lost: its task ended".into()).into()),
    }
}

/// `write` for code off the async workers that may share a group commit (records of what
/// already happened, written from blocking threads): queued for the writer thread, and waited
/// for here. Never call it from inside write work or from an async task.
pub fn write_queued<T, F>(pool: &Pool, f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Db) -> StoreResult<T> + Send + 'static,
{
    let (reply, answer) = tokio::sync::oneshot::channel();
    let work: Box<dyn Work> = Box::new(Queued {
        work: Some(f),
        done: None,
        then: Some(|_: &T| {}),
        reply,
    });
    let pending = &pool.writer.pending;
    pending.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if let Err(lost) = pool.jobs().blocking_send(work) {
        pending.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        lost.0.answer(Some(&StoreError::Unavailable(
            "the writer has stopped".into(),
        )));
    }
    answer.blocking_recv().unwrap_or_else(|_| {
        Err(StoreError::Other(
            "the write was lost: its task ended".into(),
        ))
    })
}

/// Waits (at most `limit`) until every queued write has been answered: at shutdown, so
/// records submitted just before are in the database before it is closed.
pub fn drain(pool: &Pool, limit: Duration) -> bool {
    let until = std::time::Instant::now() + limit;
    while pool.queued() > 0 {
        if std::time::Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// The most writes waiting for the writer thread; more wait to be queued.
const QUEUE_MAX: usize = 1024;

/// Pooled read connections (and read permits).
const READERS: usize = 8;

/// The most pieces of work one group commit holds; more wait for the next.
const GROUP_MAX: usize = 128;

/// One piece of queued write work, with where its answer goes.
trait Work: Send {
    /// Runs the work; whether it succeeded (so its savepoint is kept).
    fn run(&mut self, tx: &Db) -> bool;
    /// Answers the caller once the group's commit is known (`Some` when it failed).
    fn answer(self: Box<Self>, failed: Option<&StoreError>);
}

struct Queued<T, E, F, A> {
    work: Option<F>,
    done: Option<Result<T, E>>,
    then: Option<A>,
    reply: tokio::sync::oneshot::Sender<Result<T, E>>,
}

impl<T, E, F, A> Work for Queued<T, E, F, A>
where
    T: Send,
    E: From<StoreError> + Send,
    F: FnOnce(&Db) -> Result<T, E> + Send,
    A: FnOnce(&T) + Send,
{
    fn run(&mut self, tx: &Db) -> bool {
        let Some(f) = self.work.take() else {
            return false;
        };
        // A panic in one piece of work must not take its neighbours (or the writer) down.
        let out =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(tx))).unwrap_or_else(|_| {
                log::error!("a write panicked; it was rolled back");
                Err(StoreError::Other("the write failed unexpectedly".into()).into())
            });
        let ok = out.is_ok();
        self.done = Some(out);
        ok
    }

    fn answer(self: Box<Self>, failed: Option<&StoreError>) {
        let this = *self;
        let out = match (this.done, failed) {
            // Its own error first: it would have been the answer whatever the commit did.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), None) => Ok(v),
            (_, Some(e)) => Err(e.clone().into()),
            (None, None) => Err(StoreError::Other("the write was never run".into()).into()),
        };
        if let (Ok(v), Some(then)) = (&out, this.then) {
            // A panic here must not take the writer down either.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| then(v))).is_err() {
                log::error!("what follows a commit failed (a cache may keep stale entries)");
            }
        }
        let _ = this.reply.send(out);
    }
}

/// The writer thread: takes the next write, waits for the writer connection (another write,
/// a checkpoint or a command may hold it), then takes every write queued meanwhile and commits
/// them together. While one group commits, the next gathers.
fn writer_thread(pool: Pool, mut jobs: tokio::sync::mpsc::Receiver<Box<dyn Work>>) {
    while let Some(first) = jobs.blocking_recv() {
        let mut group = vec![first];
        let conn = pool.writer();
        while group.len() < GROUP_MAX {
            match jobs.try_recv() {
                Ok(w) => group.push(w),
                Err(_) => break,
            }
        }
        let failed = match conn {
            Ok(mut conn) => commit_group(&pool, &mut conn, &mut group).err(),
            Err(e) => Some(e),
        };
        let n = group.len();
        for w in group {
            w.answer(failed.as_ref());
        }
        pool.writer
            .pending
            .fetch_sub(n, std::sync::atomic::Ordering::SeqCst);
    }
}

fn commit_group(
    pool: &Pool,
    conn: &mut WriterConn,
    group: &mut [Box<dyn Work>],
) -> StoreResult<()> {
    transaction(pool, conn, |db| {
        for w in group.iter_mut() {
            db.execute_batch("SAVEPOINT work")?;
            if w.run(db) {
                db.execute_batch("RELEASE work")?;
            } else {
                // A statement that failed badly (a full disk, an I/O error) can end the whole
                // transaction; then this fails, and so does the group.
                db.execute_batch("ROLLBACK TO work; RELEASE work")?;
            }
        }
        Ok(())
    })
}

/// Runs `f` in one write transaction on the writer's connection and commits it: on SQLite an
/// IMMEDIATE transaction on the file checked before and after; on PostgreSQL a transaction on
/// a connection made again first if the last one was lost.
fn transaction<T, E, F>(pool: &Pool, conn: &mut WriterConn, f: F) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnOnce(&Db) -> Result<T, E>,
{
    let commits = &pool.writer.commits;
    match conn {
        WriterConn::Lite(c) => {
            if let Some(why) = pool.writer.lite.as_ref().and_then(|l| l.file.problem_now()) {
                return Err(StoreError::Unavailable(why).into());
            }
            let tx = begin(pool, c)?;
            let out = f(&Db::sqlite(&tx, pool.audit_key()))?;
            tx.commit().map_err(StoreError::from)?;
            commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            stored(pool)?;
            bound_log(pool, c);
            Ok(out)
        }
        WriterConn::Pg(c) => {
            if c.is_closed()
                && let Some(target) = &pool.writer.target
            {
                *c = target.connect()?;
            }
            c.batch("BEGIN")?;
            let out = match f(&Db::postgres(c, pool.audit_key())) {
                Ok(v) => v,
                Err(e) => {
                    let _ = c.batch("ROLLBACK");
                    return Err(e);
                }
            };
            if let Err(e) = c.batch("COMMIT") {
                let _ = c.batch("ROLLBACK");
                return Err(e.into());
            }
            commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(out)
        }
    }
}

/// `write` for code that is already off the async workers (the CLI, start-up, the lab's
/// threads): the work runs alone in its own transaction, in turn with the groups.
pub fn write_blocking<T, F>(pool: &Pool, f: F) -> StoreResult<T>
where
    F: FnOnce(&Db) -> StoreResult<T>,
{
    write_blocking_with(pool, f)
}

/// `write_blocking` for work with an error type of its own (as `write_with`).
pub fn write_blocking_with<T, E, F>(pool: &Pool, f: F) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnOnce(&Db) -> Result<T, E>,
{
    let mut conn = pool.writer()?;
    transaction(pool, &mut conn, f)
}

/// Opens the write transaction on the writer connection, once the schema it writes with is
/// known to be labgate's own.
fn begin<'c>(pool: &Pool, conn: &'c mut Connection) -> StoreResult<Transaction<'c>> {
    // Inside the write lock: a schema changed since the last look is looked at again (one
    // header read a write when it has not) on a connection opened anew, so what is checked
    // is what the connection that writes has loaded: SQLite keeps a connection's schema until
    // the version moves, and the rows on disk can be changed without moving it.
    let lite = pool
        .writer
        .lite
        .as_ref()
        .ok_or_else(|| StoreError::Other("not a SQLite writer".into()))?;
    let checked = &lite.schema_checked;
    let version: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
    if checked.load(std::sync::atomic::Ordering::Relaxed) != version {
        let mut fresh = Connection::open(&lite.file.path)?;
        (lite.init)(&mut fresh)?;
        *conn = fresh;
        let version: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
        if let Err(e) = check_schema(&Db::sqlite(conn, None)) {
            log::error!("{e}; refusing to write");
            return Err(e);
        }
        checked.store(version, std::sync::atomic::Ordering::Relaxed);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // With the write lock held nobody changes the schema; it must still be the one checked.
    let now: i64 = tx.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
    if now != checked.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(StoreError::Unavailable(
            "the database's schema changed during the write; try again".into(),
        ));
    }
    Ok(tx)
}

/// After a commit: the file committed into must still be the database's file, or the write is
/// not answered as stored (it went into a file removed or replaced meanwhile).
fn stored(pool: &Pool) -> StoreResult<()> {
    // A file made read-only after the commit still holds it.
    match pool.writer.lite.as_ref().and_then(|l| l.file.fault()) {
        Some(f) if f != FileFault::ReadOnly => Err(StoreError::Unavailable(f.to_string())),
        _ => Ok(()),
    }
}

/// The writer keeps the log bounded itself: past half its bound, the log is checkpointed and
/// cut back before the next write (a `stat` a commit; SQLite's own checkpoints cannot cut it
/// back while readers are always present).
fn bound_log(pool: &Pool, conn: &Connection) {
    if let Some(l) = &pool.writer.lite
        && wal_size(&l.file.path) > WAL_BOUND / 2
    {
        let _ = truncate_log(conn);
    }
}

/// The `user_version` of a database file, opened read-only (nothing is created or changed).
pub fn schema_version_of(db: &Path) -> StoreResult<i64> {
    if let Some(url) = db.to_str().filter(|d| pg::is_url(d)) {
        let conn = pg::Target::parse(url)
            .map_err(StoreError::Unavailable)?
            .connect()?;
        return pg::schema_version(&conn);
    }
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// A cheap read that needs the schema: whether the database answers.
pub fn probe(conn: &Db) -> StoreResult<()> {
    conn.query_row("SELECT COUNT(*) FROM tenants", params![], |r| {
        r.get::<_, i64>(0)
    })?;
    Ok(())
}

/// The database `LABGATE_DB` names, as messages show it: a URL without its password.
pub fn shown(db: &Path) -> String {
    match db.to_str().filter(|d| pg::is_url(d)) {
        Some(url) => match url::Url::parse(url) {
            Ok(u) => pg::redacted(&u),
            Err(_) => "the PostgreSQL database of LABGATE_DB".into(),
        },
        None => db.display().to_string(),
    }
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A single-row answer that may have no row: `None` for "no rows".
pub fn optional<T>(r: StoreResult<T>) -> StoreResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Marks a change made outside the server (the CLI): a running server drops its caches.
pub fn bump_epoch(conn: &Db) -> StoreResult<()> {
    conn.execute("UPDATE change_epoch SET n = n + 1 WHERE id = 1", params![])?;
    Ok(())
}

pub fn epoch(conn: &Db) -> StoreResult<i64> {
    conn.query_row("SELECT n FROM change_epoch WHERE id = 1", params![], |r| {
        r.get(0)
    })
}

/// Marks the database as used by a running server: an exclusive lock on `<db>.lock`, held for
/// the process's life (the kernel drops it when the process ends, however it ends). A second
/// server on the same file, and `labgate restore` while one runs, are refused.
///
/// On PostgreSQL several servers share one database by design (SPEC §15): no lock (`None`).
pub fn lock_for_server(db: &Path) -> Result<Option<std::fs::File>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    if pg::is_postgres(db) {
        return Ok(None);
    }
    let mut p = db.as_os_str().to_os_string();
    p.push(".lock");
    let path = std::path::PathBuf::from(p);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(Some(f)),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "a labgate server is using {} (it holds {})",
            shown(db),
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}
