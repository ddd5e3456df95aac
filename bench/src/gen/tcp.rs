//! A TCP connection as seen from the capture point: sequence numbers, ACKs, options, timing,
//! and the occasional impairment (out-of-order segment, retransmission).
//!
//! References: RFC 9293 (TCP), RFC 7323 (timestamps, window scale), RFC 2018 (SACK-permitted),
//! RFC 1122 §4.2.3.2 (delayed ACK: at least every second full segment).
//!
//! Timing model: the capture point sits between the two ends; each host has a round-trip time
//! from the capture point (`Host::rtt`). A reply from side X to a frame seen at `t` is seen at
//! `t + rtt(X)` (plus whatever processing time the caller adds).

use super::net::{Envelope, Host, Net, Stack};
use super::rng::Rng;
use super::timeline::{Kind, Script};
use super::wire::{build_frame, tcp_flags as F, Path, TcpHeader, Transport};
use super::Micros;

/// Client side index.
pub const CLIENT: usize = 0;
/// Server side index.
pub const SERVER: usize = 1;

/// The receiver's ACK for segments sent by `side` comes from `1 - side`.
fn other(side: usize) -> usize {
    1 - side
}

/// Impairments applied to data segments.
#[derive(Clone, Debug, Default)]
pub struct Impair {
    /// Probability that a data segment is sent again (seen twice on the link).
    pub retx: f64,
    /// Probability that a data segment swaps places with the next one of the same send.
    pub ooo: f64,
    /// Data segment numbers (counted from 0 over the connection, both directions) that are
    /// always swapped with their successor.
    pub force_ooo: Vec<u32>,
    /// Data segment numbers that are always retransmitted.
    pub force_retx: Vec<u32>,
}

/// Everything needed to open a connection.
pub struct ConnSpec<'a> {
    /// The initiating host.
    pub client: &'a Host,
    /// The listening host.
    pub server: &'a Host,
    /// Client port (usually from `Net::ephemeral_port`).
    pub client_port: u16,
    /// Server port.
    pub server_port: u16,
    /// Wrapping on the capture link.
    pub envelope: Envelope,
    /// Traffic class of the frames.
    pub kind: Kind,
    /// Impairments.
    pub impair: Impair,
}

/// One TCP connection.
pub struct TcpConn {
    paths: [Path; 2],
    ports: [u16; 2],
    /// Next sequence number each side sends.
    seq: [u32; 2],
    ip_id: [u16; 2],
    /// Last acknowledgement number each side sent.
    acked: [u32; 2],
    /// Timestamp clock offsets, when both sides use RFC 7323 timestamps.
    ts_base: Option<[u32; 2]>,
    last_tsval: [u32; 2],
    mss: [usize; 2],
    window: [u16; 2],
    syn_window: [u16; 2],
    wscale: [Option<u8>; 2],
    stack: [Stack; 2],
    /// Round trip from the capture point to each side.
    pub rtt: [Micros; 2],
    kind: Kind,
    impair: Impair,
    rng: Rng,
    data_segments: u32,
}

/// Standard MSS on Ethernet.
pub const ETHERNET_MSS: usize = 1460;
/// Length of the timestamp option block (NOP, NOP, kind 8, len 10, TSval, TSecr).
pub const TS_OPTION_LEN: usize = 12;

impl TcpConn {
    /// A connection that has not sent anything yet. `rng` drives ISNs, IP ids and impairments.
    pub fn new(spec: ConnSpec<'_>, net: &Net, mut rng: Rng) -> Self {
        let (fwd, rev) = net.paths(spec.client, spec.server, spec.envelope, &mut rng);
        let stack = [spec.client.stack, spec.server.stack];
        let ts = stack.iter().all(|s| *s == Stack::Linux);
        let ts_base = ts.then(|| [rng.next_u32(), rng.next_u32()]);
        let announced = ETHERNET_MSS - spec.envelope.overhead();
        let mss = if ts {
            announced - TS_OPTION_LEN
        } else {
            announced
        };
        let params = |s: Stack| match s {
            Stack::Linux => (64240u16, 502u16, Some(7u8)),
            Stack::Windows => (64240, 1026, Some(8)),
            Stack::Embedded => (8192, 8192, None),
        };
        let (cw0, cw, cs) = params(stack[0]);
        let (sw0, sw, ss) = params(stack[1]);
        let both_scale = cs.is_some() && ss.is_some();
        TcpConn {
            paths: [fwd, rev],
            ports: [spec.client_port, spec.server_port],
            seq: [rng.next_u32(), rng.next_u32()],
            ip_id: [rng.next_u16(), rng.next_u16()],
            acked: [0, 0],
            ts_base,
            last_tsval: [0, 0],
            mss: [mss, mss],
            window: if both_scale { [cw, sw] } else { [cw0, sw0] },
            syn_window: [cw0, sw0],
            wscale: [cs, ss],
            stack,
            rtt: [spec.client.rtt, spec.server.rtt],
            kind: spec.kind,
            impair: spec.impair,
            rng,
            data_segments: 0,
        }
    }

    /// Largest payload per segment from `side`.
    pub fn mss(&self, side: usize) -> usize {
        self.mss[side]
    }

    /// Builds one segment from `side` at `t`.
    fn frame(
        &mut self,
        side: usize,
        t: Micros,
        flags: u8,
        seq: u32,
        ack: u32,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut opts = [0u8; 40];
        let opt_len = if flags & F::SYN != 0 {
            self.syn_options(side, t, &mut opts)
        } else if self.ts_base.is_some() {
            let (tsval, tsecr) = self.timestamps(side, t);
            opts[..4].copy_from_slice(&[1, 1, 8, 10]);
            opts[4..8].copy_from_slice(&tsval.to_be_bytes());
            opts[8..12].copy_from_slice(&tsecr.to_be_bytes());
            TS_OPTION_LEN
        } else {
            0
        };
        let window = if flags & F::SYN != 0 {
            self.syn_window[side]
        } else {
            self.window[side]
        };
        let h = TcpHeader {
            src_port: self.ports[side],
            dst_port: self.ports[other(side)],
            seq,
            ack: if flags & F::ACK != 0 { ack } else { 0 },
            flags,
            window,
            options: &opts[..opt_len],
        };
        if flags & F::ACK != 0 {
            self.acked[side] = ack;
        }
        let id = self.ip_id[side];
        self.ip_id[side] = id.wrapping_add(1);
        let mut buf = Vec::with_capacity(payload.len() + 120);
        build_frame(&mut buf, &self.paths[side], id, &Transport::Tcp(h), payload);
        buf
    }

    fn timestamps(&mut self, side: usize, t: Micros) -> (u32, u32) {
        let base = self.ts_base.map_or(0, |b| b[side]);
        let tsval = base.wrapping_add((t / 1000) as u32);
        self.last_tsval[side] = tsval;
        (tsval, self.last_tsval[other(side)])
    }

    /// SYN / SYN-ACK options in the order each stack sends them.
    fn syn_options(&mut self, side: usize, t: Micros, o: &mut [u8; 40]) -> usize {
        // The announced MSS excludes options; the payload limit had the timestamp block removed.
        let mss = (self.mss[side] + self.ts_base.map_or(0, |_| TS_OPTION_LEN)) as u16;
        let m = mss.to_be_bytes();
        let both_scale = self.wscale.iter().all(Option::is_some);
        let is_synack = side == SERVER;
        match self.stack[side] {
            Stack::Linux => {
                // MSS, SACK-permitted, timestamps, NOP, window scale
                o[..4].copy_from_slice(&[2, 4, m[0], m[1]]);
                let mut n = 4;
                let peer_ts = self.stack[other(side)] == Stack::Linux;
                if peer_ts || !is_synack {
                    // A client offers timestamps; a server echoes them only if offered.
                    let (tsval, tsecr) = self.timestamps(side, t);
                    let tsecr = if is_synack { tsecr } else { 0 };
                    o[n..n + 2].copy_from_slice(&[4, 2]);
                    o[n + 2..n + 4].copy_from_slice(&[8, 10]);
                    o[n + 4..n + 8].copy_from_slice(&tsval.to_be_bytes());
                    o[n + 8..n + 12].copy_from_slice(&tsecr.to_be_bytes());
                    n += 12;
                } else {
                    o[n..n + 4].copy_from_slice(&[1, 1, 4, 2]);
                    n += 4;
                }
                if !is_synack || both_scale {
                    o[n..n + 4].copy_from_slice(&[1, 3, 3, self.wscale[side].unwrap_or(7)]);
                    n += 4;
                }
                n
            }
            Stack::Windows => {
                // MSS, NOP, window scale, NOP, NOP, SACK-permitted
                o[..4].copy_from_slice(&[2, 4, m[0], m[1]]);
                let mut n = 4;
                if !is_synack || both_scale {
                    o[n..n + 4].copy_from_slice(&[1, 3, 3, self.wscale[side].unwrap_or(8)]);
                    n += 4;
                }
                o[n..n + 4].copy_from_slice(&[1, 1, 4, 2]);
                n + 4
            }
            Stack::Embedded => {
                o[..4].copy_from_slice(&[2, 4, m[0], m[1]]);
                4
            }
        }
    }

    /// Three-way handshake starting at `t`; returns the time of the client's final ACK.
    pub fn open(&mut self, s: &mut Script, t: Micros) -> Micros {
        let c = self.seq[CLIENT];
        let f = self.frame(CLIENT, t, F::SYN, c, 0, &[]);
        let t = s.push(t, self.kind, f);
        self.seq[CLIENT] = c.wrapping_add(1);
        let t = t + self.rtt[SERVER];
        let sv = self.seq[SERVER];
        let f = self.frame(SERVER, t, F::SYN | F::ACK, sv, self.seq[CLIENT], &[]);
        let t = s.push(t, self.kind, f);
        self.seq[SERVER] = sv.wrapping_add(1);
        let t = t + self.rtt[CLIENT];
        self.ack(s, CLIENT, t)
    }

    /// A SYN that gets no answer (port scan, dead host); returns its time.
    pub fn syn_only(&mut self, s: &mut Script, t: Micros) -> Micros {
        let c = self.seq[CLIENT];
        let f = self.frame(CLIENT, t, F::SYN, c, 0, &[]);
        s.push(t, self.kind, f)
    }

    /// A pure ACK from `side` acknowledging everything the other side sent.
    pub fn ack(&mut self, s: &mut Script, side: usize, t: Micros) -> Micros {
        let f = self.frame(side, t, F::ACK, self.seq[side], self.seq[other(side)], &[]);
        s.push(t, self.kind, f)
    }

    /// True when `side` has received data it has not acknowledged yet.
    pub fn ack_pending(&self, side: usize) -> bool {
        self.acked[side] != self.seq[other(side)]
    }

    /// A delayed ACK from `side` for data it received at `t`, unless it sends something of its
    /// own (carrying the ACK) before its delayed-ACK timer fires at `next_send`. Returns the time
    /// of the ACK when one was sent.
    pub fn delayed_ack(
        &mut self,
        s: &mut Script,
        side: usize,
        t: Micros,
        next_send: Option<Micros>,
    ) -> Option<Micros> {
        let delay = match self.stack[side] {
            Stack::Linux => self.rng.range(38_000, 42_000),
            Stack::Windows => self.rng.range(100_000, 200_000),
            Stack::Embedded => self.rng.range(5_000, 20_000),
        };
        if !self.ack_pending(side) || next_send.is_some_and(|n| n <= t + delay) {
            return None;
        }
        Some(self.ack(s, side, t + delay))
    }

    /// Sends `data` from `side` starting at `t`, one segment per `pace` µs (PSH on the last).
    /// The receiver ACKs every second segment, and at once after an out-of-order segment or a
    /// duplicate; a trailing odd segment is left for the caller to ACK (or piggyback).
    /// Returns the time of the last data segment.
    pub fn send(
        &mut self,
        s: &mut Script,
        side: usize,
        t: Micros,
        data: &[u8],
        pace: Micros,
    ) -> Micros {
        if data.is_empty() {
            return t;
        }
        let mss = self.mss[side];
        let n = data.len().div_ceil(mss);
        let start = self.seq[side];
        // Emission order, with adjacent swaps for out-of-order delivery.
        let mut order: Vec<usize> = (0..n).collect();
        let mut i = 0;
        while i + 1 < n {
            let no = self.data_segments + i as u32;
            if self.impair.force_ooo.contains(&no) || self.rng.chance(self.impair.ooo) {
                order.swap(i, i + 1);
                i += 2;
            } else {
                i += 1;
            }
        }
        // (time, segment, is_duplicate)
        let mut emits: Vec<(Micros, usize, bool)> = Vec::with_capacity(n + 2);
        for (pos, &seg) in order.iter().enumerate() {
            let at = t + pos as Micros * pace;
            emits.push((at, seg, false));
            let no = self.data_segments + seg as u32;
            if self.impair.force_retx.contains(&no) || self.rng.chance(self.impair.retx) {
                let delay = (pace / 2).max(self.rtt[other(side)] / 2).max(1);
                emits.push((at + delay, seg, true));
            }
        }
        emits.sort_by_key(|e| e.0);
        self.data_segments += n as u32;
        let ack_seq = self.seq[other(side)];
        let mut frames: Vec<(Micros, Vec<u8>)> = Vec::with_capacity(emits.len() * 2);
        let mut got = vec![false; n];
        let mut edge = 0usize; // first segment not yet received in order
        let mut since_ack = 0u32;
        let mut last_data = t;
        for (at, seg, dup) in emits {
            let lo = seg * mss;
            let hi = (lo + mss).min(data.len());
            let mut flags = F::ACK;
            if seg == n - 1 {
                flags |= F::PSH;
            }
            let seq = start.wrapping_add(lo as u32);
            let f = self.frame(side, at, flags, seq, ack_seq, &data[lo..hi]);
            frames.push((at, f));
            last_data = last_data.max(at);
            let hole_before = seg > edge;
            got[seg] = true;
            while edge < n && got[edge] {
                edge += 1;
            }
            since_ack += 1;
            if since_ack >= 2 || hole_before || dup {
                since_ack = 0;
                let acked = if edge == n { data.len() } else { edge * mss };
                let ack_at = at + self.rtt[other(side)].min(pace.max(20)) / 2 + 10;
                let recv = other(side);
                let f = self.frame(
                    recv,
                    ack_at,
                    F::ACK,
                    self.seq[recv],
                    start.wrapping_add(acked as u32),
                    &[],
                );
                frames.push((ack_at, f));
            }
        }
        self.seq[side] = start.wrapping_add(data.len() as u32);
        frames.sort_by_key(|f| f.0);
        for (at, f) in frames {
            s.push(at, self.kind, f);
        }
        last_data
    }

    /// Orderly close: FIN from `initiator` at `t`, FIN from the peer, final ACK. Returns the
    /// time of the final ACK.
    pub fn close(&mut self, s: &mut Script, initiator: usize, t: Micros) -> Micros {
        let peer = other(initiator);
        let a = self.seq[initiator];
        let f = self.frame(initiator, t, F::FIN | F::ACK, a, self.seq[peer], &[]);
        let t = s.push(t, self.kind, f);
        self.seq[initiator] = a.wrapping_add(1);
        let t = t + self.rtt[peer];
        let b = self.seq[peer];
        let f = self.frame(peer, t, F::FIN | F::ACK, b, self.seq[initiator], &[]);
        let t = s.push(t, self.kind, f);
        self.seq[peer] = b.wrapping_add(1);
        let t = t + self.rtt[initiator];
        self.ack(s, initiator, t)
    }

    /// Abortive close: RST+ACK from `side`.
    pub fn reset(&mut self, s: &mut Script, side: usize, t: Micros) -> Micros {
        let f = self.frame(
            side,
            t,
            F::RST | F::ACK,
            self.seq[side],
            self.seq[other(side)],
            &[],
        );
        s.push(t, self.kind, f)
    }

    /// Next sequence number of `side` (for tests and for segments built by hand).
    pub fn next_seq(&self, side: usize) -> u32 {
        self.seq[side]
    }

    /// Sends one data segment from `side` whose sequence number is `skip` bytes past the next
    /// expected one, leaving a hole the receiver must buffer around. Does not advance the
    /// sequence (the hole is never filled).
    pub fn send_past_hole(
        &mut self,
        s: &mut Script,
        side: usize,
        t: Micros,
        skip: u32,
        data: &[u8],
    ) -> Micros {
        let seq = self.seq[side].wrapping_add(skip);
        let f = self.frame(side, t, F::ACK | F::PSH, seq, self.seq[other(side)], data);
        s.push(t, self.kind, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::net::Net;

    fn conn(impair: Impair) -> TcpConn {
        let net = Net::new(3);
        let client = net.host([10, 0, 100, 1]);
        let server = net.host([192, 0, 2, 10]);
        TcpConn::new(
            ConnSpec {
                client: &client,
                server: &server,
                client_port: 50000,
                server_port: 80,
                envelope: Envelope::Plain,
                kind: Kind::Http,
                impair,
            },
            &net,
            Rng::new(9),
        )
    }

    fn tcp_field(frame: &[u8], off: usize) -> u32 {
        u32::from_be_bytes(frame[34 + off..34 + off + 4].try_into().unwrap())
    }

    fn drain(s: &mut Script) -> Vec<Vec<u8>> {
        s.take_frames().into_iter().map(|(_, f)| f.bytes).collect()
    }

    #[test]
    fn handshake_consumes_one_sequence_number_per_syn() {
        let mut c = conn(Impair::default());
        let isn_c = c.next_seq(CLIENT);
        let isn_s = c.next_seq(SERVER);
        let mut s = Script::default();
        c.open(&mut s, 1000);
        let frames = drain(&mut s);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0][47], F::SYN);
        assert_eq!(frames[1][47], F::SYN | F::ACK);
        assert_eq!(tcp_field(&frames[1], 8), isn_c.wrapping_add(1));
        assert_eq!(tcp_field(&frames[2], 4), isn_c.wrapping_add(1));
        assert_eq!(tcp_field(&frames[2], 8), isn_s.wrapping_add(1));
    }

    #[test]
    fn forced_out_of_order_sends_the_later_segment_first_and_a_dup_ack_follows() {
        let mut c = conn(Impair {
            force_ooo: vec![0],
            ..Impair::default()
        });
        let mut s = Script::default();
        c.open(&mut s, 0);
        drain(&mut s);
        let start = c.next_seq(SERVER);
        let mss = c.mss(SERVER) as u32;
        c.send(&mut s, SERVER, 10_000, &vec![7u8; 3 * mss as usize], 100);
        let frames = drain(&mut s);
        // seg1 first, then the receiver's immediate ACK for the hole, then seg0, ...
        assert_eq!(tcp_field(&frames[0], 4), start + mss);
        assert_eq!(
            tcp_field(&frames[1], 8),
            start,
            "duplicate ACK still asks for seg0"
        );
        assert_eq!(tcp_field(&frames[2], 4), start);
        assert_eq!(c.next_seq(SERVER), start + 3 * mss);
    }
}
