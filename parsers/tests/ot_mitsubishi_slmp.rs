//! MC protocol / SLMP parser tests: 3E and 4E, binary and ASCII, built from
//! the frame layouts of SH-080008 / BAP-C2006ENG (the manuals' D100 batch
//! read round trip, remote operations, password commands), a table of every
//! decoded command including garbage with its expected flags, and the
//! streaming scenarios (split, pipelined, gap then resync).

use spanwatch_parsers::ot::OtClass;
use spanwatch_parsers::slmp::{
    self, parse_cpu_model, parse_frame, probe, AccessOp, AccessUnit, DeviceForm, Encoding, Error,
    Flags, Frame, FrameType, Kind, RequestDetail, SlmpStream,
};
use spanwatch_parsers::stream::{drive, Direction, Parsed, Probe, StreamParser};

/// Binary 3E request: the manuals' batch read of 3 words from D100.
const BIN3E_READ_D100: [u8; 21] = [
    0x50, 0x00, // subheader: 3E request
    0x00, // network number 0
    0xFF, // PC number: own station
    0xFF, 0x03, // request destination module I/O 0x03FF: own CPU
    0x00, // multidrop station 0
    0x0C, 0x00, // request data length 12 (timer..end)
    0x10, 0x00, // monitoring timer 16 x 250 ms
    0x01, 0x04, // command 0x0401 batch read
    0x00, 0x00, // subcommand 0x0000: word units, Q/L device form
    0x64, 0x00, 0x00, // head device number 100
    0xA8, // device code D
    0x03, 0x00, // 3 points
];

/// Binary 3E response to it: three words.
const BIN3E_READ_D100_RESP: [u8; 17] = [
    0xD0, 0x00, // subheader: 3E response
    0x00, 0xFF, 0xFF, 0x03, 0x00, // network, PC, I/O, multidrop echoed
    0x08, 0x00, // response data length 8 (end code..end)
    0x00, 0x00, // end code 0: success
    0x95, 0x19, 0x02, 0x12, 0x30, 0x11, // D100=0x1995 D101=0x1202 D102=0x1130
];

/// The same read in ASCII 3E.
const ASC3E_READ_D100: &[u8] = b"5000\
00\
FF\
03FF\
00\
0018\
0010\
0401\
0000\
D*000100\
0003";

/// ASCII 3E response: end code 0000, three words.
const ASC3E_READ_D100_RESP: &[u8] = b"D000\
00FF03FF00\
0010\
0000\
199512021130";

#[test]
fn bin3e_batch_read_d100_request_fields() {
    let Ok(Frame::Request(r)) = parse_frame(&BIN3E_READ_D100) else {
        panic!("request expected")
    };
    let h = r.header;
    assert_eq!(
        (h.frame_type, h.encoding, h.kind),
        (FrameType::E3, Encoding::Binary, Kind::Request)
    );
    assert_eq!(
        (h.serial, h.network, h.station, h.module_io, h.multidrop),
        (None, 0, 0xFF, 0x03FF, 0)
    );
    assert_eq!((h.data_length, h.header_len, h.frame_len), (12, 9, 21));
    assert_eq!((r.timer, r.command, r.subcommand), (16, 0x0401, 0));
    assert_eq!(r.command_name(), "batch_read");
    assert_eq!(r.class(), OtClass::Read);
    assert!(r.flags.is_empty());
    let a = r.device_access().expect("device access");
    assert_eq!(
        (a.op, a.unit, a.form),
        (AccessOp::BatchRead, AccessUnit::Word, DeviceForm::QL)
    );
    let head = a.head.unwrap();
    assert_eq!((head.code, head.name(), head.number), (0xA8, "D", 100));
    assert_eq!(a.points, 3);
    assert!(a.values.is_empty());
}

#[test]
fn bin3e_batch_read_d100_response_fields() {
    let Ok(Frame::Response(r)) = parse_frame(&BIN3E_READ_D100_RESP) else {
        panic!("response expected")
    };
    assert_eq!(r.header.data_length, 8);
    assert_eq!(r.end_code, 0);
    assert_eq!(r.end_code_name(), "ok");
    assert_eq!(r.data, &[0x95, 0x19, 0x02, 0x12, 0x30, 0x11]);
    assert_eq!(r.error_info, None);
    assert!(r.flags.is_empty());
}

#[test]
fn asc3e_batch_read_d100_matches_binary() {
    let Ok(Frame::Request(r)) = parse_frame(ASC3E_READ_D100) else {
        panic!()
    };
    assert_eq!(r.header.encoding, Encoding::Ascii);
    assert_eq!(
        (
            r.header.data_length,
            r.header.header_len,
            r.header.frame_len
        ),
        (0x18, 18, 42)
    );
    assert_eq!((r.header.station, r.header.module_io), (0xFF, 0x03FF));
    assert_eq!((r.timer, r.command, r.subcommand), (16, 0x0401, 0));
    let a = r.device_access().unwrap();
    let head = a.head.unwrap();
    assert_eq!(
        (head.name(), head.number, &head.ascii_name),
        ("D", 100, b"D*\0\0")
    );
    assert_eq!(a.points, 3);
    assert!(r.flags.is_empty());

    let Ok(Frame::Response(resp)) = parse_frame(ASC3E_READ_D100_RESP) else {
        panic!()
    };
    assert_eq!(resp.end_code, 0);
    assert_eq!(resp.data, b"199512021130");
}

#[test]
fn bin4e_batch_write_bits_with_serial() {
    let bytes = [
        0x54, 0x00, // subheader: 4E request
        0x34, 0x12, // serial 0x1234
        0x00, 0x00, // reserved
        0x00, 0xFF, 0xFF, 0x03, 0x00, // network 0, own station, own CPU, multidrop 0
        0x10, 0x00, // length 16
        0x04, 0x00, // timer 1 s
        0x01, 0x14, // command 0x1401 batch write
        0x01, 0x00, // subcommand 0x0001: bit units, Q/L
        0x64, 0x00, 0x00, 0x90, // M100
        0x08, 0x00, // 8 points
        0x10, 0x01, 0x11, 0x00, // M100=1 M101=0 M102=0 M103=1 M104=1 M105=1 M106..107=0
    ];
    let Ok(Frame::Request(r)) = parse_frame(&bytes) else {
        panic!()
    };
    assert_eq!(r.header.frame_type, FrameType::E4);
    assert_eq!(r.header.serial, Some(0x1234));
    assert_eq!((r.header.header_len, r.header.frame_len), (13, 29));
    assert_eq!(r.class(), OtClass::Write);
    let a = r.device_access().unwrap();
    assert_eq!((a.op, a.unit), (AccessOp::BatchWrite, AccessUnit::Bit));
    assert_eq!(a.head.unwrap().name(), "M");
    assert_eq!(a.values, &[0x10, 0x01, 0x11, 0x00]);
    assert!(
        r.flags.is_empty(),
        "{:?}",
        r.flags.names().collect::<Vec<_>>()
    );

    let resp = [
        0xD4, 0x00, 0x34, 0x12, 0x00, 0x00, // 4E response, serial 0x1234
        0x00, 0xFF, 0xFF, 0x03, 0x00, // route
        0x02, 0x00, // length 2
        0x00, 0x00, // end code 0
    ];
    let Ok(Frame::Response(r)) = parse_frame(&resp) else {
        panic!()
    };
    assert_eq!(
        (r.header.serial, r.end_code, r.data.len()),
        (Some(0x1234), 0, 0)
    );
}

#[test]
fn asc4e_remote_run_forced_clear_all() {
    let bytes = b"5400\
1A2B\
0000\
00FF03FF00\
0014\
0010\
1001\
0000\
0003\
02\
00";
    let Ok(Frame::Request(r)) = parse_frame(bytes) else {
        panic!()
    };
    assert_eq!(
        (r.header.frame_type, r.header.encoding),
        (FrameType::E4, Encoding::Ascii)
    );
    assert_eq!(r.header.serial, Some(0x1A2B));
    assert_eq!((r.header.header_len, r.header.frame_len), (26, 46));
    assert_eq!(
        (r.command_name(), r.class()),
        ("remote_run", OtClass::Control)
    );
    assert_eq!(
        r.detail,
        RequestDetail::Remote {
            mode: 3,
            clear_mode: Some(2)
        }
    );
    assert!(r.flags.is_empty());
}

#[test]
fn iqr_binary_batch_read_uses_4_byte_number_and_2_byte_code() {
    let bytes = [
        0x50, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, // 3E request, route
        0x0E, 0x00, // length 14
        0x00, 0x00, // timer 0 (wait forever)
        0x01, 0x04, // batch read
        0x02, 0x00, // subcommand 0x0002: word units, iQ-R form
        0x40, 0x42, 0x0F, 0x00, // device number 1_000_000
        0xB0, 0x00, // device code ZR
        0x0A, 0x00, // 10 points
    ];
    let Ok(Frame::Request(r)) = parse_frame(&bytes) else {
        panic!()
    };
    let a = r.device_access().unwrap();
    assert_eq!(a.form, DeviceForm::IqR);
    let head = a.head.unwrap();
    assert_eq!((head.name(), head.number), ("ZR", 1_000_000));
    assert_eq!(a.points, 10);
    assert!(r.flags.is_empty());
}

#[test]
fn random_read_lists_word_and_dword_devices() {
    let bytes = [
        0x50, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, // route
        0x14, 0x00, // length 20
        0x10, 0x00, // timer
        0x03, 0x04, // 0x0403 random read
        0x00, 0x00, // word units
        0x02, // 2 word accesses
        0x01, // 1 double-word access
        0x00, 0x00, 0x00, 0xA8, // D0
        0x05, 0x00, 0x00, 0xC2, // TN5
        0x64, 0x00, 0x00, 0x90, // M100 (as a double word)
    ];
    let Ok(Frame::Request(r)) = parse_frame(&bytes) else {
        panic!()
    };
    let a = r.device_access().unwrap();
    assert_eq!(
        (a.op, a.first_count, a.second_count, a.items_walked),
        (AccessOp::RandomRead, 2, 1, 3)
    );
    let got: Vec<_> = a
        .items()
        .map(|i| (i.device.name(), i.device.number, i.dword))
        .collect();
    assert_eq!(
        got,
        vec![("D", 0, false), ("TN", 5, false), ("M", 100, true)]
    );
    assert!(r.flags.is_empty());
}

#[test]
fn random_write_words_and_dwords_carry_values() {
    let bytes = [
        0x50, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, // route
        0x16, 0x00, // length 22
        0x10, 0x00, // timer
        0x02, 0x14, // 0x1402 random write
        0x00, 0x00, // word units
        0x01, 0x01, // 1 word, 1 dword
        0x00, 0x00, 0x00, 0xA8, 0x50, 0x05, // D0 = 0x0550
        0x02, 0x00, 0x00, 0xA8, 0x78, 0x56, 0x34, 0x12, // D2 = 0x12345678
    ];
    let Ok(Frame::Request(r)) = parse_frame(&bytes) else {
        panic!()
    };
    let a = r.device_access().unwrap();
    let got: Vec<_> = a
        .items()
        .map(|i| (i.device.number, i.dword, i.value.to_vec()))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, false, vec![0x50, 0x05]),
            (2, true, vec![0x78, 0x56, 0x34, 0x12])
        ]
    );
    assert!(r.flags.is_empty());
}

#[test]
fn random_write_bits_one_byte_per_value() {
    let bytes = [
        0x50, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, // route
        0x11, 0x00, // length 17
        0x10, 0x00, 0x02, 0x14, 0x01, 0x00, // timer, 0x1402, bit units
        0x02, // 2 bits
        0x32, 0x00, 0x00, 0x90, 0x01, // M50 ON
        0x2F, 0x00, 0x00, 0x9D, 0x00, // Y2F OFF
    ];
    let Ok(Frame::Request(r)) = parse_frame(&bytes) else {
        panic!()
    };
    let a = r.device_access().unwrap();
    let got: Vec<_> = a
        .items()
        .map(|i| (i.device.name(), i.device.number, i.value.to_vec()))
        .collect();
    assert_eq!(got, vec![("M", 50, vec![1]), ("Y", 0x2F, vec![0])]);
    assert!(r.flags.is_empty());
}

#[test]
fn block_read_and_block_write() {
    let read = [
        0x50, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0x14, 0x00, // route, length 20
        0x10, 0x00, 0x06, 0x04, 0x00, 0x00, // timer, 0x0406, word units
        0x01, 0x01, // 1 word block, 1 bit block
        0x00, 0x00, 0x00, 0xA8, 0x04, 0x00, // D0 x4 words
        0x00, 0x00, 0x00, 0x90, 0x02, 0x00, // M0 x2 words (32 bits)
    ];
    let Ok(Frame::Request(r)) = parse_frame(&read) else {
        panic!()
    };
    let a = r.device_access().unwrap();
    assert_eq!(
        (a.op, a.points, a.items_walked),
        (AccessOp::BlockRead, 6, 2)
    );
    assert!(r.flags.is_empty());

    let write = [
        0x50, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0x1A, 0x00, // route, length 26
        0x10, 0x00, 0x06, 0x14, 0x00, 0x00, // timer, 0x1406, word units
        0x01, 0x01, // 1 word block, 1 bit block
        0x00, 0x00, 0x00, 0xA8, 0x02, 0x00, 0x01, 0x00, 0x02, 0x00, // D0 x2 = 1, 2
        0x10, 0x00, 0x00, 0x90, 0x01, 0x00, 0xFF, 0x00, // M16 x1 word = 0x00FF
    ];
    let Ok(Frame::Request(r)) = parse_frame(&write) else {
        panic!()
    };
    let a = r.device_access().unwrap();
    let got: Vec<_> = a
        .items()
        .map(|i| (i.device.name(), i.points, i.value.to_vec()))
        .collect();
    assert_eq!(
        got,
        vec![("D", 2, vec![1, 0, 2, 0]), ("M", 1, vec![0xFF, 0])]
    );
    assert_eq!(r.class(), OtClass::Write);
    assert!(r.flags.is_empty());
}

#[test]
fn remote_password_unlock_keeps_only_the_length() {
    let bytes = [
        0x50, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, // route
        0x0C, 0x00, // length 12
        0x10, 0x00, // timer
        0x30, 0x16, // 0x1630 remote password unlock
        0x00, 0x00, // subcommand
        0x04, 0x00, // password length 4
        b'A', b'B', b'C', b'D', // the password, in clear
    ];
    let Ok(Frame::Request(r)) = parse_frame(&bytes) else {
        panic!()
    };
    assert_eq!(
        (r.command_name(), r.class()),
        ("remote_password_unlock", OtClass::Auth)
    );
    assert_eq!(r.detail, RequestDetail::Password { len: 4 });
    assert!(r.data.is_empty(), "password bytes must not be exposed");
    assert!(r.flags.contains(Flags::CLEARTEXT_PASSWORD));
    assert!(!r.flags.contains(Flags::BAD_PASSWORD_LENGTH));
    let dbg = format!("{r:?}");
    assert!(
        !dbg.contains("65, 66, 67, 68"),
        "debug output leaks the password: {dbg}"
    );

    // ASCII lock with an iQ-R style 8-character password.
    // "5000" route "0018" timer "1631" "0000" | length "0008" | password
    let mut frame = b"500000FF03FF000018001016310000".to_vec();
    frame.extend_from_slice(b"0008secret12");
    let Ok(Frame::Request(r)) = parse_frame(&frame) else {
        panic!()
    };
    assert_eq!(r.command_name(), "remote_password_lock");
    assert_eq!(r.detail, RequestDetail::Password { len: 8 });
    assert!(r.data.is_empty());
    assert!(r.flags.contains(Flags::CLEARTEXT_PASSWORD));
}

#[test]
fn read_cpu_model_response_gives_model_and_code() {
    let resp = [
        0xD0, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, // 3E response, route
        0x14, 0x00, // length 20
        0x00, 0x00, // end code 0
        b'Q', b'0', b'3', b'U', b'D', b'E', b'C', b'P', b'U', b' ', b' ', b' ', b' ', b' ', b' ',
        b' ', // model
        0x68, 0x02, // model code 0x0268
    ];
    let Ok(Frame::Response(r)) = parse_frame(&resp) else {
        panic!()
    };
    let m = parse_cpu_model(&r).unwrap();
    assert_eq!((m.name, m.code), ("Q03UDECPU", 0x0268));

    let ascii = b"D00000FF03FF000018" as &[u8];
    let mut frame = ascii.to_vec();
    frame.extend_from_slice(b"0000"); // end code
    frame.extend_from_slice(format!("{:<16}", "R04CPU").as_bytes()); // model, space padded
    frame.extend_from_slice(b"4800"); // model code
    let Ok(Frame::Response(r)) = parse_frame(&frame) else {
        panic!()
    };
    let m = parse_cpu_model(&r).unwrap();
    assert_eq!((m.name, m.code), ("R04CPU", 0x4800));
}

#[test]
fn error_response_carries_failed_command() {
    let resp = [
        0xD0, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, // route
        0x0B, 0x00, // length 11
        0x59, 0xC0, // end code 0xC059: command not supported
        0x00, 0xFF, 0xFF, 0x03, 0x00, // responding station
        0x01, 0x01, 0x00, 0x00, // failed command 0x0101, subcommand 0
    ];
    let Ok(Frame::Response(r)) = parse_frame(&resp) else {
        panic!()
    };
    assert_eq!(r.end_code_name(), "command_not_supported");
    let e = r.error_info.unwrap();
    assert_eq!(
        (e.network, e.station, e.module_io, e.command, e.subcommand),
        (0, 0xFF, 0x03FF, 0x0101, 0)
    );
    assert!(parse_cpu_model(&r).is_none());

    // Remote-password lockout without the information block.
    let resp = [
        0xD0, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0x02, 0x00, 0x12, 0xC8,
    ];
    let Ok(Frame::Response(r)) = parse_frame(&resp) else {
        panic!()
    };
    assert!(r.is_remote_password_error());
    assert!(r.flags.contains(Flags::ERROR_INFO_MISSING));
}

#[test]
fn node_search_and_set_ip_address() {
    let search = [
        0x54, 0x00, 0x01, 0x00, 0x00, 0x00, // 4E request, serial 1
        0x00, 0xFF, 0xFF, 0x03, 0x00, // route
        0x11, 0x00, // length 17
        0x00, 0x00, 0x30, 0x0E, 0x00, 0x00, // timer, 0x0E30 node search
        0x66, 0x55, 0x44, 0x33, 0x22, 0x11, // master MAC 11:22:33:44:55:66 (reversed)
        0x04, // IPv4
        0x0A, 0x00, 0xA8, 0xC0, // master 192.168.0.10
    ];
    let Ok(Frame::Request(r)) = parse_frame(&search) else {
        panic!()
    };
    assert_eq!(
        (r.command_name(), r.class()),
        ("node_search", OtClass::Recon)
    );
    assert_eq!(
        r.detail,
        RequestDetail::NodeSearch {
            master_mac: [0x11, 0x22, 0x33, 0x44, 0x55, 0x66],
            master_ip: [192, 168, 0, 10]
        }
    );

    let set_ip = [
        0x54, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, // 4E request, route
        0x2D, 0x00, // length 45
        0x00, 0x00, 0x31, 0x0E, 0x00, 0x00, // timer, 0x0E31 set IP address
        0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x04, 0x0A, 0x00, 0xA8, 0xC0, // master MAC, IP
        0xF6, 0xE5, 0xD4, 0xC3, 0xB2, 0xA1, // slave MAC A1:B2:C3:D4:E5:F6
        0x04, 0x63, 0x00, 0xA8, 0xC0, // new IP 192.168.0.99
        0x00, 0xFF, 0xFF, 0xFF, // netmask 255.255.255.0
        0xFF, 0xFF, 0xFF, 0xFF, // default gateway (unused)
        0x00, // no hostname
        0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // target IP, port
        0x01, // UDP
    ];
    let Ok(Frame::Request(r)) = parse_frame(&set_ip) else {
        panic!()
    };
    assert_eq!(
        (r.command_name(), r.class()),
        ("set_ip_address", OtClass::Control)
    );
    assert_eq!(
        r.detail,
        RequestDetail::SetIp {
            master_ip: [192, 168, 0, 10],
            slave_mac: [0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6],
            new_ip: [192, 168, 0, 99],
            netmask: [255, 255, 255, 0],
        }
    );
}

/// Builds a binary 3E request around `cmd`, `sub` and `data`.
fn bin3e(cmd: u16, sub: u16, data: &[u8]) -> Vec<u8> {
    let len = (6 + data.len()) as u16;
    let mut v = vec![0x50, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00];
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(&[0x10, 0x00]);
    v.extend_from_slice(&cmd.to_le_bytes());
    v.extend_from_slice(&sub.to_le_bytes());
    v.extend_from_slice(data);
    v
}

/// Builds an ASCII 3E request from hex text fields.
fn asc3e(cmd_sub_data: &str) -> Vec<u8> {
    let len = 4 + cmd_sub_data.len();
    format!("500000FF03FF00{len:04X}0010{cmd_sub_data}").into_bytes()
}

struct Case {
    scenario: &'static str,
    frame: Vec<u8>,
    command: u16,
    name: &'static str,
    class: OtClass,
    flags: &'static [&'static str],
}

#[test]
fn command_table_with_garbage_and_expected_flags() {
    #[rustfmt::skip]
    let cases = vec![
        Case { scenario: "read cpu model", frame: bin3e(0x0101, 0, &[]), command: 0x0101, name: "read_cpu_model", class: OtClass::Recon, flags: &[] },
        Case { scenario: "remote stop", frame: bin3e(0x1002, 0, &[1, 0]), command: 0x1002, name: "remote_stop", class: OtClass::Control, flags: &[] },
        Case { scenario: "remote pause forced", frame: bin3e(0x1003, 0, &[3, 0]), command: 0x1003, name: "remote_pause", class: OtClass::Control, flags: &[] },
        Case { scenario: "latch clear", frame: bin3e(0x1005, 0, &[1, 0]), command: 0x1005, name: "remote_latch_clear", class: OtClass::Control, flags: &[] },
        Case { scenario: "remote reset", frame: bin3e(0x1006, 0, &[1, 0]), command: 0x1006, name: "remote_reset", class: OtClass::Control, flags: &[] },
        Case { scenario: "clear error", frame: bin3e(0x1617, 0, &[]), command: 0x1617, name: "clear_error", class: OtClass::Diagnostic, flags: &[] },
        Case { scenario: "loopback ABCDE", frame: bin3e(0x0619, 0, b"\x05\x00ABCDE"), command: 0x0619, name: "loopback_test", class: OtClass::Diagnostic, flags: &[] },
        Case { scenario: "monitor registration", frame: bin3e(0x0801, 0, &[1, 0, 0, 0, 0, 0xA8]), command: 0x0801, name: "monitor_register", class: OtClass::Read, flags: &[] },
        Case { scenario: "monitor", frame: bin3e(0x0802, 0, &[]), command: 0x0802, name: "monitor", class: OtClass::Read, flags: &[] },
        Case { scenario: "file open", frame: bin3e(0x1827, 0, &[0; 8]), command: 0x1827, name: "file_open", class: OtClass::File, flags: &[] },
        Case { scenario: "file write", frame: bin3e(0x1829, 0, &[0; 8]), command: 0x1829, name: "file_write", class: OtClass::File, flags: &[] },
        Case { scenario: "other file command", frame: bin3e(0x18F0, 0, &[]), command: 0x18F0, name: "file_command", class: OtClass::File, flags: &[] },
        Case { scenario: "cciefb cyclic", frame: bin3e(0x0E70, 0, &[]), command: 0x0E70, name: "cciefb_cyclic", class: OtClass::Cyclic, flags: &[] },
        Case { scenario: "unknown command is data", frame: bin3e(0x7E7E, 0, &[9, 9]), command: 0x7E7E, name: "unknown", class: OtClass::Other, flags: &[] },
        Case { scenario: "ascii batch write words", frame: asc3e("14010000D*0001000002ABCD0001"), command: 0x1401, name: "batch_write", class: OtClass::Write, flags: &[] },
        Case { scenario: "ascii hex-numbered device", frame: asc3e("04010001X*00001F0010"), command: 0x0401, name: "batch_read", class: OtClass::Read, flags: &[] },
        // Garbage.
        Case { scenario: "bad subcommand", frame: bin3e(0x1401, 0x0009, &[0, 0, 0, 0xA8, 1, 0, 0, 0]), command: 0x1401, name: "batch_write", class: OtClass::Write, flags: &["bad_subcommand"] },
        Case { scenario: "extension subcommand is not walked but valid", frame: bin3e(0x0401, 0x0080, &[0; 11]), command: 0x0401, name: "batch_read", class: OtClass::Read, flags: &[] },
        Case { scenario: "device list cut short", frame: bin3e(0x0403, 0, &[2, 0, 0, 0, 0, 0xA8]), command: 0x0403, name: "random_read", class: OtClass::Read, flags: &["data_truncated"] },
        Case { scenario: "batch read trailing", frame: bin3e(0x0401, 0, &[0, 0, 0, 0xA8, 1, 0, 0xEE]), command: 0x0401, name: "batch_read", class: OtClass::Read, flags: &["trailing_data"] },
        Case { scenario: "unknown device code, zero points", frame: bin3e(0x0401, 0, &[0, 0, 0, 0x77, 0, 0]), command: 0x0401, name: "batch_read", class: OtClass::Read, flags: &["unknown_device", "zero_points"] },
        Case { scenario: "write values short", frame: bin3e(0x1401, 0, &[0, 0, 0, 0xA8, 2, 0, 1, 0]), command: 0x1401, name: "batch_write", class: OtClass::Write, flags: &["write_values_mismatch"] },
        Case { scenario: "random read in bit units", frame: bin3e(0x0403, 1, &[1, 0, 0, 0, 0, 0x90]), command: 0x0403, name: "random_read", class: OtClass::Read, flags: &["bit_units_not_allowed"] },
        Case { scenario: "remote run bad mode", frame: bin3e(0x1001, 0, &[7, 0, 5, 0]), command: 0x1001, name: "remote_run", class: OtClass::Control, flags: &["bad_remote_mode"] },
        Case { scenario: "remote stop missing word", frame: bin3e(0x1002, 0, &[]), command: 0x1002, name: "remote_stop", class: OtClass::Control, flags: &["data_truncated"] },
        Case { scenario: "password length lies", frame: bin3e(0x1630, 0, b"\x06\x00abc"), command: 0x1630, name: "remote_password_unlock", class: OtClass::Auth, flags: &["cleartext_password", "bad_password_length"] },
        Case { scenario: "loopback shorter than declared", frame: bin3e(0x0619, 0, b"\x09\x00AB"), command: 0x0619, name: "loopback_test", class: OtClass::Diagnostic, flags: &["data_truncated"] },
        Case { scenario: "ascii non-hex device number", frame: asc3e("04010000D*00G1000001"), command: 0x0401, name: "batch_read", class: OtClass::Read, flags: &["bad_ascii"] },
        Case { scenario: "node search with IPv6 size", frame: bin3e(0x0E30, 0, &[1, 2, 3, 4, 5, 6, 16, 1, 2, 3, 4]), command: 0x0E30, name: "node_search", class: OtClass::Recon, flags: &["bad_address_size"] },
    ];
    for c in cases {
        let Ok(Frame::Request(r)) = parse_frame(&c.frame) else {
            panic!("{}: not a request", c.scenario)
        };
        assert_eq!(r.command, c.command, "{}", c.scenario);
        assert_eq!(r.command_name(), c.name, "{}", c.scenario);
        assert_eq!(r.class(), c.class, "{}", c.scenario);
        assert_eq!(
            r.flags.names().collect::<Vec<_>>(),
            c.flags,
            "{}",
            c.scenario
        );
    }
}

#[test]
fn broken_framing_is_an_error() {
    // Unknown subheader.
    assert_eq!(
        parse_frame(&[0x51, 0x00, 0, 0]),
        Err(Error::Invalid("slmp_bad_subheader"))
    );
    // Second subheader byte not zero.
    assert_eq!(
        parse_frame(&[0x50, 0x01]),
        Err(Error::Invalid("slmp_bad_subheader"))
    );
    // Request length below timer+command+subcommand.
    let short = [
        0x50, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0x04, 0x00, 0x10, 0x00, 0x01, 0x04,
    ];
    assert_eq!(
        parse_frame(&short),
        Err(Error::Invalid("slmp_length_too_short"))
    );
    // Length beyond MAX_FRAME_LEN.
    let huge = [0x50, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0xFF, 0xFF];
    assert_eq!(
        parse_frame(&huge),
        Err(Error::Invalid("slmp_frame_too_long"))
    );
    // Declared frame longer than the datagram.
    assert_eq!(
        parse_frame(&BIN3E_READ_D100[..15]),
        Err(Error::Incomplete { needed: 6 })
    );
    // ASCII header with a non-hex length.
    assert_eq!(
        parse_frame(b"500000FF03FF00001X0010"),
        Err(Error::Invalid("slmp_bad_ascii_header"))
    );
}

#[test]
fn datagram_violations_are_flags() {
    // Trailing bytes after the declared frame.
    let mut v = BIN3E_READ_D100.to_vec();
    v.extend_from_slice(&[0xAA, 0xBB]);
    let f = parse_frame(&v).unwrap();
    assert_eq!(
        f.flags().names().collect::<Vec<_>>(),
        vec!["trailing_bytes"]
    );
    // 4E reserved word not zero.
    let mut e4 = vec![
        0x54, 0x00, 0x01, 0x00, 0x99, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0x06, 0x00,
    ];
    e4.extend_from_slice(&[0x10, 0x00, 0x01, 0x01, 0x00, 0x00]);
    let f = parse_frame(&e4).unwrap();
    assert!(f.flags().contains(Flags::RESERVED_NONZERO));
    assert_eq!(probe(&e4), Probe::NoMatch);
}

#[test]
fn probe_decides_on_subheader_and_length() {
    assert_eq!(probe(&BIN3E_READ_D100), Probe::Match);
    assert_eq!(probe(ASC3E_READ_D100), Probe::Match);
    assert_eq!(probe(&BIN3E_READ_D100[..5]), Probe::NeedMore);
    assert_eq!(probe(b"50"), Probe::NeedMore);
    assert_eq!(probe(b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
    assert_eq!(probe(&[0x57, 0x01, 0x00, 0x00]), Probe::NoMatch); // MELSOFT, not SLMP
}

#[test]
fn probe_checks_length_consistency() {
    // A datagram longer than its length field, followed by garbage.
    let mut v = BIN3E_READ_D100.to_vec();
    v.extend_from_slice(&[0x99, 0x98]);
    assert_eq!(probe(&v), Probe::NoMatch);
    // Followed by the start of another frame (pipelining): still a match.
    let mut v = BIN3E_READ_D100.to_vec();
    v.extend_from_slice(&BIN3E_READ_D100[..3]);
    assert_eq!(probe(&v), Probe::Match);
    let mut v = ASC3E_READ_D100.to_vec();
    v.extend_from_slice(b"54");
    assert_eq!(probe(&v), Probe::Match);
}

fn collect(input: &[u8], dir: Direction) -> (Vec<u16>, spanwatch_parsers::stream::DriveOutcome) {
    let mut cmds = Vec::new();
    let out = drive(&mut SlmpStream, input, dir, |f| {
        cmds.push(match f {
            Frame::Request(r) => r.command,
            Frame::Response(r) => r.end_code,
        })
    });
    (cmds, out)
}

#[test]
fn stream_one_frame_split_across_three_segments() {
    let frame = &BIN3E_READ_D100;
    let mut p = SlmpStream;
    // Segment 1: five bytes, the header is cut.
    assert_eq!(
        p.parse(&frame[..5], Direction::ToServer),
        Parsed::Incomplete { needed: 4 }
    );
    // Segments 1+2: header complete, data cut.
    assert_eq!(
        p.parse(&frame[..12], Direction::ToServer),
        Parsed::Incomplete { needed: 9 }
    );
    // Segments 1+2+3: the whole frame.
    match p.parse(&frame[..], Direction::ToServer) {
        Parsed::Message {
            consumed,
            message: Frame::Request(r),
        } => {
            assert_eq!(consumed, 21);
            assert_eq!(r.device_access().unwrap().points, 3);
        }
        other => panic!("{other:?}"),
    }
    // ASCII variant, cut inside the hex length.
    let mut p = SlmpStream;
    assert_eq!(
        p.parse(&ASC3E_READ_D100[..16], Direction::ToServer),
        Parsed::Incomplete { needed: 2 }
    );
    assert_eq!(
        p.parse(&ASC3E_READ_D100[..30], Direction::ToServer),
        Parsed::Incomplete { needed: 12 }
    );
}

#[test]
fn stream_three_pipelined_4e_frames_in_one_buffer() {
    let mut buf = Vec::new();
    for serial in [1u16, 2, 3] {
        buf.extend_from_slice(&[0x54, 0x00]);
        buf.extend_from_slice(&serial.to_le_bytes());
        buf.extend_from_slice(&[
            0x00, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0x0C, 0x00, 0x10, 0x00,
        ]);
        buf.extend_from_slice(&[0x01, 0x04, 0x00, 0x00, 0x64, 0x00, 0x00, 0xA8, 0x01, 0x00]);
    }
    let mut serials = Vec::new();
    let out = drive(&mut SlmpStream, &buf, Direction::ToServer, |f| {
        serials.push(f.header().serial)
    });
    assert_eq!(serials, vec![Some(1), Some(2), Some(3)]);
    assert_eq!(
        (out.consumed, out.messages, out.invalid, out.needed),
        (75, 3, 0, None)
    );
}

#[test]
fn stream_gap_then_resync_on_next_frame() {
    // The tail of a lost frame (values of a batch write), then two frames.
    let mut buf = vec![0x12, 0x34, 0x56, 0x78, 0x9A];
    buf.extend_from_slice(&BIN3E_READ_D100);
    buf.extend_from_slice(ASC3E_READ_D100);
    let (cmds, out) = collect(&buf, Direction::ToServer);
    assert_eq!(cmds, vec![0x0401, 0x0401]);
    assert_eq!(out.invalid, 1);
    assert_eq!(out.skipped, 5);
    assert_eq!(out.last_invalid, Some("slmp_bad_subheader"));
    assert_eq!(out.consumed, buf.len());
    assert_eq!(slmp::resync(&buf), Some(5));
}

#[test]
fn stream_direction_mismatch_is_flagged() {
    let (_, out) = collect(&BIN3E_READ_D100_RESP, Direction::ToClient);
    assert_eq!(out.messages, 1);
    let mut flagged = false;
    drive(
        &mut SlmpStream,
        &BIN3E_READ_D100_RESP,
        Direction::ToServer,
        |f| flagged = f.flags().contains(Flags::UNEXPECTED_DIRECTION),
    );
    assert!(flagged);
}
