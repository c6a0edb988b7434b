//! Bounded in-memory caches for the credential hot path.
//!
//! A warm credential check must not touch the disk, yet a change (role edited, session ended,
//! user disabled) must be seen by the very next request. Every cache here carries a generation
//! counter: invalidation bumps it, and a value loaded from the database is only stored if no
//! invalidation happened while it was being loaded, so a slow reader cannot put a stale value
//! back after a change.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub struct Cache<K, V> {
    map: Mutex<HashMap<K, V>>,
    generation: AtomicU64,
    capacity: usize,
    /// Bumped with every invalidation of any cache sharing it (see `EpochMap`).
    shared: Option<Arc<AtomicU64>>,
}

impl<K: Eq + Hash + Clone, V: Clone> Cache<K, V> {
    pub fn new(capacity: usize) -> Self {
        Cache {
            map: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            capacity,
            shared: None,
        }
    }

    /// A cache whose invalidations also bump `epoch`.
    pub fn sharing(capacity: usize, epoch: Arc<AtomicU64>) -> Self {
        Cache {
            shared: Some(epoch),
            ..Cache::new(capacity)
        }
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(e) = &self.shared {
            e.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, V>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, k: &K) -> Option<V> {
        self.lock().get(k).cloned()
    }

    /// Runs `f` on the cached value in place (e.g. to note a use).
    pub fn update<R, Q>(&self, k: &Q, f: impl FnOnce(&mut V) -> R) -> Option<R>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().get_mut(k).map(f)
    }

    /// The generation to pass to `insert_if` after loading a value.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Stores `v` unless the cache was invalidated since `generation` was read.
    pub fn insert_if(&self, generation: u64, k: K, v: V) {
        let mut m = self.lock();
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if m.len() >= self.capacity {
            // Bounded memory: dropping everything is crude but cheap, and the next requests
            // simply reload what they need.
            m.clear();
        }
        m.insert(k, v);
    }

    pub fn remove(&self, k: &K) {
        let mut m = self.lock();
        self.bump();
        m.remove(k);
    }

    pub fn clear(&self) {
        let mut m = self.lock();
        self.bump();
        m.clear();
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Fully resolved credentials, valid while the shared epoch has not moved: any invalidation of
/// the caches they were built from empties this one at once.
pub struct EpochMap<V> {
    map: Mutex<HashMap<String, (u64, V)>>,
    epoch: Arc<AtomicU64>,
    capacity: usize,
}

impl<V: Clone> EpochMap<V> {
    pub fn new(capacity: usize, epoch: Arc<AtomicU64>) -> Self {
        EpochMap {
            map: Mutex::new(HashMap::new()),
            epoch,
            capacity,
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    pub fn get(&self, k: &str) -> Option<V> {
        let now = self.epoch();
        let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        m.get(k).filter(|(e, _)| *e == now).map(|(_, v)| v.clone())
    }

    /// Stores `v` unless anything was invalidated since `epoch` was read.
    pub fn insert_if(&self, epoch: u64, k: String, v: V) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if self.epoch() != epoch {
            return;
        }
        if m.len() >= self.capacity {
            m.retain(|_, (e, _)| *e == epoch);
            if m.len() >= self.capacity {
                m.clear();
            }
        }
        m.insert(k, (epoch, v));
    }

    pub fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_loads_are_not_stored() {
        let c: Cache<u32, u32> = Cache::new(10);
        let g = c.generation();
        c.remove(&1);
        c.insert_if(g, 1, 1);
        assert_eq!(c.get(&1), None);
        let g = c.generation();
        c.insert_if(g, 1, 2);
        assert_eq!(c.get(&1), Some(2));
    }

    #[test]
    fn capacity_is_bounded() {
        let c: Cache<u32, u32> = Cache::new(4);
        for i in 0..100 {
            c.insert_if(c.generation(), i, i);
        }
        assert!(c.len() <= 4);
    }
}
