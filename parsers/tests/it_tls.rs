//! TLS scenarios over hand-built bytes: record framing, handshake messages
//! spanning records, JA3/JA4 against published reference values, GREASE,
//! ECH, HelloRetryRequest, big post-quantum hellos, resync.

use spanwatch_parsers::stream::{drive, Direction, Parsed, Probe, StreamParser};
use spanwatch_parsers::tls::{
    self, content_type, ja3, ja4, ja4_o, ja4_r, parse_handshake, parse_record, ClientHello,
    HandshakeDetail, HandshakeParser, ServerHello, TlsRecordParser, HRR_RANDOM, MAX_RECORD_LEN,
};

/// Builds a ClientHello body from its parts (test helper, no validation).
struct HelloSpec<'a> {
    version: u16,
    ciphers: &'a [u16],
    /// (type, body) in wire order
    extensions: Vec<(u16, Vec<u8>)>,
}

fn u16s(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

fn with_len16(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

fn with_len8(b: &[u8]) -> Vec<u8> {
    let mut v = vec![b.len() as u8];
    v.extend_from_slice(b);
    v
}

fn sni_ext(host: &str) -> Vec<u8> {
    // server_name_list: name_type 0 (host_name), u16 length, name
    let mut entry = vec![0u8];
    entry.extend(with_len16(host.as_bytes()));
    with_len16(&entry)
}

fn alpn_ext(protos: &[&str]) -> Vec<u8> {
    let list: Vec<u8> = protos
        .iter()
        .flat_map(|p| with_len8(p.as_bytes()))
        .collect();
    with_len16(&list)
}

fn client_hello_body(spec: &HelloSpec<'_>) -> Vec<u8> {
    let mut b = spec.version.to_be_bytes().to_vec(); // legacy_version
    b.extend([0x11; 32]); // random
    b.extend(with_len8(&[0x22; 32])); // session id
    b.extend(with_len16(&u16s(spec.ciphers))); // cipher suites
    b.extend(with_len8(&[0])); // compression: null
    let exts: Vec<u8> = spec
        .extensions
        .iter()
        .flat_map(|(t, body)| {
            let mut e = t.to_be_bytes().to_vec();
            e.extend(with_len16(body));
            e
        })
        .collect();
    b.extend(with_len16(&exts));
    b
}

fn handshake(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let l = body.len() as u32;
    let mut v = vec![msg_type, (l >> 16) as u8, (l >> 8) as u8, l as u8];
    v.extend_from_slice(body);
    v
}

/// Cuts handshake bytes into records of at most `max` bytes each.
fn records(ct: u8, version: u16, payload: &[u8], max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in payload.chunks(max) {
        out.push(ct);
        out.extend(version.to_be_bytes());
        out.extend((chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// The engine's handshake path: records, then handshake messages over the
/// concatenated handshake fragments.
fn hellos_from_stream(stream: &[u8]) -> (Vec<Vec<u8>>, usize) {
    let mut hs = Vec::new();
    let mut bodies = Vec::new();
    let mut nrec = 0;
    drive(&mut TlsRecordParser, stream, Direction::ToServer, |r| {
        nrec += 1;
        if r.content_type == content_type::HANDSHAKE {
            hs.extend_from_slice(r.fragment);
            let out = drive(&mut HandshakeParser, &hs, Direction::ToServer, |h| {
                bodies.push(h.body.to_vec())
            });
            hs.drain(..out.consumed);
        }
    });
    (bodies, nrec)
}

/// The example ClientHello of the JA4 specification (FoxIO-LLC/ja4,
/// technical_details/JA4.md, "Raw Output" section, commit d8f731ce0f19):
/// ciphers and extensions in original order from its JA4_ro line, the
/// signature algorithms of its JA4_r line, SNI present, ALPN h2, TLS 1.3 via
/// supported_versions. GREASE values are added in the places Chrome puts
/// them, to check they are ignored.
fn foxio_example() -> Vec<u8> {
    let grease_ext = (0x3a3a, vec![]);
    let ciphers = [
        0x4a4a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
        0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
    ];
    let sigalgs = u16s(&[
        0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
    ]);
    let ext_order: [u16; 16] = [
        0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
        0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
    ];
    let mut extensions = vec![grease_ext.clone()];
    for t in ext_order {
        let body = match t {
            0x0000 => sni_ext("www.example.com"),
            0x0010 => alpn_ext(&["h2", "http/1.1"]),
            0x000d => with_len16(&sigalgs),
            0x002b => with_len8(&u16s(&[0x6a6a, 0x0304, 0x0303])),
            0x000a => with_len16(&u16s(&[0x8a8a, 0x001d, 0x0017, 0x0018])),
            0x000b => with_len8(&[0]),
            0x0033 => {
                // key_share: GREASE group with 1 byte, x25519 with 32 bytes
                let mut ks = vec![0x8a, 0x8a, 0x00, 0x01, 0x00];
                ks.extend([0x00, 0x1d, 0x00, 0x20]);
                ks.extend([0x55; 32]);
                with_len16(&ks)
            }
            _ => vec![],
        };
        extensions.push((t, body));
    }
    extensions.push((0xfafa, vec![0]));
    client_hello_body(&HelloSpec {
        version: 0x0303,
        ciphers: &ciphers,
        extensions,
    })
}

#[test]
fn ja4_matches_the_foxio_specification_example() {
    let body = foxio_example();
    let ch = ClientHello::parse(&body).unwrap();
    assert!(ch.flags.grease);
    assert_eq!(ch.effective_version(), 0x0304);
    // Published values (JA4.md): JA4, JA4_r, JA4_o.
    assert_eq!(ja4(&ch), "t13d1516h2_8daaf6152771_e5627efa2ab1");
    assert_eq!(
        ja4_r(&ch),
        "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_\
         0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_\
         0403,0804,0401,0503,0805,0501,0806,0601"
    );
    assert_eq!(ja4_o(&ch), "t13d1516h2_acb858a92679_18f69afefd3d");
}

#[test]
fn ja3_string_drops_grease_and_keeps_wire_order() {
    let body = foxio_example();
    let ch = ClientHello::parse(&body).unwrap();
    let j = ja3(&ch);
    assert_eq!(
        j.string,
        "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,\
         27-0-51-16-17513-23-45-13-5-35-18-43-65281-11-10-21,29-23-24,0"
    );
    // md5 of that string (`printf %s ... | md5sum`)
    assert_eq!(j.hash.len(), 32);
}

#[test]
fn ja3_hash_of_the_salesforce_readme_example() {
    // github.com/salesforce/ja3 README: the JA3 string
    // "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"
    // hashes to ada70206e40642a3e4461f35503241d5. Build a TLS 1.0 hello with
    // exactly those fields.
    let ciphers = [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4];
    let extensions = vec![
        (0x0000, sni_ext("a.example")),
        (0x000a, with_len16(&u16s(&[23, 24, 25]))),
        (0x000b, with_len8(&[0])),
    ];
    let body = client_hello_body(&HelloSpec {
        version: 0x0301,
        ciphers: &ciphers,
        extensions,
    });
    let ch = ClientHello::parse(&body).unwrap();
    let j = ja3(&ch);
    assert_eq!(
        j.string,
        "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"
    );
    assert_eq!(j.hash, "ada70206e40642a3e4461f35503241d5");
    // TLS 1.0, SNI, 12 ciphers, 3 extensions, no ALPN
    assert!(ja4(&ch).starts_with("t10d120300_"));
}

#[test]
fn client_hello_split_over_three_records_reassembles() {
    let hs = handshake(1, &foxio_example());
    let per = hs.len().div_ceil(3);
    let stream = records(22, 0x0301, &hs, per);
    let (bodies, nrec) = hellos_from_stream(&stream);
    assert_eq!(nrec, 3);
    assert_eq!(bodies.len(), 1);
    let ch = ClientHello::parse(&bodies[0]).unwrap();
    assert_eq!(ch.sni(), Some("www.example.com"));
    assert_eq!(
        ch.alpn().collect::<Vec<_>>(),
        [b"h2".as_slice(), b"http/1.1"]
    );
}

#[test]
fn client_hello_split_over_three_tcp_segments_waits_for_the_record() {
    let hs = handshake(1, &foxio_example());
    let stream = records(22, 0x0301, &hs, MAX_RECORD_LEN);
    let (a, rest) = stream.split_at(3);
    let (b, c) = rest.split_at(100);
    // Segment 1: not even a header.
    assert_eq!(parse_record(a), Parsed::Incomplete { needed: 2 });
    // Segments 1+2: header known, body short by exactly what segment 3 has.
    let ab = [a, b].concat();
    assert_eq!(parse_record(&ab), Parsed::Incomplete { needed: c.len() });
    let all = [a, b, c].concat();
    let Parsed::Message { consumed, message } = parse_record(&all) else {
        panic!()
    };
    assert_eq!(consumed, all.len());
    assert_eq!(message.first_handshake_type(), Some(1));
}

#[test]
fn ten_kilobyte_post_quantum_client_hello_across_records() {
    // A key_share with an ML-KEM-1024-sized share (1568 B) plus a 9 KB
    // padding extension: 10.8 KB of handshake, cut into 2 KB records.
    let mut ks = vec![0x11, 0xec, 0x06, 0x20];
    ks.extend(vec![0xab; 1568]);
    ks.extend([0x00, 0x1d, 0x00, 0x20]);
    ks.extend([0x55; 32]);
    let extensions = vec![
        (0x0000, sni_ext("pq.example")),
        (0x002b, with_len8(&u16s(&[0x0304]))),
        (0x0033, with_len16(&ks)),
        (0x0015, vec![0; 9000]),
    ];
    let body = client_hello_body(&HelloSpec {
        version: 0x0303,
        ciphers: &[0x1301],
        extensions,
    });
    assert!(body.len() > 10_000);
    let hs = handshake(1, &body);
    let stream = records(22, 0x0301, &hs, 2048);
    let (bodies, nrec) = hellos_from_stream(&stream);
    assert_eq!(nrec, hs.len().div_ceil(2048));
    let ch = ClientHello::parse(&bodies[0]).unwrap();
    assert_eq!(ch.key_share_groups().collect::<Vec<_>>(), [0x11ec, 0x001d]);
    assert_eq!(ch.sni(), Some("pq.example"));
    // The handshake parser alone, fed byte by byte, asks for exactly the rest.
    assert_eq!(
        parse_handshake(&hs[..4]),
        Parsed::Incomplete { needed: body.len() }
    );
}

#[test]
fn encrypted_client_hello_extension_keeps_outer_sni() {
    let mut ech = vec![0x00]; // ECHClientHelloType outer
    ech.extend([0x00, 0x01, 0x00, 0x01]); // cipher suite kdf/aead
    ech.extend([0x42]); // config id
    ech.extend(with_len16(&[0x77; 32])); // enc
    ech.extend(with_len16(&[0x99; 200])); // payload
    let extensions = vec![(0x0000, sni_ext("public.example")), (0xfe0d, ech)];
    let body = client_hello_body(&HelloSpec {
        version: 0x0303,
        ciphers: &[0x1301],
        extensions,
    });
    let ch = ClientHello::parse(&body).unwrap();
    assert!(ch.has_ech());
    assert_eq!(ch.ech_type(), Some(0));
    assert_eq!(ch.sni(), Some("public.example"));
}

fn server_hello_body(random: [u8; 32], cipher: u16, exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend(random);
    b.extend(with_len8(&[0x22; 32]));
    b.extend(cipher.to_be_bytes());
    b.push(0);
    let e: Vec<u8> = exts
        .iter()
        .flat_map(|(t, body)| {
            let mut v = t.to_be_bytes().to_vec();
            v.extend(with_len16(body));
            v
        })
        .collect();
    b.extend(with_len16(&e));
    b
}

#[test]
fn hello_retry_request_then_second_client_hello_on_one_connection() {
    // Client: CH1 (key share x25519) … CCS … CH2 (key share secp256r1).
    let ch1 = client_hello_body(&HelloSpec {
        version: 0x0303,
        ciphers: &[0x1301],
        extensions: vec![
            (0x002b, with_len8(&u16s(&[0x0304]))),
            (0x0033, with_len16(&[0x00, 0x1d, 0x00, 0x01, 0x07])),
        ],
    });
    let ch2 = client_hello_body(&HelloSpec {
        version: 0x0303,
        ciphers: &[0x1301],
        extensions: vec![
            (0x002b, with_len8(&u16s(&[0x0304]))),
            (0x0033, with_len16(&[0x00, 0x17, 0x00, 0x01, 0x04])),
        ],
    });
    let mut client = records(22, 0x0301, &handshake(1, &ch1), MAX_RECORD_LEN);
    client.extend([20, 3, 3, 0, 1, 1]); // change_cipher_spec (middlebox compatibility)
    client.extend(records(22, 0x0303, &handshake(1, &ch2), MAX_RECORD_LEN));
    let (bodies, nrec) = hellos_from_stream(&client);
    assert_eq!(nrec, 3);
    let groups: Vec<Vec<u16>> = bodies
        .iter()
        .map(|b| ClientHello::parse(b).unwrap().key_share_groups().collect())
        .collect();
    assert_eq!(groups, [vec![0x001d], vec![0x0017]]);
    // Server: HelloRetryRequest is a ServerHello with the special random.
    let hrr = server_hello_body(
        HRR_RANDOM,
        0x1301,
        &[(0x002b, vec![0x03, 0x04]), (0x0033, vec![0x00, 0x17])],
    );
    let sh = ServerHello::parse(&hrr).unwrap();
    assert!(sh.is_hello_retry_request());
    assert_eq!(sh.selected_version(), Some(0x0304));
    let real = server_hello_body([0x33; 32], 0x1301, &[(0x002b, vec![0x03, 0x04])]);
    assert!(!ServerHello::parse(&real).unwrap().is_hello_retry_request());
}

#[test]
fn several_handshake_messages_in_one_record() {
    // ServerHello + ServerHelloDone in one record (TLS 1.2 style).
    let sh = server_hello_body([0x44; 32], 0xc02f, &[(0xff01, vec![0])]);
    let mut hs = handshake(2, &sh);
    hs.extend(handshake(14, &[]));
    let stream = records(22, 0x0303, &hs, MAX_RECORD_LEN);
    let Parsed::Message { message: rec, .. } = parse_record(&stream) else {
        panic!()
    };
    let mut kinds = Vec::new();
    let out = drive(
        &mut HandshakeParser,
        rec.fragment,
        Direction::ToClient,
        |h| {
            kinds.push((
                h.msg_type,
                matches!(h.detail, HandshakeDetail::ServerHello(_)),
            ))
        },
    );
    assert_eq!(kinds, [(2, true), (14, false)]);
    assert_eq!(out.consumed, rec.fragment.len());
}

#[test]
fn oversized_record_is_invalid_and_resync_finds_the_next_record() {
    // A record header claiming 2^14+2049 bytes, then garbage, then a real
    // alert record.
    let mut stream = vec![22, 3, 3, 0x48, 0x01];
    stream.extend([0xee; 7]);
    stream.extend([21, 3, 3, 0, 2, 2, 40]); // alert: fatal handshake_failure
    assert_eq!(
        parse_record(&stream),
        Parsed::Invalid {
            reason: "record_too_long"
        }
    );
    let mut got = Vec::new();
    let out = drive(&mut TlsRecordParser, &stream, Direction::ToClient, |r| {
        got.push((r.content_type, r.fragment.to_vec()))
    });
    assert_eq!(out.invalid, 1);
    assert_eq!(got, [(21, vec![2, 40])]);
}

#[test]
fn probe_is_port_independent_and_rejects_non_tls() {
    let hs = handshake(1, &foxio_example());
    let stream = records(22, 0x0301, &hs, MAX_RECORD_LEN);
    assert_eq!(tls::probe(&stream), Probe::Match);
    assert_eq!(tls::probe(&stream[..7]), Probe::NeedMore);
    assert_eq!(tls::probe(b"GET / HTTP/1.1\r\n"), Probe::NoMatch);
    assert_eq!(tls::probe(b"EHLO x\r\n"), Probe::NoMatch);
    // Application data first (mid-stream pickup) is not a start of TLS.
    assert_eq!(tls::probe(&[23, 3, 3, 0, 10]), Probe::NoMatch);
    // A Modbus/TCP request is not TLS.
    assert_eq!(
        tls::probe(&[0, 1, 0, 0, 0, 6, 0x11, 3, 0, 0x6b, 0, 3]),
        Probe::NoMatch
    );
}

#[test]
fn malformed_extension_block_keeps_the_prefix_and_flags_it() {
    let mut body = client_hello_body(&HelloSpec {
        version: 0x0303,
        ciphers: &[0x1301],
        extensions: vec![(0x0000, sni_ext("ok.example")), (0x0017, vec![])],
    });
    // Claim 100 bytes for the last extension's length field area: cut it.
    let n = body.len();
    body[n - 1] = 100; // extension 0x0017 now says length 100
    let ch = ClientHello::parse(&body).unwrap();
    assert!(ch.flags.extensions_malformed);
    assert_eq!(ch.sni(), Some("ok.example"));
    assert_eq!(ch.extensions().count(), 1);
    let mut stuck = HandshakeParser;
    // A too-long handshake length is broken framing.
    assert_eq!(
        stuck.parse(&[1, 0xff, 0xff, 0xff], Direction::ToServer),
        Parsed::Invalid {
            reason: "handshake_too_long"
        }
    );
}

#[test]
fn minimal_client_hello_bytes_field_by_field() {
    #[rustfmt::skip]
    let record: &[u8] = &[
        0x16,                   // content type: handshake
        0x03, 0x01,             // record version TLS 1.0
        0x00, 0x3f,             // record length 63
        0x01,                   // handshake type: client_hello
        0x00, 0x00, 0x3b,       // handshake length 59
        0x03, 0x03,             // legacy_version TLS 1.2
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // random (32 bytes)
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
        0x00,                   // session id length 0
        0x00, 0x04,             // cipher suites length 4
        0x0a, 0x0a,             //   GREASE
        0xc0, 0x2f,             //   TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        0x01, 0x00,             // compression: 1 method, null
        0x00, 0x0e,             // extensions length 14
        0x00, 0x00, 0x00, 0x06, //   server_name, length 6
        0x00, 0x04,             //     list length 4
        0x00, 0x00, 0x01,       //     host_name, length 1
        b'h',                   //     "h"
        0x00, 0x0b, 0x00, 0x00, //   ec_point_formats, length 0 (malformed list)
    ];
    let Parsed::Message {
        consumed,
        message: rec,
    } = parse_record(record)
    else {
        panic!()
    };
    assert_eq!(consumed, record.len());
    assert_eq!((rec.content_type, rec.version), (22, 0x0301));
    let Parsed::Message { message: hs, .. } = parse_handshake(rec.fragment) else {
        panic!()
    };
    let HandshakeDetail::ClientHello(ch) = hs.detail else {
        panic!()
    };
    assert_eq!(ch.version, 0x0303);
    assert_eq!(
        ch.cipher_suites.iter().collect::<Vec<_>>(),
        [0x0a0a, 0xc02f]
    );
    assert_eq!(ch.sni(), Some("h"));
    assert!(ch.flags.grease);
    assert!(ch.flags.extension_list_malformed);
    // GREASE cipher dropped; extensions 0 and 11; no groups; no point formats.
    assert_eq!(ja3(&ch).string, "771,49199,0-11,,");
    assert_eq!(ja4(&ch).get(..11), Some("t12d010200_"));
}
