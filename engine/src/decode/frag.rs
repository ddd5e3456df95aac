//! IPv4 and IPv6 fragment reassembly.
//!
//! References: RFC 791 (IPv4 fragmentation), RFC 815 (hole tracking),
//! RFC 8200 section 4.5 (IPv6 Fragment header), RFC 5722 (overlapping IPv6
//! fragments).
//!
//! Every bound is named: at most `max_fragment_trackers` datagrams under
//! reassembly, at most `max_fragment_bytes` of buffers across them, at most
//! [`MAX_FRAGMENTS_PER_DATAGRAM`] fragments and [`MAX_DATAGRAM`] bytes per
//! datagram. A datagram is dropped when it is still incomplete
//! `fragment_timeout_secs` of packet time after its first fragment (or when
//! packet time has jumped back by more than that); expiry runs lazily (at
//! most once per [`SWEEP_INTERVAL_NS`] of packet time while fragments
//! arrive) and when the owner calls `expire`.
//!
//! Overlaps keep the bytes that arrived first and are counted: the decoder
//! does not try to imitate any one host's policy, it makes overlap visible.
//! Fragments that disagree about where the datagram ends drop the datagram.

use super::{Addr, DecodeStats, Tunnel};
use crate::capture::Nanos;
use hashbrown::HashMap;

/// Largest reassembled payload (an IP datagram cannot be longer).
pub const MAX_DATAGRAM: u32 = 65535;
/// Most fragments accepted for one datagram.
pub const MAX_FRAGMENTS_PER_DATAGRAM: usize = 64;
/// Most idle buffers kept for reuse.
const MAX_SPARE_BUFFERS: usize = 32;
/// Packet time between lazy expiry sweeps.
pub const SWEEP_INTERVAL_NS: u64 = 1_000_000_000;

/// What identifies one datagram under reassembly. VLAN and tunnel are part of
/// it so that equal inner addresses in different tunnels never mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FragKey {
    pub src: Addr,
    pub dst: Addr,
    /// IPv4 identification (16 bits) or IPv6 fragment identification.
    pub id: u32,
    /// IPv4 protocol; 0 for IPv6 (its next header is taken from the first fragment).
    pub proto: u8,
    pub v6: bool,
    pub vlan: u16,
    pub tunnel: Tunnel,
}

/// One fragment, as the IP layer hands it over.
pub(crate) struct Fragment<'b> {
    /// Byte offset of `data` in the datagram's payload.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
    /// The fragment's payload.
    pub data: &'b [u8],
    /// Protocol / next header this fragment announces.
    pub next: u8,
    /// Wire length of the frame that carried it.
    pub wire_len: u32,
}

/// What became of a fragment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FragResult {
    /// Stored; the datagram is not complete yet.
    Held,
    /// Not stored (the reason is counted).
    Dropped,
    /// The datagram is complete: its payload is [`FragTable::datagram`].
    Complete {
        /// Protocol (IPv4) or next header (IPv6, from the first fragment).
        next: u8,
        /// Sum of the wire lengths of all its fragments' frames.
        wire_len: u32,
    },
}

#[derive(Debug)]
struct Tracker {
    first_seen: Nanos,
    buf: Vec<u8>,
    /// Received byte ranges, sorted and merged.
    ranges: [(u32, u32); MAX_FRAGMENTS_PER_DATAGRAM],
    nranges: usize,
    /// End of the datagram, once the last fragment arrived.
    total: Option<u32>,
    frags: usize,
    wire_len: u32,
    /// Next header from the fragment at offset 0.
    next: Option<u8>,
}

/// The per-decoder reassembly table.
#[derive(Debug)]
pub(crate) struct FragTable {
    map: HashMap<FragKey, Tracker>,
    spare: Vec<Vec<u8>>,
    /// The most recently completed datagram; packets borrow from it.
    done: Vec<u8>,
    /// Buffer bytes held by trackers.
    bytes: usize,
    max_trackers: usize,
    max_bytes: usize,
    timeout_ns: u64,
    /// Packet time of the last sweep (`None` before the first).
    last_sweep: Option<Nanos>,
}

impl FragTable {
    pub(crate) fn new(max_trackers: usize, max_bytes: usize, timeout_secs: u64) -> FragTable {
        FragTable {
            map: HashMap::default(),
            spare: Vec::new(),
            done: Vec::new(),
            bytes: 0,
            max_trackers,
            max_bytes,
            timeout_ns: timeout_secs.saturating_mul(1_000_000_000),
            last_sweep: None,
        }
    }

    /// Datagrams under reassembly.
    pub(crate) fn in_use(&self) -> usize {
        self.map.len()
    }

    /// Buffer bytes held by datagrams under reassembly.
    pub(crate) fn bytes_in_use(&self) -> usize {
        self.bytes
    }

    /// The payload of the datagram completed by the last `Complete` result.
    pub(crate) fn datagram(&self) -> &[u8] {
        &self.done
    }

    /// Older than the timeout, or from more than the timeout in the future:
    /// packet time can jump back in merged captures, and a tracker from
    /// "later" is as stale as one from long ago.
    fn expired(&self, t: &Tracker, now: Nanos) -> bool {
        now.abs_diff(t.first_seen) > self.timeout_ns
    }

    /// Drops every datagram older than the timeout at packet time `now`.
    pub(crate) fn expire(&mut self, now: Nanos, stats: &mut DecodeStats) {
        let timeout = self.timeout_ns;
        let mut freed = Vec::new();
        self.map.retain(|_, t| {
            if now.abs_diff(t.first_seen) > timeout {
                freed.push(std::mem::take(&mut t.buf));
                false
            } else {
                true
            }
        });
        stats.frag_timeout += freed.len() as u64;
        for b in freed {
            self.recycle(b);
        }
        self.last_sweep = Some(now);
    }

    /// Returns a tracker's buffer: its bytes stop counting against the budget.
    fn recycle(&mut self, buf: Vec<u8>) {
        self.bytes = self.bytes.saturating_sub(buf.len());
        self.keep_spare(buf);
    }

    fn keep_spare(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < MAX_SPARE_BUFFERS {
            buf.clear();
            self.spare.push(buf);
        }
    }

    fn drop_tracker(&mut self, key: &FragKey) {
        if let Some(t) = self.map.remove(key) {
            self.recycle(t.buf);
        }
    }

    /// Adds one fragment of the datagram `key` at packet time `now`.
    pub(crate) fn insert(
        &mut self,
        stats: &mut DecodeStats,
        key: FragKey,
        now: Nanos,
        frag: Fragment<'_>,
    ) -> FragResult {
        if self
            .last_sweep
            .is_none_or(|t| now.abs_diff(t) >= SWEEP_INTERVAL_NS)
        {
            self.expire(now, stats);
        }
        let len = u32::try_from(frag.data.len()).unwrap_or(u32::MAX);
        let end = frag.offset.saturating_add(len);
        if end > MAX_DATAGRAM {
            stats.frag_too_large += 1;
            self.drop_tracker(&key);
            return FragResult::Dropped;
        }

        // Find or make the tracker.
        if self.map.get(&key).is_some_and(|t| self.expired(t, now)) {
            stats.frag_timeout += 1;
            self.drop_tracker(&key);
        }
        if !self.map.contains_key(&key) {
            if self.map.len() >= self.max_trackers {
                self.expire(now, stats);
                if self.map.len() >= self.max_trackers {
                    stats.frag_table_full += 1;
                    return FragResult::Dropped;
                }
            }
            let buf = self.spare.pop().unwrap_or_default();
            let t = Tracker {
                first_seen: now,
                buf,
                ranges: [(0, 0); MAX_FRAGMENTS_PER_DATAGRAM],
                nranges: 0,
                total: None,
                frags: 0,
                wire_len: 0,
                next: None,
            };
            self.map.insert(key, t);
        }
        let room = self.max_bytes.saturating_sub(self.bytes);
        let Some(t) = self.map.get_mut(&key) else {
            return FragResult::Dropped;
        };

        // Bounds and consistency.
        t.frags += 1;
        if t.frags > MAX_FRAGMENTS_PER_DATAGRAM {
            stats.frag_too_many += 1;
            self.drop_tracker(&key);
            return FragResult::Dropped;
        }
        let held_end = t
            .ranges
            .get(..t.nranges)
            .and_then(|r| r.last())
            .map_or(0, |r| r.1);
        let inconsistent = if frag.more {
            t.total.is_some_and(|total| end > total)
        } else {
            t.total.is_some_and(|total| total != end) || held_end > end
        };
        if inconsistent {
            stats.frag_inconsistent += 1;
            self.drop_tracker(&key);
            return FragResult::Dropped;
        }
        let need = end as usize;
        if need > t.buf.len() {
            let grow = need - t.buf.len();
            if grow > room {
                stats.frag_memory_full += 1;
                self.drop_tracker(&key);
                return FragResult::Dropped;
            }
            t.buf.resize(need, 0);
            self.bytes += grow;
        }

        // Copy only into the holes: earlier bytes win.
        let (start, end) = (frag.offset, end);
        let mut cursor = start;
        let mut overlap = false;
        for &(s, e) in t.ranges.iter().take(t.nranges) {
            if e <= cursor {
                continue;
            }
            if s >= end {
                break;
            }
            overlap = true;
            if s > cursor {
                copy(&mut t.buf, frag.data, start, cursor, s);
            }
            cursor = cursor.max(e);
        }
        if cursor < end {
            copy(&mut t.buf, frag.data, start, cursor, end);
        }
        if overlap {
            stats.frag_overlap += 1;
        }
        add_range(&mut t.ranges, &mut t.nranges, (start, end));
        if !frag.more {
            t.total = Some(end);
        }
        if start == 0 {
            t.next.get_or_insert(frag.next);
        }
        t.wire_len = t.wire_len.saturating_add(frag.wire_len);

        // Complete?
        let complete = t
            .total
            .is_some_and(|total| t.nranges == 1 && t.ranges.first() == Some(&(0, total)));
        if !complete {
            return FragResult::Held;
        }
        let Some(mut t) = self.map.remove(&key) else {
            return FragResult::Dropped;
        };
        let total = t.total.unwrap_or(0) as usize;
        t.buf.truncate(total);
        self.bytes = self.bytes.saturating_sub(t.buf.len());
        let previous = std::mem::replace(&mut self.done, std::mem::take(&mut t.buf));
        self.keep_spare(previous);
        stats.frag_reassembled += 1;
        FragResult::Complete {
            next: t.next.unwrap_or(frag.next),
            wire_len: t.wire_len,
        }
    }
}

/// Copies datagram bytes `[from, to)` out of a fragment that starts at `start`.
#[inline]
fn copy(buf: &mut [u8], data: &[u8], start: u32, from: u32, to: u32) {
    let (a, b) = ((from - start) as usize, (to - start) as usize);
    if let (Some(dst), Some(src)) = (buf.get_mut(from as usize..to as usize), data.get(a..b)) {
        dst.copy_from_slice(src);
    }
}

/// Inserts `r` into the sorted, merged range list.
fn add_range(ranges: &mut [(u32, u32); MAX_FRAGMENTS_PER_DATAGRAM], n: &mut usize, r: (u32, u32)) {
    // Merge everything that touches or overlaps r.
    let (mut s, mut e) = r;
    let mut out = [(0u32, 0u32); MAX_FRAGMENTS_PER_DATAGRAM];
    let mut k = 0;
    let mut placed = false;
    // The caller admits at most MAX_FRAGMENTS_PER_DATAGRAM fragments, so at
    // most that many ranges exist after this one is added; `push` still
    // refuses to write past the array rather than trusting that.
    let mut push = |r: (u32, u32)| {
        if let Some(slot) = out.get_mut(k) {
            *slot = r;
            k += 1;
        }
    };
    for &(rs, re) in ranges.iter().take(*n) {
        if re < s {
            push((rs, re));
        } else if rs > e {
            if !placed {
                push((s, e));
                placed = true;
            }
            push((rs, re));
        } else {
            s = s.min(rs);
            e = e.max(re);
        }
    }
    if !placed {
        push((s, e));
    }
    *ranges = out;
    *n = k;
}
