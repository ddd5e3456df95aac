//! Scenario tests, the target-based overlap vectors, and property tests.

use super::*;
use crate::decode::tcp_flags::{ACK, FIN, PSH, RST, SYN};
use proptest::prelude::*;

/// One thing the sink saw. Adjacent data (and adjacent gaps) are merged: how
/// delivery is split into calls is not part of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Data(Vec<u8>),
    Gap(u64),
}

#[derive(Debug, Default)]
struct Rec {
    out: Vec<Out>,
    events: Vec<StreamEvent>,
    data_calls: usize,
}

impl StreamSink for Rec {
    fn data(&mut self, bytes: &[u8]) {
        assert!(!bytes.is_empty(), "empty data call");
        self.data_calls += 1;
        if let Some(Out::Data(d)) = self.out.last_mut() {
            d.extend_from_slice(bytes);
        } else {
            self.out.push(Out::Data(bytes.to_vec()));
        }
    }
    fn gap(&mut self, len: u64) {
        assert!(len > 0, "empty gap call");
        if let Some(Out::Gap(n)) = self.out.last_mut() {
            *n += len;
        } else {
            self.out.push(Out::Gap(len));
        }
    }
    fn event(&mut self, e: StreamEvent) {
        self.events.push(e);
    }
}

impl Rec {
    /// The stream with gaps drawn as NUL bytes.
    fn rendered(&self) -> Vec<u8> {
        let mut v = Vec::new();
        for o in &self.out {
            match o {
                Out::Data(d) => v.extend_from_slice(d),
                Out::Gap(n) => v.resize(v.len() + *n as usize, 0),
            }
        }
        v
    }
    fn count(&self, f: impl Fn(&StreamEvent) -> bool) -> usize {
        self.events.iter().filter(|e| f(e)).count()
    }
}

fn d(b: &[u8]) -> Out {
    Out::Data(b.to_vec())
}

/// One stream with its memcap and a recording sink; checks the stream's
/// invariants after every call.
struct H {
    s: TcpStream,
    mem: ReassemblyMemcap,
    rec: Rec,
}

impl H {
    fn new(cfg: ReassemblyConfig) -> Self {
        H {
            s: TcpStream::new(&cfg),
            mem: ReassemblyMemcap::default(),
            rec: Rec::default(),
        }
    }
    fn with_syn(cfg: ReassemblyConfig, isn: u32) -> Self {
        let mut h = H::new(cfg);
        h.s.handle_syn(isn);
        h
    }
    fn seg(&mut self, ts: u64, seq: u32, flags: u8, payload: &[u8]) {
        self.s
            .segment(ts, seq, flags, payload, &mut self.mem, &mut self.rec);
        self.check();
    }
    fn data(&mut self, ts: u64, seq: u32, payload: &[u8]) {
        self.seg(ts, seq, ACK | PSH, payload);
    }
    fn ack(&mut self, ts: u64, ack: u32) {
        self.s.ack(ack, ts, &mut self.mem, &mut self.rec);
        self.check();
    }
    fn timeout(&mut self, now: u64) {
        self.s.timeout(now, &mut self.mem, &mut self.rec);
        self.check();
    }
    fn close(&mut self) {
        self.s.close(&mut self.mem, &mut self.rec);
        self.check();
        assert_eq!(self.mem.used(), 0, "memory left after close");
    }
    fn check(&self) {
        self.s.check_invariants();
        assert_eq!(self.mem.used(), self.s.charged_bytes());
        assert!(self.mem.used() <= self.mem.limit());
    }
}

fn unlimited() -> ReassemblyConfig {
    ReassemblyConfig {
        depth: None,
        ..ReassemblyConfig::default()
    }
}

const MS: u64 = 1_000_000;

// ----- scenarios ----------------------------------------------------------

#[test]
fn one_message_in_three_segments() {
    let mut h = H::with_syn(unlimited(), 1000);
    h.data(1, 1001, b"GET /index");
    h.data(2, 1011, b".html HTTP/1.1\r\n");
    h.data(3, 1027, b"\r\n");
    assert_eq!(h.rec.out, [d(b"GET /index.html HTTP/1.1\r\n\r\n")]);
    assert_eq!(h.rec.data_calls, 3);
    // In order with nothing buffered: never copied, never charged.
    assert_eq!(h.mem.peak(), 0);
    assert_eq!(h.s.counters().delivered_bytes, 28);
    assert_eq!(h.s.next_seq(), Some(1029));
}

#[test]
fn three_messages_in_one_segment() {
    // Three Modbus/TCP read requests (MBAP + PDU, 12 bytes each) in one segment.
    let msgs: &[u8] = &[
        0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x0a, //
        0x00, 0x02, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x0a, 0x00, 0x0a, //
        0x00, 0x03, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x14, 0x00, 0x0a,
    ];
    let mut h = H::with_syn(unlimited(), 7);
    h.data(1, 8, msgs);
    assert_eq!(h.rec.out, [d(msgs)]);
    assert_eq!(h.rec.data_calls, 1);
    assert_eq!(h.mem.peak(), 0);
}

#[test]
fn out_of_order_then_fill() {
    let mut h = H::with_syn(unlimited(), 0);
    h.data(1, 11, b"world");
    h.data(2, 16, b"!!");
    assert!(h.rec.out.is_empty());
    assert_eq!(h.s.buffered_bytes(), 7);
    assert_eq!(h.s.holes(), 1);
    assert!(h.mem.used() > 7);
    h.data(3, 1, b"hello ");
    // "hello " ends at offset 6: a 4-byte hole remains before "world".
    assert_eq!(h.rec.out, [d(b"hello ")]);
    h.data(4, 7, b"big ");
    assert_eq!(h.rec.out, [d(b"hello big world!!")]);
    assert_eq!(h.s.counters().out_of_order, 2);
    assert_eq!(h.s.buffered_bytes(), 0);
    assert_eq!(h.mem.used(), 0);
    assert!(h.rec.events.is_empty());
}

#[test]
fn retransmission_identical() {
    let cfg = ReassemblyConfig {
        recent_window_bytes: 64,
        ..unlimited()
    };
    let mut h = H::with_syn(cfg, 0);
    h.data(1, 1, b"abcdef");
    h.data(2, 1, b"abcdef"); // whole retransmission
    h.data(3, 4, b"defgh"); // partial: "def" old, "gh" new
                            // Identical copy of buffered data.
    h.data(4, 20, b"XYZ");
    h.data(5, 20, b"XYZ");
    assert_eq!(h.rec.out, [d(b"abcdefgh")]);
    assert!(h.rec.events.is_empty(), "{:?}", h.rec.events);
    let c = *h.s.counters();
    assert_eq!(c.retransmissions, 2);
    assert_eq!(c.overlaps, 1);
    assert_eq!(c.overlaps_different, 0);
}

#[test]
fn retransmission_different_from_delivered_data() {
    // Insertion attack: the IDS saw "USER root" first, the host got "USER evil".
    let cfg = ReassemblyConfig {
        recent_window_bytes: 64,
        ..unlimited()
    };
    let mut h = H::with_syn(cfg, 500);
    h.data(1, 501, b"USER root\r\n");
    h.data(2, 501, b"USER evil\r\n");
    assert_eq!(h.rec.out, [d(b"USER root\r\n")]);
    // "root" vs "evil" differ at offsets 5..9 (the 'o' at 6 and 7 differs too).
    assert_eq!(
        h.rec.events,
        [StreamEvent::OverlapDifferentData { offset: 5, len: 4 }]
    );
    assert_eq!(h.s.counters().overlaps_different, 1);

    // Without a recent window the retransmission is only counted.
    let mut h = H::with_syn(unlimited(), 500);
    h.data(1, 501, b"USER root\r\n");
    h.data(2, 501, b"USER evil\r\n");
    assert!(h.rec.events.is_empty());
    assert_eq!(h.s.counters().retransmissions, 1);
}

#[test]
fn overlap_different_data_each_policy() {
    // Buffered "AAAA" at offsets 4..8; then "BBBBBB" at 4..10 (same start,
    // ends later); then the hole 0..4 is filled.
    for policy in OverlapPolicy::ALL {
        let cfg = ReassemblyConfig {
            policy,
            ..unlimited()
        };
        let mut h = H::with_syn(cfg, 99);
        h.data(1, 104, b"AAAA");
        h.data(2, 104, b"BBBBBB");
        h.data(3, 100, b"0000");
        let expected: &[u8] = match policy {
            OverlapPolicy::First | OverlapPolicy::Windows | OverlapPolicy::Bsd => b"0000AAAABB",
            OverlapPolicy::Linux
            | OverlapPolicy::OldLinux
            | OverlapPolicy::Solaris
            | OverlapPolicy::Last => b"0000BBBBBB",
        };
        assert_eq!(h.rec.rendered(), expected, "{policy:?}");
        assert_eq!(
            h.rec.events,
            [StreamEvent::OverlapDifferentData { offset: 4, len: 4 }],
            "{policy:?}: one event per overlapping segment"
        );
        assert_eq!(h.s.counters().overlaps_different, 1);
        assert_eq!(h.s.counters().overlaps, 1);
    }
}

#[test]
fn in_order_segment_overlapping_buffered_data_uses_policy() {
    // Buffered "xyz" at 2..5, then in-order "abcdef" at 0..6 (starts before).
    for (policy, expected) in [
        (OverlapPolicy::Bsd, &b"abcdef"[..]),
        (OverlapPolicy::First, &b"abxyzf"[..]),
    ] {
        let cfg = ReassemblyConfig {
            policy,
            ..unlimited()
        };
        let mut h = H::with_syn(cfg, 0);
        h.data(1, 3, b"xyz");
        h.data(2, 1, b"abcdef");
        assert_eq!(h.rec.rendered(), expected, "{policy:?}");
        assert_eq!(
            h.rec.events,
            [StreamEvent::OverlapDifferentData { offset: 2, len: 3 }]
        );
        assert_eq!(h.mem.used(), 0);
    }
}

#[test]
fn gap_then_resync() {
    let mut h = H::with_syn(unlimited(), 1_000_000);
    h.data(10 * MS, 1_000_001, b"abc");
    // 1_000_004..1_000_007 ("def") is lost on the SPAN.
    h.data(11 * MS, 1_000_007, b"ghi");
    // The receiver ACKs everything: the hole was lost on the SPAN.
    h.ack(12 * MS, 1_000_010);
    assert_eq!(
        h.rec.out,
        [d(b"abc")],
        "within the ACK grace nothing is given up"
    );
    h.timeout(12 * MS + DEFAULT_ACK_GRACE_NS);
    assert_eq!(h.rec.out, [d(b"abc"), Out::Gap(3), d(b"ghi")]);
    h.data(70 * MS, 1_000_010, b"jkl");
    assert_eq!(h.rec.out, [d(b"abc"), Out::Gap(3), d(b"ghijkl")]);
    let c = *h.s.counters();
    assert_eq!((c.gaps, c.gap_bytes, c.delivered_bytes), (1, 3, 9));
}

#[test]
fn ack_past_a_hole_with_nothing_buffered() {
    let mut h = H::with_syn(unlimited(), 0);
    h.data(0, 1, b"abc");
    h.ack(MS, 11); // 7 bytes never seen
    h.ack(100 * MS, 11);
    assert_eq!(h.rec.out, [d(b"abc"), Out::Gap(7)]);
    h.data(101 * MS, 11, b"k");
    assert_eq!(h.rec.out, [d(b"abc"), Out::Gap(7), d(b"k")]);
}

#[test]
fn gap_timeout_flushes_buffered_data() {
    let mut h = H::with_syn(unlimited(), 0);
    h.data(0, 1, b"ab");
    h.data(MS, 5, b"ef");
    h.data(2 * MS, 9, b"ij");
    h.timeout(MS + DEFAULT_GAP_TIMEOUT_NS - 1);
    assert_eq!(h.rec.out, [d(b"ab")]);
    // The first hole's data arrived at 1 ms, the second's at 2 ms.
    h.timeout(MS + DEFAULT_GAP_TIMEOUT_NS);
    assert_eq!(h.rec.out, [d(b"ab"), Out::Gap(2), d(b"ef")]);
    h.timeout(2 * MS + DEFAULT_GAP_TIMEOUT_NS);
    assert_eq!(
        h.rec.out,
        [d(b"ab"), Out::Gap(2), d(b"ef"), Out::Gap(2), d(b"ij")]
    );
    assert_eq!(h.mem.used(), 0);
}

#[test]
fn midstream_pickup() {
    let mut h = H::new(unlimited());
    assert_eq!(h.s.next_seq(), None);
    h.seg(0, 0xdead_beef, ACK, b""); // pure ACK: cannot start the stream
    assert_eq!(h.s.next_seq(), None);
    h.data(1, 5000, b"partial message");
    assert_eq!(h.rec.out, [d(b"partial message")]);
    assert_eq!(h.s.next_seq(), Some(5015));
    // Data from before the pickup point is ignored.
    h.data(2, 4990, b"0123456789");
    h.data(3, 5015, b"!");
    assert_eq!(h.rec.out, [d(b"partial message!")]);
    assert_eq!(h.s.counters().retransmissions, 1);
}

#[test]
fn ack_before_data() {
    // Midstream: the ACK for data overtakes the data on the SPAN.
    let mut h = H::new(unlimited());
    h.ack(0, 7100);
    h.data(50_000, 7000, &[b'x'; 100]);
    h.timeout(10 * DEFAULT_GAP_TIMEOUT_NS);
    assert_eq!(h.rec.out, [d(&[b'x'; 100])]);

    // Established: ACK for the next segment arrives before it.
    let mut h = H::with_syn(unlimited(), 0);
    h.data(0, 1, b"first");
    h.ack(MS, 16);
    h.data(MS + 80_000, 6, b"second....");
    h.timeout(10 * DEFAULT_GAP_TIMEOUT_NS);
    h.close();
    assert_eq!(h.rec.out, [d(b"firstsecond....")]);
    assert_eq!(h.s.counters().gaps, 0);

    // Two segments overtaken by the ACK, arriving in reverse order.
    let mut h = H::with_syn(unlimited(), 0);
    h.ack(0, 21);
    h.data(10_000, 11, b"klmnopqrst");
    h.data(20_000, 1, b"abcdefghij");
    h.close();
    assert_eq!(h.rec.out, [d(b"abcdefghijklmnopqrst")]);
}

#[test]
fn stale_ack_after_syn_is_not_a_gap() {
    // Seen in a real capture (port reuse): the server answers a SYN with a
    // challenge ACK for the previous connection, 976 MB ahead; the client
    // sends a RST for it, then retries the SYN and talks normally.
    let mut h = H::new(unlimited());
    h.seg(0, 2_355_097_289, SYN, b"");
    h.ack(18 * MS, 3_331_369_076);
    h.seg(18 * MS, 3_331_369_076, RST, b"");
    assert!(!h.s.is_done());
    h.seg(3_000 * MS, 2_355_097_289, SYN, b"");
    h.data(3_001 * MS, 2_355_097_290, b"client hello");
    h.close();
    assert_eq!(h.rec.out, [d(b"client hello")]);
    assert_eq!(h.s.counters().out_of_window, 2, "the ACK and the RST");
}

#[test]
fn seq_wraparound() {
    let isn = u32::MAX - 5;
    let mut h = H::with_syn(unlimited(), isn);
    // Stream starts at u32::MAX - 4; "abcd" ends at u32::MAX; "efgh" at 0.
    h.data(1, isn.wrapping_add(5), b"efgh"); // out of order, after the wrap
    h.data(2, isn.wrapping_add(9), b"ijkl");
    h.data(3, isn.wrapping_add(1), b"abcd");
    assert_eq!(h.rec.out, [d(b"abcdefghijkl")]);
    assert_eq!(h.s.next_seq(), Some(7));
    h.ack(4, 7);
    h.data(5, 7, b"mn");
    assert_eq!(h.rec.out, [d(b"abcdefghijklmn")]);
    assert_eq!(h.s.delivered_offset(), 14);
    // A retransmission from before the wrap is behind, not 4 GiB ahead.
    h.data(6, u32::MAX - 1, b"bc");
    assert_eq!(h.s.counters().retransmissions, 1);
    assert_eq!(h.s.counters().out_of_window, 0);
}

#[test]
fn rst_mid_stream() {
    let mut h = H::with_syn(unlimited(), 0);
    h.data(1, 1, b"hello ");
    h.data(2, 11, b"world"); // 7..11 missing
                             // A RST far outside the stream is ignored.
    h.seg(3, 900_000, RST, b"");
    assert!(!h.s.is_done());
    assert_eq!(h.s.counters().out_of_window, 1);
    // The real RST, carrying a diagnostic text.
    h.seg(4, 16, RST | ACK, b"bye");
    assert!(h.s.is_done());
    assert_eq!(h.rec.out, [d(b"hello "), Out::Gap(4), d(b"world")]);
    assert_eq!(
        h.rec.events,
        [StreamEvent::RstWithData { len: 3 }, StreamEvent::Reset]
    );
    assert_eq!(h.mem.used(), 0);
    // Anything after the reset is ignored.
    h.data(5, 16, b"more");
    assert_eq!(h.rec.out.len(), 3);
    assert_eq!(h.s.counters().ignored_bytes, 3 + 4);
}

#[test]
fn hole_limit_overflow() {
    let cfg = ReassemblyConfig {
        max_holes_per_stream: 3,
        ..unlimited()
    };
    let mut h = H::with_syn(cfg, 0);
    // Holes before 10, 20, 30.
    h.data(1, 11, b"B");
    h.data(2, 21, b"C");
    h.data(3, 31, b"D");
    assert_eq!(h.s.holes(), 3);
    assert!(h.rec.out.is_empty());
    // A fourth hole: the earliest (0..10) is given up.
    h.data(4, 41, b"E");
    assert_eq!(h.rec.out, [Out::Gap(10), d(b"B")]);
    assert_eq!(h.rec.events, [StreamEvent::HoleLimitReached]);
    assert_eq!(h.s.holes(), 3);
    // Again: raised once per stream, counted each time.
    h.data(5, 51, b"F");
    assert_eq!(h.rec.out, [Out::Gap(10), d(b"B"), Out::Gap(9), d(b"C")]);
    assert_eq!(h.rec.events.len(), 1);
    assert_eq!(h.s.counters().limit_hits, 2);
    // A segment before every buffered chunk is itself delivered after the gap.
    let mut h = H::with_syn(
        ReassemblyConfig {
            max_holes_per_stream: 1,
            ..unlimited()
        },
        0,
    );
    h.data(1, 21, b"C");
    h.data(2, 11, b"B");
    assert_eq!(h.rec.out, [Out::Gap(10), d(b"B")]);
    h.close();
    assert_eq!(h.rec.out, [Out::Gap(10), d(b"B"), Out::Gap(9), d(b"C")]);
}

#[test]
fn stream_byte_and_segment_limits() {
    let cfg = ReassemblyConfig {
        max_segments_per_stream: 2,
        ..unlimited()
    };
    let mut h = H::with_syn(cfg, 0);
    h.data(1, 3, b"c");
    h.data(2, 4, b"d"); // adjacent: still one hole, two chunks
    h.data(3, 5, b"e"); // third chunk
    assert_eq!(h.rec.out, [Out::Gap(2), d(b"cde")]);
    assert_eq!(h.rec.events, [StreamEvent::SegmentLimitReached]);

    let cfg = ReassemblyConfig {
        max_buffered_bytes_per_stream: 400,
        ..unlimited()
    };
    let mut h = H::with_syn(cfg, 0);
    h.data(1, 11, &[1; 200]);
    h.data(2, 300, &[2; 200]);
    assert_eq!(h.rec.events, [StreamEvent::StreamMemcapReached]);
    assert_eq!(h.rec.out, [Out::Gap(10), d(&[1; 200])]);
    assert!(h.s.charged_bytes() <= 400);
    // A single segment larger than the limit is delivered after a gap.
    let mut h = H::with_syn(
        ReassemblyConfig {
            max_buffered_bytes_per_stream: 100,
            ..unlimited()
        },
        0,
    );
    h.data(1, 6, &[7; 500]);
    assert_eq!(h.rec.out, [Out::Gap(5), d(&[7; 500])]);
}

#[test]
fn memcap_overflow() {
    let cfg = unlimited();
    let mut mem = ReassemblyMemcap::new(1000);
    let mut rec_a = Rec::default();
    let mut rec_b = Rec::default();
    let mut a = TcpStream::new(&cfg);
    let mut b = TcpStream::new(&cfg);
    a.handle_syn(0);
    b.handle_syn(0);
    a.segment(1, 11, ACK, &[b'a'; 600], &mut mem, &mut rec_a);
    assert!(mem.used() > 600 && mem.used() <= 1000);
    b.segment(2, 11, ACK, &[b'b'; 600], &mut mem, &mut rec_b);
    assert_eq!(rec_b.events, [StreamEvent::GlobalMemcapReached]);
    assert_eq!(b.counters().dropped_bytes, 600);
    assert_eq!(b.charged_bytes(), 0);
    assert_eq!(mem.used(), a.charged_bytes());
    assert_eq!(mem.refusals(), 1);
    // The dropped bytes come back as a gap once the stream moves on.
    b.segment(3, 1, ACK, b"0123456789", &mut mem, &mut rec_b);
    b.close(&mut mem, &mut rec_b);
    assert_eq!(rec_b.out, [d(b"0123456789"), Out::Gap(600)]);
    // Memory held by `a` is released on close.
    a.close(&mut mem, &mut rec_a);
    assert_eq!(rec_a.out, [Out::Gap(10), d(&[b'a'; 600])]);
    assert_eq!(mem.used(), 0);
    assert!(mem.peak() <= 1000);
}

#[test]
fn zero_window_probe() {
    let cfg = ReassemblyConfig {
        recent_window_bytes: 64,
        ..unlimited()
    };
    let mut h = H::with_syn(cfg, 0);
    h.data(0, 1, b"abcd");
    // Linux-style probe: no data, one below the next sequence number.
    h.seg(1, 4, ACK, b"");
    // Probe carrying the next byte; the receiver's window is zero so it is
    // sent again later together with more data.
    h.data(2, 5, b"e");
    h.data(3, 5, b"efgh");
    assert_eq!(h.rec.out, [d(b"abcdefgh")]);
    assert!(h.rec.events.is_empty());
    assert_eq!(h.s.counters().overlaps_different, 0);
}

#[test]
fn keepalive() {
    let cfg = ReassemblyConfig {
        recent_window_bytes: 64,
        ..unlimited()
    };
    let mut h = H::with_syn(cfg, 41);
    h.data(0, 42, b"abcd");
    // Keep-alives: seq = next - 1 with no byte (Linux) or one garbage byte
    // (Windows sends 0x00, which differs from the 'd' delivered there).
    h.seg(1, 45, ACK, b"");
    h.seg(2, 45, ACK, &[0]);
    assert_eq!(h.rec.out, [d(b"abcd")]);
    assert!(h.rec.events.is_empty());
    let c = *h.s.counters();
    assert_eq!(
        (c.retransmissions, c.overlaps_different, c.out_of_window),
        (0, 0, 0)
    );
}

#[test]
fn fin_both_directions() {
    let cfg = unlimited();
    let mut mem = ReassemblyMemcap::default();
    let (mut rc, mut rs) = (Rec::default(), Rec::default());
    let mut client = TcpStream::new(&cfg);
    let mut server = TcpStream::new(&cfg);
    client.segment(0, 100, SYN, b"", &mut mem, &mut rc);
    server.segment(1, 900, SYN | ACK, b"", &mut mem, &mut rs);
    client.ack(101, 1, &mut mem, &mut rc); // the SYN-ACK acknowledges the client's SYN
    client.segment(2, 101, ACK | PSH, b"request", &mut mem, &mut rc);
    server.ack(901, 2, &mut mem, &mut rs); // the request's ACK number
                                           // The server's FIN overtakes its last data segment on the SPAN.
    server.segment(3, 906, FIN | ACK, b"", &mut mem, &mut rs);
    server.segment(4, 901, ACK | PSH, b"reply", &mut mem, &mut rs);
    assert_eq!(rs.out, [d(b"reply")]);
    assert_eq!(rs.events, [StreamEvent::Finished]);
    assert!(server.is_done());
    // The client's FIN carries data; then data past the FIN is ignored.
    client.segment(5, 108, FIN | ACK, b"!", &mut mem, &mut rc);
    assert_eq!(rc.out, [d(b"request!")]);
    assert_eq!(rc.events, [StreamEvent::Finished]);
    client.segment(6, 110, ACK, b"late", &mut mem, &mut rc);
    assert_eq!(client.counters().ignored_bytes, 4);
    // Close after FIN: nothing more.
    client.close(&mut mem, &mut rc);
    server.close(&mut mem, &mut rs);
    assert_eq!(rc.out, [d(b"request!")]);
    assert_eq!(mem.used(), 0);
}

#[test]
fn data_after_fin_in_same_stream_is_cut() {
    let mut h = H::with_syn(unlimited(), 0);
    h.seg(1, 6, FIN | ACK, b""); // FIN at offset 5, before its data
    h.data(2, 1, b"helloXX");
    assert_eq!(h.rec.out, [d(b"hello")]);
    assert_eq!(
        h.rec.events,
        [StreamEvent::DataAfterFin, StreamEvent::Finished]
    );
    assert_eq!(h.s.counters().ignored_bytes, 2);
}

#[test]
fn depth_reached() {
    let cfg = ReassemblyConfig {
        depth: Some(10),
        ..ReassemblyConfig::default()
    };
    let mut h = H::with_syn(cfg, 0);
    // Out-of-order data past the depth is not even buffered.
    h.data(1, 21, b"zzzz");
    assert_eq!(h.s.buffered_bytes(), 0);
    h.data(2, 1, b"12345678");
    h.data(3, 9, b"9abcdef");
    assert_eq!(h.rec.out, [d(b"123456789a")]);
    assert_eq!(h.rec.events, [StreamEvent::DepthReached]);
    assert!(h.s.is_done());
    h.data(4, 16, b"more");
    assert_eq!(h.rec.out, [d(b"123456789a")]);
    assert_eq!(h.rec.events.len(), 1);
    assert_eq!(h.mem.used(), 0);

    // OT streams: unlimited, set per stream.
    let mut h = H::with_syn(ReassemblyConfig::default(), 0);
    h.s.set_depth(None);
    let big = vec![0x42u8; (DEFAULT_IT_DEPTH + 10) as usize];
    h.data(1, 1, &big);
    assert_eq!(h.s.counters().delivered_bytes, DEFAULT_IT_DEPTH + 10);
    assert!(!h.s.is_done());

    // Gaps count towards the depth too.
    let mut h = H::with_syn(
        ReassemblyConfig {
            depth: Some(10),
            ..ReassemblyConfig::default()
        },
        0,
    );
    h.data(1, 1, b"ab");
    h.ack(2, 100);
    h.timeout(2 + DEFAULT_ACK_GRACE_NS);
    assert_eq!(h.rec.out, [d(b"ab"), Out::Gap(8)]);
    assert_eq!(h.rec.events, [StreamEvent::DepthReached]);
}

#[test]
fn syn_handling() {
    // Data on a SYN (TCP Fast Open) is delivered.
    let mut h = H::new(unlimited());
    h.seg(0, 5000, SYN, b"tfo");
    h.data(1, 5004, b"!");
    assert_eq!(h.rec.out, [d(b"tfo!")]);
    // A SYN retransmitted with another ISN before any data restarts the stream.
    let mut h = H::new(unlimited());
    h.seg(0, 100, SYN, b"");
    h.seg(1, 7000, SYN, b"");
    h.data(2, 7001, b"x");
    assert_eq!(h.rec.out, [d(b"x")]);
    assert_eq!(h.s.counters().syn_mismatches, 1);
    // After data, a SYN with a different ISN is ignored.
    h.seg(3, 100, SYN, b"");
    h.data(4, 7002, b"y");
    assert_eq!(h.rec.out, [d(b"xy")]);
    assert_eq!(h.s.counters().syn_mismatches, 2);
    // A late SYN after a midstream pickup at isn + 1 is consistent.
    let mut h = H::new(unlimited());
    h.data(0, 301, b"a");
    h.seg(1, 300, SYN, b"");
    assert_eq!(h.s.counters().syn_mismatches, 0);
}

#[test]
fn out_of_window_data_is_ignored() {
    let mut h = H::with_syn(unlimited(), 0);
    h.data(0, 1, b"a");
    h.data(1, 2 + (1 << 30) + 1, b"far");
    assert_eq!(h.s.counters().out_of_window, 1);
    assert_eq!(h.s.buffered_bytes(), 0);
}

#[test]
fn discard_releases_memory() {
    let mut h = H::with_syn(unlimited(), 0);
    h.data(0, 100, &[1; 1000]);
    assert!(h.mem.used() >= 1000);
    h.s.discard(&mut h.mem);
    assert_eq!(h.mem.used(), 0);
    assert!(h.rec.out.is_empty());
}

#[test]
fn stream_state_is_small() {
    // 1 M concurrent streams must not need gigabytes before any data.
    let size = core::mem::size_of::<TcpStream>();
    assert!(size <= 256, "TcpStream is {size} bytes");
}

#[test]
fn many_streams_respect_memcap() {
    // Small-scale version of the 1 M stream simulation in the benchmark.
    let cfg = ReassemblyConfig::default();
    let mut mem = ReassemblyMemcap::new(256 << 10);
    let mut sink = Rec::default();
    let mut streams: Vec<TcpStream> = (0..20_000u32)
        .map(|i| {
            let mut s = TcpStream::new(&cfg);
            s.handle_syn(i.wrapping_mul(7919));
            s
        })
        .collect();
    let payload = [0x55u8; 100];
    for (i, s) in streams.iter_mut().enumerate() {
        let isn = (i as u32).wrapping_mul(7919);
        s.segment(
            i as u64,
            isn.wrapping_add(101),
            ACK,
            &payload,
            &mut mem,
            &mut sink,
        );
        assert!(mem.used() <= mem.limit());
    }
    let buffered = streams.iter().filter(|s| s.buffered_bytes() > 0).count();
    let dropped: u64 = streams.iter().map(|s| s.counters().dropped_bytes).sum();
    assert!(buffered > 500 && buffered < 20_000, "{buffered}");
    assert_eq!(dropped, (20_000 - buffered as u64) * 100);
    assert_eq!(
        mem.used(),
        streams.iter().map(|s| s.charged_bytes()).sum::<u64>()
    );
    for s in &mut streams {
        s.close(&mut mem, &mut sink);
    }
    assert_eq!(mem.used(), 0);
}

// ----- target-based vectors ----------------------------------------------

/// One overlap vector: segments at relative sequence numbers (1 = first
/// byte), and what each policy reassembles (NUL where no data arrived).
///
/// The segments and expected results are the ones Suricata's stream list
/// tests record for each target (the Novak & Sturges style vectors): the
/// main vector, and "before", "same" and "after" variants. "first" is not in
/// those tests; its results follow from its definition and equal Windows'.
struct Vector {
    name: &'static str,
    steps: &'static [(u32, &'static str)],
    results: &'static [(OverlapPolicy, &'static str)],
}

use OverlapPolicy::{Bsd, First, Last, Linux, OldLinux, Solaris, Windows};

const MAIN: &[(u32, &str)] = &[
    (2, "AAA"),
    (6, "BB"),
    (8, "CCC"),
    (12, "D"),
    (15, "EE"),
    (17, "FFF"),
    (20, "GG"),
    (22, "HH"),
    (24, "I"),
    (3, "JJJJ"),
    (8, "KKK"),
    (11, "LLL"),
    (14, "MMM"),
    (18, "N"),
    (21, "O"),
    (22, "P"),
    (24, "QQ"),
    (1, "0"),
];

const VECTORS: &[Vector] = &[
    Vector {
        name: "main",
        steps: MAIN,
        results: &[
            (Bsd, "0AAAJJBCCCLLLMMMFFFGGHHIQ"),
            (Windows, "0AAAJBBCCCLDLMEEFFFGGHHIQ"),
            (First, "0AAAJBBCCCLDLMEEFFFGGHHIQ"),
            (Linux, "0AAAJJBCCCLLLMMMFFFGGHHQQ"),
            (OldLinux, "0AAAJJBKKKLLLMMMFFFGGHHQQ"),
            (Solaris, "0AJJJBBKKKLLLMMMFFFGGHHQQ"),
            (Last, "0AJJJJBKKKLLLMMMFNFGOPHQQ"),
        ],
    },
    Vector {
        name: "before",
        steps: &[
            (3, "B"),
            (9, "D"),
            (12, "EE"),
            (2, "AA"),
            (1, "JJJJ"),
            (8, "LLL"),
            (11, "MMM"),
        ],
        results: &[
            (Bsd, "JJJJ\0\0\0LLLMMM"),
            (Windows, "JABJ\0\0\0LDLMEE"),
            (First, "JABJ\0\0\0LDLMEE"),
            (Linux, "JJJJ\0\0\0LLLMMM"),
            (OldLinux, "JJJJ\0\0\0LLLMMM"),
            (Solaris, "JJJJ\0\0\0LLLMMM"),
            (Last, "JJJJ\0\0\0LLLMMM"),
        ],
    },
    Vector {
        name: "same",
        steps: &[
            (1, "CCC"),
            (15, "HH"),
            (17, "II"),
            (1, "KKK"),
            (1, "LLLL"),
            (15, "P"),
            (15, "QQ"),
        ],
        results: &[
            (Bsd, "CCCL\0\0\0\0\0\0\0\0\0\0HHII"),
            (Windows, "CCCL\0\0\0\0\0\0\0\0\0\0HHII"),
            (First, "CCCL\0\0\0\0\0\0\0\0\0\0HHII"),
            (Linux, "LLLL\0\0\0\0\0\0\0\0\0\0HHII"),
            (OldLinux, "LLLL\0\0\0\0\0\0\0\0\0\0QQII"),
            (Solaris, "LLLL\0\0\0\0\0\0\0\0\0\0QQII"),
            (Last, "LLLL\0\0\0\0\0\0\0\0\0\0QQII"),
        ],
    },
    Vector {
        name: "after",
        steps: &[
            (1, "AA"),
            (16, "FFF"),
            (19, "GG"),
            (2, "JJ"),
            (20, "O"),
            (17, "N"),
        ],
        results: &[
            (Bsd, "AAJ\0\0\0\0\0\0\0\0\0\0\0\0FFFGG"),
            (Windows, "AAJ\0\0\0\0\0\0\0\0\0\0\0\0FFFGG"),
            (First, "AAJ\0\0\0\0\0\0\0\0\0\0\0\0FFFGG"),
            (Linux, "AAJ\0\0\0\0\0\0\0\0\0\0\0\0FFFGG"),
            (OldLinux, "AAJ\0\0\0\0\0\0\0\0\0\0\0\0FFFGG"),
            (Solaris, "AJJ\0\0\0\0\0\0\0\0\0\0\0\0FFFGG"),
            (Last, "AJJ\0\0\0\0\0\0\0\0\0\0\0\0FNFGO"),
        ],
    },
    Vector {
        name: "starts-before-everything",
        steps: &[
            (11, "AAAAAAAAAA"),
            (21, "BBBBBBBBBB"),
            (41, "CCCCCCCCCC"),
            (6, "aaaaaaaaaaaaaaaaaaaa"),
            (1, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
        ],
        results: &[(Bsd, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")],
    },
];

/// Runs a vector with every segment buffered until the end: the stream
/// starts one byte before relative sequence 1 and that byte never arrives,
/// so nothing is delivered before `close` and the policy alone decides.
fn run_vector_buffered(v: &Vector, policy: OverlapPolicy, isn: u32) -> (Vec<u8>, StreamCounters) {
    let cfg = ReassemblyConfig {
        policy,
        ..unlimited()
    };
    let mut h = H::with_syn(cfg, isn.wrapping_sub(1));
    for (i, (rseq, text)) in v.steps.iter().enumerate() {
        h.data(i as u64, isn.wrapping_add(*rseq), text.as_bytes());
    }
    assert!(h.rec.out.is_empty());
    h.close();
    let out = h.rec.rendered();
    assert_eq!(out.first(), Some(&0), "the never-sent first byte is a gap");
    (out[1..].to_vec(), *h.s.counters())
}

#[test]
fn target_based_vectors_each_policy() {
    for v in VECTORS {
        for &(policy, expected) in v.results {
            for isn in [0, 1, u32::MAX, u32::MAX - 10, 0x8000_0000] {
                let (out, c) = run_vector_buffered(v, policy, isn);
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    expected,
                    "vector {} policy {policy:?} isn {isn:#x}",
                    v.name
                );
                assert!(c.overlaps > 0);
            }
        }
    }
}

#[test]
fn target_based_main_vector_delivered_when_first_byte_arrives() {
    // Without the placeholder: everything waits for "0" at relative seq 1,
    // which arrives last and releases all 25 bytes at once.
    for v in VECTORS.iter().filter(|v| v.name == "main") {
        for &(policy, expected) in v.results {
            let cfg = ReassemblyConfig {
                policy,
                ..unlimited()
            };
            let mut h = H::with_syn(cfg, 4000);
            for (i, (rseq, text)) in v.steps.iter().enumerate() {
                h.data(i as u64, 4000 + rseq, text.as_bytes());
            }
            assert_eq!(h.rec.out, [d(expected.as_bytes())], "{policy:?}");
            assert!(
                h.rec
                    .count(|e| matches!(e, StreamEvent::OverlapDifferentData { .. }))
                    > 0
            );
            assert_eq!(h.mem.used(), 0);
        }
    }
}

#[test]
fn policy_names_round_trip() {
    for p in OverlapPolicy::ALL {
        assert_eq!(OverlapPolicy::from_name(p.name()), Some(p));
    }
    assert_eq!(OverlapPolicy::from_name("vista"), Some(Windows));
    assert_eq!(OverlapPolicy::from_name("hpux"), None);
    assert_eq!(OverlapPolicy::default(), Bsd);
}

// ----- properties ---------------------------------------------------------

/// Splits `len` bytes at sorted, distinct cut points into segments.
fn split(len: usize, cuts: &[usize]) -> Vec<(usize, usize)> {
    let mut pts: Vec<usize> = cuts
        .iter()
        .map(|c| c % len.max(1))
        .filter(|&c| c > 0)
        .collect();
    pts.sort_unstable();
    pts.dedup();
    let mut segs = Vec::new();
    let mut start = 0;
    for p in pts {
        segs.push((start, p));
        start = p;
    }
    if start < len {
        segs.push((start, len));
    }
    segs
}

fn big_limits(policy: OverlapPolicy) -> ReassemblyConfig {
    ReassemblyConfig {
        policy,
        max_buffered_bytes_per_stream: u32::MAX,
        max_holes_per_stream: u16::MAX,
        max_segments_per_stream: u16::MAX,
        depth: None,
        ..ReassemblyConfig::default()
    }
}

fn policy_strategy() -> impl Strategy<Value = OverlapPolicy> {
    prop::sample::select(OverlapPolicy::ALL.to_vec())
}

/// Checks the sink's output against the original: every delivered byte
/// equals the original at its offset; returns (delivered, gap) byte counts.
fn consistent(out: &[Out], original: &[u8]) -> (u64, u64) {
    let mut at = 0usize;
    let (mut data, mut gaps) = (0u64, 0u64);
    for o in out {
        match o {
            Out::Data(b) => {
                assert_eq!(
                    b.as_slice(),
                    &original[at..at + b.len()],
                    "wrong bytes at offset {at}"
                );
                at += b.len();
                data += b.len() as u64;
            }
            Out::Gap(n) => {
                at += *n as usize;
                gaps += n;
            }
        }
    }
    (data, gaps)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any split, order and duplication of a stream (no loss) reassembles
    /// to the original, without gaps or different-data events.
    #[test]
    fn any_split_order_and_duplication_reassembles(
        original in prop::collection::vec(any::<u8>(), 1..1500),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
        dups in prop::collection::vec((any::<usize>(), any::<usize>()), 0..12),
        order_seed in any::<u64>(),
        isn in prop_oneof![any::<u32>(), (u32::MAX - 2000)..=u32::MAX],
        policy in policy_strategy(),
        window in prop_oneof![Just(0u32), Just(256u32)],
    ) {
        let len = original.len();
        let mut segs = split(len, &cuts);
        // Retransmissions: any sub-range, same bytes, other boundaries.
        for (a, b) in &dups {
            let (a, b) = (a % len, b % len);
            let (s, e) = (a.min(b), a.max(b) + 1);
            segs.push((s, e));
        }
        shuffle(&mut segs, order_seed);
        let cfg = ReassemblyConfig { recent_window_bytes: window, ..big_limits(policy) };
        let mut h = H::with_syn(cfg, isn);
        for (i, (s, e)) in segs.iter().enumerate() {
            h.data(i as u64 * 1000, isn.wrapping_add(1).wrapping_add(*s as u32), &original[*s..*e]);
        }
        h.close();
        prop_assert_eq!(&h.rec.out, &vec![Out::Data(original.clone())]);
        prop_assert_eq!(h.rec.count(|e| matches!(e, StreamEvent::OverlapDifferentData { .. })), 0);
        prop_assert_eq!(h.s.counters().gaps, 0);
    }

    /// With some segments lost and the receiver's ACK covering the whole
    /// stream, the output is the original with exactly the lost bytes
    /// reported as gaps, at the right offsets.
    #[test]
    fn lost_segments_become_gaps_at_the_right_offsets(
        original in prop::collection::vec(any::<u8>(), 1..1500),
        cuts in prop::collection::vec(any::<usize>(), 1..40),
        lost in prop::collection::vec(any::<bool>(), 40),
        dups in prop::collection::vec(any::<usize>(), 0..8),
        order_seed in any::<u64>(),
        isn in any::<u32>(),
        policy in policy_strategy(),
        ack_then_wait in any::<bool>(),
    ) {
        let len = original.len();
        let segs = split(len, &cuts);
        let kept: Vec<(usize, usize)> = segs
            .iter()
            .enumerate()
            .filter(|(i, _)| !lost.get(*i).copied().unwrap_or(false))
            .map(|(_, s)| *s)
            .collect();
        let mut feed = kept.clone();
        for i in &dups {
            if !kept.is_empty() {
                feed.push(kept[i % kept.len()]);
            }
        }
        shuffle(&mut feed, order_seed);
        // Expected runs: received bytes as data, the rest as gaps.
        let mut have = vec![false; len];
        for (s, e) in &kept {
            have[*s..*e].iter_mut().for_each(|b| *b = true);
        }
        let mut expected: Vec<Out> = Vec::new();
        for (i, h) in have.iter().enumerate() {
            match (expected.last_mut(), h) {
                (Some(Out::Data(v)), true) => v.push(original[i]),
                (Some(Out::Gap(n)), false) => *n += 1,
                (_, true) => expected.push(Out::Data(vec![original[i]])),
                (_, false) => expected.push(Out::Gap(1)),
            }
        }

        let mut h = H::with_syn(big_limits(policy), isn);
        for (i, (s, e)) in feed.iter().enumerate() {
            h.data(i as u64 * 1000, isn.wrapping_add(1).wrapping_add(*s as u32), &original[*s..*e]);
        }
        let end_seq = isn.wrapping_add(1).wrapping_add(len as u32);
        let t = feed.len() as u64 * 1000;
        h.ack(t, end_seq);
        if ack_then_wait {
            // The ACK grace expires: every hole becomes a gap without close.
            h.timeout(t + DEFAULT_ACK_GRACE_NS);
            prop_assert_eq!(h.s.delivered_offset(), len as u64);
        }
        h.close();
        prop_assert_eq!(&h.rec.out, &expected);
    }

    /// With tiny limits, lots of loss and conflicting retransmissions, the
    /// stream stays within every bound, delivers only bytes the sender sent
    /// at their offsets, and accounts for every byte up to the end.
    #[test]
    fn limits_hold_under_hostile_input(
        original in prop::collection::vec(any::<u8>(), 1..3000),
        segs in prop::collection::vec((any::<usize>(), 1usize..300, any::<bool>()), 1..80),
        isn in any::<u32>(),
        policy in policy_strategy(),
        holes in 1u16..6,
        max_segs in 1u16..10,
        max_bytes in 0u32..2000,
        memcap in 0u64..4000,
    ) {
        let len = original.len();
        let cfg = ReassemblyConfig {
            policy,
            max_buffered_bytes_per_stream: max_bytes,
            max_holes_per_stream: holes,
            max_segments_per_stream: max_segs,
            depth: None,
            recent_window_bytes: 128,
            ..ReassemblyConfig::default()
        };
        let mut h = H::with_syn(cfg, isn);
        h.mem = ReassemblyMemcap::new(memcap);
        let mut corrupted = false;
        for (i, (start, n, corrupt)) in segs.iter().enumerate() {
            let s = start % len;
            let e = (s + n).min(len);
            let mut bytes = original[s..e].to_vec();
            if *corrupt {
                bytes.iter_mut().for_each(|b| *b = b.wrapping_add(1));
                corrupted = true;
            }
            h.data(i as u64 * 7_000_000, isn.wrapping_add(1).wrapping_add(s as u32), &bytes);
        }
        h.ack(u64::MAX / 2, isn.wrapping_add(1).wrapping_add(len as u32));
        h.close();
        let total: u64 = h.rec.out.iter().map(|o| match o { Out::Data(b) => b.len() as u64, Out::Gap(n) => *n }).sum();
        prop_assert_eq!(total, len as u64);
        if !corrupted {
            consistent(&h.rec.out, &original);
        }
        prop_assert!(h.mem.peak() <= memcap);
    }
}

/// Deterministic Fisher-Yates with a xorshift generator.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    seed |= 1;
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

// ----- real captures --------------------------------------------------------

mod real {
    use super::*;
    use crate::capture::file::CaptureFile;
    use crate::decode::{DecodeConfig, Decoded, Decoder};
    use std::collections::HashMap;
    use std::path::PathBuf;

    /// `<manifest>/../../shared/pcaps`, if present.
    fn pcaps() -> Option<PathBuf> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps");
        p.is_dir().then_some(p)
    }

    #[derive(Default)]
    pub(super) struct Collect {
        pub bytes: Vec<u8>,
        pub gap_bytes: u64,
        pub events: Vec<StreamEvent>,
    }
    impl StreamSink for Collect {
        fn data(&mut self, b: &[u8]) {
            self.bytes.extend_from_slice(b);
        }
        fn gap(&mut self, len: u64) {
            self.gap_bytes += len;
        }
        fn event(&mut self, e: StreamEvent) {
            self.events.push(e);
        }
    }

    /// One connection: endpoint that sent the first packet, both directions.
    pub(super) struct Conn {
        pub first: (u128, u16),
        pub streams: [TcpStream; 2],
        pub sinks: [Collect; 2],
    }

    /// A minimal flow table: 4-tuple → connection; a SYN (without ACK) on a
    /// tuple whose connection is over starts a new connection.
    pub(super) fn reassemble(
        file: &str,
        cfg: &ReassemblyConfig,
    ) -> Option<(Vec<Conn>, ReassemblyMemcap)> {
        let Some(dir) = pcaps() else {
            eprintln!("SKIP: shared pcaps folder not found");
            return None;
        };
        let mut cap = CaptureFile::open(&dir.join(file)).expect("open capture");
        let map = cap.map().clone();
        let mut dec = Decoder::new(&DecodeConfig::default());
        let mut mem = ReassemblyMemcap::default();
        let mut conns: Vec<Conn> = Vec::new();
        let mut index: HashMap<(u128, u16, u128, u16), usize> = HashMap::new();
        while let Some(f) = cap.next_frame() {
            let frame = &map[f.offset..f.offset + f.caplen as usize];
            let Decoded::Packet(p) = dec.decode(f.linktype, f.ts, frame, f.origlen) else {
                continue;
            };
            if p.proto != 6 {
                continue;
            }
            let a = (p.src.0, p.sport);
            let b = (p.dst.0, p.dport);
            let key = if a <= b {
                (a.0, a.1, b.0, b.1)
            } else {
                (b.0, b.1, a.0, a.1)
            };
            let syn_only = p.tcp.flags & (SYN | ACK) == SYN;
            let i = match index.get(&key) {
                Some(&i) if !(syn_only && conns[i].streams.iter().any(|s| s.is_done())) => i,
                _ => {
                    conns.push(Conn {
                        first: a,
                        streams: [TcpStream::new(cfg), TcpStream::new(cfg)],
                        sinks: [Collect::default(), Collect::default()],
                    });
                    index.insert(key, conns.len() - 1);
                    conns.len() - 1
                }
            };
            let c = &mut conns[i];
            let d = usize::from(a != c.first);
            let [s0, s1] = &mut c.streams;
            let [k0, k1] = &mut c.sinks;
            let (this, other, this_sink, other_sink) = if d == 0 {
                (s0, s1, k0, k1)
            } else {
                (s1, s0, k1, k0)
            };
            this.segment(p.ts, p.tcp.seq, p.tcp.flags, p.payload, &mut mem, this_sink);
            if p.tcp.flags & ACK != 0 {
                other.ack(p.tcp.ack, p.ts, &mut mem, other_sink);
            }
            assert!(mem.used() <= mem.limit());
        }
        for c in &mut conns {
            for (s, k) in c.streams.iter_mut().zip(c.sinks.iter_mut()) {
                s.close(&mut mem, k);
            }
        }
        assert_eq!(mem.used(), 0);
        Some((conns, mem))
    }

    pub(super) fn sha16(b: &[u8]) -> String {
        use sha1::{Digest, Sha1};
        Sha1::digest(b)
            .iter()
            .take(8)
            .map(|x| format!("{x:02x}"))
            .collect()
    }

    /// One line per connection, "index len0 sha0 len1 sha1", direction 0
    /// being the sender of the connection's first packet; `sha` is the
    /// first 8 bytes of the SHA-1 of the delivered bytes, in hex.
    fn summary(conns: &[Conn]) -> Vec<String> {
        conns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let [a, b] = &c.sinks;
                format!(
                    "{i} {} {} {} {}",
                    a.bytes.len(),
                    sha16(&a.bytes),
                    b.bytes.len(),
                    sha16(&b.bytes)
                )
            })
            .collect()
    }

    /// Expected values: `tshark -r FILE -qz follow,tcp,raw,N` (tshark 4.0.17)
    /// for every `tcp.stream` N, each direction's bytes concatenated; the
    /// digest is the SHA-1 (first 8 bytes) of the summary lines, each ending
    /// in a newline. tshark's stream numbering equals the order in which the
    /// test's flow table opens connections in these captures.
    const FOLLOW: &[(&str, usize, u64, u64, &str)] = &[
        (
            "mitsubishi-melsec/iti_melsoft_129_clean.pcap",
            1,
            29514,
            45129,
            "10ecbcefbdd204e7",
        ),
        (
            "tls/suricata-verify_tls-client-hello-frag-01_dump_mtu300.pcap",
            1,
            978,
            20443,
            "b8be731eaac64b91",
        ),
        ("smtp/zeek_smtp.pcap", 6, 18763, 4353, "bbe132700d1bf01c"),
        (
            "modbus/iti_ModbusTCP.pcap",
            14,
            120409,
            271887,
            "33b8677f49b9936c",
        ),
        (
            "modbus/arkime_modbus.pcap",
            8,
            6026,
            51825,
            "2ba2c40fe1114090",
        ),
        (
            "tls/suricata-verify_tls-subjectaltname.pcap",
            68,
            45836,
            1310663,
            "5f3b90883da42877",
        ),
    ];

    fn cfg_for_real() -> ReassemblyConfig {
        ReassemblyConfig {
            depth: None,
            recent_window_bytes: 4096,
            ..ReassemblyConfig::default()
        }
    }

    #[test]
    fn real_captures_match_tshark_follow() {
        for &(file, n, total0, total1, digest) in FOLLOW {
            let Some((conns, mem)) = reassemble(file, &cfg_for_real()) else {
                return;
            };
            let lines = summary(&conns);
            let joined: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let got = sha16(joined.as_bytes());
            if got != digest {
                eprintln!("{file}:\n{joined}");
            }
            assert_eq!(conns.len(), n, "{file}: connections");
            let t0: usize = conns.iter().map(|c| c.sinks[0].bytes.len()).sum();
            let t1: usize = conns.iter().map(|c| c.sinks[1].bytes.len()).sum();
            assert_eq!(
                (t0 as u64, t1 as u64),
                (total0, total1),
                "{file}: bytes per direction"
            );
            assert_eq!(got, digest, "{file}: per-connection digests");
            // Nothing was lost for good in these captures, and no copy disagreed.
            for c in &conns {
                for k in &c.sinks {
                    assert_eq!(k.gap_bytes, 0, "{file}");
                    assert!(!k
                        .events
                        .iter()
                        .any(|e| matches!(e, StreamEvent::OverlapDifferentData { .. })));
                }
            }
            assert!(mem.peak() <= DEFAULT_MEMCAP_BYTES);
        }
    }

    #[test]
    fn span_capture_with_every_packet_twice() {
        // Router-on-a-stick SPAN: each segment is captured on the way in and
        // on the way out (same IP id, other MACs). tshark marks 982 of the
        // 2041 frames as retransmissions: 491 per direction.
        let Some((conns, _)) = reassemble(
            "mitsubishi-melsec/iti_melsoft_129_clean.pcap",
            &cfg_for_real(),
        ) else {
            return;
        };
        let c = &conns[0];
        // Midstream pickup: the capture starts with a PLC response.
        assert_eq!(c.first.1, 5562);
        for s in &c.streams {
            let k = s.counters();
            assert_eq!(k.retransmissions, 491);
            assert_eq!((k.overlaps_different, k.gaps, k.out_of_order), (0, 0, 0));
        }
        // MELSOFT response subheader 0xD700 and request subheader 0x5700.
        assert_eq!(c.sinks[0].bytes[..2], [0xd7, 0x00]);
        assert_eq!(c.sinks[1].bytes[..2], [0x57, 0x00]);
    }

    #[test]
    fn tls_client_hello_split_over_segments() {
        // Captured with MTU 300: the ClientHello spans several segments.
        // tshark: record length 512, handshake length 508, SNI www.google.com.
        let file = "tls/suricata-verify_tls-client-hello-frag-01_dump_mtu300.pcap";
        let Some((conns, _)) = reassemble(file, &cfg_for_real()) else {
            return;
        };
        let ch = &conns[0].sinks[0].bytes;
        assert_eq!(ch[0], 0x16, "handshake record");
        assert_eq!(u16::from_be_bytes([ch[3], ch[4]]), 512);
        assert_eq!(ch[5], 0x01, "ClientHello");
        assert_eq!(u32::from_be_bytes([0, ch[6], ch[7], ch[8]]), 508);
        let record = &ch[..5 + 512];
        assert!(record.windows(14).any(|w| w == b"www.google.com"));
    }

    #[test]
    fn fuzzed_capture_stays_bounded() {
        // Zeek's fuzzed Modbus trace: SYN+FIN with data, random sequence and
        // acknowledgement numbers. Nothing to match, but every bound holds
        // (checked inside `reassemble`) and the garbage shows up as
        // anomalies rather than as data.
        let Some((conns, mem)) = reassemble("modbus/zeek_modbus_fuzz-72.pcap", &cfg_for_real())
        else {
            return;
        };
        assert_eq!(conns.len(), 1);
        let [server, client] = &conns[0].streams;
        assert!(server.counters().out_of_window + client.counters().out_of_window > 0);
        assert!(server.counters().gaps > 0 && client.counters().gaps > 0);
        assert!(mem.peak() < 64 << 10);
    }
}
