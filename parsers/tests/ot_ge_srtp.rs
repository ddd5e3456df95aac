//! GE SRTP: header fields from real Kepware/FANUC bytes, replies and NACKs,
//! flags, probe, stream scenarios (RX3i-style split header and text,
//! pipelined PDUs, gap then resync) and the two public captures.

mod ot_ge_pcap;

use ot_ge_pcap::{feed, first_bytes, pcaps_dir, read_packets, tcp_conns};
use spanwatch_parsers::ot::OtClass;
use spanwatch_parsers::srtp::{self, parse_pdu, Body, Flags, PduError, PlcStatus, Srtp, SrtpPdu};
use spanwatch_parsers::stream::{drive, Direction, Parsed, Probe, StreamParser};
use std::collections::BTreeMap;

const REQ: Direction = Direction::ToServer;
const RSP: Direction = Direction::ToClient;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// booozie_kepware_cap3.pcapng frame 24: read one word of %AI at offset 10.
fn cap3_request() -> Vec<u8> {
    hex(concat!(
        "02",                // 0: type request
        "00",                // 1: reserved
        "a800",              // 2-3: sequence 0x00A8 LE
        "0000",              // 4-5: text length 0
        "000000 01",         // 6-9: reserved, byte 9 = 1
        "00000000000000 01", // 10-17: reserved, byte 17 = 1
        "0000000000000000",  // 18-25: reserved
        "000000",            // 26-28: time
        "00",                // 29: reserved
        "06",                // 30: mailbox sequence
        "c0",                // 31: mailbox type: initial request
        "00000000",          // 32-35: mailbox source
        "100e0000",          // 36-39: mailbox destination: slot 1
        "01 01",             // 40-41: packet 1 of 1
        "04",                // 42: service: read system memory
        "0a",                // 43: segment selector: %AI words
        "0a00",              // 44-45: offset 10
        "0100",              // 46-47: one word
        "0000000000000000",  // 48-55: reserved
    ))
}

/// booozie_kepware_cap3.pcapng frame 26: the completion ACK to it.
fn cap3_reply() -> Vec<u8> {
    hex(concat!(
        "03 00 a800 0000",            // 0-5: reply, sequence 0xA8, no text
        "00000001 00000000000000 01", // 6-17: reserved
        "0000000000000000 000000 00", // 18-29: reserved, time
        "06 d4",                      // 30-31: mailbox seq 6, completion ACK
        "100e0000 303a0000",          // 32-39: source, destination
        "01 01",                      // 40-41: packet 1 of 1
        "00 00",                      // 42-43: major/minor status: success
        "300200000000",               // 44-49: inline data: %AI11 = 0x0230
        "00 00 0000",                 // 50-53: program, privilege, sweep
        "7c21",                       // 54-55: status word 0x217C
    ))
}

/// booozie_kepware_cap.pcapng frame 4459: completion ACK with a 206-byte
/// text buffer (103 registers holding a FANUC alarm text).
fn cap_alarm_reply() -> Vec<u8> {
    hex(concat!(
        "03000700ce000000000100000000000000010000000000000000000000000694100e0000303a000001010000000000000101ff0400007c21", // header: type 3, seq 7, text 0xCE, mailbox 0x94
        "0b000d0032005352564f2d333032205365742048616e642062726f6b656e20746f20454e41424c450000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        "00000000000000000000000000000000000000000000534552564f000000000000000000000000000d005a000000b700",
        "0000e50701000b000a0036003400",
    ))
}

fn one(input: &[u8], dir: Direction) -> SrtpPdu<'_> {
    let (p, n) = parse_pdu(input, dir).expect("frames");
    assert_eq!(n, input.len());
    p
}

#[test]
fn kepware_read_request_fields() {
    let bytes = cap3_request();
    let p = one(&bytes, REQ);
    assert_eq!(p.pdu_type, srtp::TYPE_REQUEST);
    assert_eq!(p.sequence, 0xA8);
    assert_eq!(p.mailbox_sequence, 6);
    assert_eq!(p.pairing_key(), (0xA8, 6));
    assert_eq!(p.mailbox_type, srtp::MAILBOX_REQUEST);
    assert_eq!(p.mailbox_destination, [0x10, 0x0E, 0, 0]);
    assert_eq!((p.packet_number, p.total_packets), (1, 1));
    assert_eq!(p.service_code(), Some(0x04));
    assert_eq!(p.class(), OtClass::Read);
    assert!(p.flags.is_empty());
    assert!(p.text.is_empty());
    let Body::Request(r) = p.body else {
        panic!("request")
    };
    assert_eq!(r.service_name(), "read_system_memory");
    assert_eq!(r.segment_name(), "analog_inputs_word");
    assert_eq!(
        (r.memory_offset, r.data_length, r.text_data_length),
        (10, 1, None)
    );
}

#[test]
fn kepware_ack_with_inline_data_and_status_word() {
    let bytes = cap3_reply();
    let p = one(&bytes, RSP);
    assert_eq!(p.pairing_key(), (0xA8, 6));
    let Body::Reply(r) = p.body else {
        panic!("reply")
    };
    assert!(!r.is_nack());
    assert_eq!((r.major_status, r.minor_status), (Some(0), Some(0)));
    assert_eq!(r.major_status_name(), Some("success"));
    assert_eq!(r.inline_data, &[0x30, 0x02, 0, 0, 0, 0]);
    let pb = r.piggyback.expect("ACKs carry the piggyback");
    assert_eq!(pb.status, PlcStatus(0x217C));
    assert_eq!(pb.status.state_name(), "stop_io_disabled");
    assert!(pb.status.programmer_attached());
    assert_eq!(p.plc_status(), Some(PlcStatus(0x217C)));
    assert!(p.flags.is_empty());
}

#[test]
fn ack_with_text_buffer_carries_the_registers() {
    let bytes = cap_alarm_reply();
    assert_eq!(bytes.len(), 262);
    let p = one(&bytes, RSP);
    assert_eq!(p.text_length, 206);
    assert_eq!(p.text.len(), 206);
    assert_eq!(&p.text[6..40], b"SRVO-302 Set Hand broken to ENABLE");
    assert_eq!((p.packet_number, p.total_packets), (1, 1)); // at 48/49 for 0x94
    let Body::Reply(r) = p.body else {
        panic!("reply")
    };
    assert_eq!(r.mailbox_type, srtp::MAILBOX_ACK_WITH_TEXT);
    assert_eq!((r.major_status, r.response_data_length), (None, Some(0)));
    let pb = r.piggyback.expect("piggyback");
    assert_eq!((pb.control_program_number, pb.privilege_level), (0xFF, 4));
    assert!(r.inline_data.is_empty());
}

#[test]
fn nack_invalid_password() {
    let mut bytes = cap3_reply();
    bytes[31] = srtp::MAILBOX_NACK;
    bytes[42] = 0x02; // major: insufficient privilege
    bytes[43] = 0xF5; // minor: invalid password
    let p = one(&bytes, RSP);
    let Body::Reply(r) = p.body else {
        panic!("reply")
    };
    assert!(r.is_nack());
    assert_eq!(r.major_status_name(), Some("insufficient_privilege"));
    assert_eq!(r.minor_status_name(), Some("invalid_password"));
    assert_eq!(r.piggyback, None);
    assert!(r.inline_data.is_empty());
}

#[test]
fn session_init_and_ack() {
    let init = [0u8; 56];
    let p = one(&init, REQ);
    assert_eq!(p.body, Body::Init);
    assert!(p.flags.is_empty());
    assert_eq!(p.class(), OtClass::Recon);
    // The FANUC controller's answer (booozie_kepware_cap frame 4427).
    let ack = hex("0100000000000000010000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000");
    let p = one(&ack, RSP);
    assert_eq!(p.body, Body::InitAck);
    assert!(p.flags.is_empty());
    // An init with a stray byte, sent the wrong way.
    let mut odd = init;
    odd[9] = 1;
    assert_eq!(
        one(&odd, RSP).flags,
        Flags::INIT_NOT_ZERO | Flags::UNEXPECTED_DIRECTION
    );
}

#[test]
fn request_with_text_buffer_write_registers() {
    // 0x80 write: service @42, text data length u32 @43, packet 1/1 @48,
    // selector @51, offset @52, length @54, then 4 bytes of text.
    let mut bytes = cap3_request();
    bytes[4] = 4; // text length 4
    bytes[31] = srtp::MAILBOX_REQUEST_WITH_TEXT;
    bytes[42] = 0x07; // write system memory
    bytes[43..47].copy_from_slice(&4u32.to_le_bytes());
    bytes[47] = 0;
    bytes[48] = 1;
    bytes[49] = 1;
    bytes[51] = 0x08; // %R words
    bytes[52..54].copy_from_slice(&99u16.to_le_bytes()); // %R100
    bytes[54..56].copy_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&[0x34, 0x12, 0x78, 0x56]);
    let p = one(&bytes, REQ);
    assert_eq!(p.class(), OtClass::Write);
    assert_eq!(p.text, &[0x34, 0x12, 0x78, 0x56]);
    let Body::Request(r) = p.body else {
        panic!("request")
    };
    assert_eq!(r.service_name(), "write_system_memory");
    assert_eq!(
        (r.segment_name(), r.memory_offset, r.data_length),
        ("registers_word", 99, 2)
    );
    assert_eq!(r.text_data_length, Some(4));
    assert!(p.flags.is_empty());
    // The announced length disagreeing with the text buffer is flagged.
    bytes[43] = 9;
    assert_eq!(one(&bytes, REQ).flags, Flags::TEXT_LENGTH_MISMATCH);
}

#[test]
fn service_codes_of_interest_are_classified() {
    let mut bytes = cap3_request();
    for (code, name, class) in [
        (0x20, "programmer_logon", OtClass::Auth),
        (0x21, "change_privilege_level", OtClass::Auth),
        (0x23, "set_plc_state", OtClass::Control),
        (0x24, "set_plc_time_date", OtClass::Control),
        (0x35, "clear_all_plc_memory", OtClass::Control),
        (0x39, "clear_fault_table", OtClass::Diagnostic),
        (0x3F, "program_store", OtClass::Program),
        (0x40, "program_load", OtClass::Program),
        (0x43, "return_controller_type_and_id", OtClass::Recon),
        (0x44, "toggle_force_system_memory", OtClass::Write),
        (0x4F, "session_control", OtClass::Other),
        (0x5B, "program_load_extended", OtClass::Program),
        (0xEE, "unknown", OtClass::Other),
    ] {
        bytes[42] = code;
        let p = one(&bytes, REQ);
        let Body::Request(r) = p.body else {
            panic!("request")
        };
        assert_eq!((r.service_name(), p.class()), (name, class), "{code:#x}");
    }
}

#[test]
fn oddities_are_flags() {
    // Reply mailbox type in a request PDU.
    let mut b = cap3_request();
    b[31] = srtp::MAILBOX_ACK;
    assert_eq!(one(&b, REQ).flags, Flags::MAILBOX_TYPE_MISMATCH);
    // Unknown mailbox type: kept raw.
    let mut b = cap3_request();
    b[31] = 0x42;
    let p = one(&b, REQ);
    assert_eq!(p.flags, Flags::UNKNOWN_MAILBOX_TYPE);
    assert_eq!(p.body, Body::Unknown { raw: &b[40..56] });
    // A text buffer on a plain completion ACK, reserved byte 1 set, wrong way.
    let mut b = cap3_reply();
    b[1] = 0x01;
    b[4] = 2;
    b.extend_from_slice(&[0xAA, 0xBB]);
    assert_eq!(
        one(&b, REQ).flags,
        Flags::RESERVED_NONZERO | Flags::TEXT_LENGTH_MISMATCH | Flags::UNEXPECTED_DIRECTION
    );
}

#[test]
fn unknown_pdu_type_is_invalid_framing() {
    let mut b = cap3_request();
    b[0] = 0x47; // 'G' of "GET / HTTP/1.1"
    assert_eq!(
        parse_pdu(&b, REQ),
        Err(PduError::UnknownPduType { pdu_type: 0x47 })
    );
    assert_eq!(
        Srtp.parse(&b, REQ),
        Parsed::Invalid {
            reason: "unknown_pdu_type"
        }
    );
}

#[test]
fn probe_decides_on_the_header() {
    assert_eq!(srtp::probe(&[0u8; 56]), Probe::Match);
    assert_eq!(srtp::probe(&[0u8; 20]), Probe::NeedMore);
    assert_eq!(srtp::probe(&cap3_request()), Probe::Match);
    assert_eq!(srtp::probe(&cap3_reply()), Probe::Match);
    assert_eq!(srtp::probe(&cap3_request()[..31]), Probe::NeedMore);
    assert_eq!(srtp::probe(b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
    assert_eq!(srtp::probe(&[0x16, 0x03, 0x01, 0x00]), Probe::NoMatch); // TLS
    let mut init_with_data = [0u8; 56];
    init_with_data[40] = 1;
    assert_eq!(srtp::probe(&init_with_data), Probe::NoMatch);
    let mut req_with_ack_type = cap3_request();
    req_with_ack_type[31] = srtp::MAILBOX_ACK;
    assert_eq!(srtp::probe(&req_with_ack_type), Probe::NoMatch);
}

// ---- stream scenarios ------------------------------------------------------

#[test]
fn rx3i_header_and_text_in_separate_segments_then_split_text() {
    // Header alone, then half the text, then the rest: three segments.
    let reply = cap_alarm_reply();
    let mut got = Vec::new();
    let o = drive(&mut Srtp, &reply[..56], RSP, |p| got.push(p.text.len()));
    assert_eq!((o.consumed, o.needed), (0, Some(206)));
    let o = drive(&mut Srtp, &reply[..159], RSP, |p| got.push(p.text.len()));
    assert_eq!((o.consumed, o.needed), (0, Some(103)));
    let o = drive(&mut Srtp, &reply, RSP, |p| got.push(p.text.len()));
    assert_eq!((o.consumed, o.needed, o.messages), (262, None, 1));
    assert_eq!(got, vec![206]);
    // A header cut short asks for the rest of the header first.
    assert_eq!(
        Srtp.parse(&reply[..20], RSP),
        Parsed::Incomplete { needed: 36 }
    );
}

#[test]
fn pipelining_3_pdus_in_1_segment() {
    let mut buf = cap3_reply();
    buf.extend_from_slice(&cap_alarm_reply());
    buf.extend_from_slice(&cap3_reply());
    let mut seqs = Vec::new();
    let o = drive(&mut Srtp, &buf, RSP, |p| seqs.push(p.sequence));
    assert_eq!(seqs, vec![0xA8, 0x07, 0xA8]);
    assert_eq!((o.consumed, o.needed, o.invalid), (56 + 262 + 56, None, 0));
}

#[test]
fn gap_then_resync_finds_the_next_request() {
    // The tail of a lost request, then two whole requests.
    let mut buf = vec![0x00, 0x00, 0x00, 0x08, 0x0A, 0x00];
    buf.extend_from_slice(&cap3_request());
    buf.extend_from_slice(&cap3_request());
    assert_eq!(Srtp.resync(&buf, REQ), Some(6));
    // Towards the client, a request header is no reply.
    assert_eq!(srtp::resync(&cap3_request(), RSP), None);
    // Runs of zeros (an init look-alike inside text) are not a start.
    assert_eq!(srtp::resync(&[0u8; 200], REQ), None);
    // Broken framing inside a stream: drive counts it and resynchronises.
    let mut buf2 = b"\xffjunk".to_vec();
    buf2.extend_from_slice(&cap3_reply());
    let mut n = 0;
    let o = drive(&mut Srtp, &buf2, RSP, |_| n += 1);
    assert_eq!((n, o.invalid, o.skipped), (1, 1, 5));
}

// ---- captures ----------------------------------------------------------------

/// Requests per service code and reply kinds over one capture.
#[derive(Debug, Default)]
struct Run {
    services: BTreeMap<u8, usize>,
    requests: usize,
    replies: usize,
    init: usize,
    init_ack: usize,
    flagged: usize,
    states: BTreeMap<&'static str, usize>,
    long_status_text: Vec<Vec<u8>>,
}

fn run(file: &str) -> Option<Run> {
    let dir = pcaps_dir(file)?;
    let packets = read_packets(&dir.join("ge-srtp").join(file));
    let mut r = Run::default();
    for conn in tcp_conns(&packets, srtp::PORT) {
        assert_eq!(srtp::probe(&first_bytes(&conn.to_server)), Probe::Match);
        for (pieces, dir) in [(&conn.to_server, REQ), (&conn.to_client, RSP)] {
            let s = feed(&mut Srtp, pieces, dir, |p| {
                if !p.flags.is_empty() {
                    r.flagged += 1;
                }
                match p.body {
                    Body::Init => r.init += 1,
                    Body::InitAck => r.init_ack += 1,
                    Body::Request(q) => {
                        r.requests += 1;
                        *r.services.entry(q.service_code).or_default() += 1;
                    }
                    Body::Reply(a) => {
                        r.replies += 1;
                        if let Some(pb) = a.piggyback {
                            *r.states.entry(pb.status.state_name()).or_default() += 1;
                        }
                        if a.response_data_length == Some(42) {
                            r.long_status_text.push(p.text.to_vec());
                        }
                    }
                    Body::Unknown { .. } => panic!("unknown mailbox type"),
                }
            });
            assert_eq!((s.invalid, s.gaps, s.left), (0, 0, 0), "{file} {dir:?}");
        }
    }
    Some(r)
}

#[test]
fn kepware_full_session_service_counts() {
    let Some(r) = run("booozie_kepware_cap.pcapng") else {
        return;
    };
    // MANIFEST.md: 0x04 x1335, 0x01 x12, 0x25 x12, 0x4F x1, after the
    // 56-byte all-zero init and its type-1 answer.
    let want: BTreeMap<u8, usize> = [(0x01, 12), (0x04, 1335), (0x25, 12), (0x4F, 1)]
        .into_iter()
        .collect();
    assert_eq!(r.services, want);
    assert_eq!((r.init, r.init_ack), (1, 1));
    assert_eq!((r.requests, r.replies), (1360, 1360));
    assert_eq!(r.flagged, 0);
    // The FANUC controller reports state 2 in every ACK's status word.
    assert_eq!(r.states.get("stop_io_disabled"), Some(&1360));
    // The twelve long-status answers (0x94 with 42 at byte 42) name the controller.
    assert_eq!(r.long_status_text.len(), 12);
    assert!(r
        .long_status_text
        .iter()
        .all(|t| t.len() == 42 && t.windows(5).any(|w| w == b"X_PLC")));
}

#[test]
fn kepware_mid_session_reads() {
    let Some(r) = run("booozie_kepware_cap3.pcapng") else {
        return;
    };
    // MANIFEST.md: 23 service 0x04 reads, 22 responses (capture ends first).
    assert_eq!(r.services, [(0x04, 23)].into_iter().collect());
    assert_eq!((r.requests, r.replies, r.init), (23, 22, 0));
    assert_eq!(r.flagged, 0);
}
