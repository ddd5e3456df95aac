//! ClientHello and ServerHello views (RFC 8446 §4.1.2, §4.1.3; RFC 5246 §7.4.1).

use super::ext;

/// The ServerHello.random value that marks a HelloRetryRequest
/// (RFC 8446 §4.1.3: SHA-256 of "HelloRetryRequest").
pub const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// RFC 8701 GREASE values: 0x0a0a, 0x1a1a, … 0xfafa.
pub fn is_grease(v: u16) -> bool {
    (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// A list of big-endian u16 values, borrowed raw. An odd trailing byte is
/// ignored (and flagged by the parser that built the list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct U16List<'a>(pub &'a [u8]);

impl<'a> U16List<'a> {
    /// The values in wire order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + 'a {
        self.0
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
    }
    /// Number of values.
    pub fn len(&self) -> usize {
        self.0.len() / 2
    }
    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.0.len() < 2
    }
    /// The values that are not GREASE, in wire order.
    pub fn non_grease(&self) -> impl Iterator<Item = u16> + 'a {
        self.iter().filter(|v| !is_grease(*v))
    }
}

/// A list of u8 values, borrowed raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct U8List<'a>(pub &'a [u8]);

impl<'a> U8List<'a> {
    /// The values in wire order.
    pub fn iter(&self) -> impl Iterator<Item = u8> + 'a {
        self.0.iter().copied()
    }
    /// Number of values.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One extension: raw type and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// Raw extension type.
    pub ext_type: u16,
    /// Extension body.
    pub data: &'a [u8],
}

/// Iterator over an extensions block that was validated at parse time.
#[derive(Debug, Clone)]
pub struct ExtensionIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ExtensionIter<'a> {
    type Item = Extension<'a>;
    fn next(&mut self) -> Option<Extension<'a>> {
        let (e, rest) = split_extension(self.rest)?;
        self.rest = rest;
        Some(e)
    }
}

fn split_extension(b: &[u8]) -> Option<(Extension<'_>, &[u8])> {
    let hdr = b.get(..4)?;
    let ext_type = u16::from_be_bytes([hdr[0], hdr[1]]);
    let len = u16::from_be_bytes([hdr[2], hdr[3]]) as usize;
    let data = b.get(4..4 + len)?;
    Some((Extension { ext_type, data }, &b[4 + len..]))
}

/// Iterator over ALPN protocol names (RFC 7301 ProtocolNameList).
#[derive(Debug, Clone)]
pub struct AlpnIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for AlpnIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let (&l, tail) = self.rest.split_first()?;
        let name = tail.get(..l as usize)?;
        self.rest = &tail[l as usize..];
        Some(name)
    }
}

/// Protocol violations noticed while parsing a hello. Framing errors are
/// `Err`; these are facts for the detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HelloFlags {
    /// Bytes after the extensions block (or after compression when there are
    /// no extensions).
    pub trailing_bytes: bool,
    /// The extensions block was cut or an extension length overran it; the
    /// extensions before the break are kept.
    pub extensions_malformed: bool,
    /// A known extension (SNI, ALPN, groups, …) appeared twice; the first wins.
    pub duplicate_extension: bool,
    /// A list inside an extension had a length that did not fit (odd u16
    /// list, overrun); the readable part is kept.
    pub extension_list_malformed: bool,
    /// Session id longer than 32 bytes.
    pub session_id_too_long: bool,
    /// Cipher suite list of odd length.
    pub cipher_list_odd: bool,
    /// GREASE values were seen (ciphers, extensions, groups, versions,
    /// signature algorithms or key shares).
    pub grease: bool,
}

/// Known-extension bodies found while walking the extensions once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Known<'a> {
    server_name: Option<&'a [u8]>,
    alpn: Option<&'a [u8]>,
    supported_versions: Option<&'a [u8]>,
    supported_groups: Option<&'a [u8]>,
    ec_point_formats: Option<&'a [u8]>,
    signature_algorithms: Option<&'a [u8]>,
    key_share: Option<&'a [u8]>,
    ech: Option<&'a [u8]>,
}

/// Walks an extensions block: returns the validated prefix, the known bodies
/// and whether it was malformed.
fn walk_extensions<'a>(block: &'a [u8], flags: &mut HelloFlags) -> (&'a [u8], Known<'a>) {
    let mut known = Known::default();
    let mut rest = block;
    let mut valid = 0usize;
    while !rest.is_empty() {
        let Some((e, tail)) = split_extension(rest) else {
            flags.extensions_malformed = true;
            break;
        };
        valid += 4 + e.data.len();
        rest = tail;
        if is_grease(e.ext_type) {
            flags.grease = true;
        }
        let slot = match e.ext_type {
            ext::SERVER_NAME => &mut known.server_name,
            ext::ALPN => &mut known.alpn,
            ext::SUPPORTED_VERSIONS => &mut known.supported_versions,
            ext::SUPPORTED_GROUPS => &mut known.supported_groups,
            ext::EC_POINT_FORMATS => &mut known.ec_point_formats,
            ext::SIGNATURE_ALGORITHMS => &mut known.signature_algorithms,
            ext::KEY_SHARE => &mut known.key_share,
            ext::ENCRYPTED_CLIENT_HELLO => &mut known.ech,
            _ => continue,
        };
        if slot.is_some() {
            flags.duplicate_extension = true;
        } else {
            *slot = Some(e.data);
        }
    }
    (&block[..valid], known)
}

/// A list prefixed by a u16 byte length; flags overruns and keeps what fits.
fn u16_prefixed<'a>(b: &'a [u8], flags: &mut HelloFlags) -> &'a [u8] {
    let Some(l) = b
        .get(..2)
        .map(|h| u16::from_be_bytes([h[0], h[1]]) as usize)
    else {
        flags.extension_list_malformed = true;
        return &[];
    };
    let body = &b[2..];
    if l > body.len() || l != body.len() {
        flags.extension_list_malformed = true;
    }
    &body[..l.min(body.len())]
}

/// A list prefixed by a u8 byte length; flags overruns and keeps what fits.
fn u8_prefixed<'a>(b: &'a [u8], flags: &mut HelloFlags) -> &'a [u8] {
    let Some((&l, body)) = b.split_first() else {
        flags.extension_list_malformed = true;
        return &[];
    };
    let l = l as usize;
    if l != body.len() {
        flags.extension_list_malformed = true;
    }
    &body[..l.min(body.len())]
}

fn even<'a>(b: &'a [u8], flags: &mut HelloFlags) -> &'a [u8] {
    if b.len() & 1 != 0 {
        flags.extension_list_malformed = true;
    }
    &b[..b.len() & !1]
}

/// A parsed ClientHello, borrowing the handshake body. The record-layer
/// version is not part of the handshake; it is [`super::TlsRecord::version`]
/// of the record that started the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHello<'a> {
    /// legacy_version (the handshake version; 0x0303 for TLS 1.2 and 1.3).
    pub version: u16,
    /// The 32-byte client random.
    pub random: &'a [u8],
    /// legacy_session_id (0..=32 bytes; longer is flagged).
    pub session_id: &'a [u8],
    /// Cipher suites in wire order, GREASE included.
    pub cipher_suites: U16List<'a>,
    /// Compression methods.
    pub compression_methods: U8List<'a>,
    /// True when the hello carried an extensions block at all.
    pub has_extensions_block: bool,
    extensions: &'a [u8],
    known: Known<'a>,
    /// supported_groups values, wire order, GREASE included.
    pub supported_groups: U16List<'a>,
    /// ec_point_formats values.
    pub ec_point_formats: U8List<'a>,
    /// signature_algorithms values, wire order, GREASE included.
    pub signature_algorithms: U16List<'a>,
    /// supported_versions values, wire order, GREASE included.
    pub supported_versions: U16List<'a>,
    /// Violations seen while parsing.
    pub flags: HelloFlags,
}

impl<'a> ClientHello<'a> {
    /// Parses a ClientHello body (after the 4-byte handshake header).
    ///
    /// ```text
    /// +---------+-----------+-----+------------+-----+--------------+-----+-------------+------+------------+
    /// | version | random 32 | len | session id | len | cipher suites| len | compression | len  | extensions |
    /// | u16     |           | u8  |            | u16 | u16 each     | u8  | u8 each     | u16  | (optional) |
    /// +---------+-----------+-----+------------+-----+--------------+-----+-------------+------+------------+
    /// ```
    ///
    /// Errors (framing broken): body shorter than the fixed part, or a length
    /// that overruns the body before the extensions block. Everything inside
    /// the extensions block is lenient and flagged.
    pub fn parse(body: &'a [u8]) -> Result<Self, &'static str> {
        let mut flags = HelloFlags::default();
        let version = super::be16(body, 0).ok_or("client_hello_short")?;
        let random = body.get(2..34).ok_or("client_hello_short")?;
        let sid_len = *body.get(34).ok_or("client_hello_short")? as usize;
        if sid_len > 32 {
            flags.session_id_too_long = true;
        }
        let session_id = body.get(35..35 + sid_len).ok_or("session_id_length")?;
        let mut off = 35 + sid_len;
        let cs_len = super::be16(body, off).ok_or("cipher_suites_length")? as usize;
        off += 2;
        let cs = body.get(off..off + cs_len).ok_or("cipher_suites_length")?;
        if cs_len & 1 != 0 {
            flags.cipher_list_odd = true;
        }
        off += cs_len;
        let cm_len = *body.get(off).ok_or("compression_length")? as usize;
        off += 1;
        let cm = body.get(off..off + cm_len).ok_or("compression_length")?;
        off += cm_len;
        let cipher_suites = U16List(&cs[..cs.len() & !1]);
        if cipher_suites.iter().any(is_grease) {
            flags.grease = true;
        }
        let mut ch = ClientHello {
            version,
            random,
            session_id,
            cipher_suites,
            compression_methods: U8List(cm),
            has_extensions_block: false,
            extensions: &[],
            known: Known::default(),
            supported_groups: U16List::default(),
            ec_point_formats: U8List::default(),
            signature_algorithms: U16List::default(),
            supported_versions: U16List::default(),
            flags,
        };
        if off == body.len() {
            return Ok(ch);
        }
        ch.has_extensions_block = true;
        let block = match super::be16(body, off) {
            Some(l) => {
                let start = off + 2;
                let l = l as usize;
                let avail = body.len() - start;
                if l < avail {
                    ch.flags.trailing_bytes = true;
                } else if l > avail {
                    ch.flags.extensions_malformed = true;
                }
                &body[start..start + l.min(avail)]
            }
            None => {
                ch.flags.extensions_malformed = true;
                &[]
            }
        };
        let (valid, known) = walk_extensions(block, &mut ch.flags);
        ch.extensions = valid;
        ch.known = known;
        let mut f = ch.flags;
        if let Some(b) = known.supported_groups {
            ch.supported_groups = U16List(even(u16_prefixed(b, &mut f), &mut f));
        }
        if let Some(b) = known.ec_point_formats {
            ch.ec_point_formats = U8List(u8_prefixed(b, &mut f));
        }
        if let Some(b) = known.signature_algorithms {
            ch.signature_algorithms = U16List(even(u16_prefixed(b, &mut f), &mut f));
        }
        if let Some(b) = known.supported_versions {
            ch.supported_versions = U16List(even(u8_prefixed(b, &mut f), &mut f));
        }
        if ch.supported_groups.iter().any(is_grease)
            || ch.signature_algorithms.iter().any(is_grease)
            || ch.supported_versions.iter().any(is_grease)
        {
            f.grease = true;
        }
        ch.flags = f;
        if ch.key_share_groups().any(is_grease) {
            ch.flags.grease = true;
        }
        Ok(ch)
    }

    /// Extensions in wire order (GREASE included).
    pub fn extensions(&self) -> ExtensionIter<'a> {
        ExtensionIter {
            rest: self.extensions,
        }
    }

    /// True when an extension of this type is present.
    pub fn has_extension(&self, ext_type: u16) -> bool {
        self.extensions().any(|e| e.ext_type == ext_type)
    }

    /// The first host_name in server_name, raw bytes. With ECH this is the
    /// outer (public) name; the inner one is encrypted.
    pub fn sni_bytes(&self) -> Option<&'a [u8]> {
        let b = self.known.server_name?;
        let list_len = super::be16(b, 0)? as usize;
        let mut list = b.get(2..2 + list_len.min(b.len().saturating_sub(2)))?;
        while let Some((&name_type, rest)) = list.split_first() {
            let l = super::be16(rest, 0)? as usize;
            let name = rest.get(2..2 + l)?;
            if name_type == 0 {
                return Some(name);
            }
            list = &rest[2 + l..];
        }
        None
    }

    /// The SNI as text, when it is valid UTF-8.
    pub fn sni(&self) -> Option<&'a str> {
        std::str::from_utf8(self.sni_bytes()?).ok()
    }

    /// True when the server_name extension is present (even if empty).
    pub fn has_sni_extension(&self) -> bool {
        self.known.server_name.is_some()
    }

    /// ALPN protocol names in order.
    pub fn alpn(&self) -> AlpnIter<'a> {
        let rest = match self.known.alpn {
            Some(b) => {
                let l = super::be16(b, 0).unwrap_or(0) as usize;
                b.get(2..).map(|r| &r[..l.min(r.len())]).unwrap_or(&[])
            }
            None => &[],
        };
        AlpnIter { rest }
    }

    /// True when the ALPN extension is present.
    pub fn has_alpn_extension(&self) -> bool {
        self.known.alpn.is_some()
    }

    /// Groups offered in key_share, in order (GREASE included).
    pub fn key_share_groups(&self) -> impl Iterator<Item = u16> + 'a {
        let mut rest: &'a [u8] = match self.known.key_share {
            Some(b) => {
                let l = super::be16(b, 0).unwrap_or(0) as usize;
                b.get(2..).map(|r| &r[..l.min(r.len())]).unwrap_or(&[])
            }
            None => &[],
        };
        std::iter::from_fn(move || {
            let group = super::be16(rest, 0)?;
            let l = super::be16(rest, 2)? as usize;
            let next = rest.get(4 + l..)?;
            rest = next;
            Some(group)
        })
    }

    /// True when the Encrypted ClientHello extension (0xfe0d) is present.
    pub fn has_ech(&self) -> bool {
        self.known.ech.is_some()
    }

    /// The ECHClientHelloType byte (0 = outer, 1 = inner) when ECH is present.
    pub fn ech_type(&self) -> Option<u8> {
        self.known.ech?.first().copied()
    }

    /// The highest non-GREASE supported_versions value, else `version`.
    pub fn effective_version(&self) -> u16 {
        self.supported_versions
            .non_grease()
            .max()
            .unwrap_or(self.version)
    }
}

/// A parsed ServerHello (or HelloRetryRequest), borrowing the handshake body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHello<'a> {
    /// legacy_version.
    pub version: u16,
    /// The 32-byte server random.
    pub random: &'a [u8],
    /// legacy_session_id_echo.
    pub session_id: &'a [u8],
    /// The chosen cipher suite.
    pub cipher_suite: u16,
    /// The chosen compression method.
    pub compression_method: u8,
    extensions: &'a [u8],
    supported_version: Option<u16>,
    /// Violations seen while parsing.
    pub flags: HelloFlags,
}

impl<'a> ServerHello<'a> {
    /// Parses a ServerHello body.
    ///
    /// ```text
    /// +---------+-----------+-----+------------+--------+-------------+------+------------+
    /// | version | random 32 | len | session id | cipher | compression | len  | extensions |
    /// | u16     |           | u8  |            | u16    | u8          | u16  | (optional) |
    /// +---------+-----------+-----+------------+--------+-------------+------+------------+
    /// ```
    pub fn parse(body: &'a [u8]) -> Result<Self, &'static str> {
        let mut flags = HelloFlags::default();
        let version = super::be16(body, 0).ok_or("server_hello_short")?;
        let random = body.get(2..34).ok_or("server_hello_short")?;
        let sid_len = *body.get(34).ok_or("server_hello_short")? as usize;
        if sid_len > 32 {
            flags.session_id_too_long = true;
        }
        let session_id = body.get(35..35 + sid_len).ok_or("session_id_length")?;
        let off = 35 + sid_len;
        let cipher_suite = super::be16(body, off).ok_or("server_hello_short")?;
        let compression_method = *body.get(off + 2).ok_or("server_hello_short")?;
        let off = off + 3;
        let mut sh = ServerHello {
            version,
            random,
            session_id,
            cipher_suite,
            compression_method,
            extensions: &[],
            supported_version: None,
            flags,
        };
        if off == body.len() {
            return Ok(sh);
        }
        let block: &[u8] = match super::be16(body, off) {
            Some(l) => {
                let start = off + 2;
                let l = l as usize;
                let avail = body.len() - start;
                if l < avail {
                    sh.flags.trailing_bytes = true;
                } else if l > avail {
                    sh.flags.extensions_malformed = true;
                }
                &body[start..start + l.min(avail)]
            }
            None => {
                sh.flags.extensions_malformed = true;
                &[]
            }
        };
        let (valid, known) = walk_extensions(block, &mut sh.flags);
        sh.extensions = valid;
        if let Some(b) = known.supported_versions {
            if b.len() == 2 {
                sh.supported_version = Some(u16::from_be_bytes([b[0], b[1]]));
            } else {
                sh.flags.extension_list_malformed = true;
            }
        }
        Ok(sh)
    }

    /// Extensions in wire order.
    pub fn extensions(&self) -> ExtensionIter<'a> {
        ExtensionIter {
            rest: self.extensions,
        }
    }

    /// The version chosen through supported_versions (0x0304 for TLS 1.3).
    pub fn selected_version(&self) -> Option<u16> {
        self.supported_version
    }

    /// The negotiated version: supported_versions when present, else `version`.
    pub fn effective_version(&self) -> u16 {
        self.supported_version.unwrap_or(self.version)
    }

    /// True when this is a TLS 1.3 HelloRetryRequest (the special random).
    pub fn is_hello_retry_request(&self) -> bool {
        self.random == HRR_RANDOM
    }
}
