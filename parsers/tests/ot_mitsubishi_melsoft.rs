//! MELSOFT parser tests over bytes taken from the public captures
//! (`shared/pcaps/mitsubishi-melsec/`, frame numbers as tshark shows them),
//! a table of commands with garbage and its flags, and stream scenarios.

use spanwatch_parsers::melsoft::{
    self, parse_datagram, probe, Error, Flags, Kind, MelsoftStream, Message,
};
use spanwatch_parsers::ot::OtClass;
use spanwatch_parsers::stream::{drive, Direction, Parsed, Probe, StreamParser};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// nozomi_legitimate_user_addition_plc_stop_test.pcapng frame 1505:
/// REMOTE STOP from 172.17.0.158:40302 to the iQ-R Safety CPU on 5007.
#[rustfmt::skip]
const REMOTE_STOP_REQ: [u8; 71] = [
    0x57, 0x01,             // magic: request
    0x08, 0x00,             // sequence 8
    0x00, 0x11, 0x11, 0x07, // constant 00 11 11, frame type 07
    0x00,
    0x01,                   // network 1
    0x7D,                   // unit 0x7D
    0xE0, 0x03,             // I/O 0x03E0: multi-CPU No.1
    0x00, 0x00, 0xFE, 0x03, 0x00, 0x00,
    0x32, 0x00,             // size 50 (bytes after this Ethernet header)
    // command header: type 0x1C, remaining 0x16 -> 0x18 bytes
    0x1C, 0x0A, 0x16, 0x14, 0xE0, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x10, 0x02,             // command 0x1002 REMOTE STOP (big-endian)
    0x09, 0x00,             // packet reference 9
    0x04, 0x00,             // data size 4
    0x01, 0x00, 0x00, 0x02, // data
    0x0E, 0x00,             // footer size 14
    0x02,                   // 2 parameters
    0x81, 0x04, 0x82, 0x05, // types and lengths: 0x81 (4), 0x82 (5)
    0xBE, 0xBA, 0x61, 0x28, // 0x81: CRC32 of the command data
    0x00, 0x8F, 0x73, 0x07, 0x38, // 0x82
];

/// Frame 1506: the PLC's answer.
const REMOTE_STOP_RESP: &str = "d7001f0000111107000000a803017de00300003a009c021814000000000104e003000000000000000000000000000010020900040000000002140003800281048207020\
02662edaa0000008ef0db10";

/// Frame 6 / 7: open initial (0x0121) and the answer naming the CPU.
const OPEN_INITIAL_REQ: &str = "570100000011110700017de0030000fe03000032001c0a1614e003000000000004000000000000000000000000012101000400000100020e000281048205baa0a9ee003e36a12b";
const OPEN_INITIAL_RESP: &str = "d700000000111107000000a803017de00300004e009c021814000000000104e0030000000000000000000000000000012101001c0052303853464350552020202020202020914800080000020002900002100002810482072356c2fa000000fa78e00d";

/// Frames 4 / 5: the session hello and its answer.
const HELLO_REQ: [u8; 4] = [0x5A, 0x00, 0x00, 0xFF];
const HELLO_RESP: &str = "da0000ff91480c000000000013000000f8d1980030710000c4da9800";

/// iti_melsoft_UDP_clean_2.pcap frames 5 / 6: open initial to an FX5U.
const FX5U_OPEN_REQ: &str = "57010000001111070000ffff030000fe03000020001c0a161400000000000000000000000000000000000000000121010000000001";
const FX5U_OPEN_RESP: &str = "d70100000011117f000000a80300ffff03000038009c0a181400000000000000000000000000000000000000000000012101000000465835552d33324d542f455300000000294a000800000000";

/// iti_melsoft_129_clean.pcap frame 7: GX Works3 monitoring read.
const MONITOR_0410_REQ: &str = "57000000001111070000ffff0300000000000034001c02161400000000000000000000000000000000000000000410f43f000000000000000000000000010060000000000000001900";

fn frame(m: Message<'_>) -> melsoft::Frame<'_> {
    match m {
        Message::Frame(f) => f,
        Message::Hello(h) => panic!("frame expected, got {h:?}"),
    }
}

#[test]
fn remote_stop_request_fields() {
    let f = frame(parse_datagram(&REMOTE_STOP_REQ).unwrap());
    assert_eq!((f.kind, f.magic, f.sequence), (Kind::Request, 0x5701, 8));
    assert_eq!(
        (f.network, f.unit, f.module_io, f.size),
        (1, 0x7D, 0x03E0, 50)
    );
    assert_eq!((f.header_type, f.status), (0x1C, None));
    assert_eq!(f.command, Some(0x1002));
    assert_eq!(
        (f.command_name(), f.class()),
        ("remote_stop", OtClass::Control)
    );
    assert_eq!(
        (f.packet_ref, f.data_size, f.data),
        (9, 4, &[0x01, 0x00, 0x00, 0x02][..])
    );
    let ft = f.footer.unwrap();
    assert_eq!(
        (ft.size, ft.param_count, ft.has_auth_token, ft.raw.len()),
        (14, 2, false, 16)
    );
    assert!(f.flags.is_empty());
    assert_eq!(f.frame_len, 71);
}

#[test]
fn remote_stop_response_has_status_and_footer() {
    let b = hex(REMOTE_STOP_RESP);
    let f = frame(parse_datagram(&b).unwrap());
    assert_eq!(
        (f.kind, f.magic, f.sequence),
        (Kind::Response, 0xD700, 0x1F)
    );
    // Responses carry the station fields four bytes later than requests.
    assert_eq!((f.network, f.unit, f.module_io), (1, 0x7D, 0x03E0));
    assert_eq!(
        (f.header_type, f.status, f.command),
        (0x9C, Some(0), Some(0x1002))
    );
    assert_eq!(f.footer.map(|ft| ft.param_count), Some(3));
    assert!(f.flags.is_empty());
}

#[test]
fn open_initial_names_the_iqr_safety_cpu() {
    let req = hex(OPEN_INITIAL_REQ);
    let f = frame(parse_datagram(&req).unwrap());
    assert_eq!(
        (f.command_name(), f.class()),
        ("open_initial_cpu_model_read", OtClass::Recon)
    );
    assert!(f.cpu_model().is_none(), "requests carry no model");

    let resp = hex(OPEN_INITIAL_RESP);
    let f = frame(parse_datagram(&resp).unwrap());
    assert_eq!(f.data_size, 0x1C);
    let m = f.cpu_model().unwrap();
    assert_eq!((m.name, m.code), ("R08SFCPU", Some(0x4891)));
}

#[test]
fn fx5u_open_initial_over_udp_without_size_or_footer() {
    let req = hex(FX5U_OPEN_REQ);
    let f = frame(parse_datagram(&req).unwrap());
    // iQ-F leaves the data size at 0; the data runs to the frame end.
    assert_eq!(
        (f.command, f.data_size, f.data, f.footer),
        (Some(0x0121), 0, &[0x00, 0x01][..], None)
    );
    let resp = hex(FX5U_OPEN_RESP);
    let f = frame(parse_datagram(&resp).unwrap());
    assert_eq!(f.magic, 0xD701);
    let m = f.cpu_model().unwrap();
    assert_eq!((m.name, m.code), ("FX5U-32MT/ES", Some(0x4A29)));
    assert!(f.flags.is_empty());
}

#[test]
fn hellos_session_and_discovery() {
    let Message::Hello(h) = parse_datagram(&HELLO_REQ).unwrap() else {
        panic!()
    };
    assert_eq!(
        (h.kind, h.hello_type, h.body.len(), h.model_code),
        (Kind::Request, 0xFF, 0, None)
    );
    let resp = hex(HELLO_RESP);
    let Message::Hello(h) = parse_datagram(&resp).unwrap() else {
        panic!()
    };
    assert_eq!(
        (h.kind, h.hello_type, h.body.len()),
        (Kind::Response, 0xFF, 24)
    );
    assert_eq!(h.model_code, Some(0x4891));
    assert!(h.flags.is_empty());
    // UDP discovery: 5a000001 -> da000001 + 10 bytes (frames 1 / 2).
    let disc = hex("da0000011400c0a80365c0a80365");
    let Message::Hello(h) = parse_datagram(&disc).unwrap() else {
        panic!()
    };
    assert_eq!((h.hello_type, h.body.len(), h.model_code), (0x01, 10, None));
    assert!(h.flags.is_empty());
}

#[test]
fn gx_works3_monitoring_read() {
    let b = hex(MONITOR_0410_REQ);
    let f = frame(parse_datagram(&b).unwrap());
    assert_eq!(
        (f.magic, f.network, f.unit, f.module_io),
        (0x5700, 0, 0xFF, 0x03FF)
    );
    assert_eq!(
        (f.command, f.packet_ref, f.class()),
        (Some(0x0410), 0x3FF4, OtClass::Read)
    );
    assert_eq!(f.data.len(), 22); // 0x15 + 0x34 = 73 bytes, data from 0x2D + 6
}

/// A request with the iQ-R header of `REMOTE_STOP_REQ` around `cmd`, `data`
/// and `footer`.
fn req(cmd: u16, data: &[u8], footer: &[u8]) -> Vec<u8> {
    let mut v = REMOTE_STOP_REQ[..0x2D].to_vec();
    v.extend_from_slice(&cmd.to_be_bytes());
    v.extend_from_slice(&[0x01, 0x00]);
    v.extend_from_slice(&(data.len() as u16).to_le_bytes());
    v.extend_from_slice(data);
    v.extend_from_slice(footer);
    let size = (v.len() - 0x15) as u16;
    v[0x13..0x15].copy_from_slice(&size.to_le_bytes());
    v
}

const CRC_FOOTER: [u8; 16] = [
    0x0E, 0x00, 0x02, 0x81, 0x04, 0x82, 0x05, 1, 2, 3, 4, 5, 6, 7, 8, 9,
];
const TOKEN_FOOTER: [u8; 11] = [0x09, 0x00, 0x01, 0x42, 0x06, 1, 2, 3, 4, 5, 6];

/// (scenario, frame, command, name, class, flags)
type Case = (
    &'static str,
    Vec<u8>,
    u16,
    &'static str,
    OtClass,
    &'static [&'static str],
);

#[test]
fn command_table_with_garbage_and_expected_flags() {
    let mut username = [0u8; 0x28];
    for (i, c) in "admin".encode_utf16().enumerate() {
        username[2 * i..2 * i + 2].copy_from_slice(&c.to_le_bytes());
    }
    let mut registration = vec![0x00, 0x00, 0x02, 0x00];
    registration.extend_from_slice(&[0u8; 0x4A * 2]);
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("remote run", req(0x1001, &[1, 0, 0, 0], &CRC_FOOTER), 0x1001, "remote_run", OtClass::Control, &[]),
        ("remote pause", req(0x1003, &[1, 0], &CRC_FOOTER), 0x1003, "remote_pause", OtClass::Control, &[]),
        ("remote reset", req(0x1006, &[1, 0], &CRC_FOOTER), 0x1006, "remote_reset", OtClass::Control, &[]),
        ("safety mode change with token", req(0x1120, &[0x42, 0x84, 0, 2], &TOKEN_FOOTER), 0x1120, "safety_run_mode_change", OtClass::Control, &["auth_token"]),
        ("username login", req(0x0131, &username, &CRC_FOOTER), 0x0131, "username_login", OtClass::Auth, &[]),
        ("user registration", req(0x1133, &registration, &TOKEN_FOOTER), 0x1133, "user_registration", OtClass::Auth, &["auth_token"]),
        ("file list", req(0x1859, &[0; 8], &CRC_FOOTER), 0x1859, "file_list_read", OtClass::File, &[]),
        ("file read", req(0x1868, &[0; 8], &CRC_FOOTER), 0x1868, "file_read", OtClass::File, &[]),
        ("file write", req(0x1869, &[0; 8], &CRC_FOOTER), 0x1869, "file_write", OtClass::File, &[]),
        ("other file command", req(0x187E, &[0; 8], &CRC_FOOTER), 0x187E, "file_command", OtClass::File, &[]),
        ("program transfer", req(0x1730, &[0; 8], &CRC_FOOTER), 0x1730, "program_transfer_begin", OtClass::Program, &[]),
        ("unknown is data", req(0x0B2A, &[0; 4], &CRC_FOOTER), 0x0B2A, "unknown", OtClass::Other, &[]),
        // Garbage.
        ("footer size lies", req(0x0410, &[0; 4], &[0x20, 0x00, 0x00]), 0x0410, "memory_read", OtClass::Read, &["footer_malformed"]),
        ("footer parameter table overruns", req(0x0410, &[0; 4], &[0x05, 0x00, 0x09, 0x81, 0x04, 0, 0]), 0x0410, "memory_read", OtClass::Read, &["footer_malformed"]),
    ];
    for (scenario, bytes, cmd, name, class, flags) in cases {
        let f = frame(parse_datagram(&bytes).unwrap());
        assert_eq!(f.command, Some(cmd), "{scenario}");
        assert_eq!(f.command_name(), name, "{scenario}");
        assert_eq!(f.class(), class, "{scenario}");
        assert_eq!(f.flags.names().collect::<Vec<_>>(), flags, "{scenario}");
    }
    let login = req(0x0131, &username, &CRC_FOOTER);
    let f = frame(parse_datagram(&login).unwrap());
    let units: Vec<u16> = f
        .login_username_utf16()
        .unwrap()
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(String::from_utf16(&units).unwrap(), "admin");
    let reg = req(0x1133, &registration, &TOKEN_FOOTER);
    let f = frame(parse_datagram(&reg).unwrap());
    assert_eq!(f.registered_users(), Some(2));
}

#[test]
fn garbage_frames_and_framing_errors() {
    // Bytes 4..7 not 00 11 11.
    let mut b = REMOTE_STOP_REQ.to_vec();
    b[5] = 0x22;
    let f = frame(parse_datagram(&b).unwrap());
    assert_eq!(
        f.flags.names().collect::<Vec<_>>(),
        vec!["header_constant_mismatch"]
    );
    assert_eq!(probe(&b), Probe::NoMatch);
    // Size too small for the command header: no command.
    let mut b = REMOTE_STOP_REQ[..0x20].to_vec();
    b[0x13..0x15].copy_from_slice(&[0x0B, 0x00]);
    let f = frame(parse_datagram(&b).unwrap());
    assert_eq!((f.command, f.command_name()), (None, "none"));
    assert!(f.flags.contains(Flags::COMMAND_TRUNCATED));
    // Datagram longer than the frame.
    let mut b = REMOTE_STOP_REQ.to_vec();
    b.push(0xEE);
    assert!(frame(parse_datagram(&b).unwrap())
        .flags
        .contains(Flags::TRAILING_BYTES));
    // Hello answer body of the wrong size.
    let Message::Hello(h) = parse_datagram(&[0xDA, 0, 0, 0xFF, 1, 2]).unwrap() else {
        panic!()
    };
    assert!(h.flags.contains(Flags::HELLO_LENGTH_MISMATCH));
    // Framing errors.
    assert_eq!(
        parse_datagram(b"GET /"),
        Err(Error::Invalid("melsoft_bad_magic"))
    );
    assert_eq!(
        parse_datagram(&[0x5A, 0x01, 0x00, 0xFF]),
        Err(Error::Invalid("melsoft_bad_hello"))
    );
    assert_eq!(
        parse_datagram(&REMOTE_STOP_REQ[..40]),
        Err(Error::Incomplete { needed: 31 })
    );
    let mut huge = REMOTE_STOP_REQ.to_vec();
    huge[0x13..0x15].copy_from_slice(&[0xFF, 0xFF]);
    assert_eq!(
        parse_datagram(&huge),
        Err(Error::Invalid("melsoft_frame_too_long"))
    );
    let mut p = MelsoftStream;
    assert_eq!(
        p.parse(&[0xDA, 0, 0, 0x33, 0, 0], Direction::ToClient),
        Parsed::Invalid {
            reason: "melsoft_unknown_hello_type"
        }
    );
}

#[test]
fn probe_on_real_starts() {
    assert_eq!(probe(&REMOTE_STOP_REQ), Probe::Match);
    assert_eq!(probe(&HELLO_REQ), Probe::Match);
    assert_eq!(probe(&hex(HELLO_RESP)), Probe::Match);
    assert_eq!(probe(&REMOTE_STOP_REQ[..10]), Probe::NeedMore);
    assert_eq!(probe(&[0x5A, 0x00]), Probe::NeedMore);
    assert_eq!(probe(&[0x50, 0x00, 0x00, 0xFF]), Probe::NoMatch); // SLMP, not MELSOFT
                                                                  // Length consistency: after the message comes another message or nothing.
    let mut b = REMOTE_STOP_REQ.to_vec();
    b.push(0x00);
    assert_eq!(probe(&b), Probe::NoMatch);
    let mut b = HELLO_REQ.to_vec();
    b.extend_from_slice(&REMOTE_STOP_REQ);
    assert_eq!(probe(&b), Probe::Match);
}

#[test]
fn stream_one_frame_split_across_three_segments() {
    let mut p = MelsoftStream;
    let b = &REMOTE_STOP_REQ;
    assert_eq!(
        p.parse(&b[..10], Direction::ToServer),
        Parsed::Incomplete { needed: 11 }
    );
    assert_eq!(
        p.parse(&b[..40], Direction::ToServer),
        Parsed::Incomplete { needed: 31 }
    );
    match p.parse(&b[..], Direction::ToServer) {
        Parsed::Message {
            consumed: 71,
            message: Message::Frame(f),
        } => assert_eq!(f.command, Some(0x1002)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn stream_hello_and_two_frames_in_one_buffer() {
    let mut buf = HELLO_REQ.to_vec();
    buf.extend_from_slice(&hex(OPEN_INITIAL_REQ));
    buf.extend_from_slice(&REMOTE_STOP_REQ);
    let mut seen = Vec::new();
    let out = drive(&mut MelsoftStream, &buf, Direction::ToServer, |m| {
        seen.push(match m {
            Message::Hello(h) => format!("hello {:02x}", h.hello_type),
            Message::Frame(f) => f.command_name().to_string(),
        })
    });
    assert_eq!(
        seen,
        vec!["hello ff", "open_initial_cpu_model_read", "remote_stop"]
    );
    assert_eq!(
        (out.consumed, out.invalid, out.needed),
        (buf.len(), 0, None)
    );
}

#[test]
fn stream_gap_then_resync_on_next_frame() {
    // Lost the first 30 bytes of the open-initial answer; the stop answer follows.
    let resp = hex(OPEN_INITIAL_RESP);
    let mut buf = resp[30..].to_vec();
    buf.extend_from_slice(&hex(REMOTE_STOP_RESP));
    let mut cmds = Vec::new();
    let out = drive(&mut MelsoftStream, &buf, Direction::ToClient, |m| {
        if let Message::Frame(f) = m {
            cmds.push(f.command)
        }
    });
    assert_eq!(cmds, vec![Some(0x1002)]);
    assert_eq!(out.invalid, 1);
    assert_eq!(out.skipped, resp.len() - 30);
    assert_eq!(melsoft::resync(&buf), Some(resp.len() - 30));
}

#[test]
fn stream_flags_a_request_in_the_server_direction() {
    let mut flagged = false;
    drive(
        &mut MelsoftStream,
        &REMOTE_STOP_REQ,
        Direction::ToClient,
        |m| {
            if let Message::Frame(f) = m {
                flagged = f.flags.contains(Flags::UNEXPECTED_DIRECTION)
            }
        },
    );
    assert!(flagged);
}
