//! Classic libpcap file writer (microsecond timestamps, Ethernet link type).
//!
//! Reference: the libpcap file format (draft-ietf-opsawg-pcap). Little-endian, magic
//! `0xA1B2C3D4` (µs resolution), version 2.4.
//!
//! ```text
//! global header (24 bytes)          record header (16 bytes), then the frame
//! +----------------+                +----------------+
//! | magic      u32 |                | ts_sec     u32 |
//! | major u16|minor|                | ts_usec    u32 |
//! | thiszone   i32 |                | incl_len   u32 |
//! | sigfigs    u32 |                | orig_len   u32 |
//! | snaplen    u32 |                +----------------+
//! | linktype   u32 |
//! +----------------+
//! ```

use std::io::{self, Write};

use super::Micros;

/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Snapshot length written in the header; every frame written is shorter.
pub const SNAPLEN: u32 = 262_144;
/// Size of the file header.
pub const GLOBAL_HEADER_LEN: u64 = 24;
/// Size of each record header.
pub const RECORD_HEADER_LEN: u64 = 16;

/// Streams records to `W`; counts what it wrote. Wrap files in a large `BufWriter`.
pub struct PcapWriter<W: Write> {
    out: W,
    bytes: u64,
    packets: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut hdr = [0u8; GLOBAL_HEADER_LEN as usize];
        hdr[0..4].copy_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
        hdr[4..6].copy_from_slice(&2u16.to_le_bytes());
        hdr[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        hdr[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        hdr[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&hdr)?;
        Ok(PcapWriter {
            out,
            bytes: GLOBAL_HEADER_LEN,
            packets: 0,
        })
    }

    /// Appends one frame captured at `ts` (µs since the Unix epoch), untruncated.
    pub fn write_packet(&mut self, ts: Micros, frame: &[u8]) -> io::Result<()> {
        let len = u32::try_from(frame.len())
            .ok()
            .filter(|&l| l <= SNAPLEN)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame over snaplen"))?;
        let secs = u32::try_from(ts / 1_000_000)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "timestamp past 2106"))?;
        let mut rec = [0u8; RECORD_HEADER_LEN as usize];
        rec[0..4].copy_from_slice(&secs.to_le_bytes());
        rec[4..8].copy_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        rec[8..12].copy_from_slice(&len.to_le_bytes());
        rec[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(frame)?;
        self.bytes += RECORD_HEADER_LEN + u64::from(len);
        self.packets += 1;
        Ok(())
    }

    /// Bytes written so far, headers included (the file size once flushed).
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Records written so far.
    pub fn packets_written(&self) -> u64 {
        self.packets
    }

    /// Flushes and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_one_record_have_libpcap_layout() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_packet(1_767_600_000_000_123, &[0xAA; 60]).unwrap();
        assert_eq!(w.bytes_written(), 24 + 16 + 60);
        let buf = w.finish().unwrap();
        assert_eq!(&buf[0..4], &[0xD4, 0xC3, 0xB2, 0xA1]); // magic, little-endian
        assert_eq!(&buf[4..8], &[2, 0, 4, 0]); // version 2.4
        assert_eq!(&buf[20..24], &[1, 0, 0, 0]); // Ethernet
        assert_eq!(
            u32::from_le_bytes(buf[24..28].try_into().unwrap()),
            1_767_600_000
        );
        assert_eq!(u32::from_le_bytes(buf[28..32].try_into().unwrap()), 123);
        assert_eq!(u32::from_le_bytes(buf[32..36].try_into().unwrap()), 60);
        assert_eq!(u32::from_le_bytes(buf[36..40].try_into().unwrap()), 60);
        assert_eq!(buf.len(), 100);
    }
}
