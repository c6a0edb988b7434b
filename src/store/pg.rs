//! PostgreSQL (SPEC §15): where `LABGATE_DB` names a `postgres://` URL, the connections, TLS
//! with the appliance's trust anchors, the schema (SQLite's, in PostgreSQL's types) and its
//! version, kept in a table of its own.

use std::str::FromStr;
use std::sync::Arc;

use super::db::PgConn;
use super::{StoreError, StoreResult};

/// A URL as messages show it: its password (`user:password@`, `?password=`) masked.
pub fn redacted(url: &url::Url) -> String {
    let mut u = url.clone();
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query_pairs()
        .any(|(k, _)| k == "password" || k == "passfile")
    {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "password" || k == "passfile" {
                    "***".into()
                } else {
                    v.to_string()
                };
                (k.to_string(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// Whether the database `LABGATE_DB` names (a path or a URL) is a PostgreSQL one.
pub fn is_postgres(db: &std::path::Path) -> bool {
    db.to_str().is_some_and(is_url)
}

/// Whether `LABGATE_DB` names a PostgreSQL database rather than a SQLite file.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// Where and how to connect: the URL's settings, and TLS when its `sslmode` asks for it.
#[derive(Clone)]
pub struct Target {
    config: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    /// The URL without its password, for messages.
    shown: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// The trust anchors PostgreSQL's TLS is verified against (SPEC §12.2), set once at start from
/// the configuration; without it, the system's bundle and `LABGATE_CA_FILE` as the environment
/// names it.
static TRUST: std::sync::OnceLock<crate::tls::Trust> = std::sync::OnceLock::new();

/// Sets the trust anchors of PostgreSQL's TLS (before the first connection).
pub fn set_trust(trust: crate::tls::Trust) {
    let _ = TRUST.set(trust);
}

fn trust() -> Result<Arc<rustls::ClientConfig>, String> {
    if let Some(t) = TRUST.get() {
        return Ok(t.client.clone());
    }
    let ca = std::env::var_os("LABGATE_CA_FILE")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from);
    let t = crate::tls::Trust::load(ca.as_deref())?;
    Ok(TRUST.get_or_init(|| t).client.clone())
}

impl Target {
    /// Parses a `postgres://` URL. `sslmode=require`, `verify-ca` and `verify-full` connect with
    /// TLS and verify the server's certificate and name (labgate never connects to a server it
    /// has not verified); `disable`, or no `sslmode`, connect without TLS (a socket on the same
    /// host or a private network). `prefer` and `allow` are refused: they fall back to no TLS
    /// without saying so.
    pub fn parse(url: &str) -> Result<Target, String> {
        let bad = |why: String| format!("LABGATE_DB: {why}");
        let parsed = url::Url::parse(url).map_err(|e| bad(format!("not a URL: {e}")))?;
        let shown = redacted(&parsed);
        let mut mode = None;
        let mut rest = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in parsed.query_pairs() {
            if k == "sslmode" {
                mode = Some(v.to_string());
            } else {
                rest.append_pair(&k, &v);
            }
        }
        let mut plain = parsed.clone();
        let rest = rest.finish();
        plain.set_query(if rest.is_empty() { None } else { Some(&rest) });
        let mut config = tokio_postgres::Config::from_str(plain.as_str())
            .map_err(|e| bad(format!("{e} ({shown})")))?;
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        config.connect_timeout(std::time::Duration::from_secs(5));
        if config.get_application_name().is_none() {
            config.application_name("labgate");
        }
        let tls = match mode.as_deref() {
            None | Some("disable") => None,
            Some("require" | "verify-ca" | "verify-full") => {
                let mut c = (*trust()?).clone();
                c.alpn_protocols = vec![b"postgresql".to_vec()];
                Some(tokio_postgres_rustls::MakeRustlsConnect::new(c))
            }
            Some(other) => {
                return Err(bad(format!(
                    "sslmode={other} is not supported: use require or verify-full (TLS, verified), or disable"
                )));
            }
        };
        if tls.is_some() {
            // TLS from the first byte of every connection, never a plaintext start.
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
        }
        // A connection whose server stops answering is given up (and a lost one noticed)
        // instead of holding a request or a lock for as long as TCP would wait; a statement or a
        // lock wait past its bound fails (503) instead of hanging.
        config.keepalives(true);
        config.keepalives_idle(std::time::Duration::from_secs(10));
        config.tcp_user_timeout(std::time::Duration::from_secs(20));
        let given = config
            .get_options()
            .map(|o| format!("{o} "))
            .unwrap_or_default();
        config.options(format!(
            "{given}-c statement_timeout=30000 -c lock_timeout=10000 -c idle_in_transaction_session_timeout=60000"
        ));
        Ok(Target { config, tls, shown })
    }

    /// A new connection, its socket driven by the PostgreSQL runtime until it closes.
    pub fn connect(&self) -> StoreResult<PgConn> {
        let target = self.clone();
        let made = super::db::wait(super::db::pg_runtime().spawn(async move {
            // No LISTEN on it: no notice ever arrives on the receiver dropped here.
            opened(&target).await.map(|(client, _)| client)
        }))
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", self.shown)))?
        .map_err(|e| StoreError::Unavailable(format!("{}: {}", self.shown, chain(&e))))?;
        Ok(PgConn::new(made))
    }
}

/// A connection made (on the PostgreSQL runtime), its socket driven by a task there until it
/// closes, with the notices it receives as (channel, payload).
async fn opened(
    target: &Target,
) -> Result<
    (
        tokio_postgres::Client,
        tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
    ),
    tokio_postgres::Error,
> {
    fn drive<S>(
        mut conn: tokio_postgres::Connection<tokio_postgres::Socket, S>,
    ) -> tokio::sync::mpsc::UnboundedReceiver<(String, String)>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        use futures_util::StreamExt;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
            while let Some(m) = messages.next().await {
                match m {
                    Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                        // Nobody listening (an ordinary connection): the notice is dropped.
                        let _ = tx.send((n.channel().to_string(), n.payload().to_string()));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        log::warn!("a PostgreSQL connection ended: {e}");
                        break;
                    }
                }
            }
        });
        rx
    }
    Ok(match &target.tls {
        Some(tls) => {
            let (c, conn) = target.config.connect(tls.clone()).await?;
            (c, drive(conn))
        }
        None => {
            let (c, conn) = target.config.connect(tokio_postgres::NoTls).await?;
            (c, drive(conn))
        }
    })
}

/// An error and what caused it, as one line (a TLS handshake's failure says why).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// The pool's way to make and check PostgreSQL connections.
pub struct Manager(pub Target);

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = StoreError;

    fn connect(&self) -> Result<PgConn, StoreError> {
        self.0.connect()
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), StoreError> {
        conn.batch("")
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.is_closed()
    }
}

/// Columns SQLite's schema declares as text that hold bytes (the encrypted TOTP secrets):
/// `bytea` on PostgreSQL.
pub fn bytes_in_text(table: &str, column: &str) -> bool {
    table == "users" && matches!(column, "totp_secret" | "totp_pending")
}

/// SQLite's schema in PostgreSQL's types: integers are 64-bit, blobs are `bytea`, the
/// sequence columns are identities, and every table has SQLite's `rowid`.
pub fn schema(sqlite: &str) -> String {
    let mut out = String::with_capacity(sqlite.len());
    let mut table = String::new();
    for line in sqlite.lines() {
        if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
            table = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
        let column = line.split_whitespace().next().unwrap_or_default();
        if bytes_in_text(&table, column) {
            out.push_str(&line.replacen(" TEXT", " BYTEA", 1));
            out.push('\n');
            continue;
        }
        // SQLite's tables have a `rowid` in insertion order, which the store's lists use to
        // order rows made in the same second; PostgreSQL's get one of their own.
        if line.starts_with("CREATE TABLE ") && line.trim_end().ends_with('(') {
            out.push_str(line);
            out.push_str("\n    rowid BIGINT GENERATED ALWAYS AS IDENTITY,\n");
            continue;
        }
        let (code, comment) = match line.find("--") {
            Some(i) => line.split_at(i),
            None => (line, ""),
        };
        let code = code
            .replace(
                "INTEGER PRIMARY KEY AUTOINCREMENT",
                "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            )
            .replace("INTEGER", "BIGINT")
            .replace("BLOB", "BYTEA")
            // Text compares byte by byte, as in SQLite, whatever the database's locale: stored
            // times (RFC 3339) order and compare as text.
            .replace(" TEXT", " TEXT COLLATE \"C\"");
        out.push_str(&code);
        out.push_str(comment);
        out.push('\n');
    }
    out
}

/// The lock every node takes to change the schema or the keys, so two nodes starting on one
/// empty database make one schema and one set of keys.
pub const SETUP_LOCK: i64 = 0x6c61_6267_6174_6501;
/// The lock that orders the audit chain's appends: one writer at a time across every node, so
/// the chain's order is the order of its commits.
pub const AUDIT_LOCK: i64 = 0x6c61_6267_6174_6502;

/// On PostgreSQL, takes the advisory lock `key` until the transaction ends, so that what
/// follows runs one node at a time; nothing on SQLite, where one server writes and its writes
/// already take turns.
pub fn lock(tx: &super::Db, key: i64) -> StoreResult<()> {
    if tx.engine() == super::Engine::Postgres {
        tx.execute("SELECT pg_advisory_xact_lock(?1)", crate::params![key])?;
    }
    Ok(())
}

/// Takes the setup lock until the transaction ends.
pub fn lock_setup(tx: &super::Db) -> StoreResult<()> {
    lock(tx, SETUP_LOCK)
}

/// The database server's time as labgate writes times (RFC 3339, whole seconds, UTC): what
/// the nodes' leases are written and compared in, whatever each node's own clock says.
pub const NOW_TEXT: &str = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

/// The lock the scheduler's ticks take, so that they run one at a time across the nodes.
pub const SCHEDULER_LOCK: i64 = 0x6c61_6267_6174_6503;

/// On PostgreSQL, takes the scheduler's lock until the transaction ends (nothing on SQLite,
/// where one server ticks).
pub fn lock_scheduler(tx: &super::Db) -> StoreResult<()> {
    lock(tx, SCHEDULER_LOCK)
}

/// Where nodes tell each other what a commit changed (`NOTIFY`, delivered at commit).
pub const CHANGES_CHANNEL: &str = "labgate_changes";
/// Where nodes tell each other of the platform events a commit raised.
pub const EVENTS_CHANNEL: &str = "labgate_events";
/// The largest notice PostgreSQL delivers is 8000 bytes; past this, a notice says less.
pub const NOTICE_MAX: usize = 7000;

/// This process among those on one database: a random name of its own, so two processes
/// never take each other's notices for their own (a command beside a server on one host, two
/// servers given one node name by mistake).
pub fn origin() -> &'static str {
    static ORIGIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(|| uuid::Uuid::new_v4().simple().to_string())
}

/// Tells every node listening, at commit, what this transaction changed (`payload` is JSON).
pub fn notify(tx: &super::Db, payload: &str) -> StoreResult<()> {
    notify_on(tx, CHANGES_CHANNEL, payload)
}

/// `notify` on a channel of the listener's.
pub fn notify_on(tx: &super::Db, channel: &str, payload: &str) -> StoreResult<()> {
    tx.execute("SELECT pg_notify(?1, ?2)", crate::params![channel, payload])?;
    Ok(())
}

/// What the listener of `listen` reports.
pub enum Notice<'a> {
    /// Another process's commit (its `notify` payload).
    Changed(&'a str),
    /// A platform event a commit raised (an `events::emit` notice; this process's own too).
    Event(&'a str),
    /// The connection was lost and made again: what came meanwhile is unknown.
    Lost,
    /// A second passed (the answer says whether to go on listening).
    Tick,
}

/// Listens to the other nodes' notices (`notify`) on a connection of its own, until `on`
/// answers false.
pub fn listen(target: Target, on: Arc<dyn Fn(Notice) -> bool + Send + Sync>) {
    super::db::pg_runtime().spawn(async move {
        let mut first = true;
        let tick = std::time::Duration::from_secs(1);
        'connect: loop {
            match listening(&target).await {
                Ok((client, mut notices)) => {
                    if !first && !on(Notice::Lost) {
                        break;
                    }
                    first = false;
                    let mut quiet = 0u32;
                    loop {
                        // A connection can die without closing (a failover, a dropped route):
                        // every few quiet seconds it must still answer, or it is made again.
                        if quiet >= 5 {
                            quiet = 0;
                            let alive =
                                tokio::time::timeout(tick * 5, client.simple_query("SELECT 1"));
                            if !matches!(alive.await, Ok(Ok(_))) {
                                break;
                            }
                        }
                        match tokio::time::timeout(tick, notices.recv()).await {
                            Ok(Some((channel, payload))) => {
                                let notice = if channel == EVENTS_CHANNEL {
                                    Notice::Event(&payload)
                                } else {
                                    Notice::Changed(&payload)
                                };
                                if !on(notice) {
                                    break 'connect;
                                }
                            }
                            Ok(None) => break,
                            Err(_) => {
                                quiet += 1;
                                if !on(Notice::Tick) {
                                    break 'connect;
                                }
                            }
                        }
                    }
                    drop(client);
                    log::warn!(
                        "the connection for other nodes' changes was lost; connecting again"
                    );
                }
                Err(e) => {
                    // What other nodes change until a connection listens is not heard: the
                    // first one that does reports the loss.
                    first = false;
                    log::warn!("cannot listen for other nodes' changes: {}", chain(&e));
                }
            }
            tokio::time::sleep(tick).await;
            if !on(Notice::Tick) {
                break;
            }
        }
    });
}

/// A connection that has run `LISTEN`, and the notices it receives.
async fn listening(
    target: &Target,
) -> Result<
    (
        tokio_postgres::Client,
        tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
    ),
    tokio_postgres::Error,
> {
    let (client, rx) = opened(target).await?;
    client
        .batch_execute(&format!(
            "LISTEN {CHANGES_CHANNEL}; LISTEN {EVENTS_CHANNEL}"
        ))
        .await?;
    Ok((client, rx))
}

/// Brings the schema to `version` under the setup lock; refuses a newer one. Returns true when
/// the database was created just now.
pub fn migrate(conn: &PgConn, sqlite_schema: &str, version: i64) -> Result<bool, String> {
    debug_assert_eq!(version, super::SCHEMA_VERSION);
    let fail = |e: StoreError| format!("cannot migrate database: {e}");
    conn.batch("BEGIN").map_err(fail)?;
    let out = (|| -> Result<bool, String> {
        let db = super::Db::postgres(conn, None);
        lock_setup(&db).map_err(fail)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS labgate_schema (id BIGINT PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)",
        )
        .map_err(fail)?;
        let found: Option<i64> = super::optional(db.query_row(
            "SELECT version FROM labgate_schema WHERE id = 1",
            crate::params![],
            |r| r.get(0),
        ))
        .map_err(fail)?;
        let found = found.unwrap_or(0);
        if found > version {
            return Err(format!(
                "database schema version {found} is newer than this binary understands ({version}); refusing to touch it"
            ));
        }
        if found == version {
            return Ok(false);
        }
        if found < 1 {
            db.execute_batch(&schema(sqlite_schema)).map_err(fail)?;
            super::tenants::create(&db, "default", "Default").map_err(fail)?;
        }
        // Versions before 7 never existed on PostgreSQL; later steps go here, one per version,
        // beside SQLite's.
        if (1..8).contains(&found) {
            db.execute_batch(&schema(super::RUN_OWNERS)).map_err(fail)?;
        }
        db.execute(
            "INSERT INTO labgate_schema (id, version) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            crate::params![version],
        )
        .map_err(fail)?;
        Ok(found < 1)
    })();
    match out {
        Ok(v) => {
            conn.batch("COMMIT").map_err(fail)?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.batch("ROLLBACK");
            Err(e)
        }
    }
}

/// The schema version of a PostgreSQL database (0: not set up).
pub fn schema_version(conn: &PgConn) -> StoreResult<i64> {
    let db = super::Db::postgres(conn, None);
    let exists: bool = db.query_row(
        "SELECT to_regclass('labgate_schema') IS NOT NULL",
        crate::params![],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(0);
    }
    Ok(super::optional(db.query_row(
        "SELECT version FROM labgate_schema WHERE id = 1",
        crate::params![],
        |r| r.get(0),
    ))?
    .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_is_translated_outside_comments() {
        let s = schema(
            "CREATE TABLE t (\n  seq INTEGER PRIMARY KEY AUTOINCREMENT, -- INTEGER stays\n  b BLOB NOT NULL\n);",
        );
        assert!(
            s.contains("seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, -- INTEGER stays")
        );
        assert!(s.contains("b BYTEA NOT NULL"));
    }

    #[test]
    fn urls_name_their_engine_and_modes_are_checked() {
        assert!(is_url("postgres://u@127.0.0.1:5432/db"));
        assert!(is_url("postgresql://u@h/db"));
        assert!(!is_url("./labgate.db"));
        let t = Target::parse("postgres://u:secret@127.0.0.1:5432/db").unwrap();
        assert!(t.tls.is_none());
        assert!(!format!("{t:?}").contains("secret"));
        let t =
            Target::parse("postgres://u@127.0.0.1/db?password=hunter2&application_name=x").unwrap();
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("application_name=x"),
            "{shown}"
        );
        assert!(
            !crate::store::shown(std::path::Path::new(
                "postgresql://u:p4ss@h/db?passfile=/etc/pgpass"
            ))
            .contains("p4ss")
        );
        assert!(Target::parse("postgres://u@127.0.0.1/db?sslmode=prefer").is_err());
        let t = Target::parse("postgres://u@127.0.0.1/db?sslmode=verify-full").unwrap();
        assert!(t.tls.is_some());
    }
}
