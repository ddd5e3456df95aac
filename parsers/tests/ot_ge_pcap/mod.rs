//! A tiny pcap / pcapng walker for the OT capture tests and benches: it pulls
//! TCP and UDP payloads out of the public captures in `../shared/pcaps`
//! (Ethernet, DLT_NULL loopback, raw IP, Linux cooked; IPv4 and IPv6) and
//! lines TCP payloads up per connection and direction, dropping
//! retransmissions by sequence number and marking gaps.
//!
//! The parsers crate cannot depend on the engine, so this is a deliberately
//! small, test-only reader: it panics on a malformed capture file, which is a
//! test failure, not an input the walker has to survive.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

/// `<manifest>/../../shared/pcaps`, or `None` (with a visible SKIP line) when
/// the folder is absent.
pub fn pcaps_dir(test: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIP: {test}: {} is absent", dir.display());
        None
    }
}

/// Transport of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP with its sequence number and flags byte.
    Tcp { seq: u32, flags: u8 },
    /// UDP.
    Udp,
}

/// One TCP or UDP packet with its payload.
#[derive(Debug, Clone)]
pub struct Packet {
    /// 0-based index of the frame in the capture.
    pub frame: usize,
    /// Source address (4 or 16 bytes).
    pub src: Vec<u8>,
    /// Destination address.
    pub dst: Vec<u8>,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// TCP or UDP.
    pub transport: Transport,
    /// The transport payload.
    pub payload: Vec<u8>,
}

const TCP_SYN: u8 = 0x02;

/// Every TCP/UDP packet of a pcap or pcapng file, in capture order.
pub fn read_packets(path: &std::path::Path) -> Vec<Packet> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let mut frame = 0usize;
    for_each_frame(&bytes, |link, data| {
        if let Some(p) = decode_frame(link, data, frame) {
            out.push(p);
        }
        frame += 1;
    });
    out
}

fn u16_at(b: &[u8], at: usize, le: bool) -> u16 {
    let v = [b[at], b[at + 1]];
    if le {
        u16::from_le_bytes(v)
    } else {
        u16::from_be_bytes(v)
    }
}

fn u32_at(b: &[u8], at: usize, le: bool) -> u32 {
    let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if le {
        u32::from_le_bytes(v)
    } else {
        u32::from_be_bytes(v)
    }
}

/// Calls `f(linktype, frame bytes)` for every captured frame.
fn for_each_frame(bytes: &[u8], mut f: impl FnMut(u32, &[u8])) {
    let magic = u32_at(bytes, 0, true);
    match magic {
        // Classic pcap, microsecond or nanosecond, either byte order.
        0xA1B2_C3D4 | 0xA1B2_3C4D | 0xD4C3_B2A1 | 0x4D3C_B2A1 => {
            let le = matches!(magic, 0xA1B2_C3D4 | 0xA1B2_3C4D);
            let link = u32_at(bytes, 20, le);
            let mut at = 24;
            while at + 16 <= bytes.len() {
                let incl = u32_at(bytes, at + 8, le) as usize;
                let start = at + 16;
                let end = start + incl;
                assert!(end <= bytes.len(), "truncated pcap record");
                f(link, &bytes[start..end]);
                at = end;
            }
        }
        // pcapng: section header block.
        0x0A0D_0D0A => {
            let mut links: Vec<u32> = Vec::new();
            let mut le = true;
            let mut at = 0;
            while at + 12 <= bytes.len() {
                if u32_at(bytes, at, true) == 0x0A0D_0D0A {
                    le = u32_at(bytes, at + 8, true) == 0x1A2B_3C4D;
                    links.clear();
                }
                let block_type = u32_at(bytes, at, le);
                let len = u32_at(bytes, at + 4, le) as usize;
                assert!(len >= 12 && at + len <= bytes.len(), "bad pcapng block");
                let body = &bytes[at + 8..at + len - 4];
                match block_type {
                    // Interface description: link type.
                    0x0000_0001 => links.push(u32::from(u16_at(body, 0, le))),
                    // Enhanced packet: interface id, ts, captured len, orig len, data.
                    0x0000_0006 => {
                        let iface = u32_at(body, 0, le) as usize;
                        let caplen = u32_at(body, 12, le) as usize;
                        f(links[iface], &body[20..20 + caplen]);
                    }
                    // Simple packet: original len, data (interface 0).
                    0x0000_0003 => {
                        let orig = u32_at(body, 0, le) as usize;
                        let caplen = orig.min(body.len() - 4);
                        f(links[0], &body[4..4 + caplen]);
                    }
                    _ => {}
                }
                at += len;
            }
        }
        other => panic!("not a capture file (magic {other:#x})"),
    }
}

fn decode_frame(link: u32, data: &[u8], frame: usize) -> Option<Packet> {
    let ip = match link {
        // DLT_NULL: 4-byte address family in the capturing host's byte order.
        0 => {
            let family_le = u32_at(data, 0, true);
            let family_be = u32_at(data, 0, false);
            match (family_le, family_be) {
                (2, _) | (_, 2) | (24 | 28 | 30, _) | (_, 24 | 28 | 30) => &data[4..],
                _ => return None,
            }
        }
        // Ethernet, with any number of VLAN tags.
        1 => {
            let mut at = 12;
            let mut ethertype = u16_at(data, at, false);
            while ethertype == 0x8100 || ethertype == 0x88A8 {
                at += 4;
                ethertype = u16_at(data, at, false);
            }
            if ethertype != 0x0800 && ethertype != 0x86DD {
                return None;
            }
            &data[at + 2..]
        }
        // Raw IP.
        12 | 101 => data,
        // Linux cooked v1.
        113 => &data[16..],
        _ => return None,
    };
    decode_ip(ip, frame)
}

fn decode_ip(ip: &[u8], frame: usize) -> Option<Packet> {
    let version = ip.first()? >> 4;
    let (src, dst, proto, l4) = match version {
        4 => {
            let ihl = usize::from(ip[0] & 0x0F) * 4;
            let total = usize::from(u16_at(ip, 2, false)).min(ip.len());
            let frag = u16_at(ip, 6, false);
            if frag & 0x1FFF != 0 {
                return None; // non-first fragment
            }
            (
                ip[12..16].to_vec(),
                ip[16..20].to_vec(),
                ip[9],
                &ip[ihl..total],
            )
        }
        6 => {
            let plen = usize::from(u16_at(ip, 4, false));
            let end = (40 + plen).min(ip.len());
            (ip[8..24].to_vec(), ip[24..40].to_vec(), ip[6], &ip[40..end])
        }
        _ => return None,
    };
    match proto {
        6 => {
            let off = usize::from(l4[12] >> 4) * 4;
            Some(Packet {
                frame,
                src,
                dst,
                sport: u16_at(l4, 0, false),
                dport: u16_at(l4, 2, false),
                transport: Transport::Tcp {
                    seq: u32_at(l4, 4, false),
                    flags: l4[13],
                },
                payload: l4.get(off..).unwrap_or(&[]).to_vec(),
            })
        }
        17 => Some(Packet {
            frame,
            src,
            dst,
            sport: u16_at(l4, 0, false),
            dport: u16_at(l4, 2, false),
            transport: Transport::Udp,
            payload: l4.get(8..).unwrap_or(&[]).to_vec(),
        }),
        _ => None,
    }
}

/// One piece of a reassembled TCP direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// In-order bytes.
    Data(Vec<u8>),
    /// Bytes are missing before the next piece.
    Gap,
}

/// Both directions of one TCP connection, as seen from the server port.
#[derive(Debug, Clone, Default)]
pub struct TcpConn {
    /// Client port, for naming.
    pub client_port: u16,
    /// Client → server pieces, in capture order.
    pub to_server: Vec<Piece>,
    /// Server → client pieces, in capture order.
    pub to_client: Vec<Piece>,
}

#[derive(Default)]
struct DirState {
    next: Option<u32>,
}

impl DirState {
    /// Appends the new bytes of one segment: drops what was already seen
    /// (retransmission), marks a gap when bytes are missing.
    fn push(&mut self, seq: u32, flags: u8, payload: &[u8], pieces: &mut Vec<Piece>) {
        if flags & TCP_SYN != 0 {
            self.next = Some(seq.wrapping_add(1));
        }
        if payload.is_empty() {
            return;
        }
        let len = payload.len() as u32;
        let data = match self.next {
            None => payload,
            Some(next) => {
                let delta = seq.wrapping_sub(next) as i32;
                if delta > 0 {
                    pieces.push(Piece::Gap);
                    payload
                } else {
                    let already = delta.unsigned_abs();
                    if already >= len {
                        return; // retransmission of bytes already seen
                    }
                    &payload[already as usize..]
                }
            }
        };
        self.next = Some(seq.wrapping_add(len));
        match pieces.last_mut() {
            Some(Piece::Data(d)) => d.extend_from_slice(data),
            _ => pieces.push(Piece::Data(data.to_vec())),
        }
    }
}

/// The TCP connections that have `server_port` on one side, in order of
/// first packet. A connection is (client address, client port, server
/// address); a SYN from a client port already seen starts a new connection.
pub fn tcp_conns(packets: &[Packet], server_port: u16) -> Vec<TcpConn> {
    let mut conns: Vec<(TcpConn, DirState, DirState)> = Vec::new();
    let mut index: HashMap<(Vec<u8>, u16, Vec<u8>), usize> = HashMap::new();
    for p in packets {
        let Transport::Tcp { seq, flags } = p.transport else {
            continue;
        };
        let (to_server, key) = if p.dport == server_port {
            (true, (p.src.clone(), p.sport, p.dst.clone()))
        } else if p.sport == server_port {
            (false, (p.dst.clone(), p.dport, p.src.clone()))
        } else {
            continue;
        };
        let syn_only = flags & TCP_SYN != 0 && flags & 0x10 == 0;
        let i = match index.get(&key) {
            Some(&i) if !(syn_only && conns[i].1.next.is_some()) => i,
            _ => {
                conns.push((
                    TcpConn {
                        client_port: key.1,
                        ..TcpConn::default()
                    },
                    DirState::default(),
                    DirState::default(),
                ));
                index.insert(key, conns.len() - 1);
                conns.len() - 1
            }
        };
        let (conn, up, down) = &mut conns[i];
        if to_server {
            up.push(seq, flags, &p.payload, &mut conn.to_server);
        } else {
            down.push(seq, flags, &p.payload, &mut conn.to_client);
        }
    }
    conns.into_iter().map(|(c, _, _)| c).collect()
}

/// The in-order bytes of one direction up to its first gap.
pub fn first_bytes(pieces: &[Piece]) -> Vec<u8> {
    match pieces.first() {
        Some(Piece::Data(d)) => d.clone(),
        _ => Vec::new(),
    }
}

/// The UDP payloads with `port` on either side.
pub fn udp_payloads(packets: &[Packet], port: u16) -> Vec<&Packet> {
    packets
        .iter()
        .filter(|p| p.transport == Transport::Udp && (p.sport == port || p.dport == port))
        .collect()
}

use spanwatch_parsers::stream::{drive, Direction, StreamParser};

/// What [`feed`] saw over one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Messages handed out.
    pub messages: usize,
    /// Invalid frames met.
    pub invalid: usize,
    /// Gaps met.
    pub gaps: usize,
    /// Bytes dropped by resynchronisation (after gaps and invalid frames).
    pub skipped: usize,
    /// Bytes left waiting at the end (an incomplete message).
    pub left: usize,
}

/// Feeds the pieces of one direction to `parser` as the engine does: each
/// contiguous run is appended to the unconsumed tail and driven; a gap drops
/// the tail and the next bytes go through `resync` first.
pub fn feed<P, F>(parser: &mut P, pieces: &[Piece], dir: Direction, mut on: F) -> FeedStats
where
    P: StreamParser,
    F: for<'a> FnMut(P::Message<'a>),
{
    let mut stats = FeedStats::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut resyncing = false;
    for piece in pieces {
        match piece {
            Piece::Gap => {
                stats.gaps += 1;
                stats.skipped += buf.len();
                buf.clear();
                resyncing = true;
            }
            Piece::Data(d) => {
                buf.extend_from_slice(d);
                if resyncing {
                    match parser.resync(&buf, dir) {
                        Some(off) => {
                            stats.skipped += off;
                            buf.drain(..off);
                            resyncing = false;
                        }
                        None => {
                            stats.skipped += buf.len();
                            buf.clear();
                            continue;
                        }
                    }
                }
                let o = drive(parser, &buf, dir, &mut on);
                assert!(!o.stalled, "parser stalled");
                stats.messages += o.messages;
                stats.invalid += o.invalid;
                stats.skipped += o.skipped;
                buf.drain(..o.consumed);
            }
        }
    }
    stats.left = buf.len();
    stats
}
