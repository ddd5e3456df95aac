//! DNS: messages commented byte by byte, every decoded RDATA type,
//! compression (and its abuse), TCP framing.

use spanwatch_parsers::dns::{
    self, parse_message, rcode_name, DnsError, DnsTcpParser, RData, Section, MAX_POINTER_JUMPS,
};
use spanwatch_parsers::stream::{drive, Direction, Parsed, Probe, StreamParser};
use std::net::{Ipv4Addr, Ipv6Addr};

#[rustfmt::skip]
const QUERY: &[u8] = &[
    0x1a, 0x2b,             // id 0x1a2b
    0x01, 0x00,             // flags: QR=0 opcode=0 RD=1
    0x00, 0x01,             // qdcount 1
    0x00, 0x00,             // ancount 0
    0x00, 0x00,             // nscount 0
    0x00, 0x01,             // arcount 1
    0x03, b'w', b'w', b'w', // "www"
    0x07, b'e', b'x', b'a', b'm', b'p', b'l', b'e', // "example"
    0x03, b'c', b'o', b'm', // "com"
    0x00,                   // root
    0x00, 0x01,             // qtype A
    0x00, 0x01,             // qclass IN
    0x00,                   // OPT owner: root
    0x00, 0x29,             // type OPT
    0x10, 0x00,             // class = UDP payload size 4096
    0x00, 0x00, 0x00, 0x00, // ttl = ext rcode/flags
    0x00, 0x00,             // rdlength 0
];

#[test]
fn query_with_edns_opt() {
    let m = parse_message(QUERY).unwrap();
    assert_eq!(m.header.id, 0x1a2b);
    assert!(!m.header.qr() && m.header.rd());
    assert_eq!((m.qd, m.an, m.ns, m.ar), (1, 0, 0, 1));
    let q = m.questions().next().unwrap();
    assert_eq!(
        (q.name.to_dotted().as_str(), q.qtype, q.qclass),
        ("www.example.com", 1, 1)
    );
    let (sec, opt) = m.records().next().unwrap();
    assert_eq!(sec, Section::Additional);
    assert_eq!((opt.rtype, opt.class), (41, 4096));
    assert!(opt.name.is_root());
    assert_eq!(dns::probe(QUERY), Probe::Match);
    assert!(!m.truncated && m.trailing_bytes == 0);
}

/// A response with compression pointers and one record of every decoded type.
fn response() -> Vec<u8> {
    #[rustfmt::skip]
    let mut m: Vec<u8> = vec![
        0x1a, 0x2b,             // id
        0x81, 0x80,             // flags: QR=1 RD=1 RA=1 rcode 0
        0x00, 0x01,             // qdcount 1
        0x00, 0x08,             // ancount 8
        0x00, 0x01,             // nscount 1
        0x00, 0x00,             // arcount 0
        // question at offset 12: www.example.com A IN
        0x03, b'w', b'w', b'w', 0x07, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0x03, b'c', b'o', b'm', 0x00,
        0x00, 0x01, 0x00, 0x01,
        // 1. www.example.com CNAME web.example.com  (owner: pointer to 12)
        0xc0, 0x0c, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, // TTL 3600
        0x00, 0x06, 0x03, b'w', b'e', b'b', 0xc0, 0x10,              // "web" + pointer to "example.com" (16)
        // 2. web.example.com A 192.0.2.7  (owner: pointer to "web..." at 45)
        0xc0, 0x2d, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c,
        0x00, 0x04, 192, 0, 2, 7,
        // 3. AAAA 2001:db8::7
        0xc0, 0x2d, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c,
        0x00, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07,
        // 4. example.com MX 10 mail.example.com
        0xc0, 0x10, 0x00, 0x0f, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c,
        0x00, 0x09, 0x00, 0x0a, 0x04, b'm', b'a', b'i', b'l', 0xc0, 0x10,
        // 5. example.com TXT "v=spf1" "-all"
        0xc0, 0x10, 0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c,
        0x00, 0x0c, 0x06, b'v', b'=', b's', b'p', b'f', b'1', 0x04, b'-', b'a', b'l', b'l',
        // 6. _sip._tcp.example.com SRV 1 5 5060 web.example.com
        0x04, b'_', b's', b'i', b'p', 0x04, b'_', b't', b'c', b'p', 0xc0, 0x10,
        0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c,
        0x00, 0x08, 0x00, 0x01, 0x00, 0x05, 0x13, 0xc4, 0xc0, 0x2d,
        // 7. 7.2.0.192.in-addr.arpa PTR web.example.com
        0x01, b'7', 0x01, b'2', 0x01, b'0', 0x03, b'1', b'9', b'2', 0x07, b'i', b'n', b'-', b'a', b'd', b'd', b'r',
        0x04, b'a', b'r', b'p', b'a', 0x00,
        0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x02, 0xc0, 0x2d,
        // 8. example.com NS ns1.example.com
        0xc0, 0x10, 0x00, 0x02, 0x00, 0x01, 0x00, 0x01, 0x51, 0x80,
        0x00, 0x06, 0x03, b'n', b's', b'1', 0xc0, 0x10,
        // authority: example.com SOA ns1.example.com hostmaster.example.com 2024010101 7200 900 1209600 300
        0xc0, 0x10, 0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c,
    ];
    let mut soa = vec![0x03, b'n', b's', b'1', 0xc0, 0x10, 0x0a];
    soa.extend(b"hostmaster");
    soa.extend([0xc0, 0x10]);
    for v in [2024010101u32, 7200, 900, 1209600, 300] {
        soa.extend(v.to_be_bytes());
    }
    m.extend((soa.len() as u16).to_be_bytes());
    m.extend(soa);
    m
}

#[test]
fn response_with_compression_and_every_decoded_type() {
    let wire = response();
    let m = parse_message(&wire).unwrap();
    assert_eq!(
        (m.qd, m.an, m.ns, m.ar, m.truncated, m.trailing_bytes),
        (1, 8, 1, 0, false, 0)
    );
    assert!(m.header.qr() && m.header.ra());
    assert_eq!(rcode_name(m.header.rcode()), Some("NOERROR"));
    let got: Vec<(String, u16, u32, String)> = m
        .answers()
        .map(|r| {
            let rd = match r.rdata {
                RData::A(a) => a.to_string(),
                RData::Aaaa(a) => a.to_string(),
                RData::Cname(n) | RData::Ns(n) | RData::Ptr(n) => n.to_dotted(),
                RData::Mx {
                    preference,
                    exchange,
                } => format!("{preference} {exchange}"),
                RData::Txt(_) => r
                    .rdata
                    .txt_strings()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<Vec<_>>()
                    .join("|"),
                RData::Srv {
                    priority,
                    weight,
                    port,
                    target,
                } => format!("{priority} {weight} {port} {target}"),
                other => format!("{other:?}"),
            };
            (r.name.to_dotted(), r.rtype, r.ttl, rd)
        })
        .collect();
    let exp = |n: &str, t: u16, ttl: u32, rd: &str| (n.to_string(), t, ttl, rd.to_string());
    assert_eq!(
        got,
        [
            exp("www.example.com", 5, 3600, "web.example.com"),
            exp("web.example.com", 1, 60, "192.0.2.7"),
            exp("web.example.com", 28, 60, "2001:db8::7"),
            exp("example.com", 15, 300, "10 mail.example.com"),
            exp("example.com", 16, 300, "v=spf1|-all"),
            exp("_sip._tcp.example.com", 33, 300, "1 5 5060 web.example.com"),
            exp("7.2.0.192.in-addr.arpa", 12, 300, "web.example.com"),
            exp("example.com", 2, 86400, "ns1.example.com"),
        ]
    );
    let soa = m.authorities().next().unwrap();
    let RData::Soa {
        mname,
        rname,
        serial,
        refresh,
        retry,
        expire,
        minimum,
    } = soa.rdata
    else {
        panic!()
    };
    assert_eq!(
        (mname.to_dotted(), rname.to_dotted()),
        ("ns1.example.com".into(), "hostmaster.example.com".into())
    );
    assert_eq!(
        (serial, refresh, retry, expire, minimum),
        (2024010101, 7200, 900, 1209600, 300)
    );
    let a: Vec<Ipv4Addr> = m
        .answers()
        .filter_map(|r| {
            if let RData::A(a) = r.rdata {
                Some(a)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(a, [Ipv4Addr::new(192, 0, 2, 7)]);
    let _ = Ipv6Addr::LOCALHOST;
}

#[test]
fn compression_pointer_loop_is_rejected() {
    #[rustfmt::skip]
    let looped: &[u8] = &[
        0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // header, 1 question
        0xc0, 0x0c,             // name at 12 points to 12: a loop
        0x00, 0x01, 0x00, 0x01,
    ];
    assert_eq!(parse_message(looped), Err(DnsError::NameLoop));
    #[rustfmt::skip]
    let two_cycle: &[u8] = &[
        0x00, 0x02, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01, b'a', 0xc0, 0x10, // "a" then pointer to 16
        0x01, b'b', 0xc0, 0x0c, // offset 16: "b" then pointer back to 12
        0x00, 0x01, 0x00, 0x01,
    ];
    assert_eq!(parse_message(two_cycle), Err(DnsError::NameLoop));
    // A chain of MAX_POINTER_JUMPS + 1 forward hops is too long as well.
    let mut chain = vec![0x00, 0x03, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    let base = chain.len();
    for i in 0..=MAX_POINTER_JUMPS {
        let next = base + 2 * (i + 1);
        chain.extend([0xc0 | (next >> 8) as u8, next as u8]);
    }
    chain.push(0);
    chain.extend([0, 1, 0, 1]);
    assert_eq!(parse_message(&chain), Err(DnsError::NameLoop));
    // Pointer outside the message.
    let outside: &[u8] = &[0, 4, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc3, 0xff, 0, 1, 0, 1];
    assert_eq!(parse_message(outside), Err(DnsError::BadLabel));
}

#[test]
fn name_longer_than_255_octets_is_rejected() {
    let mut m = vec![0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    for _ in 0..5 {
        m.push(63);
        m.extend([b'x'; 63]);
    }
    m.push(0);
    m.extend([0, 1, 0, 1]);
    assert_eq!(parse_message(&m), Err(DnsError::NameLoop));
}

#[test]
fn truncated_answer_section_keeps_what_parsed() {
    let wire = response();
    let cut = &wire[..100];
    let m = parse_message(cut).unwrap();
    assert!(m.truncated);
    assert_eq!(m.qd, 1);
    assert!(m.an < 8);
    assert_eq!(m.answers().count(), m.an);
    assert_eq!(parse_message(&wire[..11]), Err(DnsError::ShortHeader));
}

#[test]
fn tcp_two_messages_split_across_segments() {
    let mut stream = Vec::new();
    for msg in [QUERY, &response()[..]] {
        stream.extend((msg.len() as u16).to_be_bytes());
        stream.extend_from_slice(msg);
    }
    for k in 0..stream.len() {
        let mut p = DnsTcpParser;
        let mut ids = Vec::new();
        let mut buf = stream[..k].to_vec();
        let out = drive(&mut p, &buf, Direction::ToServer, |m| {
            ids.push((m.parsed.unwrap().header.id, m.raw.len()))
        });
        buf.drain(..out.consumed);
        buf.extend_from_slice(&stream[k..]);
        drive(&mut p, &buf, Direction::ToServer, |m| {
            ids.push((m.parsed.unwrap().header.id, m.raw.len()))
        });
        assert_eq!(
            ids,
            [(0x1a2b, QUERY.len()), (0x1a2b, response().len())],
            "split {k}"
        );
    }
    let mut p = DnsTcpParser;
    assert_eq!(
        p.parse(&[0x00, 0x05, 1, 2, 3, 4, 5], Direction::ToServer),
        Parsed::Invalid {
            reason: "dns_tcp_short_length"
        }
    );
    assert_eq!(dns::probe_tcp(&stream), Probe::Match);
}

#[test]
fn probe_rejects_non_dns() {
    assert_eq!(dns::probe(b"GET / HTTP/1.1\r\nHost: x\r\n"), Probe::NoMatch);
    assert_eq!(dns::probe(&[0; 5]), Probe::NeedMore);
    // A query with no question is not a query.
    assert_eq!(
        dns::probe(&[0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        Probe::NoMatch
    );
}
