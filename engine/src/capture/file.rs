//! Capture files: classic pcap and pcapng, read through a memory map.
//!
//! The file is mapped once; [`CaptureFile::next_frame`] walks the records in
//! the map and hands out [`FrameRef`]s (an offset into the map plus the
//! record's metadata), so reading a packet costs no system call and no copy.
//!
//! References:
//! - classic pcap: draft-ietf-opsawg-pcap (the libpcap file format);
//! - pcapng: draft-ietf-opsawg-pcapng (sections 4.1 SHB, 4.2 IDB, 4.3 EPB,
//!   4.4 SPB, appendix A obsolete Packet Block; option `if_tsresol` 9 and
//!   `if_tsoffset` 14);
//! - link types: the tcpdump.org `LINKTYPE_*` registry.
//!
//! What the reader accepts:
//! - pcap with the microsecond (`a1b2c3d4`) or nanosecond (`a1b23c4d`) magic
//!   in either byte order, and the "modified" pcap magic (`a1b2cd34`, 24-byte
//!   record headers);
//! - pcapng with any number of sections, each in its own byte order, with any
//!   number of interfaces (up to [`MAX_INTERFACES`] per section), each with
//!   its own link type, timestamp resolution and offset;
//! - Enhanced, Simple and obsolete Packet Blocks; every other block is skipped.
//!
//! A record that runs past the end of the file stops the reader and is
//! reported by [`CaptureFile::truncated_at`]. A record that cannot be valid
//! (a captured length over [`MAX_CAPLEN`], a pcapng block length that is not
//! a multiple of 4 or does not match its trailer) also stops the reader, at
//! the same place, with [`CaptureFile::corrupt`] saying why: past such a
//! record the framing of the rest of the file cannot be trusted.

use super::{FrameRef, Nanos};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest captured length accepted for one record. Real link layers stay
/// far below (offload-coalesced frames reach 64 KiB); a larger value means
/// the record framing is corrupt.
pub const MAX_CAPLEN: u32 = 256 * 1024;

/// Most interfaces remembered per pcapng section. Packets that name an
/// interface past this bound are skipped and counted.
pub const MAX_INTERFACES: usize = 4096;

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

/// Named offsets and codes of both formats.
mod field {
    /// Classic pcap global header length.
    pub const PCAP_HEADER_LEN: usize = 24;
    /// Classic pcap link type field (low 16 bits; the high bits carry FCS info).
    pub const PCAP_LINKTYPE: usize = 20;
    /// Classic pcap record header length.
    pub const PCAP_RECORD_LEN: usize = 16;
    /// Record header length with the "modified pcap" magic (adds ifindex,
    /// protocol, pkt_type and padding).
    pub const PCAP_MODIFIED_RECORD_LEN: usize = 24;

    /// Section Header Block type (a palindrome, so byte-order free).
    pub const SHB: u32 = 0x0A0D_0D0A;
    /// Interface Description Block.
    pub const IDB: u32 = 0x0000_0001;
    /// Obsolete Packet Block.
    pub const PB: u32 = 0x0000_0002;
    /// Simple Packet Block.
    pub const SPB: u32 = 0x0000_0003;
    /// Enhanced Packet Block.
    pub const EPB: u32 = 0x0000_0006;
    /// SHB byte-order magic.
    pub const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
    /// Smallest block: type, length, trailing length.
    pub const MIN_BLOCK: usize = 12;
    /// Smallest SHB: 12 + magic, version, section length.
    pub const MIN_SHB: usize = 28;
    /// IDB option: timestamp resolution (1 byte).
    pub const OPT_IF_TSRESOL: u16 = 9;
    /// IDB option: timestamp offset in seconds (8 bytes, signed).
    pub const OPT_IF_TSOFFSET: u16 = 14;
}

/// How a pcapng interface's timestamp units become nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TsUnit {
    /// Units are 10^-e seconds with e <= 9: multiply by 10^(9-e).
    Mul(u64),
    /// Units are 10^-e seconds with e > 9: divide by 10^(e-9).
    Div(u64),
    /// Units are 2^-e seconds.
    Pow2(u8),
}

impl TsUnit {
    /// From the `if_tsresol` byte: high bit clear = power of 10, set = power of 2.
    fn from_tsresol(r: u8) -> TsUnit {
        let e = r & 0x7f;
        if r & 0x80 != 0 {
            TsUnit::Pow2(e.min(63))
        } else if e <= 9 {
            TsUnit::Mul(10u64.pow(9 - e as u32))
        } else {
            // 10^19 is the largest power of ten in a u64; finer units than
            // that are not meaningful and are clamped.
            TsUnit::Div(10u64.pow((e as u32 - 9).min(19)))
        }
    }

    #[inline]
    fn to_nanos(self, t: u64) -> u64 {
        match self {
            TsUnit::Mul(m) => t.saturating_mul(m),
            TsUnit::Div(d) => t / d,
            TsUnit::Pow2(e) => {
                let ns = ((t as u128) * 1_000_000_000u128) >> e;
                u64::try_from(ns).unwrap_or(u64::MAX)
            }
        }
    }
}

/// One pcapng interface (IDB) of the current section.
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u16,
    unit: TsUnit,
    /// `if_tsoffset` in nanoseconds.
    offset_ns: i64,
}

impl Interface {
    #[inline]
    fn ts(&self, raw: u64) -> Nanos {
        let ns = self.unit.to_nanos(raw);
        if self.offset_ns >= 0 {
            ns.saturating_add(self.offset_ns as u64)
        } else {
            ns.saturating_sub(self.offset_ns.unsigned_abs())
        }
    }
}

/// Per-format reader state.
#[derive(Debug)]
enum Reader {
    Pcap {
        /// Nanosecond timestamps (else microseconds).
        nanos: bool,
        /// Record header length (16, or 24 for the modified format).
        record_len: usize,
        linktype: u16,
    },
    Pcapng {
        /// Interfaces of the current section.
        interfaces: Vec<Interface>,
    },
}

/// An open, memory-mapped capture file that yields frames in order.
pub struct CaptureFile {
    path: PathBuf,
    map: Arc<memmap2::Mmap>,
    pos: usize,
    /// Byte order of the file (pcap) or of the current section (pcapng).
    big_endian: bool,
    format: Format,
    reader: Reader,
    truncated: Option<usize>,
    corrupt: Option<&'static str>,
    frames: u64,
    skipped: u64,
    /// Timestamp of the last frame, used for Simple Packet Blocks (which
    /// carry none) so that packet time never jumps back to zero.
    last_ts: Nanos,
    /// The map is populated (page tables filled) up to here.
    populated_to: usize,
}

/// Bytes of the map populated ahead of the reader with one
/// `MADV_POPULATE_READ` call, instead of a page fault every few pages.
const POPULATE_CHUNK: usize = 8 << 20;

#[inline]
fn rd16(b: &[u8], o: usize, be: bool) -> Option<u16> {
    let w: [u8; 2] = b.get(o..o.checked_add(2)?)?.try_into().ok()?;
    Some(if be {
        u16::from_be_bytes(w)
    } else {
        u16::from_le_bytes(w)
    })
}

#[inline]
fn rd32(b: &[u8], o: usize, be: bool) -> Option<u32> {
    let w: [u8; 4] = b.get(o..o.checked_add(4)?)?.try_into().ok()?;
    Some(if be {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    })
}

#[inline]
fn rd64(b: &[u8], o: usize, be: bool) -> Option<u64> {
    let w: [u8; 8] = b.get(o..o.checked_add(8)?)?.try_into().ok()?;
    Some(if be {
        u64::from_be_bytes(w)
    } else {
        u64::from_le_bytes(w)
    })
}

/// Rounds up to a multiple of 4 (pcapng padding).
#[inline]
fn pad4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|v| v & !3)
}

/// What one step over the pcapng block list produced.
enum Step {
    Frame(FrameRef),
    /// A block that yields no frame (IDB, SHB, statistics, ...).
    Skip,
    /// Stop: at the end, or at a cut-off/corrupt block (already recorded).
    End,
}

impl CaptureFile {
    /// Opens and maps `path`, checking its header.
    ///
    /// Fails when the file is missing, unreadable (including a directory),
    /// empty, starts with no known magic, or has a header that is cut short
    /// or invalid (pcap shorter than 24 bytes; pcapng whose first block is not
    /// a complete Section Header Block of major version 1).
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
        if !meta.is_file() {
            return Err(err(OpenErrorKind::Unreadable(std::io::Error::other(
                "not a regular file",
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
        #[cfg(unix)]
        {
            // Only a hint for read-ahead; failure changes nothing.
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        let (format, big_endian, reader, pos) = Self::header(&map).map_err(err)?;
        Ok(CaptureFile {
            path: path.to_path_buf(),
            map: Arc::new(map),
            pos,
            big_endian,
            format,
            reader,
            truncated: None,
            corrupt: None,
            frames: 0,
            skipped: 0,
            last_ts: 0,
            populated_to: 0,
        })
    }

    /// Recognises the format and reads the file header.
    ///
    /// ```text
    /// pcap global header (24 bytes, file byte order):
    ///  0 magic  4 version major/minor  8 thiszone  12 sigfigs  16 snaplen  20 linktype
    /// pcapng Section Header Block:
    ///  0 type 0a0d0d0a  4 total length  8 byte-order magic 1a2b3c4d
    ///  12 major  14 minor  16 section length (i64)  24 options  .. total length
    /// ```
    fn header(b: &[u8]) -> Result<(Format, bool, Reader, usize), OpenErrorKind> {
        let Some(magic) = b.get(0..4) else {
            return Err(OpenErrorKind::NotACapture);
        };
        let magic = [magic[0], magic[1], magic[2], magic[3]];
        let pcap = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => Some((false, false, field::PCAP_RECORD_LEN)),
            [0xa1, 0xb2, 0xc3, 0xd4] => Some((true, false, field::PCAP_RECORD_LEN)),
            [0x4d, 0x3c, 0xb2, 0xa1] => Some((false, true, field::PCAP_RECORD_LEN)),
            [0xa1, 0xb2, 0x3c, 0x4d] => Some((true, true, field::PCAP_RECORD_LEN)),
            [0x34, 0xcd, 0xb2, 0xa1] => Some((false, false, field::PCAP_MODIFIED_RECORD_LEN)),
            [0xa1, 0xb2, 0xcd, 0x34] => Some((true, false, field::PCAP_MODIFIED_RECORD_LEN)),
            _ => None,
        };
        if let Some((be, nanos, record_len)) = pcap {
            let Some(lt) = rd32(b, field::PCAP_LINKTYPE, be) else {
                return Err(OpenErrorKind::BadHeader(
                    "pcap global header shorter than 24 bytes",
                ));
            };
            let reader = Reader::Pcap {
                nanos,
                record_len,
                linktype: (lt & 0xffff) as u16,
            };
            return Ok((Format::Pcap, be, reader, field::PCAP_HEADER_LEN));
        }
        if magic == field::SHB.to_be_bytes() {
            let Some(be) = shb_byte_order(b, 0) else {
                return Err(OpenErrorKind::BadHeader(
                    "pcapng section header without byte-order magic",
                ));
            };
            return match shb_check(b, 0, be) {
                Ok(len) => Ok((
                    Format::Pcapng,
                    be,
                    Reader::Pcapng {
                        interfaces: Vec::new(),
                    },
                    len,
                )),
                Err(why) => Err(OpenErrorKind::BadHeader(why)),
            };
        }
        Err(OpenErrorKind::NotACapture)
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

    /// True if the file has no bytes (never the case for an open file).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Byte offset of the next record (for progress reporting).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Frames returned so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Packet records skipped because they could not be attributed: a pcapng
    /// packet naming an interface that no IDB of its section described.
    pub fn skipped_records(&self) -> u64 {
        self.skipped
    }

    /// If the reader stopped inside a record: the byte offset where that
    /// record began. Set both for a file cut off mid-record and for a
    /// corrupt record (see [`CaptureFile::corrupt`]).
    pub fn truncated_at(&self) -> Option<usize> {
        self.truncated
    }

    /// If the reader stopped at a record that cannot be valid: why.
    pub fn corrupt(&self) -> Option<&'static str> {
        self.corrupt
    }

    /// Records a stop at the record starting at `at`.
    #[cold]
    fn stop(&mut self, at: usize, corrupt: Option<&'static str>) {
        self.truncated = Some(at);
        self.corrupt = corrupt;
        self.pos = self.map.len();
    }

    #[cold]
    fn populate_ahead(&mut self) {
        let len = self.map.len();
        if self.populated_to >= len {
            self.populated_to = usize::MAX;
            return;
        }
        let n = POPULATE_CHUNK.min(len - self.populated_to);
        // Only a hint: on kernels without MADV_POPULATE_READ the pages are
        // faulted in as they are read, as before.
        #[cfg(target_os = "linux")]
        let _ = self
            .map
            .advise_range(memmap2::Advice::PopulateRead, self.populated_to, n);
        self.populated_to += n;
    }

    /// The next frame, or `None` at the end of the file or at a cut-off or
    /// corrupt record (see [`CaptureFile::truncated_at`]).
    #[inline]
    pub fn next_frame(&mut self) -> Option<FrameRef> {
        if self.pos + POPULATE_CHUNK / 2 > self.populated_to {
            self.populate_ahead();
        }
        match self.reader {
            Reader::Pcap {
                nanos,
                record_len,
                linktype,
            } => self.next_pcap(nanos, record_len, linktype),
            Reader::Pcapng { .. } => loop {
                match self.next_pcapng_block() {
                    Step::Frame(f) => {
                        self.frames += 1;
                        self.last_ts = f.ts;
                        return Some(f);
                    }
                    Step::Skip => continue,
                    Step::End => return None,
                }
            },
        }
    }

    /// One classic pcap record.
    ///
    /// ```text
    ///  0 ts seconds  4 ts micro/nanoseconds  8 caplen  12 origlen  16 data[caplen]
    /// ```
    #[inline]
    fn next_pcap(&mut self, nanos: bool, record_len: usize, linktype: u16) -> Option<FrameRef> {
        let start = self.pos;
        let map = &self.map[..];
        if start >= map.len() {
            return None;
        }
        let be = self.big_endian;
        let hdr = match map.get(start..start.saturating_add(record_len)) {
            Some(h) => h,
            None => {
                self.stop(start, None);
                return None;
            }
        };
        let (Some(sec), Some(frac), Some(caplen), Some(origlen)) = (
            rd32(hdr, 0, be),
            rd32(hdr, 4, be),
            rd32(hdr, 8, be),
            rd32(hdr, 12, be),
        ) else {
            self.stop(start, None);
            return None;
        };
        if caplen > MAX_CAPLEN {
            self.stop(start, Some("pcap record captured length over 256 KiB"));
            return None;
        }
        let data = start + record_len;
        let end = data + caplen as usize;
        if end > map.len() {
            self.stop(start, None);
            return None;
        }
        let frac_ns = if nanos {
            frac as u64
        } else {
            (frac as u64) * 1000
        };
        let ts: Nanos = (sec as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(frac_ns);
        self.pos = end;
        self.frames += 1;
        self.last_ts = ts;
        Some(FrameRef {
            seq: 0,
            clock: 0,
            ts,
            offset: data,
            caplen,
            origlen,
            linktype,
        })
    }

    /// One pcapng block.
    ///
    /// ```text
    /// every block:  0 type  4 total length  8 body ..  total-4 total length
    /// IDB body:     8 linktype(16) 10 reserved 12 snaplen 16 options
    /// EPB body:     8 interface id 12 ts high 16 ts low 20 caplen 24 origlen 28 data, options
    /// SPB body:     8 origlen 12 data (caplen = min(origlen, total - 16))
    /// PB body:      8 interface id(16) 10 drops(16) 12 ts high 16 ts low 20 caplen 24 origlen 28 data
    /// option:       0 code(16) 2 length(16) 4 value, padded to 4
    /// ```
    fn next_pcapng_block(&mut self) -> Step {
        let start = self.pos;
        let len = self.map.len();
        if start >= len {
            return Step::End;
        }
        if len - start < field::MIN_BLOCK {
            self.stop(start, None);
            return Step::End;
        }
        let b = &self.map[..];
        let Some(raw_type) = b.get(start..start + 4) else {
            self.stop(start, None);
            return Step::End;
        };
        if raw_type == field::SHB.to_be_bytes() {
            let Some(be) = shb_byte_order(b, start) else {
                self.stop(start, None);
                return Step::End;
            };
            match shb_check(b, start, be) {
                Ok(total) => {
                    self.big_endian = be;
                    if let Reader::Pcapng { interfaces } = &mut self.reader {
                        interfaces.clear();
                    }
                    self.pos = start + total;
                    return Step::Skip;
                }
                Err(why) => {
                    // A header cut off by the end of the file is truncation; any
                    // other problem is corruption.
                    let cut = rd32(b, start + 4, be)
                        .is_some_and(|t| start.saturating_add(t as usize) > len);
                    self.stop(start, if cut { None } else { Some(why) });
                    return Step::End;
                }
            }
        }
        let be = self.big_endian;
        let (Some(btype), Some(total)) = (rd32(b, start, be), rd32(b, start + 4, be)) else {
            self.stop(start, None);
            return Step::End;
        };
        let total = total as usize;
        if total < field::MIN_BLOCK || total & 3 != 0 {
            self.stop(
                start,
                Some("pcapng block length not a multiple of 4 or below 12"),
            );
            return Step::End;
        }
        let Some(end) = start.checked_add(total).filter(|&e| e <= len) else {
            self.stop(start, None);
            return Step::End;
        };
        if rd32(b, end - 4, be) != Some(total as u32) {
            self.stop(
                start,
                Some("pcapng block trailing length differs from leading length"),
            );
            return Step::End;
        }
        let body = &b[start..end - 4];
        self.pos = end;
        let Reader::Pcapng { interfaces } = &mut self.reader else {
            return Step::End;
        };
        match btype {
            field::IDB => {
                if let Some(iface) = parse_idb(body, be) {
                    if interfaces.len() < MAX_INTERFACES {
                        interfaces.push(iface);
                    }
                } else {
                    // Keep interface numbering aligned with the file even if
                    // one IDB is unreadable: the packets that name it are then
                    // skipped as unattributable.
                    if interfaces.len() < MAX_INTERFACES {
                        interfaces.push(Interface {
                            linktype: u16::MAX,
                            unit: TsUnit::Mul(1000),
                            offset_ns: 0,
                        });
                    }
                }
                Step::Skip
            }
            field::EPB | field::PB => {
                let (ifid, ok) = if btype == field::EPB {
                    match rd32(body, 8, be) {
                        Some(v) => (v as usize, true),
                        None => (0, false),
                    }
                } else {
                    match rd16(body, 8, be) {
                        Some(v) => (v as usize, true),
                        None => (0, false),
                    }
                };
                let (Some(hi), Some(lo), Some(caplen), Some(origlen)) = (
                    rd32(body, 12, be),
                    rd32(body, 16, be),
                    rd32(body, 20, be),
                    rd32(body, 24, be),
                ) else {
                    self.stop(
                        start,
                        Some("pcapng packet block shorter than its fixed fields"),
                    );
                    return Step::End;
                };
                if !ok {
                    self.stop(
                        start,
                        Some("pcapng packet block shorter than its fixed fields"),
                    );
                    return Step::End;
                }
                if caplen > MAX_CAPLEN {
                    self.stop(start, Some("pcapng packet captured length over 256 KiB"));
                    return Step::End;
                }
                if 28 + caplen as usize > body.len() {
                    self.stop(start, Some("pcapng packet data runs past its block"));
                    return Step::End;
                }
                let Some(iface) = interfaces.get(ifid).filter(|i| i.linktype != u16::MAX) else {
                    self.skipped += 1;
                    return Step::Skip;
                };
                let raw = ((hi as u64) << 32) | lo as u64;
                Step::Frame(FrameRef {
                    seq: 0,
                    clock: 0,
                    ts: iface.ts(raw),
                    offset: start + 28,
                    caplen,
                    origlen,
                    linktype: iface.linktype,
                })
            }
            field::SPB => {
                let Some(origlen) = rd32(body, 8, be) else {
                    self.stop(
                        start,
                        Some("pcapng simple packet block shorter than its fixed fields"),
                    );
                    return Step::End;
                };
                let room = body.len() - 12;
                let caplen = (origlen as usize).min(room).min(MAX_CAPLEN as usize) as u32;
                let Some(iface) = interfaces.first().filter(|i| i.linktype != u16::MAX) else {
                    self.skipped += 1;
                    return Step::Skip;
                };
                Step::Frame(FrameRef {
                    seq: 0,
                    clock: 0,
                    ts: self.last_ts,
                    offset: start + 12,
                    caplen,
                    origlen,
                    linktype: iface.linktype,
                })
            }
            _ => Step::Skip,
        }
    }
}

/// Byte order of the SHB at `at`, from its byte-order magic.
fn shb_byte_order(b: &[u8], at: usize) -> Option<bool> {
    let m = b.get(at.checked_add(8)?..at.checked_add(12)?)?;
    let m = [m[0], m[1], m[2], m[3]];
    if u32::from_le_bytes(m) == field::BYTE_ORDER_MAGIC {
        Some(false)
    } else if u32::from_be_bytes(m) == field::BYTE_ORDER_MAGIC {
        Some(true)
    } else {
        None
    }
}

/// Checks the SHB at `at` and returns its total length.
fn shb_check(b: &[u8], at: usize, be: bool) -> Result<usize, &'static str> {
    let total = rd32(b, at + 4, be).ok_or("pcapng section header cut short")? as usize;
    if total < field::MIN_SHB || total & 3 != 0 {
        return Err("pcapng section header length invalid");
    }
    let end = at
        .checked_add(total)
        .filter(|&e| e <= b.len())
        .ok_or("pcapng section header cut short")?;
    if rd32(b, end - 4, be) != Some(total as u32) {
        return Err("pcapng section header trailing length differs");
    }
    if rd16(b, at + 12, be) != Some(1) {
        return Err("pcapng major version is not 1");
    }
    Ok(total)
}

/// Reads an IDB body (block bytes up to, not including, the trailing length).
fn parse_idb(body: &[u8], be: bool) -> Option<Interface> {
    let linktype = rd16(body, 8, be)?;
    let mut iface = Interface {
        linktype,
        unit: TsUnit::Mul(1000),
        offset_ns: 0,
    };
    let mut o = 16usize;
    // Each option takes at least 4 bytes, so this loop ends.
    while let (Some(code), Some(olen)) = (rd16(body, o, be), rd16(body, o + 2, be)) {
        if code == 0 {
            break;
        }
        let v = o + 4;
        let olen = olen as usize;
        let Some(value) = body.get(v..v + olen) else {
            break;
        };
        match code {
            field::OPT_IF_TSRESOL if olen >= 1 => iface.unit = TsUnit::from_tsresol(value[0]),
            field::OPT_IF_TSOFFSET if olen >= 8 => {
                let secs = rd64(value, 0, be).unwrap_or(0) as i64;
                iface.offset_ns = secs.saturating_mul(1_000_000_000);
            }
            _ => {}
        }
        o = v + pad4(olen)?;
    }
    Some(iface)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A file in a fresh per-test temporary directory, removed on drop.
    struct TempFile {
        dir: PathBuf,
        path: PathBuf,
    }

    impl TempFile {
        fn new(name: &str, bytes: &[u8]) -> TempFile {
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "spanwatch-capture-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            TempFile { dir, path }
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn put32(v: &mut Vec<u8>, x: u32, be: bool) {
        v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
    }
    fn put16(v: &mut Vec<u8>, x: u16, be: bool) {
        v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
    }

    /// A classic pcap file: global header, then (sec, frac, data, origlen) records.
    fn pcap(be: bool, nanos: bool, linktype: u32, recs: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
        let mut v = Vec::new();
        put32(&mut v, if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }, be);
        put16(&mut v, 2, be); // version major
        put16(&mut v, 4, be); // version minor
        put32(&mut v, 0, be); // thiszone
        put32(&mut v, 0, be); // sigfigs
        put32(&mut v, 65535, be); // snaplen
        put32(&mut v, linktype, be);
        for &(sec, frac, data, orig) in recs {
            put32(&mut v, sec, be);
            put32(&mut v, frac, be);
            put32(&mut v, data.len() as u32, be);
            put32(&mut v, orig, be);
            v.extend_from_slice(data);
        }
        v
    }

    /// A pcapng block with body padded to 4 and both length fields.
    fn block(btype: u32, body: &[u8], be: bool) -> Vec<u8> {
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        let mut v = Vec::new();
        put32(&mut v, btype, be);
        put32(&mut v, total, be);
        v.extend_from_slice(body);
        v.resize(8 + padded, 0);
        put32(&mut v, total, be);
        v
    }

    fn shb(be: bool) -> Vec<u8> {
        let mut b = Vec::new();
        put32(&mut b, 0x1A2B_3C4D, be);
        put16(&mut b, 1, be); // major
        put16(&mut b, 0, be); // minor
        b.extend_from_slice(&[0xff; 8]); // section length -1
        block(0x0A0D_0D0A, &b, be)
    }

    /// IDB with optional if_tsresol and if_tsoffset.
    fn idb(linktype: u16, tsresol: Option<u8>, tsoffset: Option<i64>, be: bool) -> Vec<u8> {
        let mut b = Vec::new();
        put16(&mut b, linktype, be);
        put16(&mut b, 0, be);
        put32(&mut b, 65535, be);
        if let Some(r) = tsresol {
            put16(&mut b, 9, be);
            put16(&mut b, 1, be);
            b.extend_from_slice(&[r, 0, 0, 0]);
        }
        if let Some(o) = tsoffset {
            put16(&mut b, 14, be);
            put16(&mut b, 8, be);
            b.extend_from_slice(&if be { o.to_be_bytes() } else { o.to_le_bytes() });
        }
        put16(&mut b, 0, be); // opt_endofopt
        put16(&mut b, 0, be);
        block(1, &b, be)
    }

    fn epb(ifid: u32, ts: u64, data: &[u8], origlen: u32, be: bool) -> Vec<u8> {
        let mut b = Vec::new();
        put32(&mut b, ifid, be);
        put32(&mut b, (ts >> 32) as u32, be);
        put32(&mut b, ts as u32, be);
        put32(&mut b, data.len() as u32, be);
        put32(&mut b, origlen, be);
        b.extend_from_slice(data);
        block(6, &b, be)
    }

    fn frames_of(cf: &mut CaptureFile) -> Vec<(FrameRef, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(f) = cf.next_frame() {
            let bytes = cf.map()[f.offset..f.offset + f.caplen as usize].to_vec();
            out.push((f, bytes));
        }
        out
    }

    #[test]
    fn pcap_microseconds_little_endian_two_records() {
        let f = TempFile::new(
            "le.pcap",
            &pcap(
                false,
                false,
                1,
                &[
                    (1_700_000_000, 123_456, b"abcd", 60),
                    (1_700_000_001, 7, b"xy", 2),
                ],
            ),
        );
        let mut cf = CaptureFile::open(&f.path).unwrap();
        assert_eq!(cf.format(), Format::Pcap);
        let fr = frames_of(&mut cf);
        assert_eq!(fr.len(), 2);
        assert_eq!(fr[0].0.ts, 1_700_000_000_123_456_000);
        assert_eq!(fr[0].0.offset, 24 + 16);
        assert_eq!(
            (fr[0].0.caplen, fr[0].0.origlen, fr[0].0.linktype),
            (4, 60, 1)
        );
        assert_eq!(fr[0].1, b"abcd");
        assert_eq!(fr[1].0.ts, 1_700_000_001_000_007_000);
        assert_eq!(fr[1].1, b"xy");
        assert_eq!(cf.frames(), 2);
        assert_eq!(cf.truncated_at(), None);
        assert_eq!(cf.position(), cf.len());
    }

    #[test]
    fn pcap_nanoseconds_big_endian_keeps_fraction() {
        let f = TempFile::new(
            "be-ns.pcap",
            &pcap(true, true, 101, &[(10, 999_999_999, b"\x45\x00", 2)]),
        );
        let mut cf = CaptureFile::open(&f.path).unwrap();
        let fr = frames_of(&mut cf);
        assert_eq!(fr.len(), 1);
        assert_eq!(fr[0].0.ts, 10_999_999_999);
        assert_eq!(fr[0].0.linktype, 101);
        assert_eq!(fr[0].1, b"\x45\x00");
    }

    #[test]
    fn pcap_cut_mid_record_reports_record_start() {
        let mut bytes = pcap(
            false,
            false,
            1,
            &[(1, 0, b"0123456789", 10), (2, 0, b"abcdefghij", 10)],
        );
        let second = 24 + 16 + 10;
        bytes.truncate(second + 16 + 4); // header of record 2 plus 4 of its 10 data bytes
        let f = TempFile::new("cut.pcap", &bytes);
        let mut cf = CaptureFile::open(&f.path).unwrap();
        assert_eq!(frames_of(&mut cf).len(), 1);
        assert_eq!(cf.truncated_at(), Some(second));
        assert_eq!(cf.corrupt(), None);
        // Further calls stay at the end.
        assert!(cf.next_frame().is_none());
    }

    #[test]
    fn pcap_cut_mid_record_header() {
        let mut bytes = pcap(false, false, 1, &[(1, 0, b"0123", 4)]);
        bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6]); // 6 of 16 record-header bytes
        let f = TempFile::new("cut-hdr.pcap", &bytes);
        let mut cf = CaptureFile::open(&f.path).unwrap();
        assert_eq!(frames_of(&mut cf).len(), 1);
        assert_eq!(cf.truncated_at(), Some(24 + 16 + 4));
    }

    #[test]
    fn pcap_absurd_caplen_stops_as_corrupt() {
        let mut bytes = pcap(false, false, 1, &[(1, 0, b"ok", 2)]);
        let bad = bytes.len();
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        bytes.extend_from_slice(&(300_000u32).to_le_bytes());
        bytes.extend_from_slice(&(300_000u32).to_le_bytes());
        bytes.extend_from_slice(&[0u8; 64]);
        let f = TempFile::new("corrupt.pcap", &bytes);
        let mut cf = CaptureFile::open(&f.path).unwrap();
        assert_eq!(frames_of(&mut cf).len(), 1);
        assert_eq!(cf.truncated_at(), Some(bad));
        assert!(cf.corrupt().is_some());
    }

    #[test]
    fn pcapng_two_interfaces_with_their_own_linktype_and_resolution() {
        let be = false;
        let mut bytes = shb(be);
        bytes.extend(idb(1, None, None, be)); // Ethernet, default microseconds
        bytes.extend(idb(113, Some(9), Some(100), be)); // SLL, ns, +100 s
        bytes.extend(epb(0, 1_500_000_000_000_001, b"eth-frame", 9, be));
        bytes.extend(block(5, &[0u8; 8], be)); // an Interface Statistics Block: skipped
        bytes.extend(epb(1, 42, b"sll", 3, be));
        let f = TempFile::new("two-if.pcapng", &bytes);
        let mut cf = CaptureFile::open(&f.path).unwrap();
        assert_eq!(cf.format(), Format::Pcapng);
        let fr = frames_of(&mut cf);
        assert_eq!(fr.len(), 2);
        assert_eq!(fr[0].0.linktype, 1);
        assert_eq!(fr[0].0.ts, 1_500_000_000_000_001_000);
        assert_eq!(fr[0].1, b"eth-frame");
        assert_eq!(fr[1].0.linktype, 113);
        assert_eq!(fr[1].0.ts, 100_000_000_042);
        assert_eq!(fr[1].1, b"sll");
        assert_eq!(cf.truncated_at(), None);
    }

    #[test]
    fn pcapng_big_endian_power_of_two_resolution() {
        let be = true;
        let mut bytes = shb(be);
        bytes.extend(idb(101, Some(0x80 | 10), None, be)); // 2^-10 s units
        bytes.extend(epb(0, 3 * 1024 + 512, b"\x45", 1, be));
        let f = TempFile::new("be.pcapng", &bytes);
        let mut cf = CaptureFile::open(&f.path).unwrap();
        let fr = frames_of(&mut cf);
        assert_eq!(fr.len(), 1);
        assert_eq!(fr[0].0.ts, 3_500_000_000);
        assert_eq!(fr[0].0.linktype, 101);
    }

    #[test]
    fn pcapng_second_section_changes_byte_order_and_interfaces() {
        let mut bytes = shb(false);
        bytes.extend(idb(1, None, None, false));
        bytes.extend(epb(0, 1, b"a", 1, false));
        bytes.extend(shb(true));
        bytes.extend(idb(276, Some(3), None, true)); // milliseconds
        bytes.extend(epb(0, 5, b"bb", 2, true));
        let f = TempFile::new("sections.pcapng", &bytes);
        let mut cf = CaptureFile::open(&f.path).unwrap();
        let fr = frames_of(&mut cf);
        assert_eq!(fr.len(), 2);
        assert_eq!((fr[0].0.linktype, fr[0].0.ts), (1, 1_000));
        assert_eq!((fr[1].0.linktype, fr[1].0.ts), (276, 5_000_000));
        assert_eq!(fr[1].1, b"bb");
    }

    #[test]
    fn pcapng_simple_and_obsolete_packet_blocks() {
        let be = false;
        let mut bytes = shb(be);
        bytes.extend(idb(1, None, None, be));
        // Obsolete Packet Block: ifid(16) drops(16) ts hi lo caplen origlen data
        let mut pb = Vec::new();
        put16(&mut pb, 0, be);
        put16(&mut pb, 0, be);
        put32(&mut pb, 0, be);
        put32(&mut pb, 2_000_000, be);
        put32(&mut pb, 3, be);
        put32(&mut pb, 3, be);
        pb.extend_from_slice(b"old");
        bytes.extend(block(2, &pb, be));
        // Simple Packet Block: origlen 10 but only 5 bytes stored
        let mut spb = Vec::new();
        put32(&mut spb, 10, be);
        spb.extend_from_slice(b"simpl");
        bytes.extend(block(3, &spb, be));
        let f = TempFile::new("spb.pcapng", &bytes);
        let mut cf = CaptureFile::open(&f.path).unwrap();
        let fr = frames_of(&mut cf);
        assert_eq!(fr.len(), 2);
        assert_eq!(fr[0].1, b"old");
        assert_eq!(fr[0].0.ts, 2_000_000_000);
        // SPB: no timestamp of its own, carries the previous one; padding
        // bytes count as captured up to origlen.
        assert_eq!(fr[1].0.ts, 2_000_000_000);
        assert_eq!(fr[1].0.origlen, 10);
        assert_eq!(fr[1].0.caplen, 8);
        assert_eq!(&fr[1].1[..5], b"simpl");
    }

    #[test]
    fn pcapng_block_cut_at_end_of_file_is_truncation() {
        let be = false;
        let mut bytes = shb(be);
        bytes.extend(idb(1, None, None, be));
        bytes.extend(epb(0, 1, b"first", 5, be));
        let cut = bytes.len();
        bytes.extend(epb(0, 2, b"second-frame", 12, be));
        bytes.truncate(bytes.len() - 6);
        let f = TempFile::new("cut.pcapng", &bytes);
        let mut cf = CaptureFile::open(&f.path).unwrap();
        assert_eq!(frames_of(&mut cf).len(), 1);
        assert_eq!(cf.truncated_at(), Some(cut));
        assert_eq!(cf.corrupt(), None);
    }

    #[test]
    fn pcapng_packet_on_undeclared_interface_is_skipped() {
        let be = false;
        let mut bytes = shb(be);
        bytes.extend(idb(1, None, None, be));
        bytes.extend(epb(3, 1, b"nobody", 6, be));
        bytes.extend(epb(0, 1, b"ok", 2, be));
        let f = TempFile::new("noif.pcapng", &bytes);
        let mut cf = CaptureFile::open(&f.path).unwrap();
        let fr = frames_of(&mut cf);
        assert_eq!(fr.len(), 1);
        assert_eq!(fr[0].1, b"ok");
        assert_eq!(cf.skipped_records(), 1);
    }

    #[test]
    fn pcapng_mismatched_trailer_is_corrupt() {
        let be = false;
        let mut bytes = shb(be);
        bytes.extend(idb(1, None, None, be));
        let at = bytes.len();
        let mut e = epb(0, 1, b"data", 4, be);
        let n = e.len();
        e[n - 4] ^= 0x10;
        bytes.extend(e);
        let f = TempFile::new("trailer.pcapng", &bytes);
        let mut cf = CaptureFile::open(&f.path).unwrap();
        assert!(cf.next_frame().is_none());
        assert_eq!(cf.truncated_at(), Some(at));
        assert!(cf.corrupt().is_some());
    }

    #[test]
    fn open_refuses_missing_empty_directory_and_non_capture() {
        let missing = std::env::temp_dir().join("spanwatch-definitely-missing.pcap");
        let e = CaptureFile::open(&missing).err().unwrap();
        assert!(matches!(e.kind, OpenErrorKind::Missing));
        assert!(e
            .to_string()
            .contains("spanwatch-definitely-missing.pcap: no such file"));

        let empty = TempFile::new("empty.pcap", b"");
        let e = CaptureFile::open(&empty.path).err().unwrap();
        assert!(matches!(e.kind, OpenErrorKind::Empty));

        let e = CaptureFile::open(&empty.dir).err().unwrap();
        assert!(matches!(e.kind, OpenErrorKind::Unreadable(_)));
        assert!(!e.to_string().contains('\n'));

        let text = TempFile::new("notes.txt", b"this is not a capture file\n");
        let e = CaptureFile::open(&text.path).err().unwrap();
        assert!(matches!(e.kind, OpenErrorKind::NotACapture));
        assert!(e.to_string().ends_with("not a pcap or pcapng capture file"));

        let short = TempFile::new("short.pcap", &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]);
        let e = CaptureFile::open(&short.path).err().unwrap();
        assert!(matches!(e.kind, OpenErrorKind::BadHeader(_)));

        let mut ng = shb(false);
        ng[12] = 2; // major version 2
        let ng = TempFile::new("v2.pcapng", &ng);
        let e = CaptureFile::open(&ng.path).err().unwrap();
        assert!(matches!(e.kind, OpenErrorKind::BadHeader(_)));
    }
}
