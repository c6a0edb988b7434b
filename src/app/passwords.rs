//! Password hashing off the async workers, at most one hash per core at a time.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::domain::password;

/// Runs argon2 off the actix workers, at most one hash per core at a time, so a login storm
/// queues here instead of starving other requests.
#[derive(Clone)]
pub struct PasswordWorkers {
    permits: Arc<Semaphore>,
}

impl PasswordWorkers {
    pub fn new(n: usize) -> Self {
        PasswordWorkers {
            permits: Arc::new(Semaphore::new(n.max(1))),
        }
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore is never closed");
        tokio::task::spawn_blocking(f)
            .await
            .expect("argon2 task does not panic")
    }

    /// Verifies `password` against `phc`, or against a dummy hash when there is no user, so
    /// both cost the same.
    pub async fn verify(&self, password: String, phc: Option<String>) -> bool {
        self.run(move || match phc {
            Some(h) => password::verify(&password, &h),
            None => {
                let _ = password::verify(&password, password::dummy_hash());
                false
            }
        })
        .await
    }

    pub async fn hash(&self, password: String) -> String {
        self.run(move || password::hash(&password)).await
    }
}
