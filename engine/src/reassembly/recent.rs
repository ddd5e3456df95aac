//! A small ring of the most recently delivered bytes of one stream, used to
//! tell whether a retransmission carries the same bytes as what was already
//! handed on.

/// The last `capacity` bytes delivered, ending at the stream's delivery
/// offset. A gap empties it: bytes before a gap are no longer adjacent.
#[derive(Debug)]
pub(super) struct RecentWindow {
    buf: Box<[u8]>,
    /// Valid bytes, at most `buf.len()`.
    len: usize,
    /// Where the next byte is written.
    head: usize,
}

impl RecentWindow {
    pub(super) fn new(capacity: usize) -> Self {
        RecentWindow {
            buf: vec![0u8; capacity].into_boxed_slice(),
            len: 0,
            head: 0,
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.buf.len()
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
        self.head = 0;
    }

    /// Appends delivered bytes, keeping only the last `capacity`.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        let cap = self.buf.len();
        if cap == 0 || bytes.is_empty() {
            return;
        }
        let bytes = if bytes.len() > cap {
            &bytes[bytes.len() - cap..]
        } else {
            bytes
        };
        let first = (cap - self.head).min(bytes.len());
        self.buf[self.head..self.head + first].copy_from_slice(&bytes[..first]);
        let rest = bytes.len() - first;
        self.buf[..rest].copy_from_slice(&bytes[first..]);
        self.head = (self.head + bytes.len()) % cap;
        self.len = (self.len + bytes.len()).min(cap);
    }

    /// Compares `bytes`, which sit at stream offset `start`, with the window
    /// that ends at offset `end`. Returns the first and one-past-last
    /// differing offsets among the bytes the window still holds.
    pub(super) fn differing(&self, end: u64, start: u64, bytes: &[u8]) -> Option<(u64, u64)> {
        let cap = self.buf.len();
        let win_start = end.saturating_sub(self.len as u64);
        let mut span: Option<(u64, u64)> = None;
        for (i, &b) in bytes.iter().enumerate() {
            let o = start.saturating_add(i as u64);
            if o < win_start || o >= end {
                continue;
            }
            // 1 ..= len bytes back from the end.
            let back = (end - o) as usize;
            let held = self.buf[(self.head + cap - back) % cap];
            if held != b {
                span = Some(match span {
                    None => (o, o + 1),
                    Some((lo, _)) => (lo, o + 1),
                });
            }
        }
        span
    }
}
