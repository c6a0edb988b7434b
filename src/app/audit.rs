//! The audit chain's outside anchor (SPEC §13.2) and its verification, for the server (every
//! second and at shutdown) and the CLI (after each command that writes, and `audit verify`).

use super::{App, AppResult};
use crate::domain::error::DomainError;
use crate::store::audit::{self, AuditEvent, Outcome, Walk};
use crate::store::audit_head::{self, Head};

/// Writes the chain's current head to the head file when it moved since the last write.
pub fn anchor(app: &App) -> AppResult<()> {
    anchor_with(app, Mode::Continue)
}

/// Why an anchor may start from something other than the head anchored before.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Only from the anchored head (kept in memory, or read from an authentic head file).
    Continue,
    /// This process just moved the chain's start (`prune`): the one change that may drop the
    /// anchored record; the prune record is in the chain.
    Pruned,
    /// `start` found the head file missing or not authentic and recorded so in the chain.
    Reset,
}

fn anchor_with(app: &App, mode: Mode) -> AppResult<()> {
    let lease = app.pool.get().map_err(|e| {
        log::warn!("cannot anchor the audit chain: {e}");
        DomainError::db_unavailable()
    })?;
    let conn = lease.db();
    if let Err(e) = crate::store::check_schema(&conn) {
        log::error!("the audit head is not moved: {e}");
        return Err(DomainError::internal());
    }
    let (seq, hash) = audit::head(&conn)?;
    if seq == 0 {
        // An empty chain is never anchored: a signed "nothing" could be put back later over a
        // chain deleted whole. A database's chain starts with a record.
        return Ok(());
    }
    let mut last = app.anchored.lock().unwrap_or_else(|p| p.into_inner());
    let Some(path) = audit_head::default_path(&app.config.db) else {
        // No head file (PostgreSQL without LABGATE_AUDIT_HEAD): nothing to anchor here.
        return Ok(());
    };
    let from_file = || match audit_head::read(&path) {
        Ok(Some(h)) if h.authentic(&app.audit_mac) => Some((h.seq, h.hash)),
        _ => None,
    };
    let refuse = |why: String| {
        log::error!("{why}; the head is not moved (run `labgate audit verify`)");
        Err(DomainError::internal())
    };
    match mode {
        Mode::Pruned | Mode::Reset => *last = None,
        Mode::Continue if last.is_none() => match from_file() {
            Some(h) => *last = Some(h),
            // Nothing says where the chain ended: never bless what is there now (`start`
            // records the loss first, then anchors anew).
            None => return refuse("the audit head file is missing or not authentic".into()),
        },
        Mode::Continue => {}
    }
    if last.as_ref().is_some_and(|(s, h)| *s == seq && *h == hash) {
        return Ok(());
    }
    // Never sign a head that does not extend the one anchored: a chain cut, emptied or
    // rewritten since stays detectable instead of being blessed by the next anchor.
    if let Some((s, h)) = last.clone()
        && !audit::extends(&conn, s, &h)?
    {
        // A prune by another process (the CLI) anchors a newer head after its prune record;
        // that one is adopted, never an older one put back over a cut chain.
        match from_file() {
            Some((fs, fh))
                if fs > s && audit::extends(&conn, fs, &fh)? && audit::pruned_after(&conn, s)? =>
            {
                *last = Some((fs, fh));
            }
            _ => {
                return refuse(format!(
                    "the audit chain no longer continues from its anchored head (seq {s}): it was altered"
                ));
            }
        }
    }
    let head = Head::new(&app.audit_mac, seq, &hash, app.now().timestamp());
    audit_head::write(&path, &head).map_err(|e| {
        log::error!("cannot write the audit head {}: {e}", path.display());
        DomainError::internal()
    })?;
    *last = Some((seq, hash));
    Ok(())
}

/// At the server's start and after each CLI command that writes: a head file missing, or
/// not authentic, beside a chain that has records is said, in the log and in the chain itself
/// (`audit.head_missing`, which `audit verify` reports), before it is written anew: records
/// removed from the end before now can no longer be detected. A new database's chain was
/// started and anchored when it was created (`store::keys::open_database`).
pub fn start(app: &App) -> AppResult<()> {
    let Some(path) = audit_head::default_path(&app.config.db) else {
        return Ok(());
    };
    let (seq, _) = {
        let lease = app.pool.get().map_err(|_| DomainError::db_unavailable())?;
        let conn = lease.db();
        audit::head(&conn)?
    };
    let reason = match audit_head::read(&path) {
        Ok(None) => Some("missing"),
        Ok(Some(h)) if !h.authentic(&app.audit_mac) => Some("not authentic"),
        Ok(Some(_)) => None,
        Err(_) => Some("not readable"),
    };
    if seq > 0
        && let Some(reason) = reason
    {
        log::warn!(
            "audit head {} is {reason}; it is written anew (records removed before this start cannot be detected)",
            path.display()
        );
        let ev = AuditEvent {
            actor_type: "system".into(),
            action: "audit.head_missing".into(),
            outcome: Outcome::Failure,
            details: serde_json::json!({"chain_seq": seq, "reason": reason}),
            ..Default::default()
        };
        app.write_blocking(move |tx, _| Ok(audit::append(tx, &ev)?))?;
        return anchor_with(app, Mode::Reset);
    }
    anchor(app)
}

/// `labgate audit verify`: the chain walks, and its end is where the anchored head says.
/// Returns the number of records, or names what was found.
pub fn verify(app: &App, head_file: Option<&std::path::Path>) -> Result<Verified, String> {
    let path = head_file
        .map(std::path::Path::to_path_buf)
        .or_else(|| audit_head::default_path(&app.config.db));
    verify_chain(&app.pool, &app.audit_mac, path.as_deref())
}

/// `verify` of any database (a backup too) with its audit key and its head file.
pub fn verify_chain(
    pool: &crate::store::Pool,
    audit_mac: &crate::domain::crypto::DataKey,
    path: Option<&std::path::Path>,
) -> Result<Verified, String> {
    let lease = pool
        .get()
        .map_err(|e| format!("cannot open database: {e}"))?;
    let conn = lease.db();
    crate::store::check_schema(&conn).map_err(|e| format!("audit chain not trustworthy: {e}"))?;
    // An index rebuilt under another definition would hide records from the list and export.
    crate::store::backup::integrity(&conn)
        .map_err(|e| e.to_string())?
        .map_err(|why| {
            format!(
                "audit chain not trustworthy: the database fails SQLite's integrity check: {why}"
            )
        })?;
    let walk: Walk = match audit::verify(&conn).map_err(|e| e.to_string())? {
        Ok(w) => w,
        Err(bad) => return Err(format!("audit chain broken: {bad}")),
    };
    // Without a head file (PostgreSQL without LABGATE_AUDIT_HEAD) the chain is checked as it
    // stands; its end is anchored outside by audit forwarding.
    let mut anchored_at = None;
    if let Some(path) = path {
        let head = audit_head::read(path)?.ok_or_else(|| {
            format!(
                "audit head {} is missing: nothing shows whether records were removed at the end",
                path.display()
            )
        })?;
        if !head.authentic(audit_mac) {
            return Err(format!(
                "audit head {} is not authentic (its MAC does not match): it was altered or belongs to another database",
                path.display()
            ));
        }
        if walk.records == 0 && head.seq > 0 {
            return Err(format!(
                "audit chain broken: every record was removed (the anchored head is record seq {})",
                head.seq
            ));
        }
        if head.seq > walk.head.0 {
            return Err(format!(
                "audit chain broken: records were removed at the end (the chain ends at seq {}, the anchored head is seq {})",
                walk.head.0, head.seq
            ));
        }
        if head.seq > 0 && walk.hash_at(head.seq) != Some(head.hash.as_str()) {
            return Err(format!(
                "audit chain broken: the chain was rewritten (record seq {} is not the anchored one)",
                head.seq
            ));
        }
        anchored_at = head.at;
    }
    let reached = audit::sequence_reached(&conn).map_err(|e| e.to_string())?;
    if reached > walk.head.0 {
        return Err(format!(
            "audit chain broken: records were removed at the end (the chain ends at seq {}, its sequence reached {reached})",
            walk.head.0
        ));
    }
    Ok(Verified {
        records: walk.records,
        anchored_at,
        anchored: path.is_some(),
        head_losses: audit::head_losses(&conn).map_err(|e| e.to_string())?,
    })
}

/// What `verify` found in an intact chain.
pub struct Verified {
    pub records: u64,
    /// When the head was anchored (Unix seconds; `None` for heads of the first format). A
    /// server anchors every second: an old head is expected only when none has run since.
    pub anchored_at: Option<i64>,
    /// Whether the chain's end was checked against a head file (none on PostgreSQL without
    /// `LABGATE_AUDIT_HEAD`).
    pub anchored: bool,
    /// When the head file was found missing or not authentic (time, record): records removed
    /// from the end before then could not be detected.
    pub head_losses: Vec<(String, i64)>,
}

/// `labgate audit prune --before DATE`: removes older records, leaving a verifiable remainder
/// that starts at a checkpoint, and anchors the new head.
pub fn prune(app: &App, before: &str) -> AppResult<u64> {
    let Some(t) = crate::domain::time::parse(before) else {
        return Err(DomainError::validation(
            "--before",
            "must be an RFC 3339 time",
        ));
    };
    let before = crate::domain::time::fmt(t);
    let by = AuditEvent {
        actor_type: "system".into(),
        actor_id: Some("cli".into()),
        action: "audit.prune".into(),
        outcome: Outcome::Success,
        ..Default::default()
    };
    let removed = app.write_blocking(|tx, _| Ok(audit::prune(tx, &before, &by)?))?;
    anchor_with(app, Mode::Pruned)?;
    Ok(removed)
}

/// The filters of the audit list and export, as given.
#[derive(Debug, Default)]
pub struct Query {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

/// Who reads the audit log, and with which filters. Events of no tenant (unknown-email
/// logins, setup, anonymous refusals) are shown to the default tenant's auditors.
pub fn filter(actor: &super::Actor, default_tenant: bool, q: Query) -> AppResult<audit::Filter> {
    if let Some(o) = &q.outcome
        && !["success", "failure", "denied"].contains(&o.as_str())
    {
        return Err(DomainError::validation(
            "outcome",
            "must be success, failure or denied",
        ));
    }
    let ts = |field: &str, v: &Option<String>| -> AppResult<Option<String>> {
        v.as_deref()
            .map(|s| {
                crate::domain::time::parse(s)
                    .map(crate::domain::time::fmt)
                    .ok_or_else(|| DomainError::validation(field, "must be an RFC 3339 time"))
            })
            .transpose()
    };
    Ok(audit::Filter {
        tenant_id: actor.tenant.as_str().to_string(),
        include_null_tenant: default_tenant,
        since: ts("since", &q.since)?,
        until: ts("until", &q.until)?,
        actor: q.actor,
        action: q.action,
        outcome: q.outcome,
    })
}

/// A page of matching records, newest first, and how many match.
pub async fn list(
    app: &App,
    f: audit::Filter,
    limit: u32,
    offset: u64,
) -> AppResult<(Vec<audit::AuditRecord>, u64)> {
    Ok(app.read(move |c| audit::list(c, &f, limit, offset)).await?)
}

/// Records an export reads per query.
pub const EXPORT_PAGE: usize = 500;

/// The next page of an export: up to `EXPORT_PAGE` matching records older than sequence
/// number `before` (from the newest when `None`), newest first, with their sequence numbers.
/// A connection is held only for the page's query.
pub async fn export_page(
    app: &App,
    f: audit::Filter,
    before: Option<i64>,
) -> AppResult<Vec<(i64, audit::AuditRecord)>> {
    Ok(app
        .read(move |c| audit::page_before(c, &f, before, EXPORT_PAGE))
        .await?)
}

/// Writes records of events that already happened (refusals counted over a minute) in one
/// transaction; on failure nothing is written and the caller keeps them.
pub async fn append_all(app: &App, events: Vec<AuditEvent>) -> AppResult<()> {
    app.write(move |tx, _| {
        for e in &events {
            audit::append(tx, e)?;
        }
        Ok(())
    })
    .await
}

/// Writes one audit record on its own (a refusal, which changes nothing else; a key's use).
pub async fn append_one(app: &App, ev: AuditEvent) -> AppResult<()> {
    app.write(move |tx, _| audit::append(tx, &ev).map(|_| ()))
        .await
}

/// Audits a refusal and answers it, marked as audited (nobody writes a second record). When the
/// record cannot be written the answer is that failure (fail closed).
pub async fn refuse(app: &App, ev: AuditEvent, e: DomainError) -> DomainError {
    match append_one(app, ev).await {
        Ok(()) => e.audited(),
        Err(db) => db,
    }
}
