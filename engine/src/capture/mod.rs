//! Capture: where frames come from.
//!
//! A source yields [`FrameRef`]s: a timestamp, a link type and the location of
//! the frame's bytes inside a [`Backing`] buffer. Capture files are memory
//! mapped, so a frame is an offset into the map and no packet is copied
//! between the reader and the workers.

use std::sync::Arc;

pub mod file;
pub mod live;

/// Packet time: nanoseconds since the Unix epoch, taken from the capture.
pub type Nanos = u64;

/// Where a frame lies in its batch's backing buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef {
    /// Capture timestamp.
    pub ts: Nanos,
    /// Position of the frame in the whole input (0-based, across files).
    /// Observations sent to the baseline carry it, so the baseline can merge
    /// what several workers saw back into input order.
    pub seq: u64,
    /// The input clock when this frame was read: the highest timestamp of
    /// any frame read so far, across all files. Timeouts compare against it,
    /// so a capture with timestamps out of order ends flows the same way
    /// whichever worker sees which frames. Sources fill it in with
    /// [`InputClock`]; `0` until then.
    pub clock: Nanos,
    /// Byte offset of the frame in the backing buffer.
    pub offset: usize,
    /// Bytes captured (present in the buffer).
    pub caplen: u32,
    /// Length of the frame on the wire.
    pub origlen: u32,
    /// The frame's link type (a `LINKTYPE_*` value from the tcpdump registry).
    pub linktype: u16,
}

/// The bytes that a batch's frames point into.
pub enum Backing {
    /// A memory-mapped capture file, shared by every batch cut from it.
    Mapped(Arc<memmap2::Mmap>),
    /// Frames copied out of a live source.
    Owned(Vec<u8>),
}

impl Backing {
    /// The whole buffer.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match self {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }

    /// The bytes of one frame. Out-of-range references give an empty slice.
    #[inline]
    pub fn frame(&self, f: &FrameRef) -> &[u8] {
        let b = self.bytes();
        b.get(f.offset..f.offset.saturating_add(f.caplen as usize))
            .unwrap_or(&[])
    }
}

/// A backwards jump in packet time larger than this starts a new clock epoch
/// (merged traces, or several files given out of time order).
pub const EPOCH_JUMP: Nanos = 60 * 1_000_000_000;

/// The clock of an input: the highest packet timestamp read so far, so that
/// small reordering never moves time backwards. A jump back by more than
/// [`EPOCH_JUMP`] starts a new epoch: the clock restarts at the new time.
#[derive(Debug, Clone, Copy, Default)]
pub struct InputClock(pub Nanos);

impl InputClock {
    /// Advances with a frame and stamps it. Returns the previous clock when
    /// this frame starts a new epoch; the caller then lets every worker
    /// expire flows at that old clock before it hands over the frame.
    #[inline]
    pub fn stamp(&mut self, f: &mut FrameRef) -> Option<Nanos> {
        let mut ended = None;
        if f.ts > self.0 {
            self.0 = f.ts;
        } else if f.ts.saturating_add(EPOCH_JUMP) < self.0 {
            ended = Some(self.0);
            self.0 = f.ts;
        }
        f.clock = self.0;
        ended
    }
}
