//! The use cases: one function per SPEC action, called by the HTTP handlers, the CLI and the lab
//! alike. A use case owns its transaction and the audit record committed with it; what it
//! changed that caches may hold is returned as `Invalidation` values through `Changes`, and
//! `App::write` applies them after the commit, in this one place, so no caller can forget one.

pub mod account;
pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod backup;
pub mod credentials;
pub mod events;
pub mod exercises;
pub mod forward;
pub mod leaks;
pub mod lifecycle;
pub mod mail;
pub mod noise;
pub mod passkeys;
pub mod passwords;
pub mod platform;
pub mod provision;
pub mod security;
pub mod setup;
pub mod signin;
pub mod tokens;
pub mod users;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::store::Db;

use crate::config::Config;
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::crypto::DataKey;
use crate::domain::error::DomainError;
use crate::domain::ids::TenantId;
use crate::domain::time::Timestamp;
use crate::store::audit::{AuditEvent, Outcome};
use crate::store::{self, Pool, StoreError, StoreResult};

pub use events::EventHub;
pub use passwords::PasswordWorkers;

/// What a committed change may have made stale in a cache of resolved credentials.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Invalidation {
    /// Users, memberships or roles: every resolved permission.
    Principals,
    /// These login sessions ended or changed.
    Sessions(Vec<String>),
    /// Any number of login sessions ended (e.g. a user was deleted).
    AllSessions,
    /// A personal access token (by the SHA-256 of its value) was revoked.
    Pat(String),
    /// Any number of personal access tokens were removed.
    AllPats,
    /// API keys were created, changed, shared or deleted.
    Keys,
    /// A tenant's settings changed.
    Settings(TenantId),
    /// A tenant's IP allow or block list changed.
    IpLists(TenantId),
    /// Anything may have changed (a change made by another process).
    Everything,
}

/// Applies invalidations; implemented by the HTTP layer's credential cache.
pub trait Invalidate: Send + Sync {
    fn invalidate(&self, what: &Invalidation);
}

/// Nothing to invalidate: for the CLI, which keeps no cache (it bumps the shared epoch instead).
pub struct NoCache;

impl Invalidate for NoCache {
    fn invalidate(&self, _: &Invalidation) {}
}

/// What a write noted for after its commit.
#[derive(Debug, Default)]
pub struct Changes {
    invalidations: Vec<Invalidation>,
}

impl Changes {
    pub fn invalidate(&mut self, what: Invalidation) {
        if !self.invalidations.contains(&what) {
            self.invalidations.push(what);
        }
    }
}

/// Who acts in a use case: its tenant, the capabilities it can use right now (held, less any
/// the MFA policy holds back), the user behind it if any, and the audit fields of the request.
#[derive(Debug, Clone)]
pub struct Actor {
    pub tenant: TenantId,
    pub caps: crate::domain::capability::CapSet,
    pub user: Option<crate::domain::ids::UserId>,
    /// Whether the credential carries a second factor (a session, its JWT or a PAT made by
    /// one); what another tenant's `require_mfa` policy looks at when a change reaches there.
    pub second_factor: bool,
    /// actor type, actor id, ip, user agent and request id; the use case fills in the rest.
    pub template: AuditEvent,
}

impl Actor {
    /// The audit record of a successful change by this actor.
    pub fn event(&self, action: &str, target: String, details: serde_json::Value) -> AuditEvent {
        AuditEvent {
            tenant_id: Some(self.tenant.as_str().to_string()),
            action: action.into(),
            target: Some(target),
            outcome: Outcome::Success,
            details,
            ..self.template.clone()
        }
    }
}

/// The use cases' context: the database door, the clock, the settings, the platform event
/// hub, the data key, and the cache to keep true. Cheap to clone (everything is shared).
#[derive(Clone)]
pub struct App {
    pub pool: Pool,
    pub clock: Arc<dyn Clock>,
    pub passwords: PasswordWorkers,
    pub config: Arc<Config>,
    pub events: Arc<EventHub>,
    /// Encrypts API-key and TOTP secrets at rest.
    pub data_key: DataKey,
    /// MACs the audit chain's head in the head file.
    pub audit_mac: DataKey,
    /// The head last written to the head file.
    anchored: Arc<std::sync::Mutex<Option<(i64, String)>>>,
    /// When this context was made: on a steady timer with the system clock (a clock stepped
    /// back cannot stretch what counts from it), on the given clock otherwise (tests).
    started: std::time::Instant,
    started_at: Timestamp,
    steady: bool,
    /// `record` calls under way (waited for at exit with the queued writes).
    recording: Arc<std::sync::atomic::AtomicUsize>,
    /// Set when the server begins to shut down: background work stops starting.
    pub shutdown: Arc<AtomicBool>,
    /// The address the server actually listens on (known once bound; a port of 0 in the
    /// settings becomes a real one).
    pub listening: Arc<std::sync::OnceLock<std::net::SocketAddr>>,
    /// One sign-in attempt at a time per email.
    pub signin_gate: Arc<signin::EmailGate>,
    /// Sends (or spools) the mail use cases send after their commit.
    pub mailer: crate::mail::Mailer,
    /// The counters behind `GET /metrics` (SPEC §14).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Audit records of events that already happened (a mail sent, a request refused) whose
    /// write failed, kept to be written when the database answers again (`record`).
    pending: Arc<std::sync::Mutex<Pending>>,
    cache: Arc<dyn Invalidate>,
}

/// Records waiting for the database, bounded: past `PENDING_MAX`, only their count is kept
/// (written as one `audit.records_lost` record), so memory stays bounded whatever happens.
#[derive(Default)]
struct Pending {
    events: std::collections::VecDeque<AuditEvent>,
    overflow: u64,
}

const PENDING_MAX: usize = 10_000;

pub type AppResult<T> = Result<T, DomainError>;

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => {
                log::error!("database unavailable: {why}");
                DomainError::db_unavailable()
            }
            StoreError::NotFound => DomainError::not_found(),
            StoreError::Conflict(msg) => {
                // Constraint texts name tables and columns; keep them out of the answer.
                if msg.contains("constraint") || msg.contains("UNIQUE") {
                    DomainError::conflict("The request conflicts with existing data.")
                } else {
                    DomainError::conflict(msg)
                }
            }
            StoreError::Invalid { field, message } => DomainError::validation(&field, message),
            StoreError::Other(why) => {
                log::error!("database error: {why}");
                DomainError::internal()
            }
        }
    }
}

/// A write's own failure: a refusal decided inside the transaction (rolled back) or a store
/// error.
#[derive(Debug)]
pub enum WriteError {
    Refused(DomainError),
    Store(StoreError),
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        WriteError::Store(e)
    }
}

impl From<DomainError> for WriteError {
    fn from(e: DomainError) -> Self {
        WriteError::Refused(e)
    }
}

impl From<WriteError> for DomainError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Refused(d) => d,
            WriteError::Store(s) => s.into(),
        }
    }
}

impl App {
    pub fn new(
        pool: Pool,
        config: Arc<Config>,
        keys: crate::store::keys::Unsealed,
        cache: Arc<dyn Invalidate>,
        passwords: PasswordWorkers,
    ) -> App {
        let mailer = crate::mail::Mailer::new(
            config.mail_dir.clone(),
            config.smtp.as_ref(),
            &config.mail_from,
            &config.trust,
        )
        .expect("the mail settings were checked when they were read");
        App {
            pool,
            clock: Arc::new(SystemClock),
            started: std::time::Instant::now(),
            started_at: SystemClock.now(),
            steady: true,
            recording: Arc::default(),
            passwords,
            config,
            events: Arc::new(EventHub::default()),
            data_key: keys.data,
            audit_mac: keys.audit_mac,
            anchored: Arc::default(),
            pending: Arc::default(),
            shutdown: Arc::new(AtomicBool::new(false)),
            signin_gate: Arc::default(),
            listening: Arc::default(),
            mailer,
            metrics: Arc::default(),
            cache,
        }
    }

    /// Where noise sinks may send: never to this server itself (SPEC §12.2).
    pub fn destinations(&self) -> crate::domain::net::Destinations {
        let mut d = self.config.destinations();
        if let Some(a) = self.listening.get() {
            d.own = *a;
        }
        d
    }

    /// Writes the audit record of an event that has already happened and cannot be undone (a
    /// mail sent, a request refused). When the database cannot take it now, it is kept and
    /// written by `flush_pending`, with the time it happened: never dropped (SPEC §9).
    pub fn record(&self, ev: AuditEvent) {
        use std::sync::atomic::Ordering;
        self.recording.fetch_add(1, Ordering::SeqCst);
        self.record_now(ev);
        self.recording.fetch_sub(1, Ordering::SeqCst);
    }

    fn record_now(&self, ev: AuditEvent) {
        let e = ev.clone();
        // Through the writer's queue (it may share a group commit), and waited for: the caller
        // answers only once the record is in the database or kept.
        let r = store::write_queued(&self.pool, move |tx| {
            crate::store::audit::append(tx, &e).map(|_| ())
        });
        if let Err(err) = r {
            self.keep(ev, &err.to_string());
        }
    }

    /// Keeps a record the database could not take, with the time it happened, for
    /// `flush_pending`; bounded by `PENDING_MAX` (past it only the count is kept).
    fn keep(&self, mut ev: AuditEvent, why: &str) {
        log::warn!("audit record {} kept for later: {why}", ev.action);
        if let serde_json::Value::Object(m) = &mut ev.details {
            m.insert(
                "happened_at".into(),
                crate::domain::time::fmt(self.now()).into(),
            );
        }
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if p.events.len() < PENDING_MAX {
            p.events.push_back(ev);
        } else {
            p.overflow += 1;
        }
    }

    /// At exit, after a last `flush_pending`: records the database still could not take go to
    /// the log (the journal), whole, rather than nowhere. Records hold no secrets.
    pub fn pending_to_log(&self) {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for e in p.events.drain(..) {
            log::error!(
                "audit record not written (the database did not take it): {}",
                serde_json::json!({
                    "tenant_id": e.tenant_id, "actor_type": e.actor_type, "actor_id": e.actor_id,
                    "action": e.action, "target": e.target, "outcome": e.outcome.as_str(),
                    "ip": e.ip, "user_agent": e.user_agent, "request_id": e.request_id,
                    "details": e.details,
                })
            );
        }
        if p.overflow > 0 {
            log::error!("{} more audit records were not written", p.overflow);
            p.overflow = 0;
        }
    }

    /// Writes the records `record` kept, in one transaction; kept again if it fails.
    pub fn flush_pending(&self) {
        let (events, overflow) = {
            let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if p.events.is_empty() && p.overflow == 0 {
                return;
            }
            (
                std::mem::take(&mut p.events),
                std::mem::take(&mut p.overflow),
            )
        };
        let (e2, n) = (events.clone(), events.len());
        let r = self.write_blocking(move |tx, _| {
            for e in &e2 {
                crate::store::audit::append(tx, e)?;
            }
            if overflow > 0 {
                crate::store::audit::append(
                    tx,
                    &AuditEvent {
                        actor_type: "system".into(),
                        action: "audit.records_lost".into(),
                        outcome: Outcome::Failure,
                        details: serde_json::json!({"count": overflow}),
                        ..Default::default()
                    },
                )?;
            }
            Ok(())
        });
        match r {
            Ok(()) => log::info!("{n} kept audit records written"),
            Err(_) => {
                let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                let mut events = events;
                events.extend(p.events.drain(..));
                p.events = events;
                p.overflow += overflow;
            }
        }
    }

    /// Waits (at most `limit`) for every write queued for the writer to be answered: at exit,
    /// before the last `flush_pending`, so records submitted just before are not lost.
    pub fn drain_writes(&self, limit: std::time::Duration) -> bool {
        let until = std::time::Instant::now() + limit;
        let queued = store::drain(&self.pool, limit);
        // A record whose write failed is kept by its caller after the answer: wait for that too.
        while self.recording.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        queued
    }

    /// How long this context has been up (the break-glass window counts from its start).
    pub fn up_for(&self) -> std::time::Duration {
        if self.steady {
            return self.started.elapsed();
        }
        (self.now() - self.started_at).to_std().unwrap_or_default()
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The same context with another clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> App {
        self.started_at = clock.now();
        self.steady = false;
        self.clock = clock;
        self
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Runs `f` in one IMMEDIATE transaction off the async workers; after the commit, applies
    /// every invalidation `f` noted. On an error nothing is committed and nothing applied.
    pub async fn write<T, F>(&self, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Db, &mut Changes) -> StoreResult<T> + Send + 'static,
    {
        self.change(move |tx, c| f(tx, c).map_err(WriteError::Store))
            .await
    }

    /// `write` for a use case that may refuse inside its transaction with a `DomainError`.
    pub async fn change<T, F>(&self, f: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Db, &mut Changes) -> Result<T, WriteError> + Send + 'static,
    {
        // Through the writer's group commit: many changes, one `fsync`. The invalidations are
        // applied on the writer thread right after the commit, whatever becomes of the caller.
        let app = self.clone();

        let (out, _) = store::write_then(
            &self.pool,
            move |tx| {
                let mut changes = Changes::default();
                let out = f(tx, &mut changes)?;
                tell_nodes(tx, &changes)?;
                Ok::<_, WriteError>((out, changes))
            },
            move |(_, changes): &(T, Changes)| app.apply(changes),
        )
        .await
        .map_err(DomainError::from)?;
        Ok(out)
    }

    /// `change` for code already off the async workers (the CLI).
    pub fn write_blocking<T, F>(&self, f: F) -> AppResult<T>
    where
        F: FnOnce(&Db, &mut Changes) -> Result<T, WriteError>,
    {
        let (out, changes) = store::write_blocking_with(&self.pool, |tx| {
            let mut changes = Changes::default();
            let out = f(tx, &mut changes)?;
            tell_nodes(tx, &changes)?;
            Ok::<_, WriteError>((out, changes))
        })
        .map_err(DomainError::from)?;
        self.apply(&changes);
        Ok(out)
    }

    /// Reads on a pooled connection off the async workers.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&crate::store::Db) -> StoreResult<T> + Send + 'static,
    {
        store::run(&self.pool, f).await
    }

    /// Everything cached is dropped: another process changed the database.
    pub fn changed_outside(&self) {
        self.cache.invalidate(&Invalidation::Everything);
    }

    fn apply(&self, changes: &Changes) {
        for i in &changes.invalidations {
            self.cache.invalidate(i);
        }
    }

    /// A platform event another node raised, for this node's subscribers. (Called on the
    /// PostgreSQL runtime's thread, which must never wait for a connection: an event that
    /// came as its id alone is read on a thread of its own.)
    pub fn event_elsewhere(&self, payload: &str) {
        match crate::store::events::from_notice(payload) {
            None => {}
            Some(Ok(e)) => self.events.publish(e),
            Some(Err(id)) => {
                let app = self.clone();
                std::thread::spawn(move || {
                    if let Ok(Some(e)) = crate::store::run_blocking(&app.pool, |db| {
                        crate::store::events::get(db, id)
                    }) {
                        app.events.publish(e);
                    }
                });
            }
        }
    }

    /// What another node's commit changed (`tell_nodes`), applied to this node's caches; a
    /// node's own notices are already applied.
    pub fn changed_elsewhere(&self, payload: &str) {
        match serde_json::from_str::<NodeChanges>(payload) {
            Ok(c) if c.origin == crate::store::pg::origin() => {}
            Ok(c) => {
                for i in &c.changes {
                    self.cache.invalidate(i);
                }
            }
            // Not understood (another version's notice): nothing cached is trusted.
            Err(_) => self.changed_outside(),
        }
    }
}

/// A commit's invalidations as the other nodes on one PostgreSQL database receive them.
#[derive(serde::Serialize, serde::Deserialize)]
struct NodeChanges {
    /// The process that committed (`origin`): its own caches are already up to date.
    origin: String,
    changes: Vec<Invalidation>,
}

/// Past what a notice carries, the list is sent as `Everything`.
const NOTICE_MAX: usize = crate::store::pg::NOTICE_MAX;

/// On PostgreSQL, tells the other nodes (at commit, with the change) what their caches must
/// drop: a change takes effect on every node, not just this one (SPEC §15).
fn tell_nodes(tx: &crate::store::Db, changes: &Changes) -> Result<(), WriteError> {
    if tx.engine() != crate::store::Engine::Postgres || changes.invalidations.is_empty() {
        return Ok(());
    }
    let mut notice = NodeChanges {
        origin: crate::store::pg::origin().to_string(),
        changes: changes.invalidations.clone(),
    };
    let mut text = serde_json::to_string(&notice).map_err(|e| StoreError::Other(e.to_string()))?;
    if text.len() > NOTICE_MAX {
        notice.changes = vec![Invalidation::Everything];
        text = serde_json::to_string(&notice).map_err(|e| StoreError::Other(e.to_string()))?;
    }
    crate::store::pg::notify(tx, &text)?;
    Ok(())
}
