//! A minimal, zero-copy X.509 reader for the fields an IDS logs: subject,
//! issuer, serial, validity, DNS subjectAltNames and the SHA-1 fingerprint.
//!
//! References: RFC 5280 §4.1 (Certificate, TBSCertificate), §4.2.1.6
//! (subjectAltName), X.690 (DER).
//!
//! ```text
//! Certificate  ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
//! TBSCertificate ::= SEQUENCE {
//!     version         [0] EXPLICIT INTEGER OPTIONAL,
//!     serialNumber        INTEGER,
//!     signature           AlgorithmIdentifier,
//!     issuer              Name,
//!     validity            SEQUENCE { notBefore Time, notAfter Time },
//!     subject             Name,
//!     subjectPublicKeyInfo SEQUENCE,
//!     issuerUniqueID  [1] IMPLICIT OPTIONAL,
//!     subjectUniqueID [2] IMPLICIT OPTIONAL,
//!     extensions      [3] EXPLICIT SEQUENCE OF Extension OPTIONAL }
//! Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
//! ```
//!
//! Signatures are not checked; this reads, it does not validate.

use sha1::{Digest as _, Sha1};
use std::fmt;
use std::fmt::Write as _;

/// Most DNS names returned from subjectAltName.
pub const MAX_SAN_NAMES: usize = 256;
/// Most attributes rendered in a subject/issuer string.
pub const MAX_NAME_ATTRIBUTES: usize = 64;

/// Why a certificate could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum X509Error {
    /// A DER element was cut short or its length overran its container.
    Truncated(&'static str),
    /// A required element had the wrong tag.
    UnexpectedTag(&'static str),
    /// A Time value did not parse.
    BadTime,
}

impl fmt::Display for X509Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            X509Error::Truncated(w) => write!(f, "truncated {w}"),
            X509Error::UnexpectedTag(w) => write!(f, "unexpected tag for {w}"),
            X509Error::BadTime => f.write_str("bad time"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
}

/// Reads one DER TLV (single-byte tags; multi-byte tag numbers are skipped
/// as a unit). Returns the element and the rest.
fn tlv<'a>(b: &'a [u8], what: &'static str) -> Result<(Tlv<'a>, &'a [u8]), X509Error> {
    let (&tag, mut rest) = b.split_first().ok_or(X509Error::Truncated(what))?;
    if tag & 0x1f == 0x1f {
        // High tag number form: skip continuation bytes.
        loop {
            let (&t, r) = rest.split_first().ok_or(X509Error::Truncated(what))?;
            rest = r;
            if t & 0x80 == 0 {
                break;
            }
        }
    }
    let (&l0, r) = rest.split_first().ok_or(X509Error::Truncated(what))?;
    rest = r;
    let len = if l0 & 0x80 == 0 {
        l0 as usize
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 {
            return Err(X509Error::Truncated(what));
        }
        let lb = rest.get(..n).ok_or(X509Error::Truncated(what))?;
        rest = &rest[n..];
        lb.iter().fold(0usize, |acc, &x| (acc << 8) | x as usize)
    };
    let value = rest.get(..len).ok_or(X509Error::Truncated(what))?;
    Ok((Tlv { tag, value }, &rest[len..]))
}

fn expect<'a>(b: &'a [u8], tag: u8, what: &'static str) -> Result<(&'a [u8], &'a [u8]), X509Error> {
    let (t, rest) = tlv(b, what)?;
    if t.tag != tag {
        return Err(X509Error::UnexpectedTag(what));
    }
    Ok((t.value, rest))
}

/// A UTCTime/GeneralizedTime, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Asn1Time {
    /// Four-digit year.
    pub year: u16,
    /// 1..=12
    pub month: u8,
    /// 1..=31
    pub day: u8,
    /// 0..=23
    pub hour: u8,
    /// 0..=59
    pub minute: u8,
    /// 0..=60
    pub second: u8,
}

impl fmt::Display for Asn1Time {
    /// `YYYY-MM-DDTHH:MM:SS`, the form Suricata logs (`notbefore`/`notafter`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

fn digits(b: &[u8]) -> Option<u16> {
    let mut v = 0u16;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u16;
    }
    Some(v)
}

fn parse_time(t: Tlv<'_>) -> Result<Asn1Time, X509Error> {
    let v = t.value;
    let (year, rest) = match t.tag {
        0x17 => {
            // UTCTime YYMMDDHHMM[SS]Z
            let yy = digits(v.get(..2).ok_or(X509Error::BadTime)?).ok_or(X509Error::BadTime)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &v[2..])
        }
        0x18 => {
            let y = digits(v.get(..4).ok_or(X509Error::BadTime)?).ok_or(X509Error::BadTime)?;
            (y, &v[4..])
        }
        _ => return Err(X509Error::UnexpectedTag("time")),
    };
    let field = |i: usize| -> Result<u8, X509Error> {
        let d = digits(rest.get(i..i + 2).ok_or(X509Error::BadTime)?).ok_or(X509Error::BadTime)?;
        Ok(d as u8)
    };
    let second = if rest.get(8).is_some_and(|c| c.is_ascii_digit()) {
        field(8)?
    } else {
        0
    };
    let tm = Asn1Time {
        year,
        month: field(0)?,
        day: field(2)?,
        hour: field(4)?,
        minute: field(6)?,
        second,
    };
    if !(1..=12).contains(&tm.month)
        || !(1..=31).contains(&tm.day)
        || tm.hour > 23
        || tm.minute > 59
        || tm.second > 60
    {
        return Err(X509Error::BadTime);
    }
    Ok(tm)
}

/// The fields of one certificate, borrowing the DER bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct X509Summary<'a> {
    /// The whole certificate, DER.
    pub der: &'a [u8],
    /// X.509 version field as on the wire (0 = v1, 2 = v3).
    pub version: u8,
    /// serialNumber content octets (two's complement, leading 0x00 kept).
    pub serial: &'a [u8],
    /// issuer Name, DER content of the SEQUENCE.
    pub issuer_raw: &'a [u8],
    /// subject Name, DER content of the SEQUENCE.
    pub subject_raw: &'a [u8],
    /// validity notBefore.
    pub not_before: Asn1Time,
    /// validity notAfter.
    pub not_after: Asn1Time,
    /// subjectAltName extnValue (GeneralNames, DER content), if present.
    san_raw: Option<&'a [u8]>,
}

/// Reads a DER certificate. Errors say which element broke.
pub fn parse_x509(der: &[u8]) -> Result<X509Summary<'_>, X509Error> {
    let (cert, _) = expect(der, 0x30, "certificate")?;
    let (tbs, _) = expect(cert, 0x30, "tbsCertificate")?;
    let mut rest = tbs;
    let mut version = 0u8;
    let (first, r) = tlv(rest, "version")?;
    if first.tag == 0xa0 {
        let (v, _) = expect(first.value, 0x02, "version")?;
        version = v.last().copied().unwrap_or(0);
        rest = r;
    }
    let (serial, r) = expect(rest, 0x02, "serialNumber")?;
    let (_, r) = expect(r, 0x30, "signature")?;
    let (issuer_raw, r) = expect(r, 0x30, "issuer")?;
    let (validity, r) = expect(r, 0x30, "validity")?;
    let (nb, vr) = tlv(validity, "notBefore")?;
    let (na, _) = tlv(vr, "notAfter")?;
    let not_before = parse_time(nb)?;
    let not_after = parse_time(na)?;
    let (subject_raw, r) = expect(r, 0x30, "subject")?;
    let (_, mut r) = expect(r, 0x30, "subjectPublicKeyInfo")?;
    let mut san_raw = None;
    while !r.is_empty() {
        let (t, next) = tlv(r, "tbs trailer")?;
        r = next;
        if t.tag == 0xa3 {
            let (exts, _) = expect(t.value, 0x30, "extensions")?;
            let mut e = exts;
            while !e.is_empty() {
                let (one, en) = expect(e, 0x30, "extension")?;
                e = en;
                let (oid, mut body) = expect(one, 0x06, "extnID")?;
                if let Ok((b, rest2)) = expect(body, 0x01, "critical") {
                    let _ = b;
                    body = rest2;
                }
                let (value, _) = expect(body, 0x04, "extnValue")?;
                // 2.5.29.17 subjectAltName
                if oid == [0x55, 0x1d, 0x11] && san_raw.is_none() {
                    let (names, _) = expect(value, 0x30, "subjectAltName")?;
                    san_raw = Some(names);
                }
            }
        }
    }
    Ok(X509Summary {
        der,
        version,
        serial,
        issuer_raw,
        subject_raw,
        not_before,
        not_after,
        san_raw,
    })
}

fn attr_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x04] => "SN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "street",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x0c] => "title",
        [0x55, 0x04, 0x0f] => "businessCategory",
        [0x55, 0x04, 0x11] => "postalCode",
        [0x55, 0x04, 0x2a] => "GN",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        _ => return None,
    })
}

fn oid_dotted(oid: &[u8], out: &mut String) {
    let mut first = true;
    let mut acc: u64 = 0;
    for &b in oid {
        acc = (acc << 7) | (b & 0x7f) as u64;
        if acc > u64::MAX >> 8 {
            out.push('?');
            return;
        }
        if b & 0x80 == 0 {
            if first {
                let (x, y) = if acc < 40 {
                    (0, acc)
                } else if acc < 80 {
                    (1, acc - 40)
                } else {
                    (2, acc - 80)
                };
                let _ = write!(out, "{x}.{y}");
                first = false;
            } else {
                let _ = write!(out, ".{acc}");
            }
            acc = 0;
        }
    }
}

fn push_string_value(t: Tlv<'_>, out: &mut String) {
    match t.tag {
        // BMPString: UTF-16BE
        0x1e => {
            let units = t
                .value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            for ch in char::decode_utf16(units) {
                out.push(ch.unwrap_or(char::REPLACEMENT_CHARACTER));
            }
        }
        // T61String: treat as Latin-1
        0x14 => out.extend(t.value.iter().map(|&b| b as char)),
        _ => out.push_str(&String::from_utf8_lossy(t.value)),
    }
}

/// Renders a Name as `C=US, O=Org, CN=host` (RDNs in wire order, the form
/// Suricata logs), unknown attribute types as dotted OIDs.
fn name_string(raw: &[u8]) -> String {
    let mut out = String::new();
    let mut rdns = raw;
    let mut n = 0usize;
    while let Ok((set, rest)) = expect(rdns, 0x31, "rdn") {
        rdns = rest;
        let mut atvs = set;
        while let Ok((atv, r)) = expect(atvs, 0x30, "atv") {
            atvs = r;
            n += 1;
            if n > MAX_NAME_ATTRIBUTES {
                return out;
            }
            let Ok((oid, vrest)) = expect(atv, 0x06, "attr type") else {
                continue;
            };
            let Ok((val, _)) = tlv(vrest, "attr value") else {
                continue;
            };
            if !out.is_empty() {
                out.push_str(", ");
            }
            match attr_name(oid) {
                Some(s) => out.push_str(s),
                None => oid_dotted(oid, &mut out),
            }
            out.push('=');
            push_string_value(val, &mut out);
        }
    }
    out
}

fn colon_hex(bytes: &[u8], upper: bool) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = if upper {
            write!(s, "{b:02X}")
        } else {
            write!(s, "{b:02x}")
        };
    }
    s
}

impl<'a> X509Summary<'a> {
    /// Subject as `C=.., ST=.., O=.., CN=..`.
    pub fn subject_string(&self) -> String {
        name_string(self.subject_raw)
    }

    /// Issuer as `C=.., O=.., CN=..`.
    pub fn issuer_string(&self) -> String {
        name_string(self.issuer_raw)
    }

    /// Serial as upper-case colon-separated hex of the content octets, the
    /// way Suricata logs `tls.serial` (e.g. `00:E1:3B:...`).
    pub fn serial_string(&self) -> String {
        colon_hex(self.serial, true)
    }

    /// SHA-1 of the DER, lower-case colon-separated hex (Suricata's
    /// `tls.fingerprint`).
    pub fn fingerprint_sha1(&self) -> String {
        colon_hex(&Sha1::digest(self.der), false)
    }

    /// dNSName entries of subjectAltName, in order (at most [`MAX_SAN_NAMES`]).
    pub fn dns_names(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut rest = self.san_raw.unwrap_or(&[]);
        let mut n = 0usize;
        std::iter::from_fn(move || loop {
            if n >= MAX_SAN_NAMES {
                return None;
            }
            let (t, r) = tlv(rest, "GeneralName").ok()?;
            rest = r;
            // [2] IMPLICIT IA5String dNSName
            if t.tag == 0x82 {
                n += 1;
                return Some(t.value);
            }
        })
    }

    /// The first CN of the subject, if any.
    pub fn subject_common_name(&self) -> Option<&'a [u8]> {
        let mut rdns = self.subject_raw;
        while let Ok((set, rest)) = expect(rdns, 0x31, "rdn") {
            rdns = rest;
            let mut atvs = set;
            while let Ok((atv, r)) = expect(atvs, 0x30, "atv") {
                atvs = r;
                let Ok((oid, vrest)) = expect(atv, 0x06, "attr type") else {
                    continue;
                };
                if oid == [0x55, 0x04, 0x03] {
                    return tlv(vrest, "cn").ok().map(|(v, _)| v.value);
                }
            }
        }
        None
    }
}
