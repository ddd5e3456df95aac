//! Bounded collections for baselines: every per-device structure has a cap,
//! counts what it could not hold, and never grows with the input.

use crate::capture::Nanos;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// When an entry was first and last seen, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// First time.
    pub first: Nanos,
    /// Last time.
    pub last: Nanos,
    /// Times seen.
    pub count: u64,
}

/// A set with counts, bounded at `cap` entries. New entries beyond the cap
/// are not stored; they are counted in `overflow`, and a set that has
/// overflowed no longer claims to know what is new.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(bound(
    serialize = "K: Serialize + Ord",
    deserialize = "K: Deserialize<'de> + Ord"
))]
pub struct Capped<K: Ord> {
    #[serde(with = "as_pairs")]
    items: BTreeMap<K, Seen>,
    cap: usize,
    /// New entries refused because the set was full.
    pub overflow: u64,
}

impl<K: Ord + Clone> Capped<K> {
    /// An empty set holding at most `cap` entries.
    pub fn new(cap: usize) -> Capped<K> {
        Capped {
            items: BTreeMap::new(),
            cap,
            overflow: 0,
        }
    }

    /// Records `k` at `ts`. Returns `Some(true)` if it was new, `Some(false)`
    /// if known, `None` if new but refused (full).
    pub fn see(&mut self, k: K, ts: Nanos) -> Option<bool> {
        if let Some(s) = self.items.get_mut(&k) {
            s.last = s.last.max(ts);
            s.first = s.first.min(ts);
            s.count += 1;
            return Some(false);
        }
        if self.items.len() >= self.cap {
            self.overflow += 1;
            return None;
        }
        self.items.insert(
            k,
            Seen {
                first: ts,
                last: ts,
                count: 1,
            },
        );
        Some(true)
    }

    /// The entry for `k`.
    pub fn get(&self, k: &K) -> Option<&Seen> {
        self.items.get(k)
    }

    /// True if `k` is held.
    pub fn contains(&self, k: &K) -> bool {
        self.items.contains_key(k)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// True once an entry was refused: novelty can no longer be judged.
    pub fn saturated(&self) -> bool {
        self.overflow > 0
    }

    /// The entries.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &Seen)> {
        self.items.iter()
    }

    /// Approximate bytes held (for state-size figures): each entry's key
    /// and counters plus the tree's per-entry overhead.
    pub fn approx_bytes(&self) -> usize {
        self.approx_bytes_by(|_| 0)
    }

    /// [`Capped::approx_bytes`] plus `heap(key)` bytes each key owns
    /// elsewhere (a string's text).
    pub fn approx_bytes_by(&self, heap: impl Fn(&K) -> usize) -> usize {
        self.items
            .keys()
            .map(|k| std::mem::size_of::<K>() + std::mem::size_of::<Seen>() + 16 + heap(k))
            .sum()
    }
}

mod as_pairs {
    use super::Seen;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<K: Serialize + Ord, S: Serializer>(
        m: &BTreeMap<K, Seen>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let v: Vec<(&K, &Seen)> = m.iter().collect();
        v.serialize(s)
    }

    pub fn deserialize<'de, K: Deserialize<'de> + Ord, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<K, Seen>, D::Error> {
        let v: Vec<(K, Seen)> = Vec::deserialize(d)?;
        Ok(v.into_iter().collect())
    }
}

/// An exponentially weighted mean and variance (for rates and periods).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Ewma {
    /// Mean.
    pub mean: f64,
    /// Variance.
    pub var: f64,
    /// Samples.
    pub n: u64,
}

impl Ewma {
    /// Adds a sample with smoothing `alpha` (the first sample sets the mean).
    pub fn add(&mut self, x: f64, alpha: f64) {
        if self.n == 0 {
            self.mean = x;
            self.var = 0.0;
        } else {
            let d = x - self.mean;
            self.mean += alpha * d;
            self.var = (1.0 - alpha) * (self.var + alpha * d * d);
        }
        self.n += 1;
    }

    /// How many standard deviations `x` lies from the mean (with a floor on
    /// the deviation of `floor_frac` of the mean, so a perfectly regular
    /// series still tolerates small jitter).
    pub fn z(&self, x: f64, floor_frac: f64) -> f64 {
        let sd = self.var.sqrt().max(self.mean.abs() * floor_frac).max(1e-9);
        (x - self.mean).abs() / sd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_set_refuses_beyond_cap_and_counts() {
        let mut c: Capped<u32> = Capped::new(2);
        assert_eq!(c.see(1, 10), Some(true));
        assert_eq!(c.see(1, 20), Some(false));
        assert_eq!(c.see(2, 30), Some(true));
        assert_eq!(c.see(3, 40), None);
        assert_eq!(c.len(), 2);
        assert_eq!(c.overflow, 1);
        assert!(c.saturated());
        assert_eq!(c.get(&1).unwrap().count, 2);
        let j = serde_json::to_string(&c).unwrap();
        let back: Capped<u32> = serde_json::from_str(&j).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn ewma_flags_a_shift() {
        let mut e = Ewma::default();
        for _ in 0..50 {
            e.add(1.0, 0.1);
        }
        assert!(e.z(1.02, 0.05) < 1.0);
        assert!(e.z(3.0, 0.05) > 10.0);
    }
}
