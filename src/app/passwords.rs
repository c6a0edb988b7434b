//! Password hashing on a fixed set of worker threads, one per core, each reusing one argon2
//! working memory (SPEC §10). Hashes never run on threads that come and go: a blocking pool
//! thread that once held a 19 MiB block keeps it in its allocator arena after the hash is
//! done, so a login storm across many such threads grows the process by hundreds of MiB that
//! are never returned. Here memory is one block per worker, allocated at its first hash.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::domain::password::{self, Memory};

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// How many hashes may wait for a worker; past that, callers wait to enqueue (backpressure
/// instead of an unbounded queue).
const QUEUE: usize = 1024;

/// Runs argon2 off the actix workers on `n` dedicated threads, so a login storm queues here
/// instead of starving other requests or growing memory.
#[derive(Clone)]
pub struct PasswordWorkers {
    jobs: mpsc::Sender<Job>,
}

impl PasswordWorkers {
    pub fn new(n: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..n.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("labgate-argon2-{i}"))
                .spawn(move || {
                    let mut mem: Option<Memory> = None;
                    loop {
                        // One worker waits on the queue at a time; the others wait for it.
                        let job = rx.lock().unwrap_or_else(|p| p.into_inner()).blocking_recv();
                        let Some(job) = job else {
                            break; // every sender is gone: the workers end with the process
                        };
                        let mem = mem.get_or_insert_with(Memory::new);
                        // A job that panics loses its answer, never the worker.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(mem)));
                    }
                })
                .expect("a hashing worker thread starts");
        }
        PasswordWorkers { jobs: tx }
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&mut Memory) -> T + Send + 'static) -> T {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |mem| {
            let _ = tx.send(f(mem));
        });
        if self.jobs.send(job).await.is_err() {
            unreachable!("the hashing workers never stop while a sender lives");
        }
        rx.await.expect("a hashing job always answers")
    }

    /// Verifies `password` against `phc`, or against a dummy hash when there is no user, so
    /// both cost the same.
    pub async fn verify(&self, password: String, phc: Option<String>) -> bool {
        self.run(move |mem| match phc {
            Some(h) => password::verify_in(&password, &h, mem),
            None => {
                let _ = password::verify_in(&password, password::dummy_hash(), mem);
                false
            }
        })
        .await
    }

    pub async fn hash(&self, password: String) -> String {
        self.run(move |mem| password::hash_in(&password, mem)).await
    }
}
