//! Capture files: classic pcap, read through a memory map.
//!
//! (Skeleton: classic pcap only; the full reader adds pcapng.)

use super::{FrameRef, Nanos};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a capture file could not be opened. Displayed as one line that names
/// the file and the reason.
#[derive(Debug)]
pub struct OpenError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: OpenErrorKind,
}

/// The reasons a capture file is refused.
#[derive(Debug)]
pub enum OpenErrorKind {
    /// The file does not exist.
    Missing,
    /// The file could not be read (permissions, a directory, ...).
    Unreadable(std::io::Error),
    /// The file has no bytes.
    Empty,
    /// The file does not start with a pcap or pcapng magic number.
    NotACapture,
    /// The header is present but cut short or invalid.
    BadHeader(&'static str),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path.display();
        match &self.kind {
            OpenErrorKind::Missing => write!(f, "{p}: no such file"),
            OpenErrorKind::Unreadable(e) => write!(f, "{p}: cannot read: {e}"),
            OpenErrorKind::Empty => write!(f, "{p}: file is empty"),
            OpenErrorKind::NotACapture => write!(f, "{p}: not a pcap or pcapng capture file"),
            OpenErrorKind::BadHeader(why) => write!(f, "{p}: invalid capture header: {why}"),
        }
    }
}

impl std::error::Error for OpenError {}

/// The capture format of an open file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap format.
    Pcap,
    /// pcapng.
    Pcapng,
}

/// An open, memory-mapped capture file that yields frames in order.
pub struct CaptureFile {
    path: PathBuf,
    map: Arc<memmap2::Mmap>,
    pos: usize,
    big_endian: bool,
    nanos: bool,
    linktype: u16,
    format: Format,
    truncated: Option<usize>,
    frames: u64,
}

impl CaptureFile {
    /// Opens and maps `path`, checking its header.
    pub fn open(path: &Path) -> Result<CaptureFile, OpenError> {
        let err = |kind| OpenError {
            path: path.to_path_buf(),
            kind,
        };
        let file = std::fs::File::open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                err(OpenErrorKind::Missing)
            } else {
                err(OpenErrorKind::Unreadable(e))
            }
        })?;
        let meta = file
            .metadata()
            .map_err(|e| err(OpenErrorKind::Unreadable(e)))?;
        if meta.is_dir() {
            return Err(err(OpenErrorKind::Unreadable(std::io::Error::other(
                "is a directory",
            ))));
        }
        if meta.len() == 0 {
            return Err(err(OpenErrorKind::Empty));
        }
        // SAFETY: the file is opened read-only. If another process truncates it
        // while mapped, reads may fault; that is the usual contract of mapped
        // capture readers, and replay inputs are not written concurrently.
        let map =
            unsafe { memmap2::Mmap::map(&file) }.map_err(|e| err(OpenErrorKind::Unreadable(e)))?;
        let b = &map[..];
        if b.len() < 4 {
            return Err(err(OpenErrorKind::NotACapture));
        }
        let magic = [b[0], b[1], b[2], b[3]];
        let (big_endian, nanos) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            _ => return Err(err(OpenErrorKind::NotACapture)),
        };
        if b.len() < 24 {
            return Err(err(OpenErrorKind::BadHeader(
                "pcap global header shorter than 24 bytes",
            )));
        }
        let rd = |o: usize| {
            let w = [b[o], b[o + 1], b[o + 2], b[o + 3]];
            if big_endian {
                u32::from_be_bytes(w)
            } else {
                u32::from_le_bytes(w)
            }
        };
        let linktype = (rd(20) & 0xffff) as u16;
        Ok(CaptureFile {
            path: path.to_path_buf(),
            big_endian,
            nanos,
            linktype,
            format: Format::Pcap,
            pos: 24,
            truncated: None,
            frames: 0,
            map: Arc::new(map),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The shared memory map that [`FrameRef`] offsets point into.
    pub fn map(&self) -> &Arc<memmap2::Mmap> {
        &self.map
    }

    /// The file format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Size of the file in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Byte offset of the next record (for progress reporting).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Frames returned so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// If the file ended inside a record: the byte offset where that record began.
    pub fn truncated_at(&self) -> Option<usize> {
        self.truncated
    }

    #[inline]
    fn rd(&self, o: usize) -> u32 {
        let b = &self.map[o..o + 4];
        let w = [b[0], b[1], b[2], b[3]];
        if self.big_endian {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        }
    }

    /// The next frame, or `None` at the end of the file or at a cut-off record
    /// (see [`CaptureFile::truncated_at`]).
    #[inline]
    pub fn next_frame(&mut self) -> Option<FrameRef> {
        let len = self.map.len();
        if self.pos >= len {
            return None;
        }
        if self.pos + 16 > len {
            self.truncated = Some(self.pos);
            self.pos = len;
            return None;
        }
        let sec = self.rd(self.pos) as u64;
        let frac = self.rd(self.pos + 4) as u64;
        let caplen = self.rd(self.pos + 8);
        let origlen = self.rd(self.pos + 12);
        let data = self.pos + 16;
        if data + caplen as usize > len {
            self.truncated = Some(self.pos);
            self.pos = len;
            return None;
        }
        let ts: Nanos = sec * 1_000_000_000 + if self.nanos { frac } else { frac * 1000 };
        self.pos = data + caplen as usize;
        self.frames += 1;
        Some(FrameRef {
            ts,
            seq: 0,
            clock: 0,
            offset: data,
            caplen,
            origlen,
            linktype: self.linktype,
        })
    }
}
