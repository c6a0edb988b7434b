//! The store's writer on a real database file: group commit and what one failing write in a
//! group does to its neighbours.

use labgate::store::{self, StoreError};

fn fresh_pool() -> (tempfile::TempDir, store::Pool) {
    let dir = tempfile::tempdir().unwrap();
    let pool = store::open(&dir.path().join("labgate.db")).unwrap();
    store::migrate(&pool).unwrap();
    (dir, pool)
}

fn epoch(pool: &store::Pool) -> i64 {
    store::epoch(&pool.get().unwrap().db()).unwrap()
}

/// Holds the writer connection in a write of its own until the returned sender is used (or
/// dropped), so writes queue behind it.
type Held = std::thread::JoinHandle<store::StoreResult<()>>;

fn hold_writer(pool: &store::Pool) -> (std::sync::mpsc::Sender<()>, Held) {
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let (held, is_held) = std::sync::mpsc::channel::<()>();
    let p = pool.clone();
    let t = std::thread::spawn(move || {
        store::write_blocking(&p, |tx| {
            held.send(()).unwrap();
            let _ = wait.recv();
            store::bump_epoch(tx)
        })
    });
    is_held.recv().unwrap();
    (release, t)
}

async fn until_queued(pool: &store::Pool, n: usize) {
    // A condition, not a time: the tasks are queued as soon as they have run once.
    while pool.queued() < n {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_waiting_for_the_writer_commit_together_in_one_transaction() {
    let (_dir, pool) = fresh_pool();
    let before = epoch(&pool);
    let (release, holder) = hold_writer(&pool);
    let commits = pool.commits();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let p = pool.clone();
            tokio::spawn(async move { store::write(&p, store::bump_epoch).await })
        })
        .collect();
    until_queued(&pool, 40).await;
    // Nothing is answered before its commit.
    assert!(tasks.iter().all(|t| !t.is_finished()));
    release.send(()).unwrap();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    holder.join().unwrap().unwrap();
    assert_eq!(epoch(&pool), before + 41, "every write is in the database");
    assert_eq!(
        pool.commits() - commits,
        2,
        "the held write, then one commit for the forty queued behind it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_fails_or_panics_in_a_group_is_rolled_back_alone() {
    let (_dir, pool) = fresh_pool();
    let before = epoch(&pool);
    let (release, holder) = hold_writer(&pool);
    let commits = pool.commits();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let p = pool.clone();
        tasks.push(tokio::spawn(async move {
            store::write(&p, move |tx| {
                store::bump_epoch(tx)?;
                match i {
                    3 => Err(StoreError::Invalid {
                        field: "n".into(),
                        message: "refused after a change".into(),
                    }),
                    7 => panic!("a bug in one write"),
                    _ => Ok(i),
                }
            })
            .await
        }));
    }
    until_queued(&pool, 12).await;
    release.send(()).unwrap();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    holder.join().unwrap().unwrap();
    for (i, a) in answers.iter().enumerate() {
        match (i, a) {
            (3, Err(StoreError::Invalid { message, .. })) => {
                assert_eq!(message, "refused after a change")
            }
            (7, Err(StoreError::Other(m))) => assert!(m.contains("unexpectedly"), "{m}"),
            (i, Ok(v)) => assert_eq!(*v, i),
            (i, other) => panic!("write {i} answered {other:?}"),
        }
    }
    // The held write and ten of the twelve; the refused and the panicking one left nothing.
    assert_eq!(epoch(&pool), before + 11);
    assert_eq!(pool.commits() - commits, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_commit_cannot_happen_answers_every_write_with_the_failure() {
    let (dir, pool) = fresh_pool();
    let (release, holder) = hold_writer(&pool);
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let p = pool.clone();
            tokio::spawn(async move { store::write(&p, store::bump_epoch).await })
        })
        .collect();
    until_queued(&pool, 5).await;
    // The file goes away while they wait: none of them may be written into the unlinked file.
    std::fs::remove_file(dir.path().join("labgate.db")).unwrap();
    release.send(()).unwrap();
    for t in tasks {
        match t.await.unwrap() {
            Err(StoreError::Unavailable(why)) => assert!(why.contains("removed"), "{why}"),
            other => panic!("a write into a removed file answered {other:?}"),
        }
    }
    // The held write committed into the file as it was removed: it is not answered as stored.
    assert!(matches!(
        holder.join().unwrap(),
        Err(StoreError::Unavailable(_))
    ));
}
