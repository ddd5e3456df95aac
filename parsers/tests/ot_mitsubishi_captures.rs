//! Real-capture tests for the Mitsubishi parsers (MELSOFT, CC-Link IE Field
//! Basic) over `shared/pcaps/mitsubishi-melsec/`.
//!
//! Expected counts were measured independently of these parsers with tshark
//! byte inspection of each segment/datagram (one MELSOFT message per segment
//! in every capture), for example:
//!
//! ```text
//! tshark -r <cap> -Y 'tcp.len>0 && !tcp.analysis.retransmission' -T fields -e tcp.payload \
//!   | awk '{p=$1; b=substr(p,1,2); if(b=="57") print "req", substr(p,91,4);
//!           else if(b=="d7") print "resp", substr(p,95,4); else print "other", substr(p,1,8)}' \
//!   | sort | uniq -c
//! ```
//!
//! (command BE16 at 0x2D in requests and 0x2F in responses; `-e udp.payload`
//! for the UDP captures), cross-checked with a separate Python pcap reader.
//! The tests skip with a visible `SKIP:` line when the captures are absent.

mod ot_mitsubishi_common;

use ot_mitsubishi_common::{capture, tcp_directions, udp_datagrams};
use spanwatch_parsers::cclink::{self, Datagram};
use spanwatch_parsers::melsoft::{self, Kind, MelsoftStream, Message};
use spanwatch_parsers::ot::OtClass;
use spanwatch_parsers::slmp;
use spanwatch_parsers::stream::{drive, Direction, Probe};
use std::collections::BTreeMap;

#[derive(Default, Debug)]
struct MelsoftCounts {
    requests: BTreeMap<u16, usize>,
    responses: BTreeMap<u16, usize>,
    hello_requests: usize,
    hello_responses: usize,
    invalid: usize,
    incomplete_tails: usize,
    flows: usize,
    unexpected_direction: usize,
}

/// Drives every TCP direction of `file` through [`MelsoftStream`]; the server
/// side is the one listening on `server_port`.
fn melsoft_tcp_counts(
    file: &[u8],
    server_port: u16,
    mut each: impl FnMut(Direction, &Message<'_>),
) -> MelsoftCounts {
    let mut c = MelsoftCounts::default();
    for d in tcp_directions(file) {
        let dir = if d.dport == server_port {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        if dir == Direction::ToServer {
            c.flows += 1;
        }
        if !d.bytes.is_empty() {
            assert_eq!(melsoft::probe(&d.bytes), Probe::Match, "stream start");
            assert_eq!(slmp::probe(&d.bytes), Probe::NoMatch, "stream start");
        }
        let mut p = MelsoftStream;
        let out = drive(&mut p, &d.bytes, dir, |m| {
            each(dir, &m);
            if m.kind() == Kind::Request && dir == Direction::ToClient
                || m.kind() == Kind::Response && dir == Direction::ToServer
            {
                c.unexpected_direction += 1;
            }
            match m {
                Message::Frame(f) => {
                    let map = match f.kind {
                        Kind::Request => &mut c.requests,
                        Kind::Response => &mut c.responses,
                    };
                    *map.entry(f.command.unwrap_or(0xFFFF)).or_default() += 1;
                }
                Message::Hello(h) => match h.kind {
                    Kind::Request => c.hello_requests += 1,
                    Kind::Response => c.hello_responses += 1,
                },
            }
        });
        assert!(!out.stalled);
        c.invalid += out.invalid;
        if out.needed.is_some() {
            c.incomplete_tails += 1;
        }
    }
    c
}

fn map(pairs: &[(u16, usize)]) -> BTreeMap<u16, usize> {
    pairs.iter().copied().collect()
}

#[test]
fn nozomi_user_addition_plc_stop_commands_per_direction() {
    let Some(file) = capture("nozomi_legitimate_user_addition_plc_stop_test.pcapng") else {
        return;
    };
    let mut stops = Vec::new();
    let mut classes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut auth_tokens = 0usize;
    let mut user_registrations = Vec::new();
    let mut usernames = Vec::new();
    let c = melsoft_tcp_counts(&file, 5007, |dir, m| {
        if let Message::Frame(f) = m {
            if f.kind == Kind::Request {
                *classes.entry(f.class().name()).or_default() += 1;
                if f.command == Some(0x1002) {
                    stops.push((dir, f.command_name(), f.network, f.unit, f.module_io));
                }
                if f.flags.contains(melsoft::Flags::AUTH_TOKEN) {
                    auth_tokens += 1;
                }
                if let Some(n) = f.registered_users() {
                    user_registrations.push(n);
                }
                if let Some(u) = f.login_username_utf16() {
                    let units: Vec<u16> = u
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .collect();
                    usernames.push(String::from_utf16_lossy(&units));
                }
            }
        }
    });
    // tshark -z conv,tcp: 45 TCP connections (= 45 SYNs); tshark payload
    // inspection: 51 5a0000ff hellos answered by 51 da0000ff (28 bytes).
    assert_eq!(c.flows, 45);
    assert_eq!(c.hello_requests, 51);
    assert_eq!(c.hello_responses, 51);
    assert_eq!(c.invalid, 0);
    assert_eq!(c.incomplete_tails, 0);
    assert_eq!(c.unexpected_direction, 0);
    let expected = map(&[
        (0x0121, 51),
        (0x0131, 2),
        (0x0132, 2),
        (0x0133, 2),
        (0x0134, 2),
        (0x0150, 2),
        (0x0162, 36),
        (0x0410, 233),
        (0x0411, 362),
        (0x1002, 1),
        (0x1120, 1),
        (0x1133, 2),
    ]);
    assert_eq!(c.requests, expected);
    assert_eq!(c.responses, expected);
    // REMOTE STOP: one request, client 172.17.0.158:40302 -> PLC :5007 (frame 1505),
    // to network 1, unit 0x7D, multi-CPU No.1 (0x03E0).
    assert_eq!(
        stops,
        vec![(Direction::ToServer, "remote_stop", 1, 0x7D, 0x03E0)]
    );
    assert_eq!(classes.get("control"), Some(&2)); // 0x1002 + 0x1120
    assert_eq!(classes.get("auth"), Some(&10)); // 0x0131/0x0132/0x0133/0x0134/0x1133 x2
                                                // Footer parameter 0x42 (authorization token), counted by a separate
                                                // Python footer walk: 0x0133 x2, 0x0134 x2, 0x0150 x2, 0x1133 x2, 0x1120 x1.
    assert_eq!(auth_tokens, 9);
    assert_eq!(user_registrations, vec![1, 3]);
    assert_eq!(usernames, vec!["nozomi", "nozomi"]);
}

#[test]
fn nozomi_cpu_model_from_open_initial_and_hello() {
    let Some(file) = capture("nozomi_legitimate_user_addition_plc_stop_test.pcapng") else {
        return;
    };
    let mut models: BTreeMap<(String, Option<u16>), usize> = BTreeMap::new();
    let mut hello_codes: BTreeMap<Option<u16>, usize> = BTreeMap::new();
    melsoft_tcp_counts(&file, 5007, |_, m| match m {
        Message::Frame(f) => {
            if let Some(cm) = f.cpu_model() {
                *models.entry((cm.name.to_string(), cm.code)).or_default() += 1;
            }
        }
        Message::Hello(h) if h.kind == Kind::Response => {
            *hello_codes.entry(h.model_code).or_default() += 1
        }
        _ => {}
    });
    // "R08SFCPU" padded with spaces, then 91 48 -> 0x4891, in all 51 responses.
    assert_eq!(
        models,
        [(("R08SFCPU".to_string(), Some(0x4891)), 51)]
            .into_iter()
            .collect()
    );
    assert_eq!(hello_codes, [(Some(0x4891), 51)].into_iter().collect());
}

#[test]
fn iti_melsoft_129_gx_works3_monitoring_counts() {
    let Some(file) = capture("iti_melsoft_129_clean.pcap") else {
        return;
    };
    let mut reads = 0usize;
    let c = melsoft_tcp_counts(&file, 5562, |_, m| {
        if let Message::Frame(f) = m {
            assert_eq!(f.class(), OtClass::Read);
            assert!(f.footer.is_none());
            reads += 1;
        }
    });
    // Every frame is captured twice (two taps); tshark without
    // retransmissions: requests 0410:244 0411:245 0413:2, responses 245/245/2
    // (the capture starts with a PLC response).
    assert_eq!(
        c.requests,
        map(&[(0x0410, 244), (0x0411, 245), (0x0413, 2)])
    );
    assert_eq!(
        c.responses,
        map(&[(0x0410, 245), (0x0411, 245), (0x0413, 2)])
    );
    assert_eq!(reads, 983);
    assert_eq!(c.invalid, 0);
    assert_eq!(c.hello_requests + c.hello_responses, 0);
}

#[test]
fn iti_melsoft_udp_commands_and_fx5u_model() {
    let Some(file) = capture("iti_melsoft_UDP_clean_2.pcap") else {
        return;
    };
    let mut requests: BTreeMap<u16, usize> = BTreeMap::new();
    let mut responses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut hellos: BTreeMap<(bool, u8, usize), usize> = BTreeMap::new();
    let mut models: BTreeMap<(String, Option<u16>), usize> = BTreeMap::new();
    let mut flagged = 0usize;
    let mut file_class = 0usize;
    for d in udp_datagrams(&file) {
        let (sport, dport, payload) = (d.sport, d.dport, d.payload);
        assert_eq!(melsoft::probe(payload), Probe::Match);
        assert_eq!(slmp::probe(payload), Probe::NoMatch);
        let m = melsoft::parse_datagram(payload).expect("every datagram is MELSOFT");
        match m {
            Message::Frame(f) => {
                // Requests go to 5560, answers come from 5560.
                assert_eq!(f.kind == Kind::Request, dport == 5560);
                assert_eq!(f.kind == Kind::Response, sport == 5560);
                flagged += usize::from(!f.flags.is_empty());
                let map = if f.kind == Kind::Request {
                    &mut requests
                } else {
                    &mut responses
                };
                *map.entry(f.command.unwrap_or(0xFFFF)).or_default() += 1;
                if f.kind == Kind::Request && f.class() == OtClass::File {
                    file_class += 1;
                }
                if let Some(cm) = f.cpu_model() {
                    *models.entry((cm.name.to_string(), cm.code)).or_default() += 1;
                }
            }
            Message::Hello(h) => {
                flagged += usize::from(!h.flags.is_empty());
                *hellos
                    .entry((h.kind == Kind::Response, h.hello_type, h.body.len()))
                    .or_default() += 1;
            }
        }
    }
    let expected = map(&[
        (0x0121, 16),
        (0x01A0, 16),
        (0x0410, 100),
        (0x0B16, 5),
        (0x0B2A, 13),
        (0x1730, 2),
        (0x1731, 3),
        (0x1734, 3),
        (0x185F, 8),
        (0x1867, 5),
        (0x1868, 3),
        (0x1869, 4),
        (0x186A, 5),
        (0x187E, 1),
    ]);
    assert_eq!(requests, expected);
    assert_eq!(responses, expected);
    // 5a000001 / 5a0000ff x16 each; da000001 (14 bytes) / da0000ff (28 bytes) x16 each.
    let h: BTreeMap<(bool, u8, usize), usize> = [
        ((false, 0x01, 0), 16),
        ((false, 0xFF, 0), 16),
        ((true, 0x01, 10), 16),
        ((true, 0xFF, 24), 16),
    ]
    .into_iter()
    .collect();
    assert_eq!(hellos, h);
    assert_eq!(flagged, 0);
    // 0x185F 8 + 0x1867 5 + 0x1868 3 + 0x1869 4 + 0x186A 5 + 0x187E 1.
    assert_eq!(file_class, 26);
    // 'FX5U-32MT/ES' NUL-padded, then 29 4a -> 0x4A29; in all 16 0x0121 answers.
    assert_eq!(
        models,
        [(("FX5U-32MT/ES".to_string(), Some(0x4A29)), 16)]
            .into_iter()
            .collect()
    );
}

#[test]
fn nttcom_cclink_ief_basic_222_cyclic_pairs() {
    let Some(file) = capture("nttcom_cclink_ief_basic_only.pcap") else {
        return;
    };
    let mut requests = 0usize;
    let mut responses = 0usize;
    let mut masters: BTreeMap<[u8; 4], usize> = BTreeMap::new();
    let mut seqs = Vec::new();
    let mut cyclic_state: BTreeMap<u16, usize> = BTreeMap::new();
    for d in udp_datagrams(&file) {
        let (src, sport, dst, dport, payload) = (d.src, d.sport, d.dst, d.dport, d.payload);
        assert_eq!((sport, dport), (61450, 61450));
        // SLMP-framed with a consistent length; not MELSOFT.
        assert_eq!(slmp::probe(payload), Probe::Match);
        assert_eq!(melsoft::probe(payload), Probe::NoMatch);
        match cclink::parse_datagram(payload).expect("every datagram is CCIEFB") {
            Datagram::CyclicRequest(r) => {
                requests += 1;
                assert_eq!(src, r.master_ip);
                assert_eq!(dst, [172, 16, 134, 255]);
                assert!(r.flags.is_empty(), "{:?}", r.flags);
                assert_eq!(r.protocol_version, 1);
                assert_eq!(r.parameter_no, 11);
                assert_eq!(r.occupied_stations, 1);
                assert_eq!(r.group, 1);
                assert_eq!(r.timeout_ms, 500);
                assert_eq!(r.timeout_count, 3);
                assert_eq!(r.master_state(), "running");
                assert_eq!(r.slave_ips().collect::<Vec<_>>(), vec![[172, 16, 134, 129]]);
                assert_eq!((r.rww.len(), r.ry.len()), (64, 8));
                *masters.entry(r.master_ip).or_default() += 1;
                *cyclic_state.entry(r.cyclic_state).or_default() += 1;
                seqs.push(r.frame_sequence);
            }
            Datagram::CyclicResponse(r) => {
                responses += 1;
                assert_eq!(src, r.slave_ip);
                assert_eq!(r.slave_ip, [172, 16, 134, 129]);
                assert!(r.flags.is_empty(), "{:?}", r.flags);
                assert_eq!(r.end_code, 0);
                assert_eq!(r.end_code_name(), "ok");
                assert_eq!(r.slave_state(), "running");
                assert_eq!(r.occupied_stations, 1);
                assert_eq!((r.rwr.len(), r.rx.len()), (64, 8));
            }
            Datagram::Slmp(_) => panic!("no other SLMP traffic in this capture"),
        }
    }
    assert_eq!((requests, responses), (222, 222));
    assert_eq!(masters, [([172, 16, 134, 128], 222)].into_iter().collect());
    // tshark: frame sequence 0x06d8 first, 0x07b5 last, consecutive; cyclic
    // transmission state 0 in the first request, 1 afterwards.
    assert_eq!(seqs.first(), Some(&0x06D8));
    assert_eq!(seqs.last(), Some(&0x07B5));
    assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
    assert_eq!(cyclic_state, [(0, 1), (1, 221)].into_iter().collect());
}
