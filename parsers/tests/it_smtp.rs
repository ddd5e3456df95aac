//! SMTP scenarios: pipelining, refused DATA, the end marker split across
//! segments, BDAT, AUTH secrecy, replies, and the MIME scanner on encoded
//! words, RFC 2231 file names, nesting and URLs.

use spanwatch_parsers::smtp::{
    self, mime, parse_command, parse_reply, ClientEvent, ClientMode, CommandArgs, MimeScanner,
    ServerEvent, SmtpClientParser, SmtpServerParser, Verb,
};
use spanwatch_parsers::stream::{drive, Direction, Parsed, Probe, StreamParser};

/// What the client direction produced, flattened for comparisons.
#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    commands: Vec<String>,
    body: Vec<u8>,
    ends: usize,
    bdat: Vec<u8>,
    bdat_chunk_ends: usize,
    message_ends: usize,
    auth: Vec<usize>,
    tls: usize,
}

fn record(seen: &mut Seen, e: ClientEvent<'_>) {
    match e {
        ClientEvent::Command(c) => {
            let mut s = c.verb.name().to_string();
            if let Some(p) = c.path() {
                s.push(' ');
                s.push_str(&String::from_utf8_lossy(p));
            }
            seen.commands.push(s);
        }
        ClientEvent::DataChunk { data, end } => {
            seen.body.extend_from_slice(data);
            seen.ends += end as usize;
        }
        ClientEvent::BdatChunk {
            data,
            chunk_end,
            message_end,
        } => {
            seen.bdat.extend_from_slice(data);
            seen.bdat_chunk_ends += chunk_end as usize;
            seen.message_ends += message_end as usize;
        }
        ClientEvent::AuthResponse { len } => seen.auth.push(len),
        ClientEvent::Tls(b) => seen.tls += b.len(),
    }
}

/// Feeds `segments` the way the engine does: append, drive, keep the
/// unconsumed tail. `on_reply_354` simulates the engine signalling DATA
/// acceptance before each segment when the parser waits for it.
fn feed(p: &mut SmtpClientParser, segments: &[&[u8]], accept_data: bool) -> Seen {
    let mut seen = Seen::default();
    let mut buf: Vec<u8> = Vec::new();
    for seg in segments {
        buf.extend_from_slice(seg);
        if accept_data {
            p.data_accepted();
        }
        let out = drive(p, &buf, Direction::ToServer, |e| record(&mut seen, e));
        assert!(!out.stalled);
        buf.drain(..out.consumed);
    }
    assert!(
        buf.len() < 8,
        "left over: {:?}",
        String::from_utf8_lossy(&buf)
    );
    seen
}

#[test]
fn pipelined_envelope_then_body_after_354() {
    let mut p = SmtpClientParser::new();
    let s = feed(
        &mut p,
        &[b"MAIL FROM:<a@x.example> SIZE=120\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<c@z.example>\r\nDATA\r\n"],
        false,
    );
    assert_eq!(
        s.commands,
        [
            "MAIL a@x.example",
            "RCPT b@y.example",
            "RCPT c@z.example",
            "DATA"
        ]
    );
    assert_eq!(p.mode, ClientMode::DataPending);
    p.data_accepted();
    let s = feed(
        &mut p,
        &[b"Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n"],
        false,
    );
    assert_eq!(s.body, b"Subject: hi\r\n\r\nbody\r\n");
    assert_eq!(s.ends, 1);
    assert_eq!(s.commands, ["QUIT"]);
}

#[test]
fn pipelined_data_refused_next_commands_are_not_body() {
    // RFC 2920 §3.1: the server refused every RCPT and then DATA (554); the
    // client goes on with RSET/QUIT. Without the reply (engine has not
    // seen it), the parser must still read RSET/QUIT as commands.
    let mut p = SmtpClientParser::new();
    let s = feed(
        &mut p,
        &[b"MAIL FROM:<a@x>\r\nRCPT TO:<nobody@y>\r\nDATA\r\nRSET\r\nQUIT\r\n"],
        false,
    );
    assert_eq!(
        s.commands,
        ["MAIL a@x", "RCPT nobody@y", "DATA", "RSET", "QUIT"]
    );
    assert!(s.body.is_empty() && s.ends == 0);
    // With the reply seen, the engine says so explicitly.
    let mut p = SmtpClientParser::new();
    let _ = feed(&mut p, &[b"DATA\r\n"], false);
    p.data_rejected();
    assert_eq!(p.mode, ClientMode::Command);
}

#[test]
fn data_end_marker_split_at_every_offset() {
    let wire: &[u8] = b"DATA\r\nSubject: t\r\n\r\nline one\r\n..starts with dot\r\n.\r\nQUIT\r\n";
    for k in 0..=wire.len() {
        for j in k..=wire.len() {
            let mut p = SmtpClientParser::new();
            let s = feed(&mut p, &[&wire[..k], &wire[k..j], &wire[j..]], true);
            assert_eq!(s.commands, ["DATA", "QUIT"], "split {k}/{j}");
            assert_eq!(
                s.body, b"Subject: t\r\n\r\nline one\r\n..starts with dot\r\n",
                "split {k}/{j}"
            );
            assert_eq!(s.ends, 1);
        }
    }
}

#[test]
fn data_body_never_waits_for_more_than_the_marker_prefix() {
    let mut p = SmtpClientParser {
        mode: ClientMode::Data { line_start: false },
    };
    // Ends with "\r\n." which could start the marker: held back.
    let Parsed::Message { consumed, message } = p.parse(b"abc\r\n.", Direction::ToServer) else {
        panic!()
    };
    assert_eq!(consumed, 3);
    assert_eq!(
        message,
        ClientEvent::DataChunk {
            data: b"abc",
            end: false
        }
    );
    assert_eq!(
        p.parse(b"\r\n.", Direction::ToServer),
        Parsed::Incomplete { needed: 2 }
    );
    // Not the marker after all: "\r\n.x" is body.
    let Parsed::Message { consumed, .. } = p.parse(b"\r\n.x", Direction::ToServer) else {
        panic!()
    };
    assert_eq!(consumed, 4);
}

#[test]
fn empty_body_right_after_data() {
    let mut p = SmtpClientParser::new();
    let s = feed(&mut p, &[b"DATA\r\n", b".\r\n", b"QUIT\r\n"], true);
    assert_eq!(s.commands, ["DATA", "QUIT"]);
    assert_eq!((s.body.len(), s.ends), (0, 1));
}

#[test]
fn bdat_chunks_split_anywhere() {
    let wire: &[u8] = b"BDAT 10\r\n0123456789BDAT 5 LAST\r\nabcdeQUIT\r\n";
    for k in 0..=wire.len() {
        let mut p = SmtpClientParser::new();
        let s = feed(&mut p, &[&wire[..k], &wire[k..]], false);
        assert_eq!(s.commands, ["BDAT", "BDAT", "QUIT"], "split {k}");
        assert_eq!(s.bdat, b"0123456789abcde");
        assert_eq!((s.bdat_chunk_ends, s.message_ends), (2, 1));
    }
    // BDAT 0 LAST carries no bytes.
    let Parsed::Message { message, .. } = parse_command(b"BDAT 0 LAST\r\n") else {
        panic!()
    };
    assert_eq!(
        message.args,
        CommandArgs::Bdat {
            size: Some(0),
            last: true
        }
    );
}

#[test]
fn auth_plain_initial_response_is_withheld() {
    let line = b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n";
    let Parsed::Message { message, .. } = parse_command(line) else {
        panic!()
    };
    assert_eq!(
        message.args,
        CommandArgs::Auth {
            mechanism: b"PLAIN",
            initial_response_len: Some(20)
        }
    );
    assert!(
        !format!("{message:?}").contains("AGFsaWNl"),
        "secret leaked: {message:?}"
    );
}

#[test]
fn auth_login_exchange_then_commands() {
    let mut p = SmtpClientParser::new();
    let s = feed(
        &mut p,
        &[
            b"AUTH LOGIN\r\n",
            b"YWxpY2U=\r\n",
            b"c2VjcmV0\r\n",
            b"MAIL FROM:<alice@x>\r\n",
        ],
        false,
    );
    assert_eq!(s.commands, ["AUTH", "MAIL alice@x"]);
    assert_eq!(s.auth, [8, 8]);
}

#[test]
fn starttls_then_tls_bytes() {
    let mut p = SmtpClientParser::new();
    let s = feed(
        &mut p,
        &[
            b"EHLO c.example\r\nSTARTTLS\r\n",
            &[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5],
        ],
        false,
    );
    assert_eq!(s.commands, ["EHLO", "STARTTLS"]);
    assert_eq!(s.tls, 10);
    assert_eq!(p.mode, ClientMode::Tls);
    // A refused STARTTLS: commands go on.
    let mut p = SmtpClientParser::new();
    let s = feed(&mut p, &[b"STARTTLS\r\n", b"QUIT\r\n"], false);
    assert_eq!(s.commands, ["STARTTLS", "QUIT"]);
}

#[test]
fn mail_and_rcpt_paths_and_params() {
    type Case = (&'static [u8], Verb, &'static [u8], &'static [u8], bool);
    let cases: [Case; 5] = [
        (
            b"MAIL FROM:<a@b.example> SIZE=1200 BODY=8BITMIME\r\n",
            Verb::Mail,
            b"a@b.example",
            b"SIZE=1200 BODY=8BITMIME",
            true,
        ),
        (b"mail from: <x@y>\r\n", Verb::Mail, b"x@y", b"", true),
        (b"MAIL FROM:<>\r\n", Verb::Mail, b"", b"", true),
        (
            b"RCPT TO:<postmaster>\r\n",
            Verb::Rcpt,
            b"postmaster",
            b"",
            true,
        ),
        (b"RCPT bob@x\r\n", Verb::Rcpt, b"bob@x", b"", false),
    ];
    for (line, verb, path, params, ok) in cases {
        let Parsed::Message { consumed, message } = parse_command(line) else {
            panic!()
        };
        assert_eq!(consumed, line.len());
        assert_eq!(message.verb, verb);
        assert_eq!(
            message.args,
            CommandArgs::Path {
                path,
                params,
                syntax_ok: ok
            }
        );
    }
    let Parsed::Message { message, .. } = parse_command(b"MAIL FROM:<a@b> SIZE=1200 SMTPUTF8\r\n")
    else {
        panic!()
    };
    let p: Vec<_> = message.params().collect();
    assert_eq!(
        p,
        [
            (b"SIZE".as_slice(), Some(b"1200".as_slice())),
            (b"SMTPUTF8".as_slice(), None)
        ]
    );
    // Unknown verbs are kept.
    let Parsed::Message { message, .. } = parse_command(b"XCLIENT NAME=spike\n") else {
        panic!()
    };
    assert_eq!(
        (message.verb, message.verb_raw, message.bare_lf),
        (Verb::Unknown, b"XCLIENT".as_slice(), true)
    );
    assert_eq!(message.args, CommandArgs::Text(b"NAME=spike"));
}

#[test]
fn command_line_longer_than_max_is_invalid_then_resync() {
    let mut wire = b"NOOP ".to_vec();
    wire.extend(vec![b'a'; smtp::MAX_LINE_LEN]);
    wire.extend(b"\r\nQUIT\r\n");
    assert_eq!(
        parse_command(&wire),
        Parsed::Invalid {
            reason: "smtp_line_too_long"
        }
    );
    let mut p = SmtpClientParser::new();
    let mut seen = Seen::default();
    let out = drive(&mut p, &wire, Direction::ToServer, |e| record(&mut seen, e));
    assert_eq!(out.invalid, 1);
    assert_eq!(seen.commands, ["QUIT"]);
}

#[test]
fn multi_line_ehlo_reply_and_capabilities() {
    let wire: &[u8] = b"250-mx.example Hello\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n250-AUTH LOGIN PLAIN\r\n250 STARTTLS\r\n";
    // Cut anywhere before the end: incomplete.
    for k in 0..wire.len() {
        assert!(
            matches!(parse_reply(&wire[..k]), Parsed::Incomplete { .. }),
            "cut at {k}"
        );
    }
    let Parsed::Message { consumed, message } = parse_reply(wire) else {
        panic!()
    };
    assert_eq!(
        (consumed, message.code, message.line_count),
        (wire.len(), 250, 5)
    );
    let caps: Vec<(&[u8], &[u8])> = message.ehlo_capabilities().collect();
    assert_eq!(
        caps,
        [
            (b"SIZE".as_slice(), b"35882577".as_slice()),
            (b"8BITMIME", b""),
            (b"AUTH", b"LOGIN PLAIN"),
            (b"STARTTLS", b"")
        ]
    );
    assert!(message.has_capability(b"starttls"));
}

#[test]
fn server_parser_replies_then_tls() {
    let mut s = SmtpServerParser::default();
    let mut codes = Vec::new();
    let mut tls = 0;
    let wire = [
        b"220 ready\r\n250-a\r\n250 b\r\n220 go ahead\r\n".as_slice(),
        &[0x16, 3, 3, 0, 1, 0],
    ]
    .concat();
    drive(&mut s, &wire, Direction::ToClient, |e| match e {
        ServerEvent::Reply(r) => codes.push(r.code),
        ServerEvent::Tls(b) => tls += b.len(),
    });
    assert_eq!((codes, tls), (vec![220, 250, 220], 6));
    // Mixed codes inside one reply are flagged, not rejected.
    let Parsed::Message { message, .. } = parse_reply(b"250-a\r\n251 b\r\n") else {
        panic!()
    };
    assert!(message.flags.mixed_codes);
    assert_eq!(
        parse_reply(b"hello\r\n"),
        Parsed::Invalid {
            reason: "smtp_not_a_reply"
        }
    );
}

#[test]
fn probes() {
    assert_eq!(smtp::probe_server(b"220 mx ESMTP\r\n"), Probe::Match);
    assert_eq!(smtp::probe_server(b"22"), Probe::NeedMore);
    assert_eq!(smtp::probe_server(b"HTTP/1.1 200"), Probe::NoMatch);
    assert_eq!(smtp::probe_client(b"ehlo x\r\n"), Probe::Match);
    assert_eq!(smtp::probe_client(b"GET /"), Probe::NoMatch);
}

const MESSAGE: &[u8] = b"From: =?utf-8?Q?Ren=C3=A9?= <rene@example.org>\r\n\
To: a@example.com,\r\n b@example.com\r\n\
To: c@example.com\r\n\
Subject: =?UTF-8?B?UmFwcG9ydCDDqXTDqQ==?=\r\n =?iso-8859-1?q?_=E0_Paris?=\r\n\
Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
Message-ID: <m1@example.org>\r\n\
X-Mailer: handmade 1.0\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
preamble is ignored\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=inner\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Visit https://www.example.net/a-very-long-path-that-is-cut-by-a-so=\r\n\
ft-break?x=3D1 today.\r\n\
--inner\r\n\
Content-Type: text/html\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
PGEgaHJlZj0iaHR0cDovL2V2aWwuZXhhbXBsZS9sb2dpbiI+bG9naW48L2E+\r\n\
--inner--\r\n\
--outer\r\n\
Content-Type: application/pdf\r\n\
Content-Disposition: attachment;\r\n filename*=utf-8''%E2%82%AC%20rates.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--outer\r\n\
Content-Type: text/plain; name=\"=?UTF-8?B?w6l0w6kudHh0?=\"\r\n\
\r\n\
fallback name from Content-Type\r\n\
--outer\r\n\
Content-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename*0*=iso-8859-1''r%E9sum; filename*1*=%E9; filename*2=\".doc\"\r\n\
\r\n\
xx\r\n\
--outer--\r\n\
epilogue is ignored\r\n";

#[test]
fn mime_headers_parts_filenames_and_urls_in_any_chunking() {
    let whole = {
        let mut m = MimeScanner::new(false);
        m.feed(MESSAGE);
        m.finish()
    };
    let h = &whole.headers;
    assert_eq!(
        h.from.as_deref(),
        Some("=?utf-8?Q?Ren=C3=A9?= <rene@example.org>")
    );
    assert_eq!(
        h.to.as_deref(),
        Some("a@example.com, b@example.com, c@example.com")
    );
    assert_eq!(h.subject.as_deref(), Some("Rapport été à Paris"));
    assert_eq!(h.message_id.as_deref(), Some("<m1@example.org>"));
    assert_eq!(h.x_mailer.as_deref(), Some("handmade 1.0"));
    let parts: Vec<(&str, Option<&str>, usize)> = whole
        .parts
        .iter()
        .map(|p| (p.content_type.as_str(), p.filename.as_deref(), p.depth))
        .collect();
    assert_eq!(
        parts,
        [
            ("text/plain", None, 2),
            ("text/html", None, 2),
            ("application/pdf", Some("€ rates.pdf"), 1),
            ("text/plain", Some("été.txt"), 1),
            ("application/octet-stream", Some("résumé.doc"), 1),
        ]
    );
    // base64 "JVBERi0xLjQK" is "%PDF-1.4\n": 9 bytes, md5 of those bytes.
    assert_eq!(whole.parts[2].decoded_size, 9);
    assert_eq!(whole.parts[2].md5, md5_hex(b"%PDF-1.4\n"));
    assert_eq!(whole.attachments().count(), 3);
    let urls: Vec<(&str, &str)> = whole
        .urls
        .iter()
        .map(|u| (u.url.as_str(), u.host.as_str()))
        .collect();
    assert_eq!(
        urls,
        [
            (
                "https://www.example.net/a-very-long-path-that-is-cut-by-a-soft-break?x=1",
                "www.example.net"
            ),
            ("http://evil.example/login", "evil.example"),
        ]
    );
    // Same summary whatever the chunk size.
    for step in [1usize, 2, 3, 7, 64, 1000] {
        let mut m = MimeScanner::new(false);
        for c in MESSAGE.chunks(step) {
            m.feed(c);
        }
        assert_eq!(m.finish(), whole, "chunk size {step}");
    }
}

fn md5_hex(b: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn dot_stuffed_lines_are_unstuffed_in_data_mode() {
    let mut m = MimeScanner::new(true);
    m.feed(b"Subject: s\r\n\r\n..hidden\r\n");
    let s = m.finish();
    // Body ".hidden\r\n" (the final CRLF of a non-multipart body is content).
    assert_eq!(s.parts[0].decoded_size, 9);
    assert_eq!(s.parts[0].md5, md5_hex(b".hidden\r\n"));
}

#[test]
fn mime_bounds_are_counted() {
    let mut msg = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
    for i in 0..(mime::MAX_PARTS + 5) {
        msg.extend(
            format!("--b\r\nContent-Type: text/plain\r\n\r\nhttp://h{i}.example/\r\n").as_bytes(),
        );
    }
    msg.extend(b"--b--\r\n");
    let mut m = MimeScanner::new(false);
    m.feed(&msg);
    let s = m.finish();
    assert_eq!(s.parts.len(), mime::MAX_PARTS);
    assert_eq!(s.limits.parts, 5);
    assert_eq!(s.urls.len(), mime::MAX_URLS);
    assert_eq!(s.limits.urls as usize, mime::MAX_PARTS + 5 - mime::MAX_URLS);
    // A header block over MAX_HEADER_BYTES is counted once.
    let mut big = Vec::new();
    for i in 0..2000 {
        big.extend(format!("X-Filler-{i}: {}\r\n", "v".repeat(40)).as_bytes());
    }
    big.extend(b"\r\nbody\r\n");
    let mut m = MimeScanner::new(false);
    m.feed(&big);
    assert_eq!(m.finish().limits.header_bytes, 1);
}
