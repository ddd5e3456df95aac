//! One direction of one TCP connection: placement, buffering, delivery.

use core::mem::size_of;

use super::recent::RecentWindow;
use super::{
    OverlapPolicy, ReassemblyConfig, ReassemblyMemcap, StreamEvent, StreamSink,
    MAX_ACK_AHEAD_OF_DATA, MAX_RECENT_WINDOW_BYTES, MAX_SEQ_AHEAD,
};
use crate::decode::tcp_flags;

/// "Not set" for offsets and depth.
const NONE: u64 = u64::MAX;

/// Bookkeeping charged per buffered chunk for its payload allocation
/// (allocator header and rounding, approximated).
pub const CHUNK_ALLOC_OVERHEAD_BYTES: u64 = 16;
/// Bytes charged per slot of a stream's chunk table.
pub const CHUNK_SLOT_BYTES: u64 = size_of::<Chunk>() as u64;
/// Charged for a recent-data window besides its bytes.
const RECENT_OVERHEAD_BYTES: u64 = (size_of::<RecentWindow>() as u64) + 16;

/// Buffered bytes that arrived out of order, with the range of the segment
/// they came from (the overlap policy compares whole original segments).
#[derive(Debug)]
struct Chunk {
    /// Stream offset of `data[0]`.
    off: u64,
    /// Offsets `[start, end)` of the whole segment these bytes came from.
    origin_start: u64,
    origin_end: u64,
    /// Packet time the bytes arrived.
    ts: u64,
    data: Box<[u8]>,
}

impl Chunk {
    #[inline]
    fn end(&self) -> u64 {
        self.off + self.data.len() as u64
    }
    #[inline]
    fn origin(&self) -> (u64, u64) {
        (self.origin_start, self.origin_end)
    }
}

/// The part of a new segment still to be placed.
#[derive(Clone, Copy)]
struct NewSeg<'a> {
    off: u64,
    data: &'a [u8],
    origin: (u64, u64),
    ts: u64,
}

impl NewSeg<'_> {
    #[inline]
    fn end(&self) -> u64 {
        self.off + self.data.len() as u64
    }
}

/// What one segment did, summed up when it is done.
#[derive(Default)]
struct SegmentNotes {
    /// First and one-past-last differing stream offsets.
    differ: Option<(u64, u64)>,
    overlapped_buffered: bool,
}

impl SegmentNotes {
    fn mark(&mut self, lo: u64, hi: u64) {
        self.differ = Some(match self.differ {
            None => (lo, hi),
            Some((a, b)) => (a.min(lo), b.max(hi)),
        });
    }

    /// Compares two copies of the bytes at stream offset `at`.
    fn compare(&mut self, at: u64, new: &[u8], old: &[u8]) {
        if new == old {
            return;
        }
        let pairs = || new.iter().zip(old.iter());
        let first = pairs().position(|(a, b)| a != b);
        let last = pairs().rposition(|(a, b)| a != b);
        if let (Some(f), Some(l)) = (first, last) {
            self.mark(at + f as u64, at + l as u64 + 1);
        }
    }
}

enum Insert {
    /// Stored, dropped or a pure duplicate: nothing more to do.
    Done,
    /// A per-stream limit: give up the earliest hole and try again.
    GiveUp,
}

mod state {
    /// The stream has a start (SYN or first data).
    pub const INIT: u8 = 1 << 0;
    /// Closed: FIN reached, RST, close() or discard().
    pub const CLOSED: u8 = 1 << 1;
    /// Depth reached.
    pub const DEPTH: u8 = 1 << 2;
    /// An ACK covers a hole; its grace period runs.
    pub const ACK_PENDING: u8 = 1 << 3;
    /// The memcap refused a recent-data window; do not ask again.
    pub const RECENT_DENIED: u8 = 1 << 4;
}

mod once {
    pub const HOLES: u8 = 1 << 0;
    pub const SEGMENTS: u8 = 1 << 1;
    pub const STREAM_MEM: u8 = 1 << 2;
    pub const GLOBAL_MEM: u8 = 1 << 3;
    pub const AFTER_FIN: u8 = 1 << 4;
}

/// What happened on one stream, for stats and the EVE flow record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounters {
    /// Bytes handed to [`StreamSink::data`].
    pub delivered_bytes: u64,
    /// Calls to [`StreamSink::gap`].
    pub gaps: u64,
    /// Bytes reported as gaps.
    pub gap_bytes: u64,
    /// Segments that overlapped data still buffered.
    pub overlaps: u64,
    /// Segments whose bytes differed from buffered or (recent) delivered
    /// bytes at the same offsets; one [`StreamEvent::OverlapDifferentData`]
    /// each.
    pub overlaps_different: u64,
    /// Segments buffered because they arrived ahead of a hole.
    pub out_of_order: u64,
    /// Segments that repeated bytes already delivered (wholly or partly).
    pub retransmissions: u64,
    /// Times a per-stream limit or the worker memcap was hit.
    pub limit_hits: u64,
    /// Out-of-order payload bytes dropped because the worker memcap was full.
    pub dropped_bytes: u64,
    /// Payload bytes not delivered for other reasons: after FIN, on a RST,
    /// after close or depth, out of window.
    pub ignored_bytes: u64,
    /// Segments or RSTs too far from the expected sequence numbers.
    pub out_of_window: u64,
    /// SYNs whose ISN disagreed with the stream's start.
    pub syn_mismatches: u64,
}

/// Reassembles one direction of one TCP connection. See the
/// [module documentation](super) for the contract.
///
/// Create it with [`TcpStream::new`], feed it this direction's segments with
/// [`segment`](Self::segment) and the other direction's ACK numbers with
/// [`ack`](Self::ack); call [`timeout`](Self::timeout) from the flow table's
/// sweep and [`close`](Self::close) (or [`discard`](Self::discard)) before
/// dropping it.
#[derive(Debug)]
pub struct TcpStream {
    /// Buffered out-of-order data, sorted by offset, non-overlapping; the
    /// first chunk starts after `next_off`.
    chunks: Vec<Chunk>,
    recent: Option<Box<RecentWindow>>,
    counters: StreamCounters,
    /// Stream offset of the next byte to deliver (delivered + gap bytes).
    next_off: u64,
    /// One past the highest stream offset seen in data.
    highest_end: u64,
    /// Stream offset of the FIN, or `NONE`.
    fin_off: u64,
    /// Highest stream offset the other side acknowledged (0 if none).
    acked_off: u64,
    /// The ACKed offset whose grace period runs, and since when.
    ack_hole_off: u64,
    ack_hole_since: u64,
    /// Arrival time of the oldest buffered chunk.
    oldest_ts: u64,
    /// Payload bytes in `chunks`.
    payload_bytes: u64,
    /// What this stream has charged to the memcap.
    charged: u64,
    depth: u64,
    gap_timeout_ns: u64,
    ack_grace_ns: u64,
    /// Sequence number of stream offset 0.
    base_seq: u32,
    /// Runs of contiguous buffered data, i.e. holes.
    runs: u32,
    max_buffered: u32,
    recent_cap: u32,
    max_holes: u16,
    max_segments: u16,
    policy: OverlapPolicy,
    state: u8,
    raised: u8,
}

impl TcpStream {
    /// A stream that has seen nothing yet, with `cfg`'s settings.
    pub fn new(cfg: &ReassemblyConfig) -> Self {
        TcpStream {
            chunks: Vec::new(),
            recent: None,
            counters: StreamCounters::default(),
            next_off: 0,
            highest_end: 0,
            fin_off: NONE,
            acked_off: 0,
            ack_hole_off: 0,
            ack_hole_since: 0,
            oldest_ts: NONE,
            payload_bytes: 0,
            charged: 0,
            depth: cfg.depth.unwrap_or(NONE),
            gap_timeout_ns: cfg.gap_timeout_ns,
            ack_grace_ns: cfg.ack_grace_ns,
            base_seq: 0,
            runs: 0,
            max_buffered: cfg.max_buffered_bytes_per_stream,
            recent_cap: cfg.recent_window_bytes.min(MAX_RECENT_WINDOW_BYTES),
            max_holes: cfg.max_holes_per_stream,
            max_segments: cfg.max_segments_per_stream,
            policy: cfg.policy,
            state: 0,
            raised: 0,
        }
    }

    // ----- settings --------------------------------------------------------

    /// Sets the depth for this stream: `None` is unlimited (OT protocols).
    /// If delivery is already past it, the stream stops at its next data.
    pub fn set_depth(&mut self, depth: Option<u64>) {
        self.depth = depth.unwrap_or(NONE);
    }

    /// Sets the overlap policy for this stream (e.g. from the target host's
    /// operating system).
    pub fn set_policy(&mut self, policy: OverlapPolicy) {
        self.policy = policy;
    }

    /// Sets the recent-data window for this stream, in bytes (at most
    /// [`MAX_RECENT_WINDOW_BYTES`]; 0 turns it off). Takes effect at the next
    /// segment; a window already allocated is kept at its size.
    pub fn set_recent_window(&mut self, bytes: u32) {
        self.recent_cap = bytes.min(MAX_RECENT_WINDOW_BYTES);
        if self.recent_cap == 0 {
            self.recent = None;
        }
        self.state &= !state::RECENT_DENIED;
    }

    // ----- accessors -------------------------------------------------------

    /// Counters so far.
    pub fn counters(&self) -> &StreamCounters {
        &self.counters
    }

    /// The overlap policy in use.
    pub fn policy(&self) -> OverlapPolicy {
        self.policy
    }

    /// The depth in use (`None`: unlimited).
    pub fn depth(&self) -> Option<u64> {
        (self.depth != NONE).then_some(self.depth)
    }

    /// Stream offset of the next byte to deliver: bytes delivered plus gap
    /// bytes so far.
    pub fn delivered_offset(&self) -> u64 {
        self.next_off
    }

    /// The sequence number expected next, once the stream has started.
    pub fn next_seq(&self) -> Option<u32> {
        (self.state & state::INIT != 0).then(|| self.base_seq.wrapping_add(self.next_off as u32))
    }

    /// Payload bytes waiting behind holes.
    pub fn buffered_bytes(&self) -> u64 {
        self.payload_bytes
    }

    /// Holes currently open before buffered data.
    pub fn holes(&self) -> u32 {
        self.runs
    }

    /// Bytes this stream has charged to the memcap.
    pub fn charged_bytes(&self) -> u64 {
        self.charged
    }

    /// Whether the stream delivers nothing more (closed, finished, reset or
    /// at depth).
    pub fn is_done(&self) -> bool {
        self.state & (state::CLOSED | state::DEPTH) != 0
    }

    // ----- inputs ----------------------------------------------------------

    /// Records the SYN (or SYN-ACK) of this direction: the stream starts at
    /// `isn + 1`.
    ///
    /// Before any data, a different ISN restarts the stream (a new attempt
    /// on the same ports). After data has started the stream, a SYN is
    /// ignored: a SYN carrying the ISN the data implies is just late on the
    /// SPAN; any other is counted in [`StreamCounters::syn_mismatches`].
    pub fn handle_syn(&mut self, isn: u32) {
        let base = isn.wrapping_add(1);
        if self.state & state::INIT == 0 {
            self.base_seq = base;
            self.state |= state::INIT;
            return;
        }
        if base == self.base_seq {
            return;
        }
        self.counters.syn_mismatches += 1;
        let no_data = self.highest_end == 0 && self.next_off == 0 && self.chunks.is_empty();
        if no_data && !self.is_done() {
            self.base_seq = base;
            self.acked_off = 0;
            self.fin_off = NONE;
            self.state &= !state::ACK_PENDING;
        }
    }

    /// Feeds one segment of this direction: packet time `ts_ns`, sequence
    /// number `seq`, TCP `flags` (FIN, SYN, RST bits as on the wire; ACK and
    /// others are ignored here) and its payload.
    ///
    /// In-order data with nothing buffered goes straight to `sink` borrowed
    /// from `payload`. Never fails; what it did shows in `sink` and in the
    /// [counters](Self::counters).
    pub fn segment<S: StreamSink>(
        &mut self,
        ts_ns: u64,
        seq: u32,
        flags: u8,
        payload: &[u8],
        mem: &mut ReassemblyMemcap,
        sink: &mut S,
    ) {
        self.segment_inner(ts_ns, seq, flags, payload, mem, sink);
        self.settle(mem);
    }

    /// Feeds an ACK number sent by the *other* direction: the receiver has
    /// every byte of this direction before `ack`. A hole the ACK covers is
    /// reported as a gap if still open [`ack_grace_ns`] later. ACKs before
    /// the stream has started or behind delivery are ignored, and so are ACKs
    /// more than [`MAX_ACK_AHEAD_OF_DATA`] past the highest byte seen (counted
    /// as out of window).
    ///
    /// [`ack_grace_ns`]: ReassemblyConfig::ack_grace_ns
    pub fn ack<S: StreamSink>(
        &mut self,
        ack: u32,
        ts_ns: u64,
        mem: &mut ReassemblyMemcap,
        sink: &mut S,
    ) {
        if self.state & state::INIT != 0 && !self.is_done() {
            let rel = self.rel(ack);
            let off = self.next_off.saturating_add(rel.max(0) as u64);
            if rel > 0
                && off
                    > self
                        .highest_end
                        .max(self.next_off)
                        .saturating_add(MAX_ACK_AHEAD_OF_DATA)
            {
                // Acknowledges far more than was ever seen: a stale ACK (port
                // reuse, challenge ACK) or a forged one, not SPAN loss.
                self.counters.out_of_window += 1;
            } else if rel > 0 {
                self.acked_off = self.acked_off.max(off);
                if self.state & state::ACK_PENDING == 0 && self.acked_target() > self.next_off {
                    self.state |= state::ACK_PENDING;
                    self.ack_hole_off = self.acked_target();
                    self.ack_hole_since = ts_ns;
                }
            }
            self.poll_timers(ts_ns, sink);
        }
        self.settle(mem);
    }

    /// Runs the timers at packet time `now_ns` without a packet: ACKed holes
    /// past their grace, and data waiting behind a hole longer than the gap
    /// timeout, become gaps and the data behind them is delivered.
    pub fn timeout<S: StreamSink>(
        &mut self,
        now_ns: u64,
        mem: &mut ReassemblyMemcap,
        sink: &mut S,
    ) {
        self.poll_timers(now_ns, sink);
        self.settle(mem);
    }

    /// Ends the stream (FIN handled elsewhere, RST, flow end or eviction):
    /// every hole becomes a gap and all buffered data is delivered, then a
    /// trailing gap up to the furthest byte known to exist (highest data,
    /// ACK, or FIN). Releases all memory. Calling it again does nothing.
    pub fn close<S: StreamSink>(&mut self, mem: &mut ReassemblyMemcap, sink: &mut S) {
        self.close_inner(sink);
        self.settle(mem);
    }

    /// Drops everything without delivering and releases the memory.
    pub fn discard(&mut self, mem: &mut ReassemblyMemcap) {
        self.state |= state::CLOSED;
        self.settle(mem);
    }

    // ----- internals -------------------------------------------------------

    /// Sequence number relative to the next expected byte, modulo 2^32.
    #[inline]
    fn rel(&self, seq: u32) -> i32 {
        seq.wrapping_sub(self.base_seq.wrapping_add(self.next_off as u32)) as i32
    }

    /// How far an ACK lets us go: not past the FIN, which is no data.
    fn acked_target(&self) -> u64 {
        self.acked_off.min(self.fin_off)
    }

    fn segment_inner<S: StreamSink>(
        &mut self,
        ts: u64,
        seq: u32,
        flags: u8,
        payload: &[u8],
        mem: &mut ReassemblyMemcap,
        sink: &mut S,
    ) {
        if self.is_done() {
            self.counters.ignored_bytes += payload.len() as u64;
            return;
        }
        self.poll_timers(ts, sink);
        if self.is_done() {
            self.counters.ignored_bytes += payload.len() as u64;
            return;
        }
        let mut data_seq = seq;
        let mut flags = flags;
        if flags & tcp_flags::SYN != 0 {
            self.handle_syn(seq);
            data_seq = seq.wrapping_add(1);
            // SYN+FIN and SYN+RST are invalid combinations (scans, fuzzing):
            // the SYN is honoured, the other flag is not.
            flags &= !(tcp_flags::FIN | tcp_flags::RST);
        }
        if flags & tcp_flags::RST != 0 {
            self.on_rst(data_seq, payload, sink);
            return;
        }
        if self.state & state::INIT == 0 {
            if payload.is_empty() {
                return;
            }
            // Midstream pickup: the first data seen starts the stream.
            self.base_seq = data_seq;
            self.state |= state::INIT;
        }
        let rel = i64::from(self.rel(data_seq));
        if flags & tcp_flags::FIN != 0 {
            self.note_fin(rel + payload.len() as i64);
        }
        if payload.is_empty() {
            self.check_finished(sink);
            return;
        }
        if rel == -1 && payload.len() <= 1 {
            // Keep-alive or zero-window probe: one old byte at most.
            return;
        }
        if rel > MAX_SEQ_AHEAD as i64 {
            self.counters.out_of_window += 1;
            self.counters.ignored_bytes += payload.len() as u64;
            return;
        }
        self.ensure_recent(mem);
        self.place_data(ts, rel, payload, mem, sink);
        self.check_finished(sink);
    }

    /// Records the FIN at `rel_end` bytes past the next expected byte. The
    /// first plausible FIN is kept.
    fn note_fin(&mut self, rel_end: i64) {
        if self.fin_off != NONE || rel_end < 0 || rel_end as u64 > MAX_SEQ_AHEAD {
            return;
        }
        self.fin_off = self.next_off + rel_end as u64;
    }

    fn check_finished<S: StreamSink>(&mut self, sink: &mut S) {
        if self.fin_off != NONE && self.next_off >= self.fin_off && !self.is_done() {
            self.state |= state::CLOSED;
            sink.event(StreamEvent::Finished);
        }
    }

    fn on_rst<S: StreamSink>(&mut self, data_seq: u32, payload: &[u8], sink: &mut S) {
        if !payload.is_empty() {
            self.counters.ignored_bytes += payload.len() as u64;
            sink.event(StreamEvent::RstWithData {
                len: payload.len() as u64,
            });
        }
        if self.state & state::INIT == 0 {
            return;
        }
        let rel = self.rel(data_seq);
        let limit = self.highest_end.max(if self.fin_off == NONE {
            0
        } else {
            self.fin_off + 1
        });
        let acceptable = rel >= 0 && self.next_off + rel as u64 <= limit.max(self.next_off);
        if acceptable {
            self.close_inner(sink);
            sink.event(StreamEvent::Reset);
        } else {
            self.counters.out_of_window += 1;
        }
    }

    fn close_inner<S: StreamSink>(&mut self, sink: &mut S) {
        if self.is_done() {
            self.state |= state::CLOSED;
            return;
        }
        if self.state & state::INIT != 0 {
            let fin = if self.fin_off == NONE {
                0
            } else {
                self.fin_off
            };
            let end = self.highest_end.max(self.acked_target()).max(fin);
            self.flush_to(end, sink);
            self.check_finished(sink);
        }
        self.state |= state::CLOSED;
    }

    /// Allocates the recent-data window if this stream wants one and the
    /// memcap has room in its optional half.
    fn ensure_recent(&mut self, mem: &mut ReassemblyMemcap) {
        if self.recent_cap == 0 || self.recent.is_some() || self.state & state::RECENT_DENIED != 0 {
            return;
        }
        let cost = u64::from(self.recent_cap) + RECENT_OVERHEAD_BYTES;
        if mem.fits_optional(cost) {
            self.recent = Some(Box::new(RecentWindow::new(self.recent_cap as usize)));
            // Charged now, so that the checks later in this call see it.
            mem.charge(cost);
            self.charged += cost;
        } else {
            mem.note_refusal();
            self.state |= state::RECENT_DENIED;
        }
    }

    /// Places a data segment that starts `rel` bytes from the next expected
    /// one (`rel` may be negative).
    fn place_data<S: StreamSink>(
        &mut self,
        ts: u64,
        rel: i64,
        payload: &[u8],
        mem: &mut ReassemblyMemcap,
        sink: &mut S,
    ) {
        let mut notes = SegmentNotes::default();
        let len = payload.len() as i128;
        let start = i128::from(self.next_off) + i128::from(rel);
        let end = start + len;
        if end <= 0 {
            // Wholly before the stream started.
            self.counters.retransmissions += 1;
            return;
        }
        let origin = (start.max(0) as u64, end as u64);
        let mut data = payload;
        let mut off = origin.0;
        if start < i128::from(self.next_off) {
            let behind = (i128::from(self.next_off) - start).min(len) as usize;
            if let Some(r) = &self.recent {
                let from = start.max(0) as u64;
                let skip = (i128::from(from) - start) as usize;
                if let Some((lo, hi)) =
                    r.differing(self.next_off, from, &payload[skip.min(behind)..behind])
                {
                    notes.mark(lo, hi);
                }
            }
            self.counters.retransmissions += 1;
            data = &payload[behind..];
            off = self.next_off;
        }
        // Nothing is kept past the FIN or the depth.
        let mut stop = off + data.len() as u64;
        if self.fin_off != NONE && stop > self.fin_off {
            let keep = self.fin_off.saturating_sub(off).min(data.len() as u64);
            self.counters.ignored_bytes += data.len() as u64 - keep;
            data = &data[..keep as usize];
            stop = off + keep;
            if self.raised & once::AFTER_FIN == 0 {
                self.raised |= once::AFTER_FIN;
                sink.event(StreamEvent::DataAfterFin);
            }
        }
        if stop > self.depth {
            let keep = self.depth.saturating_sub(off).min(data.len() as u64);
            self.counters.ignored_bytes += data.len() as u64 - keep;
            data = &data[..keep as usize];
            stop = off + keep;
        }
        self.highest_end = self.highest_end.max(stop);
        if !data.is_empty() {
            let new = NewSeg {
                off,
                data,
                origin,
                ts,
            };
            self.place(new, &mut notes, mem, sink);
        }
        if notes.overlapped_buffered {
            self.counters.overlaps += 1;
        }
        if let Some((lo, hi)) = notes.differ {
            self.counters.overlaps_different += 1;
            sink.event(StreamEvent::OverlapDifferentData {
                offset: lo,
                len: hi - lo,
            });
        }
    }

    /// Delivers or buffers `new`, which starts at or after `next_off`.
    fn place<S: StreamSink>(
        &mut self,
        new: NewSeg<'_>,
        notes: &mut SegmentNotes,
        mem: &mut ReassemblyMemcap,
        sink: &mut S,
    ) {
        loop {
            if self.is_done() {
                return;
            }
            if new.off <= self.next_off {
                self.merge_deliver(Some(new), notes, sink);
                return;
            }
            match self.insert_ooo(new, notes, mem, sink) {
                Insert::Done => return,
                Insert::GiveUp => {
                    if self.give_up_earliest_hole(Some(new), notes, sink) {
                        return;
                    }
                }
            }
        }
    }

    /// Delivers from `next_off` onwards whatever is contiguous: buffered
    /// chunks and `new` (resolving overlaps by policy), until a hole.
    /// Returns whether `new` was delivered entirely.
    fn merge_deliver<S: StreamSink>(
        &mut self,
        new: Option<NewSeg<'_>>,
        notes: &mut SegmentNotes,
        sink: &mut S,
    ) -> bool {
        // Fast path: nothing buffered, `new` in order: borrow it straight
        // from the packet.
        if self.chunks.is_empty() {
            if let Some(n) = new {
                if n.off == self.next_off {
                    self.emit_data(n.data, sink);
                    return true;
                }
            }
            return new.is_none();
        }
        let chunks = core::mem::take(&mut self.chunks);
        let mut i = 0usize;
        let mut runs_done = 0u32;
        loop {
            let cur = self.next_off;
            let new_here = new.filter(|n| n.off <= cur && cur < n.end());
            let chunk_here = chunks.get(i).filter(|c| c.off <= cur);
            let more = match (new_here, chunk_here) {
                (Some(n), Some(c)) => {
                    let stop = n.end().min(c.end());
                    let nb = &n.data[(cur - n.off) as usize..(stop - n.off) as usize];
                    let cb = &c.data[(cur - c.off) as usize..(stop - c.off) as usize];
                    notes.overlapped_buffered = true;
                    notes.compare(cur, nb, cb);
                    let winner = if self.policy.new_wins(n.origin, c.origin()) {
                        nb
                    } else {
                        cb
                    };
                    self.emit_data(winner, sink)
                }
                (Some(n), None) => {
                    let stop = chunks.get(i).map_or(n.end(), |c| c.off.min(n.end()));
                    self.emit_data(
                        &n.data[(cur - n.off) as usize..(stop - n.off) as usize],
                        sink,
                    )
                }
                (None, Some(c)) => {
                    let mut stop = c.end();
                    if let Some(n) = new {
                        if n.off > cur {
                            stop = stop.min(n.off);
                        }
                    }
                    self.emit_data(
                        &c.data[(cur - c.off) as usize..(stop - c.off) as usize],
                        sink,
                    )
                }
                (None, None) => false,
            };
            // Step past chunks the cursor has covered.
            while let Some(c) = chunks.get(i) {
                if c.end() > self.next_off {
                    break;
                }
                let starts_run = i == 0 || chunks.get(i - 1).is_some_and(|p| c.off > p.end());
                if starts_run {
                    runs_done += 1;
                }
                self.payload_bytes -= c.data.len() as u64;
                i += 1;
            }
            if !more || self.next_off == cur {
                break;
            }
        }
        let mut chunks = chunks;
        chunks.drain(..i);
        self.chunks = chunks;
        self.runs -= runs_done;
        if i > 0 {
            self.oldest_ts = self.chunks.iter().map(|c| c.ts).min().unwrap_or(NONE);
        }
        new.is_none_or(|n| self.next_off >= n.end())
    }

    /// Buffers `new` (which starts after `next_off`) after checking limits.
    fn insert_ooo<S: StreamSink>(
        &mut self,
        new: NewSeg<'_>,
        notes: &mut SegmentNotes,
        mem: &mut ReassemblyMemcap,
        sink: &mut S,
    ) -> Insert {
        let (off, end) = (new.off, new.end());
        let chunks = &self.chunks;
        // Chunks touching [off, end] (overlapping or adjacent) and overlapping it.
        let t0 = chunks.partition_point(|c| c.end() < off);
        let t1 = chunks.partition_point(|c| c.off <= end);
        let o0 = chunks.partition_point(|c| c.end() <= off);
        let o1 = chunks.partition_point(|c| c.off < end);

        let mut touched_runs = 0u32;
        for j in t0..t1 {
            let starts_run = j == t0
                || chunks
                    .get(j - 1)
                    .zip(chunks.get(j))
                    .is_some_and(|(p, c)| c.off > p.end());
            if starts_run {
                touched_runs += 1;
            }
        }

        // Dry run of the overlap resolution: how much gets stored.
        let mut new_bytes = 0u64;
        let mut new_pieces = 0usize;
        let mut splits = 0usize;
        let mut removed = 0usize;
        let mut piece_open = false;
        let mut cursor = off;
        for c in chunks.get(o0..o1).unwrap_or(&[]) {
            if c.off > cursor {
                new_bytes += c.off - cursor;
                if !piece_open {
                    new_pieces += 1;
                    piece_open = true;
                }
            }
            let r0 = c.off.max(cursor);
            let r1 = c.end().min(end);
            notes.overlapped_buffered = true;
            notes.compare(
                r0,
                &new.data[(r0 - off) as usize..(r1 - off) as usize],
                &c.data[(r0 - c.off) as usize..(r1 - c.off) as usize],
            );
            if self.policy.new_wins(new.origin, c.origin()) {
                new_bytes += r1 - r0;
                if !piece_open {
                    new_pieces += 1;
                    piece_open = true;
                }
                match (c.off < off, c.end() > end) {
                    (true, true) => splits += 1,
                    (false, false) => removed += 1,
                    _ => {}
                }
            } else {
                piece_open = false;
            }
            cursor = r1;
        }
        if cursor < end {
            new_bytes += end - cursor;
            if !piece_open {
                new_pieces += 1;
            }
        }
        if new_pieces == 0 {
            // Every byte is already buffered and the old copy wins.
            return Insert::Done;
        }

        // Limits.
        let holes_after = self.runs - touched_runs + 1;
        let len_upper = chunks.len() + new_pieces + splits;
        let cap = chunks.capacity();
        let new_cap = if len_upper > cap {
            (cap * 2).max(len_upper)
        } else {
            cap
        };
        let grow = (new_bytes + (new_pieces + splits) as u64 * CHUNK_ALLOC_OVERHEAD_BYTES)
            + (new_cap - cap) as u64 * CHUNK_SLOT_BYTES;
        let stream_after = self.chunk_charge() + grow;
        if holes_after > u32::from(self.max_holes) {
            self.limit_hit(once::HOLES, StreamEvent::HoleLimitReached, sink);
            return Insert::GiveUp;
        }
        if len_upper - removed > usize::from(self.max_segments) {
            self.limit_hit(once::SEGMENTS, StreamEvent::SegmentLimitReached, sink);
            return Insert::GiveUp;
        }
        if stream_after > u64::from(self.max_buffered) {
            self.limit_hit(once::STREAM_MEM, StreamEvent::StreamMemcapReached, sink);
            return Insert::GiveUp;
        }
        let current = self.chunk_charge();
        let delta = stream_after.saturating_sub(current);
        if !mem.fits(delta) {
            mem.note_refusal();
            self.counters.dropped_bytes += new.data.len() as u64;
            self.limit_hit(once::GLOBAL_MEM, StreamEvent::GlobalMemcapReached, sink);
            return Insert::Done;
        }

        // Apply.
        if new_cap > cap {
            self.chunks.reserve_exact(new_cap - self.chunks.len());
        }
        let piece = |from: u64, to: u64| Chunk {
            off: from,
            origin_start: new.origin.0,
            origin_end: new.origin.1,
            ts: new.ts,
            data: new.data[(from - off) as usize..(to - off) as usize].into(),
        };
        if o0 == o1 {
            self.chunks.insert(o0, piece(off, end));
            self.payload_bytes += end - off;
        } else {
            let old: Vec<Chunk> = self.chunks.drain(o0..o1).collect();
            let mut repl: Vec<Chunk> = Vec::with_capacity(old.len() + new_pieces + splits);
            let mut piece_start: Option<u64> = None;
            let mut right: Option<Chunk> = None;
            let mut replaced = 0u64;
            let mut cursor = off;
            for c in old {
                if c.off > cursor {
                    piece_start.get_or_insert(cursor);
                }
                let r0 = c.off.max(cursor);
                let r1 = c.end().min(end);
                cursor = r1;
                if self.policy.new_wins(new.origin, c.origin()) {
                    piece_start.get_or_insert(r0);
                    replaced += r1 - r0;
                    let c_end = c.end();
                    if c_end > end {
                        right = Some(Chunk {
                            off: end,
                            origin_start: c.origin_start,
                            origin_end: c.origin_end,
                            ts: c.ts,
                            data: c.data[(end - c.off) as usize..].into(),
                        });
                    }
                    if c.off < off {
                        let mut left = c.data.into_vec();
                        left.truncate((off - c.off) as usize);
                        repl.push(Chunk {
                            data: left.into_boxed_slice(),
                            ..c
                        });
                    }
                } else {
                    if let Some(ps) = piece_start.take() {
                        repl.push(piece(ps, r0));
                    }
                    repl.push(c);
                }
            }
            if cursor < end {
                piece_start.get_or_insert(cursor);
            }
            if let Some(ps) = piece_start {
                repl.push(piece(ps, end));
            }
            repl.extend(right);
            self.payload_bytes = self.payload_bytes + new_bytes - replaced;
            self.chunks.splice(o0..o0, repl);
        }
        self.runs = holes_after;
        self.oldest_ts = self.oldest_ts.min(new.ts);
        self.counters.out_of_order += 1;
        Insert::Done
    }

    fn limit_hit<S: StreamSink>(&mut self, bit: u8, event: StreamEvent, sink: &mut S) {
        self.counters.limit_hits += 1;
        if self.raised & bit == 0 {
            self.raised |= bit;
            sink.event(event);
        }
    }

    /// Gives up the earliest hole: reports it as a gap and delivers what is
    /// contiguous behind it (including `new` if it is there). Returns whether
    /// `new` was delivered.
    fn give_up_earliest_hole<S: StreamSink>(
        &mut self,
        new: Option<NewSeg<'_>>,
        notes: &mut SegmentNotes,
        sink: &mut S,
    ) -> bool {
        let first_chunk = self.chunks.first().map(|c| c.off);
        let target = match (new.map(|n| n.off), first_chunk) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return true,
        };
        if !self.emit_gap(target.saturating_sub(self.next_off), sink) {
            return true;
        }
        self.merge_deliver(new, notes, sink) || self.is_done()
    }

    /// Reports holes before `target` as gaps, delivering buffered data in
    /// between, until delivery reaches `target`.
    fn flush_to<S: StreamSink>(&mut self, target: u64, sink: &mut S) {
        let mut notes = SegmentNotes::default();
        while !self.is_done() && self.next_off < target {
            match self.chunks.first().map(|c| c.off) {
                Some(c_off) if c_off <= target => {
                    if !self.emit_gap(c_off.saturating_sub(self.next_off), sink) {
                        return;
                    }
                    self.merge_deliver(None, &mut notes, sink);
                }
                _ => {
                    self.emit_gap(target - self.next_off, sink);
                }
            }
        }
    }

    /// ACK grace and gap timeout, at packet time `now`.
    fn poll_timers<S: StreamSink>(&mut self, now: u64, sink: &mut S) {
        if self.state & state::INIT == 0 || self.is_done() {
            return;
        }
        if self.state & state::ACK_PENDING != 0 {
            if self.next_off >= self.ack_hole_off {
                // The data came after all.
                self.restart_ack_timer(now);
            } else if now.saturating_sub(self.ack_hole_since) >= self.ack_grace_ns {
                let target = self.ack_hole_off;
                self.flush_to(target, sink);
                self.restart_ack_timer(now);
            }
        }
        let mut notes = SegmentNotes::default();
        while !self.is_done()
            && !self.chunks.is_empty()
            && now.saturating_sub(self.oldest_ts) >= self.gap_timeout_ns
        {
            self.give_up_earliest_hole(None, &mut notes, sink);
        }
        self.check_finished(sink);
    }

    fn restart_ack_timer(&mut self, now: u64) {
        let target = self.acked_target();
        if target > self.next_off {
            self.ack_hole_off = target;
            self.ack_hole_since = now;
        } else {
            self.state &= !state::ACK_PENDING;
        }
    }

    /// Hands bytes to the sink, stopping at the depth. Returns whether more
    /// may follow.
    fn emit_data<S: StreamSink>(&mut self, bytes: &[u8], sink: &mut S) -> bool {
        let room = self.depth.saturating_sub(self.next_off);
        let n = (bytes.len() as u64).min(room) as usize;
        if n > 0 {
            let part = &bytes[..n];
            sink.data(part);
            self.counters.delivered_bytes += n as u64;
            self.next_off += n as u64;
            if let Some(r) = self.recent.as_mut() {
                r.push(part);
            }
        }
        if n < bytes.len() || self.next_off >= self.depth {
            self.counters.ignored_bytes += (bytes.len() - n) as u64;
            self.reach_depth(sink);
            return false;
        }
        true
    }

    /// Reports `len` lost bytes, stopping at the depth. Returns whether more
    /// may follow.
    fn emit_gap<S: StreamSink>(&mut self, len: u64, sink: &mut S) -> bool {
        let room = self.depth.saturating_sub(self.next_off);
        let n = len.min(room);
        if n > 0 {
            sink.gap(n);
            self.counters.gaps += 1;
            self.counters.gap_bytes += n;
            self.next_off += n;
            if let Some(r) = self.recent.as_mut() {
                r.clear();
            }
        }
        if n < len || self.next_off >= self.depth {
            self.reach_depth(sink);
            return false;
        }
        true
    }

    fn reach_depth<S: StreamSink>(&mut self, sink: &mut S) {
        if self.state & state::DEPTH == 0 {
            self.state |= state::DEPTH;
            sink.event(StreamEvent::DepthReached);
        }
    }

    /// What the chunk table costs: payload, per-chunk overhead, slots.
    fn chunk_charge(&self) -> u64 {
        self.payload_bytes
            + self.chunks.len() as u64 * CHUNK_ALLOC_OVERHEAD_BYTES
            + self.chunks.capacity() as u64 * CHUNK_SLOT_BYTES
    }

    /// Frees what a finished stream no longer needs and brings the memcap
    /// in line with what this stream now holds.
    fn settle(&mut self, mem: &mut ReassemblyMemcap) {
        if self.is_done() {
            if !self.chunks.is_empty() || self.chunks.capacity() > 0 {
                self.counters.ignored_bytes += self.payload_bytes;
                self.chunks = Vec::new();
                self.payload_bytes = 0;
                self.runs = 0;
                self.oldest_ts = NONE;
            }
            self.recent = None;
        } else if self.chunks.is_empty() && self.chunks.capacity() > 0 {
            self.chunks = Vec::new();
        }
        let recent = self
            .recent
            .as_ref()
            .map_or(0, |r| r.capacity() as u64 + RECENT_OVERHEAD_BYTES);
        let now = self.chunk_charge() + recent;
        if now > self.charged {
            mem.charge(now - self.charged);
        } else {
            mem.release(self.charged - now);
        }
        self.charged = now;
    }

    /// Recomputes derived state and checks the invariants (tests only).
    #[cfg(test)]
    pub(super) fn check_invariants(&self) {
        let mut runs = 0u32;
        let mut bytes = 0u64;
        let mut prev_end: Option<u64> = None;
        for c in &self.chunks {
            assert!(!c.data.is_empty(), "empty chunk");
            match prev_end {
                None => {
                    assert!(
                        c.off > self.next_off,
                        "first chunk at {} not after next {}",
                        c.off,
                        self.next_off
                    );
                    runs += 1;
                }
                Some(p) => {
                    assert!(c.off >= p, "chunks overlap or unsorted");
                    if c.off > p {
                        runs += 1;
                    }
                }
            }
            prev_end = Some(c.end());
            bytes += c.data.len() as u64;
        }
        assert_eq!(runs, self.runs, "run count");
        assert_eq!(bytes, self.payload_bytes, "payload bytes");
        assert!(runs <= u32::from(self.max_holes), "holes over limit");
        assert!(
            self.chunks.len() <= usize::from(self.max_segments),
            "chunks over limit"
        );
        assert!(
            self.chunk_charge() <= u64::from(self.max_buffered),
            "stream charge over limit"
        );
        if self.is_done() {
            assert!(self.chunks.is_empty());
            assert_eq!(self.charged, 0);
        }
    }
}
