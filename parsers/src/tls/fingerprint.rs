//! JA3 / JA3S (Salesforce) and JA4 (FoxIO) client fingerprints.
//!
//! JA3: `SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats`,
//! decimal values joined by `-`, GREASE (RFC 8701) removed, then MD5.
//! JA3S: `SSLVersion,Cipher,Extensions`, then MD5.
//! (github.com/salesforce/ja3 README.)
//!
//! JA4: `t13d1516h2_8daaf6152771_e5627efa2ab1`: transport, version, SNI d/i,
//! cipher count, extension count, ALPN first/last char; SHA-256/12 of the
//! sorted cipher list; SHA-256/12 of the sorted extension list (without SNI
//! and ALPN) `_` the signature algorithms in wire order. GREASE ignored
//! everywhere. (FoxIO-LLC/ja4 technical_details/JA4.md.)
//!
//! Verification (tests): the JA4 / JA4_r / JA4_o of the example hello in
//! JA4.md (`t13d1516h2_8daaf6152771_e5627efa2ab1`, `tests/it_tls.rs`); the
//! JA3 example of the Salesforce README (`ada70206e40642a3e4461f35503241d5`);
//! JA3 and JA3S of every hello in the shared TLS captures against tshark
//! 4.0.17 (`tls.handshake.ja3`, `tls.handshake.ja3s`); the JA4 of the Chrome
//! 125 capture equals FoxIO's ja4plus-mapping entry for Chromium
//! (`t13d1516h2_8daaf6152771_02713d6af862`) (`tests/it_captures.rs`).

use super::hello::{is_grease, ClientHello, ServerHello};
use md5::{Digest as _, Md5};
use sha2::Sha256;
use std::fmt::Write as _;

/// A JA3 or JA3S fingerprint: the full string and its MD5, lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ja3 {
    /// The pre-hash string, e.g. `771,4865-4866,0-23-65281,29-23-24,0`.
    pub string: String,
    /// MD5 of `string`, 32 lower-case hex digits.
    pub hash: String,
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    s
}

fn push_dec(out: &mut String, mut v: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &c in &buf[i..] {
        out.push(c as char);
    }
}

fn md5_hex(s: &str) -> String {
    hex(&Md5::digest(s.as_bytes()))
}

fn join_dec<I: Iterator<Item = u32>>(out: &mut String, it: I) {
    for (i, v) in it.enumerate() {
        if i > 0 {
            out.push('-');
        }
        push_dec(out, v);
    }
}

/// JA3 of a ClientHello (GREASE removed from ciphers, extensions and groups).
pub fn ja3(ch: &ClientHello<'_>) -> Ja3 {
    let mut s = String::with_capacity(256);
    let _ = write!(s, "{},", ch.version);
    join_dec(&mut s, ch.cipher_suites.non_grease().map(u32::from));
    s.push(',');
    join_dec(
        &mut s,
        ch.extensions()
            .map(|e| e.ext_type)
            .filter(|t| !is_grease(*t))
            .map(u32::from),
    );
    s.push(',');
    join_dec(&mut s, ch.supported_groups.non_grease().map(u32::from));
    s.push(',');
    join_dec(&mut s, ch.ec_point_formats.iter().map(u32::from));
    let hash = md5_hex(&s);
    Ja3 { string: s, hash }
}

/// JA3S of a ServerHello (GREASE removed from extensions).
pub fn ja3s(sh: &ServerHello<'_>) -> Ja3 {
    let mut s = String::with_capacity(64);
    let _ = write!(s, "{},{},", sh.version, sh.cipher_suite);
    join_dec(
        &mut s,
        sh.extensions()
            .map(|e| e.ext_type)
            .filter(|t| !is_grease(*t))
            .map(u32::from),
    );
    let hash = md5_hex(&s);
    Ja3 { string: s, hash }
}

fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

fn alpn_code(first: Option<&[u8]>) -> String {
    let Some(v) = first.filter(|v| !v.is_empty()) else {
        return "00".to_string();
    };
    let (a, z) = (v[0], v[v.len() - 1]);
    if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric() {
        let mut s = String::with_capacity(2);
        s.push(a as char);
        s.push(z as char);
        s
    } else {
        let h = hex(v);
        let mut s = String::with_capacity(2);
        s.push(h.chars().next().unwrap_or('0'));
        s.push(h.chars().last().unwrap_or('0'));
        s
    }
}

fn hex_list(out: &mut String, vals: &[u16]) {
    for (i, &v) in vals.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for shift in [12u16, 8, 4, 0] {
            out.push(DIGITS[((v >> shift) & 0x0f) as usize] as char);
        }
    }
}

fn sha12(s: &str) -> String {
    let mut h = hex(&Sha256::digest(s.as_bytes()));
    h.truncate(12);
    h
}

/// The three JA4 parts before hashing: `a`, the cipher list, the extension
/// (+ signature algorithm) list. `original` keeps wire order and SNI/ALPN.
fn ja4_parts(ch: &ClientHello<'_>, transport: char, original: bool) -> (String, String, String) {
    let ciphers: Vec<u16> = ch.cipher_suites.non_grease().collect();
    let all_ext: Vec<u16> = ch
        .extensions()
        .map(|e| e.ext_type)
        .filter(|t| !is_grease(*t))
        .collect();
    let sigs: Vec<u16> = ch.signature_algorithms.non_grease().collect();
    let mut a = String::with_capacity(10);
    a.push(transport);
    a.push_str(version_code(ch.effective_version()));
    a.push(if ch.has_sni_extension() { 'd' } else { 'i' });
    let _ = write!(
        a,
        "{:02}{:02}",
        ciphers.len().min(99),
        all_ext.len().min(99)
    );
    a.push_str(&alpn_code(ch.alpn().next()));

    let mut c_list = ciphers;
    let mut e_list: Vec<u16> = if original {
        all_ext
    } else {
        all_ext
            .into_iter()
            .filter(|&t| t != super::ext::SERVER_NAME && t != super::ext::ALPN)
            .collect()
    };
    if !original {
        c_list.sort_unstable();
        e_list.sort_unstable();
    }
    let mut b = String::new();
    hex_list(&mut b, &c_list);
    let mut c = String::new();
    hex_list(&mut c, &e_list);
    if !sigs.is_empty() && !e_list.is_empty() {
        c.push('_');
        hex_list(&mut c, &sigs);
    }
    (a, b, c)
}

fn ja4_hashed(ch: &ClientHello<'_>, original: bool) -> String {
    let (a, b, c) = ja4_parts(ch, 't', original);
    let hb = if b.is_empty() {
        "000000000000".to_string()
    } else {
        sha12(&b)
    };
    let hc = if c.is_empty() {
        "000000000000".to_string()
    } else {
        sha12(&c)
    };
    format!("{a}_{hb}_{hc}")
}

/// JA4 of a ClientHello seen over TCP, e.g. `t13d1516h2_8daaf6152771_e5627efa2ab1`.
pub fn ja4(ch: &ClientHello<'_>) -> String {
    ja4_hashed(ch, false)
}

/// JA4_o: like [`ja4`] but over the lists in wire order, SNI/ALPN kept.
pub fn ja4_o(ch: &ClientHello<'_>) -> String {
    ja4_hashed(ch, true)
}

/// JA4_r: the unhashed sorted form, `a_ciphers_extensions_sigalgs`.
pub fn ja4_r(ch: &ClientHello<'_>) -> String {
    let (a, b, c) = ja4_parts(ch, 't', false);
    format!("{a}_{b}_{c}")
}
