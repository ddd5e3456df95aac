//! The per-worker budget for bytes held by reassembly.

/// Default per-worker budget: 64 MiB.
pub const DEFAULT_MEMCAP_BYTES: u64 = 64 << 20;

/// Counts the memory that every [`TcpStream`](super::TcpStream) of one worker
/// holds for data that waits (out-of-order chunks, their bookkeeping, and
/// recent-data windows), against one limit.
///
/// The worker owns it and passes it by `&mut` into every stream call, so no
/// atomics or locks are involved. A stream charges it as it buffers and
/// releases its share when data is delivered, and fully on
/// [`close`](super::TcpStream::close) or
/// [`discard`](super::TcpStream::discard). Dropping a stream without one of
/// those leaves its share counted: the flow table must call one of them when
/// it evicts a flow.
///
/// What happens at the limit: new out-of-order data that does not fit is
/// dropped (see [`StreamEvent::GlobalMemcapReached`](super::StreamEvent)),
/// and recent-data windows are only allocated while usage is below half the
/// limit, so they can never starve out-of-order buffering.
#[derive(Debug, Clone)]
pub struct ReassemblyMemcap {
    limit: u64,
    used: u64,
    peak: u64,
    refusals: u64,
}

impl Default for ReassemblyMemcap {
    fn default() -> Self {
        ReassemblyMemcap::new(DEFAULT_MEMCAP_BYTES)
    }
}

impl ReassemblyMemcap {
    /// A budget of `limit` bytes, nothing used.
    pub fn new(limit: u64) -> Self {
        ReassemblyMemcap {
            limit,
            used: 0,
            peak: 0,
            refusals: 0,
        }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Changes the limit. Memory already held stays held; only later
    /// requests see the new limit.
    pub fn set_limit(&mut self, limit: u64) {
        self.limit = limit;
    }

    /// Bytes currently charged by all streams of this worker.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Highest value [`used`](Self::used) has reached.
    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// How many requests were refused because they did not fit.
    pub fn refusals(&self) -> u64 {
        self.refusals
    }

    /// Whether `n` more bytes fit under the limit.
    pub(super) fn fits(&self, n: u64) -> bool {
        self.used.saturating_add(n) <= self.limit
    }

    /// Whether `n` more bytes fit under half the limit (the share that
    /// optional recent-data windows may use).
    pub(super) fn fits_optional(&self, n: u64) -> bool {
        self.used.saturating_add(n) <= self.limit / 2
    }

    pub(super) fn note_refusal(&mut self) {
        self.refusals = self.refusals.saturating_add(1);
    }

    pub(super) fn charge(&mut self, n: u64) {
        self.used = self.used.saturating_add(n);
        self.peak = self.peak.max(self.used);
    }

    pub(super) fn release(&mut self, n: u64) {
        self.used = self.used.saturating_sub(n);
    }
}
