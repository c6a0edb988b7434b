//! The hash-chained audit trail.
//!
//! Each record stores the link of the previous record (`prev_hash`) and its own link over
//! `prev_hash` and its canonical form, so altering, removing or reordering any record breaks the
//! chain at that point. Appends run inside the caller's IMMEDIATE transaction, which serialises
//! them and commits each record with the change it describes.
//!
//! The link is an HMAC-SHA256 under the audit MAC key (stored `m1:<hex>`), so someone who can
//! edit the database but not read the key file cannot append, insert or recompute records: the
//! chain cannot be rewritten with recomputed hashes, and an `audit.prune` checkpoint cannot be
//! forged. Records written by labgate before the chain was keyed keep their plain SHA-256 link
//! (64 hex digits) and still verify; after the first keyed record every record must be keyed.
//! The key is held by the pool (`store::open_keyed`), never stored in the database.

use super::db::{Db, Row};
use crate::params;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{StoreResult, new_id, optional};
use crate::domain::crypto::DataKey;
use crate::domain::time;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit record as the caller describes it; id, time and hashes are added on append.
#[derive(Debug, Clone, Default)]
pub struct AuditEvent {
    pub tenant_id: Option<String>,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: Outcome,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub details: Value,
}

impl AuditEvent {
    /// The same record with another outcome (a refusal described like the change it refused).
    pub fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    #[default]
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// A stored record, in the SPEC's field order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: String,
    pub ts: String,
    pub tenant_id: Option<String>,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
}

/// The canonical form hashed into the chain: the record's fields as compact JSON in a fixed
/// order (serde_json keeps struct field order).
fn canonical(r: &AuditRecord) -> String {
    serde_json::to_string(r).expect("audit record serialises")
}

/// The prefix of a keyed link.
pub const KEYED: &str = "m1:";

/// A keyed link: the HMAC-SHA256, under the audit MAC key, of the previous link and the
/// record's canonical form.
pub fn keyed_link(key: &DataKey, prev: &str, canonical: &str) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()).expect("any key length");
    m.update(b"labgate audit chain v1\n");
    m.update(prev.as_bytes());
    m.update(b"\n");
    m.update(canonical.as_bytes());
    format!(
        "{KEYED}{}",
        crate::domain::token::hex(&m.finalize().into_bytes())
    )
}

/// `keyed_link` of a record (for tools and tests that hold the key).
pub fn record_link(key: &DataKey, prev: &str, r: &AuditRecord) -> String {
    keyed_link(key, prev, &canonical(r))
}

/// The keyed link of `r` after `prev`, under the key the connection's pool holds (none: the
/// append fails closed).
fn link(conn: &Db, prev: &str, r: &AuditRecord) -> StoreResult<String> {
    let key = conn.audit_key().ok_or_else(|| {
        super::StoreError::Unavailable("no audit key: audit records cannot be chained".into())
    })?;
    Ok(keyed_link(key, prev, &canonical(r)))
}

/// The link a stored record should have: keyed when its stored link says so, else the plain
/// SHA-256 of records written before the chain was keyed.
fn expected_link(conn: &Db, prev: &str, r: &AuditRecord, stored: &str) -> StoreResult<String> {
    if stored.starts_with(KEYED) {
        link(conn, prev, r)
    } else {
        Ok(chain_hash(prev, r))
    }
}

/// The plain (unkeyed) link of records written before the chain was keyed.
pub fn chain_hash(prev: &str, r: &AuditRecord) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(canonical(r).as_bytes());
    crate::domain::token::hex(&h.finalize())
}

/// Appends a record. Call inside a write transaction.
pub fn append(conn: &Db, ev: &AuditEvent) -> StoreResult<AuditRecord> {
    let pg = conn.engine() == super::Engine::Postgres;
    // Every node appends to one chain: one append at a time, until the transaction ends, so
    // the chain's order is the order of the commits.
    super::pg::lock(conn, super::pg::AUDIT_LOCK)?;
    let (last, prev): (i64, String) = optional(conn.query_row(
        "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ))?
    .unwrap_or_else(|| (0, GENESIS.to_string()));
    let rec = AuditRecord {
        id: new_id(),
        ts: time::fmt(time::now()),
        tenant_id: ev.tenant_id.clone(),
        actor_type: ev.actor_type.clone(),
        actor_id: ev.actor_id.clone(),
        action: ev.action.clone(),
        target: ev.target.clone(),
        outcome: ev.outcome.as_str().to_string(),
        ip: ev.ip.clone(),
        user_agent: ev
            .user_agent
            .as_ref()
            .map(|u| u.chars().take(512).collect()),
        request_id: ev.request_id.clone(),
        details: if ev.details.is_null() {
            Value::Object(Default::default())
        } else {
            ev.details.clone()
        },
    };
    let hash = link(conn, &prev, &rec)?;
    // SQLite numbers the record itself (AUTOINCREMENT: a rolled-back write takes its number
    // back); PostgreSQL's sequences never give one back, so there the record takes the last
    // one's plus one, under the lock above.
    let mut st = conn.prepare_cached(conn.pick(
        "INSERT INTO audit_log (id, ts, tenant_id, actor_type, actor_id, action, target, outcome, ip,
                                user_agent, request_id, details, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        "INSERT INTO audit_log (id, ts, tenant_id, actor_type, actor_id, action, target, outcome, ip,
                                user_agent, request_id, details, prev_hash, hash, seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    ))?;
    let seq = last + 1;
    let details = rec.details.to_string();
    let mut values = params![
        rec.id,
        rec.ts,
        rec.tenant_id,
        rec.actor_type,
        rec.actor_id,
        rec.action,
        rec.target,
        rec.outcome,
        rec.ip,
        rec.user_agent,
        rec.request_id,
        details,
        prev,
        hash,
        seq
    ]
    .to_vec();
    if !pg {
        values.pop();
    }
    // Exactly one row, or nothing is committed: a record silently not stored would otherwise
    // leave a chain that still walks.
    let stored = st.execute(&values)?;
    if stored != 1 {
        return Err(super::StoreError::Unavailable(
            "an audit record was not stored: the database's schema was altered".into(),
        ));
    }
    Ok(rec)
}

const REC_COLS: &str = "id, ts, tenant_id, actor_type, actor_id, action, target, outcome, ip, user_agent, request_id, details";

fn rec_row(r: &Row) -> StoreResult<AuditRecord> {
    let details: String = r.get(11)?;
    Ok(AuditRecord {
        id: r.get(0)?,
        ts: r.get(1)?,
        tenant_id: r.get(2)?,
        actor_type: r.get(3)?,
        actor_id: r.get(4)?,
        action: r.get(5)?,
        target: r.get(6)?,
        outcome: r.get(7)?,
        ip: r.get(8)?,
        user_agent: r.get(9)?,
        request_id: r.get(10)?,
        details: serde_json::from_str(&details).unwrap_or(Value::Null),
    })
}

/// Every record with its sequence number, oldest first, as stored (for tools that rewrite or
/// inspect the chain, such as the tests that play the attacker).
pub fn all_records(conn: &Db) -> StoreResult<Vec<(i64, AuditRecord)>> {
    let mut st = conn.prepare(&format!(
        "SELECT {REC_COLS}, seq FROM audit_log ORDER BY seq"
    ))?;
    let rows = st
        .query_map(params![], |r| Ok((r.get(12)?, rec_row(r)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Up to `limit` records after sequence number `seq`, oldest first, with their numbers (what
/// audit forwarding sends next).
pub fn records_after(conn: &Db, seq: i64, limit: usize) -> StoreResult<Vec<(i64, AuditRecord)>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {REC_COLS}, seq FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2"
    ))?;
    let rows = st
        .query_map(params![seq, limit as i64], |r| {
            Ok((r.get(12)?, rec_row(r)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The last sequence number delivered to `target` (0: none yet).
pub fn forwarded(conn: &Db, target: &str) -> StoreResult<i64> {
    Ok(optional(conn.query_row(
        "SELECT seq FROM audit_forward WHERE target = ?1",
        params![target],
        |r| r.get(0),
    ))?
    .unwrap_or(0))
}

/// Records that `target` has every record up to `seq`.
pub fn set_forwarded(conn: &Db, target: &str, seq: i64, now: time::Timestamp) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO audit_forward (target, seq, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (target) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at",
        params![target, seq, time::fmt(now)],
    )?;
    Ok(())
}

/// Filters for listing; `tenant` None lists records of no tenant too (the default tenant's view).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub tenant_id: String,
    pub include_null_tenant: bool,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

fn where_clause(f: &Filter) -> (String, Vec<String>) {
    let mut sql = String::from(if f.include_null_tenant {
        "(tenant_id = ?1 OR tenant_id IS NULL)"
    } else {
        "tenant_id = ?1"
    });
    let mut args = vec![f.tenant_id.clone()];
    let mut add = |cond: &str, v: &Option<String>| {
        if let Some(v) = v {
            args.push(v.clone());
            sql.push_str(&format!(" AND {cond} ?{}", args.len()));
        }
    };
    add("actor_id =", &f.actor);
    add("action =", &f.action);
    add("outcome =", &f.outcome);
    add("ts >=", &f.since);
    add("ts <=", &f.until);
    (sql, args)
}

/// A page of records, newest first, with the total count.
pub fn list(
    conn: &Db,
    f: &Filter,
    limit: u32,
    offset: u64,
) -> StoreResult<(Vec<AuditRecord>, u64)> {
    let (cond, args) = where_clause(f);
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM audit_log WHERE {cond}"),
        &super::db::params_from(&args),
        |r| r.get(0),
    )?;
    let mut st = conn.prepare(&format!(
        "SELECT {REC_COLS} FROM audit_log WHERE {cond} ORDER BY seq DESC LIMIT {limit} OFFSET {offset}"
    ))?;
    let rows = st
        .query_map(&super::db::params_from(&args), rec_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, total as u64))
}

/// Visits every matching record newest first without holding them all in memory.
pub fn for_each(
    conn: &Db,
    f: &Filter,
    mut visit: impl FnMut(AuditRecord) -> bool,
) -> StoreResult<()> {
    let (cond, args) = where_clause(f);
    let mut st = conn.prepare(&format!(
        "SELECT {REC_COLS} FROM audit_log WHERE {cond} ORDER BY seq DESC"
    ))?;
    st.for_each_row(&super::db::params_from(&args), |r| Ok(visit(rec_row(r)?)))
}

/// One page of the filtered records, newest first, older than record `before` (all when
/// `None`): the export reads a page at a time, each on a connection held only for the query.
pub fn page_before(
    conn: &Db,
    f: &Filter,
    before: Option<i64>,
    limit: usize,
) -> StoreResult<Vec<(i64, AuditRecord)>> {
    let (cond, mut args) = where_clause(f);
    args.push(before.unwrap_or(i64::MAX).to_string());
    let n = args.len();
    let mut st = conn.prepare(&format!(
        // Walked by sequence number from the cursor (no index): each page costs its own rows
        // and those it skips, so a whole export is linear, whatever the filter.
        "SELECT {REC_COLS}, seq FROM audit_log {}
          WHERE seq < CAST(?{n} AS BIGINT) AND {cond} ORDER BY seq DESC LIMIT {limit}",
        conn.pick("NOT INDEXED", "")
    ))?;
    let rows = st
        .query_map(&super::db::params_from(&args), |r| {
            Ok((r.get(12)?, rec_row(r)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The chain's head: the last record's sequence number and hash (`(0, GENESIS)` when empty).
pub fn head(conn: &Db) -> StoreResult<(i64, String)> {
    Ok(optional(conn.query_row(
        "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ))?
    .unwrap_or((0, GENESIS.to_string())))
}

/// Whether the chain still holds the record `seq` with hash `hash`, and every later record
/// chains from it (the records written since an anchor).
pub fn extends(conn: &Db, seq: i64, hash: &str) -> StoreResult<bool> {
    let mut st = conn.prepare(&format!(
        "SELECT {REC_COLS}, prev_hash, hash, seq FROM audit_log WHERE seq >= ?1 ORDER BY seq"
    ))?;
    // (seq, link) of the record before, once the first one matched.
    let mut prev: Option<(i64, String)> = None;
    let mut holds = true;
    st.for_each_row(params![seq], |r| {
        let stored_prev: String = r.get(12)?;
        let stored_hash: String = r.get(13)?;
        let at: i64 = r.get(14)?;
        let Some((prev_seq, prev_hash)) = prev.take() else {
            holds = at == seq && stored_hash == hash;
            prev = Some((at, stored_hash));
            return Ok(holds);
        };
        let rec = rec_row(r)?;
        // Sequence numbers are never reused and never skipped (AUTOINCREMENT, a rolled-back
        // write takes its number back; on PostgreSQL each is the last one plus one, under the
        // chain's lock): a gap is a removed record.
        holds = at == prev_seq + 1
            && stored_prev == prev_hash
            && stored_hash.starts_with(KEYED)
            && link(conn, &prev_hash, &rec)? == stored_hash;
        prev = Some((at, stored_hash));
        Ok(holds)
    })?;
    Ok(holds && prev.is_some())
}

/// Whether a keyed `audit.prune` record follows record `seq`.
pub fn pruned_after(conn: &Db, seq: i64) -> StoreResult<bool> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM audit_log WHERE action = 'audit.prune' AND seq > ?1
                        AND hash LIKE 'm1:%')",
        params![seq],
        |r| r.get(0),
    )
}

/// The highest sequence number the chain ever reached (SQLite's `sqlite_sequence`); with the
/// last record's, it shows records removed at the end.
pub fn sequence_reached(conn: &Db) -> StoreResult<i64> {
    if conn.engine() == super::Engine::Postgres {
        // Each record's number is the last one's plus one (`append`): no counter beside the
        // chain; its end is anchored by the head file or by forwarding.
        return Ok(0);
    }
    Ok(optional(conn.query_row(
        "SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'",
        params![],
        |r| r.get(0),
    ))?
    .unwrap_or(0))
}

/// The `audit.head_missing` records: when the head file was found lost, and at which record.
pub fn head_losses(conn: &Db) -> StoreResult<Vec<(String, i64)>> {
    conn
        .prepare(
            "SELECT ts, seq FROM audit_log WHERE action = 'audit.head_missing' AND hash LIKE 'm1:%' ORDER BY seq",
        )?
        .query_map(params![], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()
}

/// What a walk of the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    pub records: u64,
    /// The last record's sequence number and hash.
    pub head: (i64, String),
    /// The first record's sequence number (0 when empty).
    pub first_seq: i64,
    hashes: std::collections::HashMap<i64, String>,
}

impl Walk {
    pub fn hash_at(&self, seq: i64) -> Option<&str> {
        self.hashes.get(&seq).map(String::as_str)
    }
}

/// Where a pruned chain resumes: the `audit.prune` record naming the first kept record gives
/// the hash that record follows.
fn resume_point(conn: &Db, first_seq: i64) -> StoreResult<Option<String>> {
    let details: Option<String> = optional(conn.query_row(
        &format!(
            "SELECT details FROM audit_log WHERE action = 'audit.prune' AND hash LIKE 'm1:%'
           AND {} = ?1 ORDER BY seq DESC LIMIT 1",
            conn.pick(
                "json_extract(details, '$.resume_seq')",
                "CAST(details::json->>'resume_seq' AS BIGINT)"
            )
        ),
        params![first_seq],
        |r| r.get(0),
    ))?;
    Ok(details
        .and_then(|d| serde_json::from_str::<Value>(&d).ok())
        .and_then(|d| d["resume_prev_hash"].as_str().map(str::to_string)))
}

/// Walks the chain oldest first. `Ok(walk)` when every record follows the one before it; `Err`
/// names the first bad one. A chain pruned by `prune` starts where its prune record says.
pub fn verify(conn: &Db) -> StoreResult<Result<Walk, String>> {
    let mut st = conn.prepare(&format!(
        "SELECT {REC_COLS}, prev_hash, hash, seq FROM audit_log ORDER BY seq"
    ))?;
    let mut prev = GENESIS.to_string();
    let mut walk = Walk {
        records: 0,
        head: (0, GENESIS.to_string()),
        first_seq: 0,
        hashes: Default::default(),
    };
    let mut keyed = false;
    let mut broken: Option<String> = None;
    st.for_each_row(params![], |r| {
        let rec = rec_row(r)?;
        let stored_prev: String = r.get(12)?;
        let stored_hash: String = r.get(13)?;
        let seq: i64 = r.get(14)?;
        if walk.records > 0 && seq != walk.head.0 + 1 {
            broken = Some(format!(
                "record seq {} is missing: the record after seq {} was removed",
                walk.head.0 + 1,
                walk.head.0
            ));
            return Ok(false);
        }
        if walk.records == 0 {
            walk.first_seq = seq;
            if stored_prev != GENESIS
                && resume_point(conn, seq)?.as_deref() == Some(stored_prev.as_str())
            {
                prev = stored_prev.clone();
            }
        }
        if stored_prev != prev {
            broken = Some(format!(
                "record {} (seq {seq}) does not follow the previous record: a record before it was removed, reordered or altered",
                rec.id
            ));
            return Ok(false);
        }
        if stored_hash.starts_with(KEYED) {
            keyed = true;
        } else if keyed {
            broken = Some(format!(
                "record {} (seq {seq}) is not sealed under the audit key: it was written or rewritten without the key file",
                rec.id
            ));
            return Ok(false);
        }
        if expected_link(conn, &prev, &rec, &stored_hash)? != stored_hash {
            broken = Some(format!("record {} (seq {seq}) was altered", rec.id));
            return Ok(false);
        }
        walk.hashes.insert(seq, stored_hash.clone());
        walk.head = (seq, stored_hash.clone());
        prev = stored_hash;
        walk.records += 1;
        Ok(true)
    })?;
    Ok(match broken {
        Some(why) => Err(why),
        None => Ok(walk),
    })
}

/// Removes the records older than `before` (RFC 3339) and appends an `audit.prune` record that
/// says where the remaining chain resumes, so what is left still verifies. Returns how many
/// were removed.
pub fn prune(conn: &Db, before: &str, by: &AuditEvent) -> StoreResult<u64> {
    let first_kept: Option<(i64, String)> = optional(conn.query_row(
        "SELECT seq, prev_hash FROM audit_log WHERE ts >= ?1 ORDER BY seq LIMIT 1",
        params![before],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ))?;
    // Records a SIEM was never sent (audit forwarding behind) are named in the prune record,
    // so the gap there is explained.
    let not_forwarded: i64 = conn.query_row(
        "SELECT COUNT(*) FROM audit_log
          WHERE seq > (SELECT MIN(seq) FROM audit_forward)
            AND seq < COALESCE((SELECT MIN(seq) FROM audit_log WHERE ts >= ?1), 9223372036854775807)",
        params![before],
        |r| r.get(0),
    )?;
    let removed = match &first_kept {
        Some((seq, _)) => conn.execute("DELETE FROM audit_log WHERE seq < ?1", params![seq])?,
        // Everything is older: the prune record starts the chain anew.
        None => conn.execute("DELETE FROM audit_log", params![])?,
    } as u64;
    let mut ev = by.clone();
    let (resume_seq, resume_prev) = first_kept.unzip();
    ev.details = serde_json::json!({
        "before": before, "removed": removed,
        "resume_seq": resume_seq, "resume_prev_hash": resume_prev,
    });
    if not_forwarded > 0 {
        ev.details["not_forwarded"] = serde_json::json!(not_forwarded);
    }
    append(conn, &ev)?;
    Ok(removed)
}
