//! CC-Link IE Field Basic tests over the first request/response pair of
//! nttcom_cclink_ief_basic_only.pcap (frames 1 and 2), the end codes, garbage
//! with its flags, and the dispatch to SLMP for node search / set IP.

use spanwatch_parsers::cclink::{
    self, parse_cyclic_request, parse_cyclic_response, parse_datagram, Datagram, Error, Flags,
};
use spanwatch_parsers::ot::OtClass;
use spanwatch_parsers::slmp;

/// Frame 1: the master's cyclic request, 143 bytes.
#[rustfmt::skip]
fn request_frame1() -> Vec<u8> {
    let mut v = vec![
        0x50, 0x00,             // subheader: request
        0x00, 0xFF,             // network 0, station 0xFF
        0xFF, 0x03, 0x00,       // I/O 0x03FF, multidrop 0
        0x86, 0x00,             // length 134
        0x00, 0x00,             // reserved (timer)
        0x70, 0x0E,             // command 0x0E70 cyclic
        0x00, 0x00,             // subcommand 0
        0x01, 0x00,             // protocol version 1
        0x00, 0x00,             // reserved
        0x24, 0x00,             // cyclic info offset 36
    ];
    v.extend_from_slice(&[0; 14]); // reserved
    v.extend_from_slice(&[
        0x01, 0x00,             // master local unit info: running
        0x00, 0x00,             // reserved
        0x2B, 0xAF, 0x8D, 0x68, 0x81, 0x01, 0x00, 0x00, // clock 0x0181_688D_AF2B ms
        0x80, 0x86, 0x10, 0xAC, // master id 172.16.134.128
        0x01, 0x00,             // group 1, reserved
        0xD8, 0x06,             // frame sequence 0x06D8
        0xF4, 0x01,             // timeout 500 ms
        0x03, 0x00,             // parallel-off timeout count 3
        0x0B, 0x00,             // parameter no 11
        0x01, 0x00,             // 1 occupied station
        0x00, 0x00,             // cyclic transmission state
        0x00, 0x00,             // reserved
        0x81, 0x86, 0x10, 0xAC, // slave id 172.16.134.129
    ]);
    v.extend_from_slice(&[0; 64 + 8]); // RWw, RY
    v
}

/// Frame 2: the slave's cyclic response, 131 bytes.
#[rustfmt::skip]
fn response_frame2() -> Vec<u8> {
    let mut v = vec![
        0xD0, 0x00,             // subheader: response
        0x00, 0xFF, 0xFF, 0x03, 0x00, // route
        0x7A, 0x00,             // length 122
        0x00, 0x00,             // SLMP end code word (reserved)
        0x01, 0x00,             // protocol version 1
        0x00, 0x00,             // end code 0
        0x28, 0x00,             // cyclic info offset 40
    ];
    v.extend_from_slice(&[0; 14]); // reserved
    v.extend_from_slice(&[
        0x00, 0x00, 0x00, 0x00, // vendor code, reserved
        0x00, 0x00, 0x00, 0x00, // model code
        0x00, 0x00, 0x00, 0x00, // equipment version, reserved
        0x01, 0x00,             // slave local unit info: running
        0x00, 0x00,             // slave error code
        0x00, 0x00, 0x00, 0x00, // local management info
        0x81, 0x86, 0x10, 0xAC, // slave id 172.16.134.129
        0x01, 0x00,             // group 1, reserved
        0xD8, 0x06,             // frame sequence 0x06D8
    ]);
    v.extend_from_slice(&[0; 64 + 8]); // RWr, RX
    v
}

#[test]
fn capture_request_frame1_fields() {
    let b = request_frame1();
    assert_eq!(b.len(), 143);
    let Ok(Datagram::CyclicRequest(r)) = parse_datagram(&b) else {
        panic!()
    };
    assert_eq!(
        (
            r.timer,
            r.subcommand,
            r.protocol_version,
            r.cyclic_info_offset
        ),
        (0, 0, 1, 36)
    );
    assert_eq!((r.master_unit_info, r.master_state()), (1, "running"));
    assert_eq!(r.clock_ms, 0x0181_688D_AF2B);
    assert_eq!(r.master_ip, [172, 16, 134, 128]);
    assert_eq!(
        (r.group, r.frame_sequence, r.timeout_ms, r.timeout_count),
        (1, 0x06D8, 500, 3)
    );
    assert_eq!(
        (r.parameter_no, r.occupied_stations, r.cyclic_state),
        (11, 1, 0)
    );
    assert_eq!(r.slave_ips().collect::<Vec<_>>(), vec![[172, 16, 134, 129]]);
    assert_eq!((r.rww.len(), r.ry.len()), (64, 8));
    assert!(r.flags.is_empty());
    assert_eq!(cclink::CLASS, OtClass::Cyclic);
    assert_eq!(slmp::command_class(cclink::CMD_CYCLIC), OtClass::Cyclic);
}

#[test]
fn capture_response_frame2_fields() {
    let b = response_frame2();
    assert_eq!(b.len(), 131);
    let Ok(Datagram::CyclicResponse(r)) = parse_datagram(&b) else {
        panic!()
    };
    assert_eq!(
        (
            r.slmp_end_code,
            r.protocol_version,
            r.end_code,
            r.cyclic_info_offset
        ),
        (0, 1, 0, 40)
    );
    assert_eq!((r.end_code_name(), r.slave_state()), ("ok", "running"));
    assert_eq!(
        (r.vendor_code, r.model_code, r.equipment_version),
        (0, 0, 0)
    );
    assert_eq!(r.slave_ip, [172, 16, 134, 129]);
    assert_eq!(
        (r.group, r.frame_sequence, r.occupied_stations),
        (1, 0x06D8, 1)
    );
    assert_eq!((r.rwr.len(), r.rx.len()), (64, 8));
    assert!(!r.master_duplication());
    assert!(r.flags.is_empty());
}

#[test]
fn second_master_end_code_is_named() {
    let mut b = response_frame2();
    b[13..15].copy_from_slice(&0xCFE0u16.to_le_bytes());
    let r = parse_cyclic_response(&b).unwrap();
    assert!(r.master_duplication());
    assert_eq!(r.end_code_name(), "master_duplication");
    for (code, name) in [
        (0xCFE1, "wrong_number_of_occupied_stations"),
        (0xCFF0, "slave_error"),
        (0xCFFF, "slave_disconnect_request"),
    ] {
        assert_eq!(cclink::end_code_name(code), name);
    }
}

#[test]
fn multi_station_slave_and_two_slaves() {
    // Three occupied stations: slave .129 occupies two (second id 0xFFFFFFFF), .130 one.
    let mut b = request_frame1();
    b[61..63].copy_from_slice(&3u16.to_le_bytes());
    b.truncate(67);
    b.extend_from_slice(&[
        0x81, 0x86, 0x10, 0xAC, 0xFF, 0xFF, 0xFF, 0xFF, 0x82, 0x86, 0x10, 0xAC,
    ]);
    b.extend_from_slice(&[0; 3 * 72]);
    let len = (b.len() - 9) as u16;
    b[7..9].copy_from_slice(&len.to_le_bytes());
    let r = parse_cyclic_request(&b).unwrap();
    assert_eq!(
        r.slave_ips().collect::<Vec<_>>(),
        vec![[172, 16, 134, 129], [172, 16, 134, 130]]
    );
    assert_eq!((r.rww.len(), r.ry.len()), (192, 24));
    assert!(r.flags.is_empty());
}

#[test]
fn garbage_with_expected_flags() {
    let names = |f: Flags| f.names().collect::<Vec<_>>();
    // Cut inside RWw.
    let b = request_frame1();
    let r = parse_cyclic_request(&b[..100]).unwrap();
    assert_eq!(
        names(r.flags),
        vec!["cyclic_data_truncated", "length_mismatch"]
    );
    assert_eq!((r.slave_ids.len(), r.rww.len(), r.ry.len()), (4, 29, 0));
    // Zero occupied stations, version 3, offset 0.
    let mut b = request_frame1();
    b[61] = 0;
    b[15] = 3;
    b[19] = 0;
    let r = parse_cyclic_request(&b).unwrap();
    assert_eq!(
        names(r.flags),
        vec![
            "unsupported_version",
            "unexpected_offset",
            "occupied_out_of_range",
            "trailing_bytes"
        ]
    );
    // Huge occupied count is bounded.
    let mut b = request_frame1();
    b[61..63].copy_from_slice(&0xFFFFu16.to_le_bytes());
    let r = parse_cyclic_request(&b).unwrap();
    assert!(r.flags.contains(Flags::OCCUPIED_OUT_OF_RANGE));
    assert!(r.flags.contains(Flags::CYCLIC_DATA_TRUNCATED));
    // Route fields changed.
    let mut b = request_frame1();
    b[3] = 0x01;
    assert!(parse_cyclic_request(&b)
        .unwrap()
        .flags
        .contains(Flags::RESERVED_NONZERO));
    // Response with half a station of data.
    let mut b = response_frame2();
    b.truncate(59 + 36);
    let r = parse_cyclic_response(&b).unwrap();
    assert_eq!(
        names(r.flags),
        vec!["occupied_out_of_range", "trailing_bytes", "length_mismatch"]
    );
    // Framing errors.
    assert_eq!(
        parse_cyclic_request(&request_frame1()[..40]),
        Err(Error::Truncated { needed: 27 })
    );
    assert_eq!(
        parse_cyclic_request(&response_frame2()),
        Err(Error::Invalid("cciefb_not_request"))
    );
    assert_eq!(
        parse_cyclic_response(&request_frame1()),
        Err(Error::Invalid("cciefb_not_response"))
    );
    assert_eq!(
        parse_datagram(b"\x00\x01\x02"),
        Err(Error::Invalid("slmp_bad_subheader"))
    );
}

#[test]
fn node_search_and_set_ip_go_to_slmp() {
    // 4E node search on 61451 (c-link cl_slmp_node_search_request_t).
    let search = [
        0x54, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x03,
        0x00, // 4E, serial 7, route
        0x11, 0x00, 0x00, 0x00, 0x30, 0x0E, 0x00, 0x00, // length 17, timer, 0x0E30
        0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x04, 0x80, 0x86, 0x10,
        0xAC, // MAC, 172.16.134.128
    ];
    assert_eq!(parse_datagram(&search).unwrap().class(), OtClass::Recon);
    assert_eq!(
        parse_datagram(&request_frame1()).unwrap().class(),
        OtClass::Cyclic
    );
    let Ok(Datagram::Slmp(slmp::Frame::Request(r))) = parse_datagram(&search) else {
        panic!()
    };
    assert_eq!(
        (r.header.serial, r.command_name()),
        (Some(7), "node_search")
    );
    assert_eq!(
        r.detail,
        slmp::RequestDetail::NodeSearch {
            master_mac: [0x11, 0x22, 0x33, 0x44, 0x55, 0x66],
            master_ip: [172, 16, 134, 128]
        }
    );
    // An SLMP error answer on the same port (end code + error information).
    let err = [
        0xD4, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0x0B,
        0x00, // 4E response
        0x59, 0xC0, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0x31, 0x0E, 0x00, 0x00, // 0xC059 for 0x0E31
    ];
    let Ok(Datagram::Slmp(slmp::Frame::Response(r))) = parse_datagram(&err) else {
        panic!()
    };
    assert_eq!(r.error_info.map(|e| e.command), Some(0x0E31));
}
