//! `AppState`: everything a request can reach, built by one function that tests call too.

use std::sync::Arc;
use std::time::Instant;

use super::auth::AuthCache;
use super::ratelimit::Limits;
use crate::app::EventHub;
pub use crate::app::PasswordWorkers;
use crate::config::Config;
use crate::domain::crypto::DataKey;
use crate::domain::jwt::KeyRing;
use crate::domain::password;
use crate::lab::runner::Runner;
use crate::store::{self, Pool};

#[derive(Default)]
pub struct HealthProbe {
    pub ok: std::sync::atomic::AtomicBool,
    pub checked_at_ms: std::sync::atomic::AtomicU64,
}

pub struct AppState {
    pub config: Arc<Config>,
    pub pool: Pool,
    pub keys: KeyRing,
    pub auth: Arc<AuthCache>,
    pub passwords: PasswordWorkers,
    /// The use cases' context (shares the pool, the password workers and `auth`).
    pub app: crate::app::App,
    pub started: Instant,
    pub limits: Limits,
    /// Refused anonymous credentials counted per client per minute.
    pub folds: super::fold::Folds,
    pub events: Arc<EventHub>,
    /// Encrypts API key secrets and TOTP secrets at rest.
    pub data_key: DataKey,
    pub runner: Arc<Runner>,
    /// The last database check of `GET /api/health`.
    pub health: HealthProbe,
    /// Set when SIGTERM arrives: the scheduler stops firing.
    pub shutdown: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// Reads the signing keys again after `labgate keys rotate-signing` (seen through the
    /// change epoch): new tokens are signed with the new key; the old one's still verify.
    pub fn reload_signing(&self) -> Result<(), String> {
        let keys = store::keys::reload(&self.pool, &self.config.key_file)?;
        let next =
            store::keys::signing_keys(&keys, self.config.signing_window(), &self.config.public_url);
        if next.kid() != self.keys.get().kid() {
            log::info!("signing key {} is now current", next.kid());
        }
        self.keys.replace(next);
        Ok(())
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Opens the database (creating and migrating it as needed) and loads the signing key.
    pub fn build(config: Config) -> Result<AppState, String> {
        let (pool, unsealed) = store::keys::open_database(&config.db, &config.key_file)?;
        // Dispatch-token runs belong to a tenant that must exist (SPEC §1), checked now rather
        // than answered with an error at the first dispatch.
        if config.noise_dispatch_token.is_some() {
            let slug = config.noise_dispatch_tenant.clone();
            let found = store::write_blocking(&pool, |tx| store::tenants::find(tx, &slug))
                .map_err(|e| format!("cannot open database: {e}"))?;
            if found.is_none() {
                return Err(format!(
                    "LABGATE_NOISE_DISPATCH_TENANT: no tenant {slug:?} exists (create it with `labgate tenant create`)"
                ));
            }
        }
        // Runs a previous process left queued or running cannot resume: say so.
        store::write_blocking(&pool, |tx| {
            store::noise::fail_unfinished(tx, "the server stopped before the run finished")
        })
        .map_err(|e| format!("cannot open database: {e}"))?;
        let keys = KeyRing::new(store::keys::signing_keys(
            &unsealed,
            config.signing_window(),
            &config.public_url,
        ));
        let data_key = unsealed.data.clone();
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        // Warm the dummy hash now so the first unknown-email login is not slower than others.
        let _ = password::dummy_hash();
        let limits = Limits::new(config.rate_limit_per_minute);
        let auth = Arc::new(AuthCache::default());
        let passwords = PasswordWorkers::new(cores);
        let config = Arc::new(config);
        let app = crate::app::App::new(
            pool.clone(),
            config.clone(),
            unsealed,
            auth.clone(),
            passwords.clone(),
        );
        let (events, shutdown) = (app.events.clone(), app.shutdown.clone());
        Ok(AppState {
            config,
            pool,
            keys,
            auth,
            passwords,
            app,
            started: Instant::now(),
            limits,
            folds: Default::default(),
            events,
            data_key,
            runner: Arc::new(Runner::default()),
            health: HealthProbe::default(),
            shutdown,
        })
    }
}
