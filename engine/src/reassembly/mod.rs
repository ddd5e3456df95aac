//! Reassembly: TCP byte streams per direction, driven only by packet
//! timestamps.
//!
//! One [`TcpStream`] follows one direction of one connection and turns the
//! segments seen on a SPAN port into an ordered byte stream for a
//! [`StreamSink`]: [`data`](StreamSink::data) for bytes,
//! [`gap`](StreamSink::gap) for bytes that will never be seen, and
//! [`event`](StreamSink::event) for anomalies and limits.
//!
//! # Contract
//!
//! * **Time is an input.** Every timer (the ACK grace and the gap timeout)
//!   runs on the timestamps passed in; nothing reads a clock, so a replay is
//!   deterministic.
//! * **Copy only what waits.** A segment that arrives in order while nothing
//!   is buffered goes to the sink as a slice borrowed from the packet. An
//!   in-order segment that overlaps buffered data is also delivered without a
//!   copy. Only out-of-order data is copied, into per-segment chunks.
//! * **Everything is bounded.** Per stream: holes
//!   ([`max_holes_per_stream`](ReassemblyConfig::max_holes_per_stream)),
//!   chunks ([`max_segments_per_stream`](ReassemblyConfig::max_segments_per_stream))
//!   and bytes charged
//!   ([`max_buffered_bytes_per_stream`](ReassemblyConfig::max_buffered_bytes_per_stream));
//!   per worker: the [`ReassemblyMemcap`]. Hitting any of them raises an
//!   event once per stream and bumps [`StreamCounters::limit_hits`].
//! * **Sequence numbers** are compared modulo 2^32 relative to the next
//!   expected byte; internally every byte has a 64-bit stream offset, so
//!   wraparound needs no special case. Data more than [`MAX_SEQ_AHEAD`]
//!   bytes ahead is out of window and ignored.
//!
//! # What happens when
//!
//! * **Start.** [`TcpStream::handle_syn`] (or a segment with SYN) sets the
//!   stream to start after the ISN; data on a SYN is delivered. Without a SYN
//!   the first data segment seen starts the stream (midstream pickup); data
//!   before it is ignored. ACKs before the stream starts are ignored, so an
//!   ACK that overtakes its data on the SPAN cannot create a gap. A second
//!   SYN with another ISN before any data restarts the stream; after data it
//!   is ignored and counted in [`StreamCounters::syn_mismatches`]. FIN and
//!   RST bits on a SYN segment (invalid combinations) are ignored.
//! * **Out of order.** Data past a hole is buffered. Overlaps among buffered
//!   data are resolved by the [`OverlapPolicy`]; data already delivered is
//!   never revised.
//! * **Loss.** A hole becomes a [`gap`](StreamSink::gap) when (a) an ACK from
//!   the other side covered it and the hole was still open
//!   [`ack_grace_ns`](ReassemblyConfig::ack_grace_ns) later (the grace lets a
//!   segment that the SPAN delivered after its ACK arrive first), or (b) data
//!   waited behind it for [`gap_timeout_ns`](ReassemblyConfig::gap_timeout_ns),
//!   or (c) [`TcpStream::close`], or (d) a per-stream limit gave it up. An
//!   ACK more than [`MAX_ACK_AHEAD_OF_DATA`] past the highest byte seen is
//!   stale (port reuse, challenge ACK) or forged, and is ignored.
//! * **Limits.** Per-stream limit (holes, chunks, bytes): the earliest hole
//!   is given up: reported as a gap, and the data behind it delivered, until
//!   the new segment fits. Worker memcap: the new out-of-order segment is
//!   dropped ([`StreamCounters::dropped_bytes`]); its bytes become part of a
//!   later gap.
//! * **Keep-alives and zero-window probes** (0 or 1 byte at the next expected
//!   sequence number minus one) are ignored silently. A probe carrying the
//!   next byte is ordinary data and its retransmission a plain duplicate.
//! * **FIN** marks the end; when delivery reaches it the stream emits
//!   [`StreamEvent::Finished`] and closes. Data past the FIN is ignored
//!   ([`StreamEvent::DataAfterFin`]).
//! * **RST.** Its payload is never delivered (receivers discard it;
//!   [`StreamEvent::RstWithData`]). A RST whose sequence number lies between
//!   the next expected byte and the highest byte seen closes the stream like
//!   [`TcpStream::close`] and emits [`StreamEvent::Reset`]; any other RST is
//!   ignored (modern stacks ignore it too, RFC 5961) and counted as out of
//!   window.
//! * **Depth.** After [`depth`](ReassemblyConfig::depth) stream bytes
//!   (delivered plus gaps) the stream emits [`StreamEvent::DepthReached`],
//!   frees its buffers and ignores the rest. Set per stream with
//!   [`TcpStream::set_depth`] (IT protocols 1 MiB, OT unlimited).
//! * **Overlap with different data** is detected between a segment and
//!   buffered data, and between a retransmission and already delivered data
//!   while that data is still in the stream's recent-data window
//!   ([`recent_window_bytes`](ReassemblyConfig::recent_window_bytes), off by
//!   default because it copies every delivered byte; turn it on per stream
//!   for OT with [`TcpStream::set_recent_window`]; windows are charged to the
//!   memcap and only granted while it is less than half used). One
//!   [`StreamEvent::OverlapDifferentData`] per segment, spanning its first to
//!   last differing byte.
//!
//! The caller (the flow table) feeds each direction's segments to that
//! direction's stream, and each segment's ACK number to the *other*
//! direction's stream with [`TcpStream::ack`].
//!
//! # Example
//!
//! ```
//! use spanwatch::reassembly::{
//!     ReassemblyConfig, ReassemblyMemcap, StreamEvent, StreamSink, TcpStream,
//! };
//!
//! #[derive(Default)]
//! struct Collect { bytes: Vec<u8>, gaps: Vec<u64> }
//! impl StreamSink for Collect {
//!     fn data(&mut self, bytes: &[u8]) { self.bytes.extend_from_slice(bytes) }
//!     fn gap(&mut self, len: u64) { self.gaps.push(len) }
//!     fn event(&mut self, _e: StreamEvent) {}
//! }
//!
//! let cfg = ReassemblyConfig::default();
//! let mut mem = ReassemblyMemcap::default();
//! let mut sink = Collect::default();
//! let mut client = TcpStream::new(&cfg);
//!
//! const SYN: u8 = 0x02;
//! const ACK: u8 = 0x10;
//! client.segment(0, 1000, SYN, b"", &mut mem, &mut sink); // ISN 1000
//! client.segment(1, 1006, ACK, b"world", &mut mem, &mut sink); // early: buffered
//! assert!(mem.used() > 0); // only the early segment was copied
//! client.segment(2, 1001, ACK, b"hello", &mut mem, &mut sink); // fills the hole
//! assert_eq!(sink.bytes, b"helloworld");
//!
//! client.segment(3, 1021, ACK, b"!", &mut mem, &mut sink); // 10 bytes lost on the SPAN
//! client.close(&mut mem, &mut sink);
//! assert_eq!(sink.gaps, [10]);
//! assert_eq!(sink.bytes, b"helloworld!");
//! assert_eq!(mem.used(), 0);
//! ```

mod memcap;
mod policy;
mod recent;
mod stream;
#[cfg(test)]
mod tests;

pub use memcap::{ReassemblyMemcap, DEFAULT_MEMCAP_BYTES};
pub use policy::OverlapPolicy;
pub use stream::{StreamCounters, TcpStream, CHUNK_ALLOC_OVERHEAD_BYTES, CHUNK_SLOT_BYTES};

/// Default [`ReassemblyConfig::max_buffered_bytes_per_stream`]: 1 MiB.
pub const DEFAULT_MAX_BUFFERED_BYTES_PER_STREAM: u32 = 1 << 20;
/// Default [`ReassemblyConfig::max_holes_per_stream`].
pub const DEFAULT_MAX_HOLES_PER_STREAM: u16 = 64;
/// Default [`ReassemblyConfig::max_segments_per_stream`].
pub const DEFAULT_MAX_SEGMENTS_PER_STREAM: u16 = 1024;
/// Default [`ReassemblyConfig::depth`] for IT protocols: 1 MiB.
pub const DEFAULT_IT_DEPTH: u64 = 1 << 20;
/// Default [`ReassemblyConfig::gap_timeout_ns`]: 2 s.
pub const DEFAULT_GAP_TIMEOUT_NS: u64 = 2_000_000_000;
/// Default [`ReassemblyConfig::ack_grace_ns`]: 50 ms.
pub const DEFAULT_ACK_GRACE_NS: u64 = 50_000_000;
/// Largest recent-data window a stream may keep.
pub const MAX_RECENT_WINDOW_BYTES: u32 = 64 << 10;
/// An ACK further than this past the highest data byte seen is taken as
/// stale or forged rather than as proof of SPAN loss, and ignored.
pub const MAX_ACK_AHEAD_OF_DATA: u64 = 16 << 20;
/// Data further than this ahead of the next expected byte is out of
/// window (the largest window TCP window scaling allows is 2^30).
pub const MAX_SEQ_AHEAD: u64 = 1 << 30;

/// Settings shared by the streams of a worker. Each stream copies them at
/// [`TcpStream::new`]; depth, policy and the recent window can then be
/// changed per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// How overlapping buffered data is resolved. Default [`OverlapPolicy::Bsd`].
    pub policy: OverlapPolicy,
    /// Most bytes one stream may hold for out-of-order data, counting each
    /// chunk's payload plus [`CHUNK_ALLOC_OVERHEAD_BYTES`] and the chunk
    /// table's slots ([`CHUNK_SLOT_BYTES`] each). Default 1 MiB.
    pub max_buffered_bytes_per_stream: u32,
    /// Most holes (runs of missing bytes before buffered data) one stream may
    /// have. Default 64.
    pub max_holes_per_stream: u16,
    /// Most buffered chunks one stream may hold; bounds the work per
    /// out-of-order segment. Default 1024.
    pub max_segments_per_stream: u16,
    /// Stream offset (delivered bytes plus gap bytes) after which nothing is
    /// buffered or delivered. `None` means unlimited. Default 1 MiB (IT);
    /// OT streams set `None` through [`TcpStream::set_depth`].
    pub depth: Option<u64>,
    /// How long data may wait behind a hole, in packet-time nanoseconds,
    /// before the hole is reported as a gap. Default 2 s.
    pub gap_timeout_ns: u64,
    /// How long a hole that the other side has ACKed may stay open, in
    /// packet-time nanoseconds, before it is reported as a gap. Covers the
    /// SPAN delivering a segment after the ACK for it. Default 50 ms.
    pub ack_grace_ns: u64,
    /// Bytes of recently delivered data each stream keeps to compare with
    /// retransmissions (at most [`MAX_RECENT_WINDOW_BYTES`]). 0 turns it off.
    /// Default 0: it would copy every delivered byte.
    pub recent_window_bytes: u32,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            policy: OverlapPolicy::default(),
            max_buffered_bytes_per_stream: DEFAULT_MAX_BUFFERED_BYTES_PER_STREAM,
            max_holes_per_stream: DEFAULT_MAX_HOLES_PER_STREAM,
            max_segments_per_stream: DEFAULT_MAX_SEGMENTS_PER_STREAM,
            depth: Some(DEFAULT_IT_DEPTH),
            gap_timeout_ns: DEFAULT_GAP_TIMEOUT_NS,
            ack_grace_ns: DEFAULT_ACK_GRACE_NS,
            recent_window_bytes: 0,
        }
    }
}

/// Something a stream reports besides data and gaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent {
    /// A segment carried bytes that differ from bytes already buffered or
    /// delivered at the same offsets: an evasion attempt, or corruption.
    /// `offset` is the stream offset of the first differing byte, `len` runs
    /// to the last one. Raised once per segment.
    OverlapDifferentData {
        /// Stream offset of the first differing byte.
        offset: u64,
        /// From the first to the last differing byte, inclusive.
        len: u64,
    },
    /// The stream had [`ReassemblyConfig::max_holes_per_stream`] holes; the
    /// earliest was given up as a gap. Once per stream.
    HoleLimitReached,
    /// The stream had [`ReassemblyConfig::max_segments_per_stream`] chunks;
    /// the earliest hole was given up. Once per stream.
    SegmentLimitReached,
    /// The stream held [`ReassemblyConfig::max_buffered_bytes_per_stream`];
    /// the earliest hole was given up. Once per stream.
    StreamMemcapReached,
    /// The worker's [`ReassemblyMemcap`] was full; out-of-order data was
    /// dropped. Once per stream.
    GlobalMemcapReached,
    /// The stream reached its depth; it delivers nothing more.
    DepthReached,
    /// A RST carried `len` bytes of payload; they were not delivered.
    RstWithData {
        /// Payload bytes on the RST.
        len: u64,
    },
    /// Data beyond the FIN's sequence number was ignored. Once per stream.
    DataAfterFin,
    /// An acceptable RST closed the stream.
    Reset,
    /// Delivery reached the FIN: the stream is complete and closed.
    Finished,
}

/// Where a stream's output goes: usually the protocol dissector.
pub trait StreamSink {
    /// The next bytes of the stream, in order. Borrowed from the packet when
    /// possible; copy what must outlive the call.
    fn data(&mut self, bytes: &[u8]);
    /// `len` bytes of the stream will never be seen (SPAN loss, timeout,
    /// given up at a limit). The next [`data`](Self::data) follows them.
    fn gap(&mut self, len: u64);
    /// An anomaly or limit (see [`StreamEvent`]).
    fn event(&mut self, e: StreamEvent);
}
