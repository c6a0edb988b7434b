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
use crate::store::Pool;

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
    /// The certificate in service when serving HTTPS (swapped on SIGHUP).
    pub tls: Option<Arc<crate::tls::Served>>,
}

impl AppState {
    /// Reads the signing keys again after `labgate keys rotate-signing` (seen through the
    /// change epoch): new tokens are signed with the new key; the old one's still verify.
    pub fn reload_signing(&self) -> Result<(), String> {
        let next = crate::app::lifecycle::reload_signing(&self.app)?;
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
        let tls = match &config.tls {
            Some(files) => Some(Arc::new(crate::tls::Served::new(files.clone())?)),
            None => None,
        };
        let (pool, unsealed) = crate::app::lifecycle::open_for_server(&config)?;
        let keys = KeyRing::new(crate::app::lifecycle::signing_keys(&unsealed, &config));
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
            tls,
        })
    }
}
