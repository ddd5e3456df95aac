//! A tiny pcap / pcapng walker for the Mitsubishi capture tests and benches.
//!
//! `spanwatch-parsers` cannot depend on the engine, so this reads just enough
//! of the capture formats to hand the parsers real payloads: classic pcap
//! (either byte order, µs or ns) and pcapng (SHB/IDB/EPB/SPB), Ethernet with
//! optional VLAN tags, IPv4, TCP and UDP. TCP directions are reassembled
//! naively in sequence order: retransmitted bytes are dropped, a gap is
//! counted and the later bytes appended. A record cut short at the end of the
//! file ends the walk.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

/// `<manifest>/../../shared/pcaps/mitsubishi-melsec/<name>`, or `None` (with
/// a visible SKIP line) when the shared captures are absent.
pub fn capture(name: &str) -> Option<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/pcaps/mitsubishi-melsec")
        .join(name);
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!(
                "SKIP: {} not readable ({e}); shared captures absent",
                path.display()
            );
            None
        }
    }
}

/// A link-layer frame and its link type.
pub struct Record<'a> {
    pub linktype: u32,
    pub data: &'a [u8],
}

fn u16_at(b: &[u8], off: usize, le: bool) -> Option<u16> {
    let s = b.get(off..off + 2)?;
    Some(if le {
        u16::from_le_bytes([s[0], s[1]])
    } else {
        u16::from_be_bytes([s[0], s[1]])
    })
}

fn u32_at(b: &[u8], off: usize, le: bool) -> Option<u32> {
    let s = b.get(off..off + 4)?;
    let a = [s[0], s[1], s[2], s[3]];
    Some(if le {
        u32::from_le_bytes(a)
    } else {
        u32::from_be_bytes(a)
    })
}

/// Every record of a pcap or pcapng file.
pub fn records(file: &[u8]) -> Vec<Record<'_>> {
    let mut out = Vec::new();
    let Some(magic) = file.get(..4) else {
        return out;
    };
    if magic == [0x0A, 0x0D, 0x0D, 0x0A] {
        // pcapng: byte order from the SHB byte-order magic.
        let le = file.get(8..12) == Some(&[0x4D, 0x3C, 0x2B, 0x1A]);
        let mut links: Vec<u32> = Vec::new();
        let mut off = 0usize;
        while let (Some(ty), Some(len)) = (u32_at(file, off, le), u32_at(file, off + 4, le)) {
            let len = len as usize;
            if len < 12 || off + len > file.len() {
                break;
            }
            let body = &file[off + 8..off + len - 4];
            match ty {
                1 => links.push(u32::from(u16_at(body, 0, le).unwrap_or(0))),
                6 => {
                    let iface = u32_at(body, 0, le).unwrap_or(0) as usize;
                    let cap = u32_at(body, 12, le).unwrap_or(0) as usize;
                    if let (Some(&lt), Some(data)) = (links.get(iface), body.get(20..20 + cap)) {
                        out.push(Record { linktype: lt, data });
                    }
                }
                3 => {
                    let orig = u32_at(body, 0, le).unwrap_or(0) as usize;
                    let data = body.get(4..).map(|d| &d[..orig.min(d.len())]);
                    if let (Some(&lt), Some(data)) = (links.first(), data) {
                        out.push(Record { linktype: lt, data });
                    }
                }
                _ => {}
            }
            off += len;
        }
    } else {
        let le = matches!(magic, [0xD4, 0xC3, 0xB2, 0xA1] | [0x4D, 0x3C, 0xB2, 0xA1]);
        let linktype = u32_at(file, 20, le).unwrap_or(0);
        let mut off = 24usize;
        while let Some(incl) = u32_at(file, off + 8, le) {
            let start = off + 16;
            let Some(data) = file.get(start..start + incl as usize) else {
                break;
            };
            out.push(Record { linktype, data });
            off = start + incl as usize;
        }
    }
    out
}

/// Transport of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

/// One IPv4 TCP/UDP packet.
pub struct Packet<'a> {
    pub proto: Proto,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub syn: bool,
    pub payload: &'a [u8],
}

/// Decodes Ethernet (+VLAN) / IPv4 / TCP or UDP.
pub fn packet<'a>(r: &Record<'a>) -> Option<Packet<'a>> {
    if r.linktype != 1 {
        return None;
    }
    let f = r.data;
    let mut et = u16_at(f, 12, false)?;
    let mut o = 14usize;
    while et == 0x8100 || et == 0x88A8 {
        et = u16_at(f, o + 2, false)?;
        o += 4;
    }
    if et != 0x0800 {
        return None;
    }
    let ip = f.get(o..)?;
    let ihl = usize::from(ip.first()? & 0x0F) * 4;
    let total = usize::from(u16_at(ip, 2, false)?).min(ip.len());
    let proto = *ip.get(9)?;
    let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
    let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
    let t = ip.get(ihl..total)?;
    match proto {
        6 => {
            let doff = usize::from(t.get(12)? >> 4) * 4;
            Some(Packet {
                proto: Proto::Tcp,
                src,
                dst,
                sport: u16_at(t, 0, false)?,
                dport: u16_at(t, 2, false)?,
                seq: u32_at(t, 4, false)?,
                syn: t.get(13)? & 0x02 != 0,
                payload: t.get(doff..)?,
            })
        }
        17 => {
            let ulen = usize::from(u16_at(t, 4, false)?).min(t.len());
            Some(Packet {
                proto: Proto::Udp,
                src,
                dst,
                sport: u16_at(t, 0, false)?,
                dport: u16_at(t, 2, false)?,
                seq: 0,
                syn: false,
                payload: t.get(8..ulen.max(8))?,
            })
        }
        _ => None,
    }
}

/// One reassembled TCP direction.
pub struct TcpDirection {
    pub src: [u8; 4],
    pub sport: u16,
    pub dst: [u8; 4],
    pub dport: u16,
    pub bytes: Vec<u8>,
    pub gaps: usize,
}

/// (src, sport, dst, dport) of one direction.
type FlowKey = ([u8; 4], u16, [u8; 4], u16);

/// Reassembles every TCP direction in capture order of first appearance.
pub fn tcp_directions(file: &[u8]) -> Vec<TcpDirection> {
    let mut order: Vec<TcpDirection> = Vec::new();
    let mut index: HashMap<FlowKey, (usize, Option<u32>)> = HashMap::new();
    for r in records(file) {
        let Some(p) = packet(&r) else { continue };
        if p.proto != Proto::Tcp {
            continue;
        }
        let key = (p.src, p.sport, p.dst, p.dport);
        let (i, next) = index.entry(key).or_insert_with(|| {
            order.push(TcpDirection {
                src: p.src,
                sport: p.sport,
                dst: p.dst,
                dport: p.dport,
                bytes: Vec::new(),
                gaps: 0,
            });
            (order.len() - 1, None)
        });
        let d = &mut order[*i];
        if p.syn {
            *next = Some(p.seq.wrapping_add(1));
            continue;
        }
        if p.payload.is_empty() {
            continue;
        }
        let exp = next.unwrap_or(p.seq);
        let ahead = p.seq.wrapping_sub(exp);
        let end = p.seq.wrapping_add(p.payload.len() as u32);
        if ahead == 0 {
            d.bytes.extend_from_slice(p.payload);
        } else if ahead < 0x8000_0000 {
            d.gaps += 1;
            d.bytes.extend_from_slice(p.payload);
        } else {
            // Starts before what we have: keep only bytes past `exp`.
            let new = end.wrapping_sub(exp);
            if new == 0 || new >= 0x8000_0000 {
                continue;
            }
            let skip = p.payload.len() - new as usize;
            d.bytes.extend_from_slice(&p.payload[skip..]);
        }
        *next = Some(end);
    }
    order
}

/// One UDP datagram.
pub struct Datagram<'a> {
    pub src: [u8; 4],
    pub sport: u16,
    pub dst: [u8; 4],
    pub dport: u16,
    pub payload: &'a [u8],
}

/// Every UDP datagram, in capture order.
pub fn udp_datagrams(file: &[u8]) -> Vec<Datagram<'_>> {
    records(file)
        .iter()
        .filter_map(packet)
        .filter(|p| p.proto == Proto::Udp)
        .map(|p| Datagram {
            src: p.src,
            sport: p.sport,
            dst: p.dst,
            dport: p.dport,
            payload: p.payload,
        })
        .collect()
}
