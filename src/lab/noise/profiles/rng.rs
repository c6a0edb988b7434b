//! The generator's randomness: seeded RNG helpers, weighted tables, the follow-up queue.

use super::*;

pub(super) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

pub(super) fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The generator's RNG with the few sampling shapes the profiles need; none of them can panic
/// on an empty range.
#[derive(Debug)]
pub(super) struct R(pub(super) StdRng);

impl R {
    pub(super) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.0.gen_range(0..n) }
    }

    pub(super) fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    pub(super) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            self.0.gen_range(lo..=hi)
        }
    }

    pub(super) fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Index biased towards the front: a few busy clients and many quiet ones, like real logs.
    pub(super) fn skewed(&mut self, len: usize) -> usize {
        let u = self.unit();
        ((u * u * len as f64) as usize).min(len.saturating_sub(1))
    }

    /// Log-uniform in [lo, hi]: sizes and durations span orders of magnitude.
    pub(super) fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let lo = lo.max(1);
        if hi <= lo {
            return lo;
        }
        let span = (hi as f64 / lo as f64).ln();
        ((lo as f64) * (span * self.unit()).exp()).clamp(lo as f64, hi as f64) as u64
    }

    pub(super) fn pick<'t, T, const N: usize>(&mut self, table: &'t Table<T, N>) -> &'t T {
        const { assert!(N > 0, "weighted table must not be empty") };
        let x = self.below(table.total);
        let i = table.cum.partition_point(|&c| c <= x);
        &table.entries[i.min(N - 1)].0
    }

    pub(super) fn port_windows(&mut self) -> u16 {
        self.between(49_152, 65_535) as u16
    }

    pub(super) fn port_linux(&mut self) -> u16 {
        self.between(32_768, 60_999) as u16
    }
}

/// A weighted table with its cumulative weights computed at compile time, so a pick is one
/// random draw and a binary search.
#[derive(Debug)]
pub(super) struct Table<T, const N: usize> {
    pub(super) entries: [(T, u32); N],
    pub(super) cum: [u64; N],
    pub(super) total: u64,
}

impl<T, const N: usize> Table<T, N> {
    pub(super) const fn new(entries: [(T, u32); N]) -> Self {
        assert!(N > 0, "weighted table must not be empty");
        let mut cum = [0u64; N];
        let mut total = 0u64;
        let mut i = 0;
        while i < N {
            total += entries[i].1 as u64;
            cum[i] = total;
            i += 1;
        }
        assert!(total > 0, "weighted table needs a positive weight");
        Table {
            entries,
            cum,
            total,
        }
    }
}

/// Follow-up events (session closes, logoffs...) waiting for their slot. A min-heap on
/// (due, seq): the earliest due first, ties in scheduling order.
#[derive(Debug)]
pub(super) struct Pending<F> {
    pub(super) due: u64,
    pub(super) seq: u64,
    pub(super) host: usize,
    pub(super) fields: F,
}

impl<F> PartialEq for Pending<F> {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl<F> Eq for Pending<F> {}
impl<F> PartialOrd for Pending<F> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<F> Ord for Pending<F> {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

#[derive(Debug)]
pub(super) struct Queue<F> {
    pub(super) heap: BinaryHeap<Pending<F>>,
    pub(super) seq: u64,
}

impl<F> Queue<F> {
    /// Bounds memory when long sessions pile up; past it the oldest follow-up goes out early.
    pub(super) const CAP: usize = 4096;

    pub(super) fn new() -> Self {
        Queue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    pub(super) fn push(&mut self, due: u64, host: usize, fields: F) {
        self.seq += 1;
        self.heap.push(Pending {
            due,
            seq: self.seq,
            host,
            fields,
        });
    }

    pub(super) fn pop_due(&mut self, now: u64) -> Option<(usize, F)> {
        let ready = match self.heap.peek() {
            Some(p) => p.due <= now || self.heap.len() > Self::CAP,
            None => false,
        };
        if ready {
            self.heap.pop().map(|p| (p.host, p.fields))
        } else {
            None
        }
    }
}
