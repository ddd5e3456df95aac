//! TLS dissector: one `tls` EVE event per handshake.
//!
//! References: RFC 5246 §6.2, §7.4 (TLS 1.2 records and handshake),
//! RFC 8446 §4, §5 (TLS 1.3, HelloRetryRequest, middlebox compatibility
//! ChangeCipherSpec), RFC 6101 appendix E.2 (SSLv2-compatible ClientHello).
//! The parsers are in `spanwatch_parsers::tls`.
//!
//! # Per direction
//!
//! ```text
//! in-order bytes ──StreamBuf<TlsRecordParser>──▶ record
//!    type 22, plaintext ──StreamBuf<HandshakeParser> (≤ MAX_HANDSHAKE_BUF)──▶ handshake message ──▶ Tx
//!    type 20 (CCS)      ──▶ the direction is encrypted from here (see below)
//!    type 23            ──▶ encrypted: the handshake is over in this direction
//!    type 21, 2 bytes   ──▶ plaintext alert
//! ```
//!
//! Once a direction is encrypted its bytes are ignored at the top of
//! [`TlsState::on_data`] (no record parsing, no copy, no allocation), and its
//! buffers are released. When both directions are encrypted the flow costs
//! nothing more.
//!
//! When a direction turns encrypted:
//! * server: at a TLS 1.3 ServerHello (everything after it is encrypted), at
//!   its ChangeCipherSpec (TLS ≤ 1.2), or at its first application_data record;
//! * client: at its first application_data record, or at its ChangeCipherSpec
//!   when the version is known to be ≤ 1.2 (from the ServerHello, or because
//!   the ClientHello did not offer 1.3). A TLS 1.3 client's compatibility CCS
//!   does not count: after a HelloRetryRequest the second ClientHello follows
//!   it in clear.
//!
//! # One event per handshake
//!
//! The event is written when:
//! * a TLS 1.3 ServerHello arrives (certificates are encrypted),
//! * a TLS ≤ 1.2 ServerHelloDone arrives (the server's Certificate, if any,
//!   was before it), or the server's CCS (abbreviated handshake),
//! * application data or a plaintext alert shows the handshake is over, or
//!   was refused,
//! * a gap hits a direction still in its handshake (flag `gap`), or the flow
//!   closes: the ClientHello is then all we will get.
//!
//! **HelloRetryRequest**: one event. The top-level fields (`ja3`, `ja4`,
//! `sni`, `client_handshake` …) describe the *first* ClientHello,
//! `hello_retry_request: true` is set, `hello_retry` holds the HRR's
//! cipher and extensions, and `client_retry` the second ClientHello (its
//! key share differs). The baseline sees the second hello only when its JA4
//! differs from the first.
//!
//! TLS ≤ 1.2 certificate fields come from the first (leaf) certificate of
//! the server's Certificate message.
//!
//! An SSLv2-format ClientHello (RFC 6101 E.2) is logged with `sslv2: true`,
//! its version and the TLS suites among its cipher specs; it has no
//! extensions, so no JA3/JA4 (tshark gives none either) and no baseline
//! observation.
//!
//! # Anomalies
//!
//! Broken framing and protocol violations become names in
//! `tls.anomalies`; they never stop the flow. A direction that keeps sending
//! invalid records ([`MAX_INVALID_RECORDS`]) is given up.

use super::streambuf::StreamBuf;
use super::{idx, AppProto, Ctx, TcpApp};
use crate::baseline::obs::ObsKind;
use crate::output::json::JsonWriter;
use spanwatch_parsers::stream::Direction;
use spanwatch_parsers::tls::{
    self as ptls, content_type, ext, handshake_type, ClientHello, Handshake, HandshakeDetail,
    HandshakeParser, HelloFlags, Ja3, ServerHello, Sslv2ClientHello, TlsRecord, TlsRecordParser,
};

/// Bound of the per-direction handshake reassembly buffer: the largest
/// handshake message plus its header.
pub const MAX_HANDSHAKE_BUF: usize = ptls::MAX_HANDSHAKE_LEN + ptls::HANDSHAKE_HEADER_LEN;
/// Invalid records tolerated per direction before it is given up.
pub const MAX_INVALID_RECORDS: u32 = 16;
/// Longest list (ciphers, extensions, groups …) kept per hello.
pub const MAX_LIST: usize = 512;
/// ALPN names kept per ClientHello.
pub const MAX_ALPNS: usize = 32;
/// subjectAltName DNS names logged.
pub const MAX_SANS: usize = 64;

/// Anomaly flags of one handshake, named in `tls.anomalies`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsAnomalies(u32);

impl TlsAnomalies {
    /// A gap (capture loss) hit a direction during the handshake.
    pub const GAP: u32 = 1 << 0;
    /// A record header did not parse (bad type, version or length).
    pub const INVALID_RECORD: u32 = 1 << 1;
    /// A handshake message announced a length over the limit.
    pub const INVALID_HANDSHAKE: u32 = 1 << 2;
    /// A hello or certificate message did not decode (framing intact).
    pub const MALFORMED_MESSAGE: u32 = 1 << 3;
    /// Bytes after a hello's extensions.
    pub const TRAILING_BYTES: u32 = 1 << 4;
    /// An extension length overran the block.
    pub const EXTENSIONS_MALFORMED: u32 = 1 << 5;
    /// A known extension appeared twice.
    pub const DUPLICATE_EXTENSION: u32 = 1 << 6;
    /// A list inside an extension did not fit.
    pub const EXTENSION_LIST_MALFORMED: u32 = 1 << 7;
    /// Session id longer than 32 bytes.
    pub const SESSION_ID_TOO_LONG: u32 = 1 << 8;
    /// Odd-length cipher suite list.
    pub const CIPHER_LIST_ODD: u32 = 1 << 9;
    /// The leaf certificate did not parse.
    pub const CERTIFICATE_UNPARSED: u32 = 1 << 10;
    /// More certificates than the parser walks.
    pub const CHAIN_TRUNCATED: u32 = 1 << 11;
    /// A buffer bound was hit (record or handshake message too large).
    pub const OVERFLOW: u32 = 1 << 12;
    /// A parser made no progress and was stopped.
    pub const STALLED: u32 = 1 << 13;
    /// A second ClientHello without a HelloRetryRequest, or a second ServerHello.
    pub const UNEXPECTED_HELLO: u32 = 1 << 14;
    /// A hello sent in the wrong direction.
    pub const WRONG_DIRECTION: u32 = 1 << 15;
    /// Heartbeat records (RFC 6520).
    pub const HEARTBEAT: u32 = 1 << 16;
    /// The SNI is not valid UTF-8 (logged escaped).
    pub const SNI_NOT_UTF8: u32 = 1 << 17;
    /// Too many invalid records: the direction was given up.
    pub const GIVEN_UP: u32 = 1 << 18;
    /// A list was longer than [`MAX_LIST`] and was cut in the event.
    pub const LIST_CUT: u32 = 1 << 19;

    const NAMES: [(u32, &'static str); 20] = [
        (Self::GAP, "gap"),
        (Self::INVALID_RECORD, "invalid_record"),
        (Self::INVALID_HANDSHAKE, "invalid_handshake"),
        (Self::MALFORMED_MESSAGE, "malformed_message"),
        (Self::TRAILING_BYTES, "trailing_bytes"),
        (Self::EXTENSIONS_MALFORMED, "extensions_malformed"),
        (Self::DUPLICATE_EXTENSION, "duplicate_extension"),
        (Self::EXTENSION_LIST_MALFORMED, "extension_list_malformed"),
        (Self::SESSION_ID_TOO_LONG, "session_id_too_long"),
        (Self::CIPHER_LIST_ODD, "cipher_list_odd"),
        (Self::CERTIFICATE_UNPARSED, "certificate_unparsed"),
        (Self::CHAIN_TRUNCATED, "chain_truncated"),
        (Self::OVERFLOW, "overflow"),
        (Self::STALLED, "stalled"),
        (Self::UNEXPECTED_HELLO, "unexpected_hello"),
        (Self::WRONG_DIRECTION, "wrong_direction"),
        (Self::HEARTBEAT, "heartbeat"),
        (Self::SNI_NOT_UTF8, "sni_not_utf8"),
        (Self::GIVEN_UP, "given_up"),
        (Self::LIST_CUT, "list_cut"),
    ];

    /// Sets `bit`.
    pub fn set(&mut self, bit: u32) {
        self.0 |= bit;
    }

    /// True when `bit` is set.
    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    /// True when nothing is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn from_hello(f: &HelloFlags) -> TlsAnomalies {
        let mut a = TlsAnomalies::default();
        for (on, bit) in [
            (f.trailing_bytes, Self::TRAILING_BYTES),
            (f.extensions_malformed, Self::EXTENSIONS_MALFORMED),
            (f.duplicate_extension, Self::DUPLICATE_EXTENSION),
            (f.extension_list_malformed, Self::EXTENSION_LIST_MALFORMED),
            (f.session_id_too_long, Self::SESSION_ID_TOO_LONG),
            (f.cipher_list_odd, Self::CIPHER_LIST_ODD),
        ] {
            if on {
                a.set(bit);
            }
        }
        a
    }

    fn write(self, w: &mut JsonWriter<'_>) {
        if self.is_empty() {
            return;
        }
        w.begin_array("anomalies");
        for (bit, name) in Self::NAMES {
            if self.has(bit) {
                w.element_str(name);
            }
        }
        w.end_array();
    }
}

/// What a ClientHello said, owned (kept until the event is written).
#[derive(Debug, Clone, Default)]
struct ClientInfo {
    record_version: u16,
    version: u16,
    supported_versions: Vec<u16>,
    ciphers: Vec<u16>,
    extensions: Vec<u16>,
    groups: Vec<u16>,
    sig_algs: Vec<u16>,
    key_share_groups: Vec<u16>,
    sni: Option<Vec<u8>>,
    alpns: Vec<Vec<u8>>,
    ja3: Option<Ja3>,
    ja4: Option<String>,
    ech_type: Option<u8>,
    sslv2: bool,
    /// SSLv2 cipher specs that are not TLS suites (high byte set).
    sslv2_only_specs: usize,
    len: usize,
}

fn capped<T: Copy>(it: impl Iterator<Item = T>, cut: &mut bool) -> Vec<T> {
    let mut v = Vec::new();
    for x in it {
        if v.len() == MAX_LIST {
            *cut = true;
            break;
        }
        v.push(x);
    }
    v
}

impl ClientInfo {
    fn new(ch: &ClientHello<'_>, record_version: u16, len: usize, cut: &mut bool) -> ClientInfo {
        ClientInfo {
            record_version,
            version: ch.version,
            supported_versions: capped(ch.supported_versions.iter(), cut),
            ciphers: capped(ch.cipher_suites.iter(), cut),
            extensions: capped(ch.extensions().map(|e| e.ext_type), cut),
            groups: capped(ch.supported_groups.iter(), cut),
            sig_algs: capped(ch.signature_algorithms.iter(), cut),
            key_share_groups: capped(ch.key_share_groups(), cut),
            sni: ch.sni_bytes().map(<[u8]>::to_vec),
            alpns: ch.alpn().take(MAX_ALPNS).map(<[u8]>::to_vec).collect(),
            ja3: Some(ptls::ja3(ch)),
            ja4: Some(ptls::ja4(ch)),
            ech_type: if ch.has_ech() {
                Some(ch.ech_type().unwrap_or(u8::MAX))
            } else {
                None
            },
            sslv2: false,
            sslv2_only_specs: 0,
            len,
        }
    }

    fn from_sslv2(h: &Sslv2ClientHello<'_>) -> ClientInfo {
        let mut ciphers = Vec::new();
        let mut other = 0usize;
        for spec in h.cipher_specs() {
            if spec <= 0xffff {
                if ciphers.len() < MAX_LIST {
                    ciphers.push(spec as u16);
                }
            } else {
                other += 1;
            }
        }
        ClientInfo {
            version: h.version,
            ciphers,
            sslv2: true,
            sslv2_only_specs: other,
            len: h.cipher_specs.len() + h.session_id.len() + h.challenge.len() + 9,
            ..ClientInfo::default()
        }
    }

    /// The highest version offered (supported_versions without GREASE, else
    /// the legacy version).
    fn offered(&self) -> u16 {
        self.supported_versions
            .iter()
            .copied()
            .filter(|v| !ptls::is_grease(*v))
            .max()
            .unwrap_or(self.version)
    }

    fn sni_str(&self) -> Option<&str> {
        self.sni
            .as_deref()
            .and_then(|s| std::str::from_utf8(s).ok())
    }

    fn write(&self, w: &mut JsonWriter<'_>, key: &str) {
        w.begin_object(key);
        if self.sslv2 {
            w.bool("sslv2", true);
        }
        w.fmt(
            "record_version",
            format_args!("{}", VersionName(self.record_version)),
        )
        .fmt("version", format_args!("{}", VersionName(self.version)));
        if !self.supported_versions.is_empty() {
            w.begin_array("supported_versions");
            for v in &self.supported_versions {
                w.element_str(&VersionName(*v).to_string());
            }
            w.end_array();
        }
        u16_array(w, "ciphers", &self.ciphers);
        if self.sslv2_only_specs > 0 {
            w.u64("sslv2_only_ciphers", self.sslv2_only_specs as u64);
        }
        if !self.sslv2 {
            u16_array(w, "exts", &self.extensions);
            u16_array(w, "groups", &self.groups);
            u16_array(w, "sig_algs", &self.sig_algs);
            u16_array(w, "key_share_groups", &self.key_share_groups);
        }
        w.u64("length", self.len as u64);
        w.end_object();
    }
}

fn u16_array(w: &mut JsonWriter<'_>, key: &str, v: &[u16]) {
    w.begin_array(key);
    for x in v {
        w.element_u64(u64::from(*x));
    }
    w.end_array();
}

/// `TLS 1.2` for known versions, `0x7a7a` for the rest (GREASE, drafts).
struct VersionName(u16);

impl std::fmt::Display for VersionName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match ptls::version_name(self.0) {
            Some(n) => f.write_str(n),
            None => write!(f, "0x{:04x}", self.0),
        }
    }
}

/// What a ServerHello (or HelloRetryRequest) said, owned.
#[derive(Debug, Clone)]
struct ServerInfo {
    record_version: u16,
    version: u16,
    selected: Option<u16>,
    cipher: u16,
    compression: u8,
    extensions: Vec<u16>,
    alpn: Option<Vec<u8>>,
    ja3s: Ja3,
}

impl ServerInfo {
    fn new(sh: &ServerHello<'_>, record_version: u16, cut: &mut bool) -> ServerInfo {
        ServerInfo {
            record_version,
            version: sh.version,
            selected: sh.selected_version(),
            cipher: sh.cipher_suite,
            compression: sh.compression_method,
            extensions: capped(sh.extensions().map(|e| e.ext_type), cut),
            alpn: sh
                .extensions()
                .find(|e| e.ext_type == ext::ALPN)
                .and_then(|e| server_alpn(e.data))
                .map(<[u8]>::to_vec),
            ja3s: ptls::ja3s(sh),
        }
    }

    fn effective(&self) -> u16 {
        self.selected.unwrap_or(self.version)
    }

    fn write(&self, w: &mut JsonWriter<'_>, key: &str) {
        w.begin_object(key)
            .fmt(
                "record_version",
                format_args!("{}", VersionName(self.record_version)),
            )
            .fmt("version", format_args!("{}", VersionName(self.version)));
        if let Some(v) = self.selected {
            w.fmt("selected_version", format_args!("{}", VersionName(v)));
        }
        w.u64("cipher", u64::from(self.cipher))
            .fmt("cipher_hex", format_args!("0x{:04x}", self.cipher));
        if self.compression != 0 {
            w.u64("compression", u64::from(self.compression));
        }
        u16_array(w, "exts", &self.extensions);
        w.end_object();
    }
}

/// The ALPN extension of a ServerHello: exactly one protocol name
/// (RFC 7301 §3.1): `u16 list length, u8 name length, name`.
fn server_alpn(b: &[u8]) -> Option<&[u8]> {
    let list = b.get(2..)?;
    let (&l, rest) = list.split_first()?;
    rest.get(..l as usize)
}

/// The leaf certificate's fields, owned.
#[derive(Debug, Clone, Default)]
struct CertInfo {
    subject: String,
    issuer: String,
    serial: String,
    fingerprint: String,
    not_before: String,
    not_after: String,
    sans: Vec<String>,
}

/// One handshake being assembled.
#[derive(Debug, Default)]
struct Tx {
    client: Option<Box<ClientInfo>>,
    hrr: Option<Box<ServerInfo>>,
    retry_client: Option<Box<ClientInfo>>,
    server: Option<Box<ServerInfo>>,
    cert: Option<Box<CertInfo>>,
    chain_len: usize,
    client_certificate: bool,
    alert: Option<(Direction, u8, u8)>,
    malformed: Option<&'static str>,
    anomalies: TlsAnomalies,
    /// Ready to be written.
    complete: bool,
}

impl Tx {
    fn has_content(&self) -> bool {
        self.client.is_some() || self.server.is_some() || self.hrr.is_some()
    }
}

/// State of one direction.
#[derive(Debug, Default)]
struct Side {
    records: StreamBuf,
    hs: StreamBuf,
    /// Version of the record in which the pending handshake message started.
    msg_record_version: u16,
    /// No plaintext handshake follows: bytes are ignored.
    encrypted: bool,
    invalid_records: u32,
    /// Nothing more is parsed in this direction.
    off: bool,
}

/// Per-flow TLS state. Also used by SMTP after STARTTLS.
#[derive(Debug, Default)]
pub struct TlsState {
    sides: [Side; 2],
    tx: Tx,
    /// Version chosen by the server (HRR or ServerHello), 0 until seen.
    negotiated: u16,
    /// Handshakes written.
    events: u32,
}

fn di(dir: Direction) -> usize {
    match dir {
        Direction::ToServer => 0,
        Direction::ToClient => 1,
    }
}

fn is_tls13(v: u16) -> bool {
    v == 0x0304 || (v >> 8) == 0x7f
}

impl TlsState {
    /// A fresh state (a connection that starts with TLS).
    pub fn new() -> TlsState {
        TlsState::default()
    }

    /// True when both directions are encrypted (or given up): further bytes
    /// cost nothing.
    pub fn finished(&self) -> bool {
        self.sides[0].off && self.sides[1].off
    }

    /// Handshake events written so far.
    pub fn events(&self) -> u32 {
        self.events
    }

    fn feed(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) {
        let d = di(dir);
        let max = ctx.cfg.max_pending_bytes;
        let TlsState {
            sides,
            tx,
            negotiated,
            events,
        } = self;
        let side = &mut sides[d];
        let Side {
            records,
            hs,
            msg_record_version,
            encrypted,
            invalid_records,
            ..
        } = side;
        let out = records.feed(&mut TlsRecordParser, dir, data, max, |rec| {
            on_record(
                RecordCtx {
                    hs,
                    msg_record_version,
                    encrypted,
                    tx,
                    negotiated,
                    events,
                    dir,
                },
                rec,
                ctx,
            );
        });
        ctx.stats.invalid[idx(AppProto::Tls)] += out.invalid as u64;
        if out.invalid > 0 {
            self.tx.anomalies.set(TlsAnomalies::INVALID_RECORD);
            *invalid_records = invalid_records.saturating_add(out.invalid as u32);
        }
        if out.overflow {
            ctx.stats.pending_overflows += 1;
            self.tx.anomalies.set(TlsAnomalies::OVERFLOW);
        }
        if out.stalled {
            ctx.stats.stalled += 1;
            self.tx.anomalies.set(TlsAnomalies::STALLED);
        }
        if *invalid_records >= MAX_INVALID_RECORDS {
            self.tx.anomalies.set(TlsAnomalies::GIVEN_UP);
            side.off = true;
        }
        if side.encrypted {
            side.off = true;
        }
        if side.off {
            // Release the buffers: nothing more is parsed here.
            side.records = StreamBuf::default();
            side.hs = StreamBuf::default();
        }
        if self.tx.complete || (self.finished() && self.tx.has_content()) {
            flush(&mut self.tx, &mut self.events, ctx);
        }
    }
}

/// What a record handler may touch.
struct RecordCtx<'s> {
    hs: &'s mut StreamBuf,
    msg_record_version: &'s mut u16,
    encrypted: &'s mut bool,
    tx: &'s mut Tx,
    negotiated: &'s mut u16,
    events: &'s mut u32,
    dir: Direction,
}

fn on_record(r: RecordCtx<'_>, rec: TlsRecord<'_>, ctx: &mut Ctx<'_>) {
    let RecordCtx {
        hs,
        msg_record_version,
        encrypted,
        tx,
        negotiated,
        events,
        dir,
    } = r;
    match rec.content_type {
        content_type::HANDSHAKE => {
            if *encrypted {
                return;
            }
            if hs.pending() == 0 {
                *msg_record_version = rec.version;
            }
            let rv = *msg_record_version;
            let o = hs.feed(
                &mut HandshakeParser,
                dir,
                rec.fragment,
                MAX_HANDSHAKE_BUF,
                |m| on_handshake(tx, negotiated, encrypted, events, dir, rv, m, ctx),
            );
            ctx.stats.invalid[idx(AppProto::Tls)] += o.invalid as u64;
            if o.invalid > 0 {
                tx.anomalies.set(TlsAnomalies::INVALID_HANDSHAKE);
            }
            if o.overflow {
                ctx.stats.pending_overflows += 1;
                tx.anomalies.set(TlsAnomalies::OVERFLOW);
            }
            if o.stalled {
                ctx.stats.stalled += 1;
                tx.anomalies.set(TlsAnomalies::STALLED);
            }
        }
        content_type::CHANGE_CIPHER_SPEC => {
            if *encrypted {
                return;
            }
            let le12 = if *negotiated != 0 {
                !is_tls13(*negotiated)
            } else {
                // Version not known (one-sided capture): a client that did
                // not offer 1.3 is encrypted from its CCS on.
                tx.client.as_ref().is_some_and(|c| !is_tls13(c.offered()))
            };
            if dir == Direction::ToClient || le12 {
                *encrypted = true;
            }
            if dir == Direction::ToClient && tx.server.is_some() {
                tx.complete = true;
            }
        }
        content_type::APPLICATION_DATA => {
            *encrypted = true;
            if tx.has_content() {
                tx.complete = true;
            }
        }
        content_type::ALERT => {
            if *encrypted {
                return;
            }
            if let [level, desc] = rec.fragment {
                tx.alert = Some((dir, *level, *desc));
                if tx.has_content() {
                    tx.complete = true;
                }
            }
        }
        content_type::HEARTBEAT => tx.anomalies.set(TlsAnomalies::HEARTBEAT),
        content_type::SSLV2_CLIENT_HELLO => {
            ctx.stats.messages[idx(AppProto::Tls)] += 1;
            match Sslv2ClientHello::parse(rec.fragment) {
                Ok(h) => {
                    if tx.has_content() {
                        tx.anomalies.set(TlsAnomalies::UNEXPECTED_HELLO);
                        flush(tx, events, ctx);
                    }
                    tx.client = Some(Box::new(ClientInfo::from_sslv2(&h)));
                }
                Err(e) => {
                    tx.anomalies.set(TlsAnomalies::MALFORMED_MESSAGE);
                    tx.malformed.get_or_insert(e);
                }
            }
        }
        _ => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn on_handshake(
    tx: &mut Tx,
    negotiated: &mut u16,
    encrypted: &mut bool,
    events: &mut u32,
    dir: Direction,
    record_version: u16,
    m: Handshake<'_>,
    ctx: &mut Ctx<'_>,
) {
    ctx.stats.messages[idx(AppProto::Tls)] += 1;
    match m.detail {
        HandshakeDetail::ClientHello(ch) => {
            if dir != Direction::ToServer {
                tx.anomalies.set(TlsAnomalies::WRONG_DIRECTION);
                return;
            }
            let mut cut = false;
            let info = Box::new(ClientInfo::new(&ch, record_version, m.body.len(), &mut cut));
            let mut a = TlsAnomalies::from_hello(&ch.flags);
            if cut {
                a.set(TlsAnomalies::LIST_CUT);
            }
            if info.sni.is_some() && info.sni_str().is_none() {
                a.set(TlsAnomalies::SNI_NOT_UTF8);
            }
            let retry = tx.hrr.is_some() && tx.retry_client.is_none() && tx.client.is_some();
            if !retry && tx.has_content() {
                // A new handshake without the old one finishing.
                tx.anomalies.set(TlsAnomalies::UNEXPECTED_HELLO);
                flush(tx, events, ctx);
            }
            tx.anomalies.set(a.0);
            let observe = if retry {
                tx.client.as_ref().map(|c| &c.ja4) != Some(&info.ja4)
            } else {
                true
            };
            if observe {
                ctx.observe(ObsKind::TlsHello {
                    sni: info.sni_str().map(Box::from),
                    ja4: info.ja4.as_deref().unwrap_or("").into(),
                });
            }
            if retry {
                tx.retry_client = Some(info);
            } else {
                tx.client = Some(info);
            }
        }
        HandshakeDetail::ServerHello(sh) => {
            if dir != Direction::ToClient {
                tx.anomalies.set(TlsAnomalies::WRONG_DIRECTION);
                return;
            }
            let mut cut = false;
            let info = Box::new(ServerInfo::new(&sh, record_version, &mut cut));
            let mut a = TlsAnomalies::from_hello(&sh.flags);
            if cut {
                a.set(TlsAnomalies::LIST_CUT);
            }
            if sh.is_hello_retry_request() {
                if tx.hrr.is_some() || tx.server.is_some() {
                    tx.anomalies.set(TlsAnomalies::UNEXPECTED_HELLO);
                    flush(tx, events, ctx);
                }
                *negotiated = info.effective();
                tx.hrr = Some(info);
                tx.anomalies.set(a.0);
                return;
            }
            if tx.server.is_some() {
                tx.anomalies.set(TlsAnomalies::UNEXPECTED_HELLO);
                flush(tx, events, ctx);
            }
            tx.anomalies.set(a.0);
            *negotiated = info.effective();
            if is_tls13(info.effective()) {
                // Everything the server sends after this is encrypted.
                *encrypted = true;
                tx.complete = true;
            }
            tx.server = Some(info);
        }
        HandshakeDetail::Certificate(list) => {
            if dir == Direction::ToServer {
                tx.client_certificate = true;
                return;
            }
            if tx.cert.is_some() {
                return;
            }
            tx.chain_len = list.len();
            if list.truncated {
                tx.anomalies.set(TlsAnomalies::CHAIN_TRUNCATED);
            }
            if let Some(der) = list.first() {
                match ptls::parse_x509(der) {
                    Ok(x) => {
                        tx.cert = Some(Box::new(CertInfo {
                            subject: x.subject_string(),
                            issuer: x.issuer_string(),
                            serial: x.serial_string(),
                            fingerprint: x.fingerprint_sha1(),
                            not_before: x.not_before.to_string(),
                            not_after: x.not_after.to_string(),
                            sans: x
                                .dns_names()
                                .take(MAX_SANS)
                                .map(|n| String::from_utf8_lossy(n).into_owned())
                                .collect(),
                        }))
                    }
                    Err(_) => tx.anomalies.set(TlsAnomalies::CERTIFICATE_UNPARSED),
                }
            }
        }
        HandshakeDetail::Malformed(reason) => {
            tx.anomalies.set(TlsAnomalies::MALFORMED_MESSAGE);
            tx.malformed.get_or_insert(reason);
        }
        HandshakeDetail::Other => {
            if m.msg_type == handshake_type::SERVER_HELLO_DONE && dir == Direction::ToClient {
                tx.complete = true;
            }
        }
    }
}

/// Writes the handshake's event (when it has a hello) and starts a new one.
fn flush(tx: &mut Tx, events: &mut u32, ctx: &mut Ctx<'_>) {
    let t = std::mem::take(tx);
    if t.has_content() {
        *events = events.saturating_add(1);
        ctx.event(AppProto::Tls, "tls", |w| write_tx(&t, w));
    } else if !t.anomalies.is_empty() && *events == 0 {
        // Nothing readable on a flow that never showed a handshake. (After a
        // logged handshake, leftovers such as a gap before the CCS are not
        // reported.)
        ctx.anomaly(Some(AppProto::Tls), "applayer", "tls_no_handshake", |w| {
            t.anomalies.write(w)
        });
    }
}

fn write_tx(t: &Tx, w: &mut JsonWriter<'_>) {
    w.begin_object("tls");
    let c = t.client.as_deref();
    if let Some(sni) = c.and_then(|c| c.sni.as_deref()) {
        w.bytes_str("sni", sni);
    }
    let version = t
        .server
        .as_ref()
        .map(|s| s.effective())
        .or(t.hrr.as_ref().map(|s| s.effective()))
        .or(c.map(|c| c.offered()));
    if let Some(v) = version {
        w.fmt("version", format_args!("{}", VersionName(v)));
    }
    if let Some(cert) = t.cert.as_deref() {
        w.str("subject", &cert.subject)
            .str("issuerdn", &cert.issuer)
            .str("serial", &cert.serial)
            .str("fingerprint", &cert.fingerprint)
            .str("notbefore", &cert.not_before)
            .str("notafter", &cert.not_after);
        if !cert.sans.is_empty() {
            w.begin_array("subjectaltname");
            for s in &cert.sans {
                w.element_str(s);
            }
            w.end_array();
        }
    }
    if t.chain_len > 0 {
        w.u64("certificate_count", t.chain_len as u64);
    }
    if let Some(c) = c {
        if let Some(j) = &c.ja3 {
            w.begin_object("ja3")
                .str("hash", &j.hash)
                .str("string", &j.string)
                .end_object();
        }
        if let Some(j) = &c.ja4 {
            w.str("ja4", j);
        }
    }
    if let Some(s) = t.server.as_deref().or(t.hrr.as_deref()) {
        w.begin_object("ja3s")
            .str("hash", &s.ja3s.hash)
            .str("string", &s.ja3s.string)
            .end_object();
    }
    if let Some(c) = c {
        if !c.alpns.is_empty() {
            w.begin_array("client_alpns");
            for a in &c.alpns {
                w.element_bytes(a);
            }
            w.end_array();
        }
    }
    if let Some(a) = t.server.as_ref().and_then(|s| s.alpn.as_deref()) {
        w.begin_array("server_alpns").element_bytes(a).end_array();
    }
    if let Some(c) = c {
        if let Some(t) = c.ech_type {
            w.bool("ech", true).str(
                "ech_type",
                match t {
                    0 => "outer",
                    1 => "inner",
                    _ => "unknown",
                },
            );
        }
        c.write(w, "client_handshake");
    }
    if let Some(s) = t.server.as_deref() {
        s.write(w, "server_handshake");
    }
    if let Some(h) = t.hrr.as_deref() {
        w.bool("hello_retry_request", true);
        h.write(w, "hello_retry");
        if let Some(rc) = t.retry_client.as_deref() {
            rc.write(w, "client_retry");
            if let Some(j) = &rc.ja3 {
                w.begin_object("client_retry_ja3")
                    .str("hash", &j.hash)
                    .str("string", &j.string)
                    .end_object();
            }
            if let Some(j) = &rc.ja4 {
                w.str("client_retry_ja4", j);
            }
        }
    }
    if t.client_certificate {
        w.bool("client_certificate", true);
    }
    if let Some((dir, level, desc)) = t.alert {
        w.begin_object("alert")
            .str(
                "from",
                if dir == Direction::ToServer {
                    "client"
                } else {
                    "server"
                },
            )
            .u64("level", u64::from(level))
            .u64("description", u64::from(desc))
            .end_object();
    }
    if let Some(m) = t.malformed {
        w.str("malformed", m);
    }
    t.anomalies.write(w);
    w.end_object();
}

impl TcpApp for TlsState {
    fn on_data(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) {
        if data.is_empty() || self.sides[di(dir)].off {
            return;
        }
        self.feed(dir, data, ctx);
    }

    fn on_gap(&mut self, dir: Direction, _len: u64, ctx: &mut Ctx<'_>) {
        let side = &mut self.sides[di(dir)];
        if side.off {
            return;
        }
        side.records.gap();
        side.hs.gap();
        self.tx.anomalies.set(TlsAnomalies::GAP);
        if self.tx.has_content() {
            flush(&mut self.tx, &mut self.events, ctx);
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_>) {
        flush(&mut self.tx, &mut self.events, ctx);
    }
}

#[cfg(test)]
pub(crate) mod harness {
    //! A flow context for dissector unit tests.
    use crate::baseline::obs::{ObsBuf, ObsKind};
    use crate::decode::Addr;
    use crate::dissect::{Ctx, DissectConfig, DissectStats};
    use crate::output::eve::FlowHeader;

    pub struct Harness {
        pub out: Vec<u8>,
        pub flow: FlowHeader,
        pub cfg: DissectConfig,
        pub stats: DissectStats,
        pub obs: ObsBuf,
    }

    impl Harness {
        pub fn new(sport: u16, dport: u16, proto: u8) -> Harness {
            Harness {
                out: Vec::new(),
                flow: FlowHeader {
                    flow_id: 1,
                    src: Addr(0xffff_0a00_0001),
                    dst: Addr(0xffff_0a00_0002),
                    sport,
                    dport,
                    proto,
                    is_v6: false,
                    vlan: 0,
                    tunnel: None,
                },
                cfg: DissectConfig::default(),
                stats: DissectStats::default(),
                obs: ObsBuf {
                    items: Vec::new(),
                    enabled: true,
                },
            }
        }

        pub fn ctx(&mut self) -> Ctx<'_> {
            Ctx {
                out: &mut self.out,
                flow: &self.flow,
                ts: 1_700_000_000_000_000_000,
                cfg: &self.cfg,
                stats: &mut self.stats,
                seq: 0,
                obs: &mut self.obs,
            }
        }

        /// EVE records of `event_type`, parsed.
        pub fn events(&self, event_type: &str) -> Vec<serde_json::Value> {
            String::from_utf8_lossy(&self.out)
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("valid JSON"))
                .filter(|v| v["event_type"] == event_type)
                .collect()
        }

        pub fn obs_kinds(&self) -> Vec<&ObsKind> {
            self.obs.items.iter().map(|o| &o.kind).collect()
        }
    }

    /// The fuzz seeds of `proto` (`parsers/fuzz/corpus/<proto>`): pairs of
    /// (client bytes, server bytes) by file-name prefix.
    pub fn seeds(proto: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../parsers/fuzz/corpus")
            .join(proto);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let read = |n: &str| std::fs::read(dir.join(n)).unwrap_or_default();
        let mut out = Vec::new();
        for n in &names {
            if let Some(base) = n.strip_suffix("_client") {
                out.push((read(n), read(&format!("{base}_server"))));
            } else if !n.ends_with("_server") {
                out.push((read(n), Vec::new()));
            }
        }
        out
    }

    /// Feeds both directions to `app` in pieces chosen by `cuts` (size,
    /// direction, and now and then a gap), closes it, and checks that every
    /// line written is valid JSON.
    pub fn interleave(
        app: &mut dyn crate::dissect::TcpApp,
        h: &mut Harness,
        client: &[u8],
        server: &[u8],
        cuts: &[u8],
    ) {
        use spanwatch_parsers::stream::Direction;
        let mut pos = [0usize, 0usize];
        let data = [client, server];
        let mut k = 0usize;
        while pos[0] < client.len() || pos[1] < server.len() {
            let b = cuts.get(k % cuts.len().max(1)).copied().unwrap_or(200);
            k += 1;
            let mut d = usize::from(b & 0x80 != 0);
            if pos[d] >= data[d].len() {
                d = 1 - d;
            }
            let dir = if d == 0 {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            let n = 1 + (b as usize % 61) * 7;
            let end = (pos[d] + n).min(data[d].len());
            if b % 61 == 13 {
                app.on_gap(dir, (end - pos[d]) as u64, &mut h.ctx());
            } else {
                app.on_data(dir, &data[d][pos[d]..end], &mut h.ctx());
            }
            pos[d] = end;
        }
        app.on_close(&mut h.ctx());
        for l in String::from_utf8_lossy(&h.out).lines() {
            assert!(
                serde_json::from_str::<serde_json::Value>(l).is_ok(),
                "invalid JSON: {l}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::harness::Harness;
    use super::*;

    /// A handshake record carrying `body` as one handshake message of `ht`.
    fn hs_record(version: u16, ht: u8, body: &[u8]) -> Vec<u8> {
        let mut msg = vec![ht];
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(body);
        record(22, version, &msg)
    }

    fn record(ct: u8, version: u16, frag: &[u8]) -> Vec<u8> {
        let mut r = vec![ct];
        r.extend_from_slice(&version.to_be_bytes());
        r.extend_from_slice(&(frag.len() as u16).to_be_bytes());
        r.extend_from_slice(frag);
        r
    }

    fn ext(t: u16, data: &[u8]) -> Vec<u8> {
        let mut e = t.to_be_bytes().to_vec();
        e.extend_from_slice(&(data.len() as u16).to_be_bytes());
        e.extend_from_slice(data);
        e
    }

    /// ClientHello body: version 0x0303, zero random, empty session id,
    /// the given ciphers, null compression, the given extensions.
    fn client_hello(ciphers: &[u16], exts: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![0x03, 0x03];
        b.extend_from_slice(&[0u8; 32]); // random
        b.push(0); // session id length
        b.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            b.extend_from_slice(&c.to_be_bytes());
        }
        b.extend_from_slice(&[1, 0]); // compression: null
        let all: Vec<u8> = exts.concat();
        b.extend_from_slice(&(all.len() as u16).to_be_bytes());
        b.extend_from_slice(&all);
        b
    }

    fn sni_ext(name: &str) -> Vec<u8> {
        let mut d = ((name.len() + 3) as u16).to_be_bytes().to_vec();
        d.push(0);
        d.extend_from_slice(&(name.len() as u16).to_be_bytes());
        d.extend_from_slice(name.as_bytes());
        ext(0, &d)
    }

    fn server_hello(cipher: u16, exts: &[Vec<u8>], random: [u8; 32]) -> Vec<u8> {
        let mut b = vec![0x03, 0x03];
        b.extend_from_slice(&random);
        b.push(0);
        b.extend_from_slice(&cipher.to_be_bytes());
        b.push(0);
        let all: Vec<u8> = exts.concat();
        b.extend_from_slice(&(all.len() as u16).to_be_bytes());
        b.extend_from_slice(&all);
        b
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, ..Default::default() })]

        /// Fuzzing: mutated real handshakes in random pieces, with gaps, never
        /// panic and always write valid JSON.
        #[test]
        fn mutated_handshakes_in_any_split_never_panic(
            seed in 0usize..64,
            flips in proptest::collection::vec((proptest::prelude::any::<u16>(), proptest::prelude::any::<u8>()), 0..8),
            cut in proptest::prelude::any::<u16>(),
            cuts in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..32),
        ) {
            let seeds = super::harness::seeds("tls");
            if seeds.is_empty() {
                return Ok(());
            }
            let (mut c, mut s) = seeds[seed % seeds.len()].clone();
            for (at, v) in &flips {
                let buf = if at & 1 == 0 { &mut c } else { &mut s };
                if !buf.is_empty() {
                    let i = *at as usize % buf.len();
                    buf[i] = *v;
                }
            }
            c.truncate(c.len().saturating_sub(cut as usize % 64));
            let mut h = Harness::new(40000, 443, 6);
            super::harness::interleave(&mut TlsState::new(), &mut h, &c, &s, &cuts);
        }
    }

    #[test]
    fn client_hello_of_12_kb_over_two_records_and_many_segments() {
        // A 12 000-byte padding extension (type 21) makes the hello span two
        // records (16 384 max per record); deliver it 700 bytes at a time.
        let body = client_hello(
            &[0x1301, 0xc02f],
            &[sni_ext("big.example.test"), ext(21, &[0u8; 12_000])],
        );
        let mut msg = vec![1];
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(&body);
        let (a, b) = msg.split_at(5000);
        let mut wire = record(22, 0x0301, a);
        wire.extend(record(22, 0x0301, b));
        let mut h = Harness::new(40000, 443, 6);
        let mut st = TlsState::new();
        for chunk in wire.chunks(700) {
            st.on_data(Direction::ToServer, chunk, &mut h.ctx());
        }
        assert!(h.events("tls").is_empty(), "waits for the server");
        st.on_close(&mut h.ctx());
        let ev = h.events("tls");
        assert_eq!(ev.len(), 1);
        let t = &ev[0]["tls"];
        assert_eq!(t["sni"], "big.example.test");
        assert_eq!(t["client_handshake"]["length"], body.len());
        assert_eq!(t["client_handshake"]["record_version"], "TLS 1.0");
        assert_eq!(t["client_handshake"]["exts"], serde_json::json!([0, 21]));
        assert_eq!(t["ja3"]["string"], "771,4865-49199,0-21,,");
        assert!(matches!(
            h.obs_kinds()[..],
            [ObsKind::TlsHello { sni: Some(s), .. }] if &**s == "big.example.test"
        ));
    }

    #[test]
    fn tls13_server_hello_writes_the_event_and_later_bytes_are_ignored() {
        let mut h = Harness::new(40000, 443, 6);
        let mut st = TlsState::new();
        let ch = hs_record(
            0x0301,
            1,
            &client_hello(&[0x1301], &[ext(0x2b, &[2, 0x03, 0x04])]),
        );
        st.on_data(Direction::ToServer, &ch, &mut h.ctx());
        let mut sh = hs_record(
            0x0303,
            2,
            &server_hello(0x1301, &[ext(0x2b, &[0x03, 0x04])], [7; 32]),
        );
        sh.extend(record(20, 0x0303, &[1]));
        sh.extend(record(23, 0x0303, &[0xaa; 40]));
        st.on_data(Direction::ToClient, &sh, &mut h.ctx());
        let ev = h.events("tls");
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["tls"]["version"], "TLS 1.3");
        assert_eq!(ev[0]["tls"]["server_handshake"]["cipher"], 0x1301);
        assert!(st.sides[1].off);
        // Client: compatibility CCS then encrypted records.
        let mut c2 = record(20, 0x0303, &[1]);
        c2.extend(record(23, 0x0303, &[0xbb; 30]));
        st.on_data(Direction::ToServer, &c2, &mut h.ctx());
        assert!(st.finished());
        // Anything after that, even garbage, is not looked at.
        st.on_data(Direction::ToServer, &[0xff; 100], &mut h.ctx());
        st.on_close(&mut h.ctx());
        assert_eq!(h.events("tls").len(), 1);
        assert!(h.events("anomaly").is_empty());
    }

    #[test]
    fn hello_retry_request_gives_one_event_with_both_client_hellos() {
        let mut h = Harness::new(40000, 443, 6);
        let mut st = TlsState::new();
        let ks = |g: u16| {
            let mut d = 6u16.to_be_bytes().to_vec();
            d.extend_from_slice(&g.to_be_bytes());
            d.extend_from_slice(&[0, 2, 9, 9]);
            ext(0x33, &d)
        };
        let ch1 = client_hello(&[0x1301], &[ext(0x2b, &[2, 3, 4]), ks(29)]);
        st.on_data(
            Direction::ToServer,
            &hs_record(0x0301, 1, &ch1),
            &mut h.ctx(),
        );
        let hrr = server_hello(0x1301, &[ext(0x2b, &[3, 4])], ptls::HRR_RANDOM);
        st.on_data(
            Direction::ToClient,
            &hs_record(0x0303, 2, &hrr),
            &mut h.ctx(),
        );
        // Compatibility CCS, then the second hello in clear.
        let mut c2 = record(20, 0x0303, &[1]);
        c2.extend(hs_record(
            0x0303,
            1,
            &client_hello(&[0x1301], &[ext(0x2b, &[2, 3, 4]), ks(23)]),
        ));
        st.on_data(Direction::ToServer, &c2, &mut h.ctx());
        assert!(h.events("tls").is_empty());
        let sh = server_hello(0x1301, &[ext(0x2b, &[3, 4])], [1; 32]);
        st.on_data(
            Direction::ToClient,
            &hs_record(0x0303, 2, &sh),
            &mut h.ctx(),
        );
        let ev = h.events("tls");
        assert_eq!(ev.len(), 1);
        let t = &ev[0]["tls"];
        assert_eq!(t["hello_retry_request"], true);
        assert_eq!(t["client_handshake"]["key_share_groups"][0], 29);
        assert_eq!(t["client_retry"]["key_share_groups"][0], 23);
        assert_eq!(t["client_retry"]["record_version"], "TLS 1.2");
        // Same JA4 (key shares are not in it): observed once.
        assert_eq!(h.obs_kinds().len(), 1);
    }

    #[test]
    fn garbage_after_detection_becomes_flags_then_the_side_is_given_up() {
        let mut h = Harness::new(40000, 443, 6);
        let mut st = TlsState::new();
        let ch = hs_record(0x0301, 1, &client_hello(&[0x002f], &[]));
        st.on_data(Direction::ToServer, &ch, &mut h.ctx());
        for _ in 0..40 {
            st.on_data(
                Direction::ToClient,
                b"HTTP/1.1 400 Bad Request\r\n",
                &mut h.ctx(),
            );
        }
        assert!(st.sides[1].off);
        st.on_close(&mut h.ctx());
        let ev = h.events("tls");
        assert_eq!(ev.len(), 1);
        let an = ev[0]["tls"]["anomalies"].as_array().unwrap();
        assert!(an.contains(&"invalid_record".into()));
        assert!(an.contains(&"given_up".into()));
    }

    #[test]
    fn truncated_hello_is_a_malformed_flag_not_an_abort() {
        let mut h = Harness::new(40000, 443, 6);
        let mut st = TlsState::new();
        // A handshake header announcing 40 bytes, body of 40 bytes that stop
        // inside the cipher list.
        let mut body = vec![3, 3];
        body.extend_from_slice(&[0; 32]);
        body.extend_from_slice(&[0, 0, 200, 0, 1, 0]);
        st.on_data(
            Direction::ToServer,
            &hs_record(0x0301, 1, &body),
            &mut h.ctx(),
        );
        let sh = server_hello(0x002f, &[], [2; 32]);
        let mut s = hs_record(0x0303, 2, &sh);
        s.extend(hs_record(0x0303, 14, &[]));
        st.on_data(Direction::ToClient, &s, &mut h.ctx());
        let ev = h.events("tls");
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["tls"]["malformed"], "cipher_suites_length");
        assert_eq!(ev[0]["tls"]["version"], "TLS 1.2");
    }
}
