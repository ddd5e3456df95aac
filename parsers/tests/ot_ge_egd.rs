//! GE EGD: header fields from nDPI's capture bytes, flags for each oddity,
//! probe, the command port, and the capture itself.

mod ot_ge_pcap;

use ot_ge_pcap::{pcaps_dir, read_packets, udp_payloads};
use spanwatch_parsers::egd::{self, EgdError, Flags};
use spanwatch_parsers::stream::Probe;

/// ndpi_egd.pcapng, first datagram (UDP 18246 -> 18246).
const FIRST: [u8; 59] = [
    0x0D, // type 13: data
    0x01, // version 1
    0xD4, 0xF0, // request id 61652 LE
    192, 168, 8, 77, // producer id
    0x7B, 0x00, 0x00, 0x00, // exchange id 0x7B LE
    0xBE, 0x8A, 0x7E, 0x38, // timestamp seconds 0x387E8ABE (2000-01-14 02:32:30 UTC)
    0x00, 0x81, 0x1B, 0x2C, // timestamp nanoseconds 740_000_000
    0x00, 0x00, 0x00, 0x00, // status 0: no new status
    0x00, 0x00, 0x00, 0x00, // configuration signature 0
    0x00, 0x00, 0x00, 0x00, // reserved
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, // 27 data bytes
];

#[test]
fn ndpi_first_production_fields() {
    let p = egd::parse_pdu(&FIRST).expect("whole header");
    assert_eq!((p.pdu_type, p.version), (13, 1));
    assert_eq!(p.request_id, 61652);
    assert_eq!(p.producer_id, [192, 168, 8, 77]);
    assert!(p.producer_matches([192, 168, 8, 77]));
    assert!(!p.producer_matches([192, 168, 8, 169]));
    assert_eq!(p.exchange_id, 0x7B);
    assert_eq!(
        (p.timestamp_sec, p.timestamp_nsec),
        (947_817_150, 740_000_000)
    );
    assert!(p.has_timestamp());
    assert_eq!((p.status, p.status_name()), (0, "no_new_status"));
    assert_eq!((p.config_signature, p.reserved), (0, 0));
    assert_eq!(p.data, &[0u8; 27]);
    assert!(p.flags.is_empty());
    assert_eq!(egd::probe(&FIRST), Probe::Match);
}

#[test]
fn oddities_are_flags_not_errors() {
    type Edit = fn(&mut Vec<u8>);
    let cases: [(&str, Edit, Flags); 7] = [
        ("type_14", |b| b[0] = 14, Flags::UNKNOWN_PDU_TYPE),
        ("version_2", |b| b[1] = 2, Flags::UNKNOWN_VERSION),
        ("status_5_unassigned", |b| b[20] = 5, Flags::UNKNOWN_STATUS),
        ("status_31", |b| b[20] = 31, Flags::UNKNOWN_STATUS),
        ("reserved_set", |b| b[31] = 1, Flags::RESERVED_NONZERO),
        (
            "nanoseconds_1e9",
            |b| b[16..20].copy_from_slice(&1_000_000_000u32.to_le_bytes()),
            Flags::INVALID_TIMESTAMP,
        ),
        (
            "data_1401_bytes",
            |b| b.resize(32 + 1401, 0),
            Flags::DATA_EXCEEDS_MAX,
        ),
    ];
    for (name, edit, flags) in cases {
        let mut b = FIRST.to_vec();
        edit(&mut b);
        assert_eq!(egd::parse_pdu(&b).expect(name).flags, flags, "{name}");
    }
    // Known statuses are not flagged.
    let mut b = FIRST.to_vec();
    b[20] = 30;
    let p = egd::parse_pdu(&b).expect("header");
    assert_eq!(
        (p.flags, p.status_name()),
        (Flags::empty(), "exchange_deleted")
    );
}

#[test]
fn probe_follows_the_ndpi_heuristic() {
    let mut b = FIRST.to_vec();
    b[20] = 31; // status out of range
    assert_eq!(egd::probe(&b), Probe::NoMatch);
    let mut b = FIRST.to_vec();
    b[28] = 1; // reserved non-zero
    assert_eq!(egd::probe(&b), Probe::NoMatch);
    let mut b = FIRST.to_vec();
    b[1] = 0; // version 0
    assert_eq!(egd::probe(&b), Probe::NoMatch);
    // A whole header and nothing else is still EGD (an empty exchange).
    assert_eq!(egd::probe(&FIRST[..32]), Probe::Match);
    // A datagram never grows: short is NoMatch.
    assert_eq!(egd::probe(&FIRST[..31]), Probe::NoMatch);
    assert_eq!(
        egd::parse_pdu(&FIRST[..31]),
        Err(EgdError::Truncated {
            needed: 32,
            actual: 31
        })
    );
    // DNS on a wrong port, say.
    assert_eq!(
        egd::probe(&[0x12, 0x34, 0x01, 0x00, 0x00, 0x01]),
        Probe::NoMatch
    );
}

#[test]
fn command_port_datagrams_are_kept_raw() {
    let c = egd::parse_command_pdu(&[0x01, 0x02, 0x03]);
    assert_eq!(c.bytes, &[0x01, 0x02, 0x03]);
    assert_eq!(egd::COMMAND_PORT, 7937);
}

#[test]
fn ndpi_capture_five_productions() {
    let Some(dir) = pcaps_dir("ndpi_capture_five_productions") else {
        return;
    };
    let packets = read_packets(&dir.join("ge-egd/ndpi_egd.pcapng"));
    let dgrams = udp_payloads(&packets, egd::PORT);
    assert_eq!(dgrams.len(), 5);
    let mut ids = Vec::new();
    let mut secs = Vec::new();
    for d in dgrams {
        assert_eq!((d.sport, d.dport), (18246, 18246));
        assert_eq!(d.dst, vec![192, 168, 8, 169]);
        assert_eq!(egd::probe(&d.payload), Probe::Match);
        let p = egd::parse_pdu(&d.payload).expect("EGD");
        assert!(p.flags.is_empty());
        assert_eq!(p.exchange_id, 0x7B);
        assert_eq!(p.producer_id, [192, 168, 8, 77]);
        assert!(p.producer_matches(<[u8; 4]>::try_from(d.src.as_slice()).expect("ipv4")));
        assert_eq!((p.status, p.config_signature), (0, 0));
        assert_eq!(p.data.len(), 27);
        ids.push(p.request_id);
        secs.push(p.timestamp_sec);
    }
    assert_eq!(ids, vec![61652, 61653, 61654, 61655, 61656]);
    // One production per second.
    assert!(secs.windows(2).all(|w| w[1] == w[0] + 1), "{secs:?}");
}
