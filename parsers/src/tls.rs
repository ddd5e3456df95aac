//! TLS record layer and handshake messages (ClientHello, ServerHello,
//! Certificate), with JA3, JA3S and JA4 fingerprints.
//!
//! References: RFC 5246 (TLS 1.2) §6.2 and §7.4, RFC 8446 (TLS 1.3) §4,
//! RFC 6066 (server_name), RFC 7301 (ALPN), RFC 8701 (GREASE),
//! draft-ietf-tls-esni (encrypted_client_hello, 0xfe0d), RFC 5280 (X.509).
//!
//! # Design: records, then handshake messages
//!
//! Two parsers, layered:
//!
//! 1. [`TlsRecordParser`] (a [`StreamParser`]) cuts a TCP direction into
//!    records ([`parse_record`]). A record longer than [`MAX_RECORD_LEN`]
//!    (2^14 + 2048, the TLSCiphertext limit) is broken framing.
//! 2. [`HandshakeParser`] (also a [`StreamParser`], and [`parse_handshake`])
//!    cuts the *concatenated* bodies of handshake records into handshake
//!    messages. A handshake message may span many records (ClientHellos over
//!    10 KB with post-quantum key shares do), and one record may carry several
//!    messages.
//!
//! There is no reassembler type here: the engine owns, per flow and direction,
//! one bounded byte buffer (at most [`MAX_HANDSHAKE_LEN`] + 4 bytes). It appends
//! the fragment of every plaintext handshake record to it and runs
//! [`crate::stream::drive`] with a [`HandshakeParser`] over it, dropping what
//! was consumed; `Incomplete` means "wait for the next record". It stops
//! appending once the direction is encrypted (after ChangeCipherSpec, or after
//! ServerHello in TLS 1.3). That is all the state TLS needs, and it keeps both
//! parsers pure.
//!
//! ```text
//! TCP bytes ──TlsRecordParser──▶ TlsRecord{type 22, fragment}
//!                                     │ append fragment
//!                                     ▼
//!                    handshake buffer ──HandshakeParser──▶ Handshake
//! ```
//!
//! Parsed views borrow from the input. Lists (cipher suites, extensions,
//! groups …) are validated once at parse time and exposed as iterators over
//! the raw bytes, so nothing here allocates except the fingerprint strings and
//! the X.509 summary strings.

use crate::stream::{Direction, Parsed, Probe, StreamParser};

mod fingerprint;
mod hello;
pub mod x509;

pub use fingerprint::{ja3, ja3s, ja4, ja4_o, ja4_r, Ja3};
pub use hello::{
    is_grease, AlpnIter, ClientHello, Extension, ExtensionIter, HelloFlags, ServerHello, U16List,
    U8List, HRR_RANDOM,
};
pub use x509::{parse_x509, Asn1Time, X509Error, X509Summary};

/// Largest record fragment accepted (TLSCiphertext: 2^14 + 2048, RFC 5246 §6.2.3).
pub const MAX_RECORD_LEN: usize = (1 << 14) + 2048;
/// Largest handshake message body accepted. Certificate chains are the
/// biggest handshake messages in practice; 128 KiB is well above them.
pub const MAX_HANDSHAKE_LEN: usize = 1 << 17;
/// Most certificates walked in one Certificate message.
pub const MAX_CERTIFICATES: usize = 16;

/// Record header length: type(1) version(2) length(2).
pub const RECORD_HEADER_LEN: usize = 5;
/// Handshake header length: msg_type(1) length(3).
pub const HANDSHAKE_HEADER_LEN: usize = 4;

/// Record content types (RFC 8446 §5.1).
pub mod content_type {
    /// change_cipher_spec
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    /// alert
    pub const ALERT: u8 = 21;
    /// handshake
    pub const HANDSHAKE: u8 = 22;
    /// application_data
    pub const APPLICATION_DATA: u8 = 23;
    /// heartbeat (RFC 6520)
    pub const HEARTBEAT: u8 = 24;
    /// Not on the wire: marks a [`super::TlsRecord`] that is an SSLv2-format
    /// ClientHello (see [`super::Sslv2ClientHello`]).
    pub const SSLV2_CLIENT_HELLO: u8 = 0x80;
}

/// Handshake message types (RFC 8446 §4, RFC 5246 §7.4).
pub mod handshake_type {
    /// hello_request (TLS ≤ 1.2)
    pub const HELLO_REQUEST: u8 = 0;
    /// client_hello
    pub const CLIENT_HELLO: u8 = 1;
    /// server_hello (and HelloRetryRequest in TLS 1.3)
    pub const SERVER_HELLO: u8 = 2;
    /// new_session_ticket
    pub const NEW_SESSION_TICKET: u8 = 4;
    /// end_of_early_data
    pub const END_OF_EARLY_DATA: u8 = 5;
    /// encrypted_extensions
    pub const ENCRYPTED_EXTENSIONS: u8 = 8;
    /// certificate
    pub const CERTIFICATE: u8 = 11;
    /// server_key_exchange (TLS ≤ 1.2)
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    /// certificate_request
    pub const CERTIFICATE_REQUEST: u8 = 13;
    /// server_hello_done (TLS ≤ 1.2)
    pub const SERVER_HELLO_DONE: u8 = 14;
    /// certificate_verify
    pub const CERTIFICATE_VERIFY: u8 = 15;
    /// client_key_exchange (TLS ≤ 1.2)
    pub const CLIENT_KEY_EXCHANGE: u8 = 16;
    /// finished
    pub const FINISHED: u8 = 20;
    /// certificate_status (RFC 6066)
    pub const CERTIFICATE_STATUS: u8 = 22;
    /// key_update
    pub const KEY_UPDATE: u8 = 24;
    /// message_hash
    pub const MESSAGE_HASH: u8 = 254;
}

/// Extension types named by this module (IANA TLS ExtensionType registry).
pub mod ext {
    /// server_name (RFC 6066)
    pub const SERVER_NAME: u16 = 0x0000;
    /// supported_groups (RFC 8422 / 7919), formerly elliptic_curves
    pub const SUPPORTED_GROUPS: u16 = 0x000a;
    /// ec_point_formats (RFC 8422)
    pub const EC_POINT_FORMATS: u16 = 0x000b;
    /// signature_algorithms (RFC 8446)
    pub const SIGNATURE_ALGORITHMS: u16 = 0x000d;
    /// application_layer_protocol_negotiation (RFC 7301)
    pub const ALPN: u16 = 0x0010;
    /// supported_versions (RFC 8446)
    pub const SUPPORTED_VERSIONS: u16 = 0x002b;
    /// key_share (RFC 8446)
    pub const KEY_SHARE: u16 = 0x0033;
    /// encrypted_client_hello (draft-ietf-tls-esni)
    pub const ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;
}

/// A short name for a content type, `None` when unassigned.
pub fn content_type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        20 => "change_cipher_spec",
        21 => "alert",
        22 => "handshake",
        23 => "application_data",
        24 => "heartbeat",
        _ => return None,
    })
}

/// A short name for a handshake type, `None` when unassigned.
pub fn handshake_type_name(t: u8) -> Option<&'static str> {
    Some(match t {
        0 => "hello_request",
        1 => "client_hello",
        2 => "server_hello",
        4 => "new_session_ticket",
        5 => "end_of_early_data",
        8 => "encrypted_extensions",
        11 => "certificate",
        12 => "server_key_exchange",
        13 => "certificate_request",
        14 => "server_hello_done",
        15 => "certificate_verify",
        16 => "client_key_exchange",
        20 => "finished",
        22 => "certificate_status",
        24 => "key_update",
        254 => "message_hash",
        _ => return None,
    })
}

/// A name for a protocol version ("TLS 1.2"), `None` when unknown.
pub fn version_name(v: u16) -> Option<&'static str> {
    Some(match v {
        0x0002 => "SSL 2.0",
        0x0300 => "SSL 3.0",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        0xfeff => "DTLS 1.0",
        0xfefd => "DTLS 1.2",
        0xfefc => "DTLS 1.3",
        _ => return None,
    })
}

/// One TLS record, borrowed from the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsRecord<'a> {
    /// Raw content type (see [`content_type`]).
    pub content_type: u8,
    /// Raw record-layer version (0x0301 in most ClientHellos).
    pub version: u16,
    /// The record fragment (plaintext or ciphertext).
    pub fragment: &'a [u8],
}

impl TlsRecord<'_> {
    /// For a handshake record, the type of the first handshake message that
    /// starts in it (meaningful only when the record starts a message).
    pub fn first_handshake_type(&self) -> Option<u8> {
        if self.content_type == content_type::HANDSHAKE {
            self.fragment.first().copied()
        } else {
            None
        }
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn be24(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(3)?)?;
    Some(((s[0] as usize) << 16) | ((s[1] as usize) << 8) | s[2] as usize)
}

fn plausible_version(major: u8, minor: u8) -> bool {
    // SSL 3.0 .. TLS 1.3 record versions; TLS 1.3 records always say 0x0301..0x0303.
    major == 3 && minor <= 4
}

/// Parses one record from the front of `input`.
///
/// ```text
///  0        1        2        3        4        5
/// +--------+--------+--------+--------+--------+------------------+
/// | type   | version (major,minor)    | length (BE u16) | fragment |
/// +--------+--------+--------+--------+--------+------------------+
/// ```
///
/// Invalid when the type is not 20..=24, the major version is not 3, or the
/// length exceeds [`MAX_RECORD_LEN`]. A zero-length record is accepted (it is
/// a violation for handshake records, but framing is intact).
pub fn parse_record(input: &[u8]) -> Parsed<TlsRecord<'_>> {
    if input.first().is_some_and(|&b| b & 0x80 != 0) {
        return parse_sslv2_record(input);
    }
    if input.len() < RECORD_HEADER_LEN {
        // Reject garbage early when the first bytes already show it.
        if let Some(&t) = input.first() {
            if !(20..=24).contains(&t) {
                return Parsed::Invalid {
                    reason: "bad_content_type",
                };
            }
        }
        if let Some(&major) = input.get(1) {
            if major != 3 {
                return Parsed::Invalid {
                    reason: "bad_version",
                };
            }
        }
        return Parsed::Incomplete {
            needed: RECORD_HEADER_LEN - input.len(),
        };
    }
    let content_type = input[0];
    if !(20..=24).contains(&content_type) {
        return Parsed::Invalid {
            reason: "bad_content_type",
        };
    }
    if !plausible_version(input[1], input[2]) {
        return Parsed::Invalid {
            reason: "bad_version",
        };
    }
    let version = u16::from_be_bytes([input[1], input[2]]);
    let len = u16::from_be_bytes([input[3], input[4]]) as usize;
    if len > MAX_RECORD_LEN {
        return Parsed::Invalid {
            reason: "record_too_long",
        };
    }
    let total = RECORD_HEADER_LEN + len;
    if input.len() < total {
        return Parsed::Incomplete {
            needed: total - input.len(),
        };
    }
    Parsed::Message {
        consumed: total,
        message: TlsRecord {
            content_type,
            version,
            fragment: &input[RECORD_HEADER_LEN..total],
        },
    }
}

/// An SSLv2-format record (RFC 6101 appendix E.2, the "SSLv2-compatible
/// ClientHello" some TLS 1.x clients still send first):
///
/// ```text
/// +---------------------+----------+---------+----------------+----------------+------------------+
/// | 1 | length (15 bits) | msg type | version | cipher spec len| session id len | challenge len    |
/// |   |                  | (1)      | u16     | u16            | u16            | u16              |
/// +---------------------+----------+---------+----------------+----------------+------------------+
/// | cipher specs (3 bytes each) | session id | challenge |
/// +-----------------------------+------------+-----------+
/// ```
///
/// Only client hellos (msg type 1) are accepted; the record comes back with
/// the pseudo content type [`content_type::SSLV2_CLIENT_HELLO`] and the
/// message (from msg type on) as fragment.
fn parse_sslv2_record(input: &[u8]) -> Parsed<TlsRecord<'_>> {
    let Some(len) = be16(input, 0) else {
        return Parsed::Incomplete {
            needed: 2 - input.len(),
        };
    };
    let len = (len & 0x7fff) as usize;
    if let Some(&t) = input.get(2) {
        if t != 1 {
            return Parsed::Invalid {
                reason: "sslv2_not_client_hello",
            };
        }
    }
    if len < 9 {
        return Parsed::Invalid {
            reason: "sslv2_short",
        };
    }
    let total = 2 + len;
    if input.len() < total {
        return Parsed::Incomplete {
            needed: total - input.len(),
        };
    }
    let version = be16(input, 3).unwrap_or(0);
    Parsed::Message {
        consumed: total,
        message: TlsRecord {
            content_type: content_type::SSLV2_CLIENT_HELLO,
            version,
            fragment: &input[2..total],
        },
    }
}

/// An SSLv2-format ClientHello (see [`parse_record`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sslv2ClientHello<'a> {
    /// The highest version the client offers (0x0301.. for TLS clients).
    pub version: u16,
    /// Cipher specs, 3 bytes each (TLS suites are 0x00XXXX).
    pub cipher_specs: &'a [u8],
    /// Session id.
    pub session_id: &'a [u8],
    /// Challenge (the client random, 16..32 bytes).
    pub challenge: &'a [u8],
}

impl<'a> Sslv2ClientHello<'a> {
    /// Parses the fragment of an [`content_type::SSLV2_CLIENT_HELLO`] record.
    pub fn parse(msg: &'a [u8]) -> Result<Self, &'static str> {
        if msg.first() != Some(&1) {
            return Err("sslv2_not_client_hello");
        }
        let version = be16(msg, 1).ok_or("sslv2_short")?;
        let cs = be16(msg, 3).ok_or("sslv2_short")? as usize;
        let sid = be16(msg, 5).ok_or("sslv2_short")? as usize;
        let ch = be16(msg, 7).ok_or("sslv2_short")? as usize;
        let cipher_specs = msg.get(9..9 + cs).ok_or("sslv2_cipher_specs")?;
        let session_id = msg.get(9 + cs..9 + cs + sid).ok_or("sslv2_session_id")?;
        let challenge = msg
            .get(9 + cs + sid..9 + cs + sid + ch)
            .ok_or("sslv2_challenge")?;
        Ok(Sslv2ClientHello {
            version,
            cipher_specs,
            session_id,
            challenge,
        })
    }

    /// The cipher specs as 24-bit values.
    pub fn cipher_specs(&self) -> impl Iterator<Item = u32> + 'a {
        self.cipher_specs
            .chunks_exact(3)
            .map(|c| ((c[0] as u32) << 16) | ((c[1] as u32) << 8) | c[2] as u32)
    }
}

/// Stream parser that yields TLS records. Holds no state.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsRecordParser;

impl StreamParser for TlsRecordParser {
    type Message<'a> = TlsRecord<'a>;

    fn parse<'a>(&mut self, input: &'a [u8], _dir: Direction) -> Parsed<TlsRecord<'a>> {
        parse_record(input)
    }

    /// The next offset where a record header is plausible: a content type of
    /// 20..=24, version 3.0..3.4 and a length within bounds. Handshake headers
    /// are also checked for a known handshake type when the byte is present.
    fn resync(&mut self, input: &[u8], _dir: Direction) -> Option<usize> {
        (0..input.len()).find(|&i| record_header_plausible(&input[i..]))
    }
}

fn record_header_plausible(b: &[u8]) -> bool {
    let (Some(&t), Some(&major), Some(&minor)) = (b.first(), b.get(1), b.get(2)) else {
        return false;
    };
    if !(20..=24).contains(&t) || !plausible_version(major, minor) {
        return false;
    }
    if let Some(len) = be16(b, 3) {
        if len as usize > MAX_RECORD_LEN {
            return false;
        }
        if t == content_type::HANDSHAKE {
            if let Some(&ht) = b.get(5) {
                // Encrypted handshake records (Finished under TLS ≤ 1.2) look
                // random; resync only on a clear hello/certificate start.
                return handshake_type_name(ht).is_some();
            }
        }
    }
    true
}

/// Does the start of a stream look like TLS? Port-independent: a handshake
/// record (type 22, version 3.x, sane length) whose first message is a
/// ClientHello or ServerHello with a 3-byte length that fits the record.
/// An SSLv2-compatible ClientHello (0x80 high bit, msg type 1) also matches.
pub fn probe(input: &[u8]) -> Probe {
    let Some(&t) = input.first() else {
        return Probe::NeedMore;
    };
    if t & 0x80 != 0 {
        // SSLv2 record header: 2-byte length with high bit, then msg type 1
        // and a 3.x version.
        return match (input.get(2), input.get(3)) {
            (Some(1), Some(3)) => Probe::Match,
            (Some(_), Some(_)) => Probe::NoMatch,
            _ => Probe::NeedMore,
        };
    }
    if t != content_type::HANDSHAKE {
        return Probe::NoMatch;
    }
    let Some(&major) = input.get(1) else {
        return Probe::NeedMore;
    };
    if major != 3 {
        return Probe::NoMatch;
    }
    let Some(&minor) = input.get(2) else {
        return Probe::NeedMore;
    };
    if minor > 4 {
        return Probe::NoMatch;
    }
    let Some(rec_len) = be16(input, 3) else {
        return Probe::NeedMore;
    };
    if rec_len < 4 || rec_len as usize > MAX_RECORD_LEN {
        return Probe::NoMatch;
    }
    let Some(&ht) = input.get(5) else {
        return Probe::NeedMore;
    };
    if ht != handshake_type::CLIENT_HELLO && ht != handshake_type::SERVER_HELLO {
        return Probe::NoMatch;
    }
    let Some(hs_len) = be24(input, 6) else {
        return Probe::NeedMore;
    };
    // A hello is at least version(2)+random(32)+session id len(1)+...
    if !(38..=MAX_HANDSHAKE_LEN).contains(&hs_len) {
        return Probe::NoMatch;
    }
    let Some(&vmaj) = input.get(9) else {
        return Probe::NeedMore;
    };
    if vmaj != 3 {
        return Probe::NoMatch;
    }
    Probe::Match
}

/// One handshake message over the concatenated handshake bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake<'a> {
    /// Raw handshake type (see [`handshake_type`]).
    pub msg_type: u8,
    /// The message body (after the 4-byte header).
    pub body: &'a [u8],
    /// The decoded body for the types this module understands.
    pub detail: HandshakeDetail<'a>,
}

/// The decoded handshake body.
// The hello views are a few hundred bytes of borrowed slices; boxing them
// would cost an allocation per handshake message for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeDetail<'a> {
    /// A ClientHello.
    ClientHello(ClientHello<'a>),
    /// A ServerHello or a HelloRetryRequest (see [`ServerHello::is_hello_retry_request`]).
    ServerHello(ServerHello<'a>),
    /// A TLS ≤ 1.2 Certificate message.
    Certificate(CertificateList<'a>),
    /// A ClientHello/ServerHello/Certificate whose body did not parse (the
    /// handshake framing itself was fine).
    Malformed(&'static str),
    /// Any other type, body not decoded.
    Other,
}

/// Parses one handshake message from the front of the concatenated handshake
/// bytes.
///
/// ```text
///  0        1        2        3        4
/// +--------+--------+--------+--------+-----------------+
/// | type   | length (BE u24)          | body (length)   |
/// +--------+--------+--------+--------+-----------------+
/// ```
///
/// `Incomplete` when the body continues in later records. Invalid only when
/// the length exceeds [`MAX_HANDSHAKE_LEN`]. A body that does not decode is a
/// [`HandshakeDetail::Malformed`] message, not an `Invalid`, because the
/// framing is intact and the next message can still be found.
///
/// `dir` decides nothing; hellos are told apart by type.
pub fn parse_handshake(input: &[u8]) -> Parsed<Handshake<'_>> {
    let Some(len) = be24(input, 1) else {
        return Parsed::Incomplete {
            needed: HANDSHAKE_HEADER_LEN - input.len(),
        };
    };
    let msg_type = input[0];
    if len > MAX_HANDSHAKE_LEN {
        return Parsed::Invalid {
            reason: "handshake_too_long",
        };
    }
    let total = HANDSHAKE_HEADER_LEN + len;
    if input.len() < total {
        return Parsed::Incomplete {
            needed: total - input.len(),
        };
    }
    let body = &input[HANDSHAKE_HEADER_LEN..total];
    let detail = match msg_type {
        handshake_type::CLIENT_HELLO => match ClientHello::parse(body) {
            Ok(ch) => HandshakeDetail::ClientHello(ch),
            Err(e) => HandshakeDetail::Malformed(e),
        },
        handshake_type::SERVER_HELLO => match ServerHello::parse(body) {
            Ok(sh) => HandshakeDetail::ServerHello(sh),
            Err(e) => HandshakeDetail::Malformed(e),
        },
        handshake_type::CERTIFICATE => match CertificateList::parse(body) {
            Ok(c) => HandshakeDetail::Certificate(c),
            Err(e) => HandshakeDetail::Malformed(e),
        },
        _ => HandshakeDetail::Other,
    };
    Parsed::Message {
        consumed: total,
        message: Handshake {
            msg_type,
            body,
            detail,
        },
    }
}

/// Stream parser over the concatenated handshake bytes of one direction
/// (see the module docs). Holds no state.
#[derive(Debug, Clone, Copy, Default)]
pub struct HandshakeParser;

impl StreamParser for HandshakeParser {
    type Message<'a> = Handshake<'a>;

    fn parse<'a>(&mut self, input: &'a [u8], _dir: Direction) -> Parsed<Handshake<'a>> {
        parse_handshake(input)
    }

    /// Handshake bytes have no sync marker; after broken framing the engine
    /// should drop the buffer and wait for the next record that starts a
    /// message. This finds a ClientHello/ServerHello start if one is visible.
    fn resync(&mut self, input: &[u8], _dir: Direction) -> Option<usize> {
        (0..input.len()).find(|&i| {
            let b = &input[i..];
            matches!(b.first(), Some(1) | Some(2))
                && be24(b, 1).is_some_and(|l| (38..=MAX_HANDSHAKE_LEN).contains(&l))
                && b.get(4) == Some(&3)
        })
    }
}

/// A TLS ≤ 1.2 Certificate message: the chain, leaf first.
///
/// ```text
/// +----------------------+---------------+------------+---------------+-----
/// | chain length (u24)   | cert len (u24)| DER cert   | cert len (u24)| ...
/// +----------------------+---------------+------------+---------------+-----
/// ```
///
/// (TLS 1.3 certificates are encrypted and never seen here.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateList<'a> {
    chain: &'a [u8],
    count: usize,
    /// The chain was longer than [`MAX_CERTIFICATES`]; only that many are walked.
    pub truncated: bool,
}

impl<'a> CertificateList<'a> {
    /// Validates the chain framing. Errors name the broken field.
    pub fn parse(body: &'a [u8]) -> Result<Self, &'static str> {
        let chain_len = be24(body, 0).ok_or("certificate_short")?;
        let chain = body
            .get(3..3 + chain_len)
            .ok_or("certificate_chain_length")?;
        let mut off = 0usize;
        let mut count = 0usize;
        let mut truncated = false;
        while off < chain.len() {
            if count == MAX_CERTIFICATES {
                truncated = true;
                break;
            }
            let l = be24(chain, off).ok_or("certificate_entry_short")?;
            let end = off.checked_add(3 + l).ok_or("certificate_entry_length")?;
            if end > chain.len() {
                return Err("certificate_entry_length");
            }
            off = end;
            count += 1;
        }
        Ok(CertificateList {
            chain,
            count,
            truncated,
        })
    }

    /// Number of certificates walked.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the chain is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The DER certificates, leaf first.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let chain = self.chain;
        let mut off = 0usize;
        let mut left = self.count;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let l = be24(chain, off)?;
            let der = chain.get(off + 3..off + 3 + l)?;
            off += 3 + l;
            left -= 1;
            Some(der)
        })
    }

    /// The leaf (first) certificate, DER.
    pub fn first(&self) -> Option<&'a [u8]> {
        self.iter().next()
    }
}

/// Fuzz entry: runs every entry point and checks the invariants. Panics only
/// when an invariant is broken.
#[doc(hidden)]
pub fn fuzz(data: &[u8]) {
    use crate::stream::drive;
    let _ = probe(data);
    for dir in [Direction::ToServer, Direction::ToClient] {
        let mut hs_buf: Vec<u8> = Vec::new();
        let out = drive(&mut TlsRecordParser, data, dir, |r| {
            assert!(r.fragment.len() <= MAX_RECORD_LEN);
            if r.content_type == content_type::SSLV2_CLIENT_HELLO {
                if let Ok(h) = Sslv2ClientHello::parse(r.fragment) {
                    assert!(h.cipher_specs().count() * 3 <= r.fragment.len());
                }
            }
            if r.content_type == content_type::HANDSHAKE && hs_buf.len() < 2 * MAX_HANDSHAKE_LEN {
                hs_buf.extend_from_slice(r.fragment);
            }
        });
        assert!(out.consumed <= data.len());
        assert!(!out.stalled, "record parser stalled");
        if out.consumed < data.len() {
            assert!(
                out.needed.is_some(),
                "drive stopped early without asking for more"
            );
        }
        let hs = drive(&mut HandshakeParser, &hs_buf, dir, |h| check_handshake(&h));
        assert!(hs.consumed <= hs_buf.len());
        assert!(!hs.stalled, "handshake parser stalled");
        // The raw input as handshake bytes too (for seeds that are bare handshakes).
        let hs2 = drive(&mut HandshakeParser, data, dir, |h| check_handshake(&h));
        assert!(hs2.consumed <= data.len() && !hs2.stalled);
        if let Some(off) = TlsRecordParser.resync(data, dir) {
            assert!(off < data.len());
        }
        if let Some(off) = HandshakeParser.resync(data, dir) {
            assert!(off < data.len());
        }
    }
}

fn check_handshake(h: &Handshake<'_>) {
    assert!(h.body.len() <= MAX_HANDSHAKE_LEN);
    match &h.detail {
        HandshakeDetail::ClientHello(ch) => {
            let j = ja3(ch);
            assert_eq!(j.hash.len(), 32);
            let f = ja4(ch);
            assert!(f.len() >= 36, "ja4 too short: {f}");
            let _ = ja4_r(ch);
            let _ = ja4_o(ch);
            let _ = ch.sni();
            for e in ch.extensions() {
                assert!(e.data.len() <= h.body.len());
            }
            for a in ch.alpn() {
                assert!(a.len() <= 255);
            }
            let _ = ch.key_share_groups().count();
        }
        HandshakeDetail::ServerHello(sh) => {
            let j = ja3s(sh);
            assert_eq!(j.hash.len(), 32);
            let _ = sh.selected_version();
        }
        HandshakeDetail::Certificate(c) => {
            assert!(c.len() <= MAX_CERTIFICATES);
            for der in c.iter() {
                if let Ok(x) = parse_x509(der) {
                    let _ = x.subject_string();
                    let _ = x.issuer_string();
                    let _ = x.serial_string();
                    let _ = x.fingerprint_sha1();
                    let n = x.dns_names().count();
                    assert!(n <= x509::MAX_SAN_NAMES);
                }
            }
        }
        HandshakeDetail::Malformed(_) | HandshakeDetail::Other => {}
    }
}
