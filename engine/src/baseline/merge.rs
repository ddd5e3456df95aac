//! Merges the workers' observation streams back into input order.
//!
//! Each worker's observations arrive in increasing `seq` (input position),
//! with a watermark: the position it has fully processed. An observation is
//! released once every worker that is still running has passed its position,
//! so the baseline sees exactly the order a single worker would have produced.

use super::obs::Obs;
use super::ObsBatch;
use std::collections::VecDeque;

/// Most observations held waiting for slower workers; beyond it the oldest
/// are released early (counted: results may then depend on the worker count).
pub const MAX_HELD: usize = 1 << 20;

/// The k-way merge.
pub struct Merger {
    queues: Vec<VecDeque<Obs>>,
    watermarks: Vec<u64>,
    done: Vec<bool>,
    held: usize,
    /// Observations released before their turn because `MAX_HELD` was reached.
    pub forced: u64,
}

impl Merger {
    /// A merge over `workers` streams.
    pub fn new(workers: usize) -> Merger {
        Merger {
            queues: (0..workers).map(|_| VecDeque::new()).collect(),
            watermarks: vec![0; workers],
            done: vec![false; workers],
            held: 0,
            forced: 0,
        }
    }

    /// Adds one worker batch.
    pub fn push(&mut self, b: ObsBatch) {
        let Some(q) = self.queues.get_mut(b.worker) else {
            return;
        };
        self.held += b.items.len();
        q.extend(b.items);
        self.watermarks[b.worker] = self.watermarks[b.worker].max(b.watermark);
        if b.last {
            self.done[b.worker] = true;
            self.watermarks[b.worker] = u64::MAX;
        }
    }

    /// True when every worker has finished and nothing is held.
    pub fn finished(&self) -> bool {
        self.done.iter().all(|&d| d) && self.held == 0
    }

    /// The next observation in input order, if it may be released: every
    /// other worker has either finished, passed its position, or has queued
    /// something (its later observations can only come after).
    pub fn pop(&mut self) -> Option<Obs> {
        let mut best: Option<(u64, usize)> = None;
        for (i, q) in self.queues.iter().enumerate() {
            if let Some(h) = q.front() {
                if best.is_none_or(|(s, _)| h.seq < s) {
                    best = Some((h.seq, i));
                }
            }
        }
        let (seq, i) = best?;
        let releasable = (0..self.queues.len()).all(|j| {
            j == i || self.done[j] || self.watermarks[j] >= seq || !self.queues[j].is_empty()
        });
        if !releasable {
            if self.held > MAX_HELD {
                self.forced += 1;
            } else {
                return None;
            }
        }
        self.held -= 1;
        self.queues[i].pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::obs::{DeviceId, FlowRef, ObsKind};

    fn ob(seq: u64) -> Obs {
        let d = DeviceId { addr: 1, v6: false };
        Obs {
            seq,
            ts: seq,
            flow: FlowRef {
                flow_id: 0,
                client: d,
                server: d,
                client_port: 0,
                server_port: 0,
                proto: 6,
                vlan: 0,
            },
            kind: ObsKind::StreamOverlap,
        }
    }

    fn batch(worker: usize, watermark: u64, seqs: &[u64], last: bool) -> ObsBatch {
        ObsBatch {
            worker,
            watermark,
            items: seqs.iter().map(|&s| ob(s)).collect(),
            last,
        }
    }

    #[test]
    fn interleaves_two_workers_in_input_order() {
        let mut m = Merger::new(2);
        m.push(batch(0, 10, &[1, 4, 9], false));
        // Worker 1 has said nothing yet: nothing may be released.
        assert!(m.pop().is_none());
        m.push(batch(1, 6, &[2, 5], false));
        let got: Vec<u64> = std::iter::from_fn(|| m.pop()).map(|o| o.seq).collect();
        assert_eq!(got, vec![1, 2, 4, 5]);
        m.push(batch(1, u64::MAX, &[7], true));
        m.push(batch(0, u64::MAX, &[], true));
        let got: Vec<u64> = std::iter::from_fn(|| m.pop()).map(|o| o.seq).collect();
        assert_eq!(got, vec![7, 9]);
        assert!(m.finished());
    }
}
