//! Incremental RFC 5322 + MIME scanner for SMTP message bodies.
//!
//! References: RFC 5322 §2.2 (header fields, folding), RFC 2045 (MIME
//! headers, base64, quoted-printable), RFC 2046 §5.1 (multipart boundaries),
//! RFC 2047 (encoded words), RFC 2231 (parameter continuations, charsets),
//! RFC 2183 (Content-Disposition).
//!
//! The body reaches the engine in chunks of any size; the engine owns one
//! [`MimeScanner`] per message and [`MimeScanner::feed`]s it every chunk,
//! then calls [`MimeScanner::finish`]. The scanner works line by line and
//! keeps only: the unfinished line (≤ [`MAX_LINE_BUF`]), the header being
//! unfolded, the boundary stack (≤ [`MAX_DEPTH`]), a base64 quad, the decoded
//! text line under URL scan (≤ [`MAX_TEXT_LINE`]) and the summary (≤
//! [`MAX_PARTS`] parts, ≤ [`MAX_URLS`] URLs). Every bound that bites is
//! counted in [`MimeLimits`]. The result does not depend on how the body was
//! chunked.
//!
//! ```text
//! headers ── blank line ──▶ body
//!                            │ multipart: "--boundary" ─▶ part headers ─▶ part body …
//!                            │            "--boundary--" closes the level
//!                            └ leaf: decode (base64 / QP / 7bit) → size, MD5,
//!                                    URLs (text/plain, text/html)
//! ```

use md5::{Digest as _, Md5};

/// Header bytes kept per header block (message or part); more are counted.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Longest stored header value; longer values are cut.
pub const MAX_HEADER_VALUE_LEN: usize = 4096;
/// Body bytes scanned; the rest is counted but not looked at.
pub const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;
/// Parts recorded in the summary.
pub const MAX_PARTS: usize = 128;
/// Distinct URLs recorded.
pub const MAX_URLS: usize = 128;
/// Nesting of multiparts followed.
pub const MAX_DEPTH: usize = 16;
/// Longest line handled; longer lines are cut (and counted).
pub const MAX_LINE_BUF: usize = 16 * 1024;
/// Longest decoded text line scanned for URLs in one piece.
pub const MAX_TEXT_LINE: usize = 16 * 1024;
/// Longest URL recorded.
pub const MAX_URL_LEN: usize = 2048;

/// The top-level header fields an IDS logs. Values are unfolded; `subject`
/// is RFC 2047-decoded to UTF-8, the others are as sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageHeaders {
    /// From
    pub from: Option<String>,
    /// To (several To fields are joined with ", ")
    pub to: Option<String>,
    /// Cc (joined like To)
    pub cc: Option<String>,
    /// Reply-To
    pub reply_to: Option<String>,
    /// Subject, decoded
    pub subject: Option<String>,
    /// Date
    pub date: Option<String>,
    /// Message-ID
    pub message_id: Option<String>,
    /// X-Mailer
    pub x_mailer: Option<String>,
    /// User-Agent
    pub user_agent: Option<String>,
    /// Number of header fields in the top-level block.
    pub count: usize,
}

/// One leaf MIME part (or the whole body of a non-multipart message).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartInfo {
    /// `type/subtype`, lower case (`text/plain` when absent).
    pub content_type: String,
    /// The charset parameter, lower case.
    pub charset: Option<String>,
    /// Content-Disposition type, lower case (`attachment`, `inline`).
    pub disposition: Option<String>,
    /// File name: Content-Disposition filename (RFC 2231 / 2047 decoded),
    /// else Content-Type name.
    pub filename: Option<String>,
    /// Content-Transfer-Encoding, lower case.
    pub transfer_encoding: Option<String>,
    /// Body bytes as sent (line terminators counted as 2).
    pub raw_size: u64,
    /// Bytes after transfer decoding.
    pub decoded_size: u64,
    /// MD5 of the decoded content, lower-case hex.
    pub md5: String,
    /// Multipart nesting level (0 = top level).
    pub depth: usize,
}

impl PartInfo {
    /// An attachment: disposition `attachment`, or a file name.
    pub fn is_attachment(&self) -> bool {
        self.disposition.as_deref() == Some("attachment") || self.filename.is_some()
    }
}

/// A URL found in a text part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlInfo {
    /// The URL as found (scheme included).
    pub url: String,
    /// The host, lower case, without userinfo or port.
    pub host: String,
}

/// How often each bound was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MimeLimits {
    /// Header blocks that exceeded [`MAX_HEADER_BYTES`].
    pub header_bytes: u32,
    /// The body exceeded [`MAX_BODY_BYTES`].
    pub body_bytes: bool,
    /// Parts not recorded ([`MAX_PARTS`]).
    pub parts: u32,
    /// URLs not recorded ([`MAX_URLS`]).
    pub urls: u32,
    /// Lines cut at [`MAX_LINE_BUF`].
    pub long_lines: u32,
    /// Multiparts nested deeper than [`MAX_DEPTH`] (treated as leaves).
    pub depth: u32,
}

/// What the scanner found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MimeSummary {
    /// Top-level headers.
    pub headers: MessageHeaders,
    /// Leaf parts in order.
    pub parts: Vec<PartInfo>,
    /// Distinct URLs in order of first appearance.
    pub urls: Vec<UrlInfo>,
    /// Bounds hit.
    pub limits: MimeLimits,
    /// Body bytes fed (all of them, also past the bound).
    pub total_bytes: u64,
    /// The message had a MIME-Version header.
    pub mime: bool,
}

impl MimeSummary {
    /// The parts that are attachments.
    pub fn attachments(&self) -> impl Iterator<Item = &PartInfo> {
        self.parts.iter().filter(|p| p.is_attachment())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity,
    Base64,
    QuotedPrintable,
}

/// A part being read.
struct Leaf {
    info: PartInfo,
    enc: Encoding,
    md5: Md5,
    scan_urls: bool,
    pending_newline: bool,
    b64: [u8; 4],
    b64_n: usize,
    b64_done: bool,
}

/// Header fields of one block that matter for the MIME structure.
#[derive(Default)]
struct BlockHeaders {
    content_type: Option<String>,
    disposition: Option<String>,
    encoding: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Headers,
    Body,
}

/// The incremental scanner. See the module docs.
pub struct MimeScanner {
    dot_stuffed: bool,
    line: Vec<u8>,
    line_cut: bool,
    state: State,
    top: bool,
    depth: usize,
    header: Vec<u8>,
    header_block_bytes: usize,
    header_block_over: bool,
    block: BlockHeaders,
    boundaries: Vec<Vec<u8>>,
    leaf: Option<Leaf>,
    text: Vec<u8>,
    scratch: Vec<u8>,
    summary: MimeSummary,
    scanned: u64,
}

impl MimeScanner {
    /// A scanner for one message. `dot_stuffed`: the bytes come from a DATA
    /// transfer, so a leading `.` on a line is removed (RFC 5321 §4.5.2).
    pub fn new(dot_stuffed: bool) -> Self {
        MimeScanner {
            dot_stuffed,
            line: Vec::new(),
            line_cut: false,
            state: State::Headers,
            top: true,
            depth: 0,
            header: Vec::new(),
            header_block_bytes: 0,
            header_block_over: false,
            block: BlockHeaders::default(),
            boundaries: Vec::new(),
            leaf: None,
            text: Vec::new(),
            scratch: Vec::new(),
            summary: MimeSummary::default(),
            scanned: 0,
        }
    }

    /// Feeds the next body bytes.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        self.summary.total_bytes = self.summary.total_bytes.saturating_add(chunk.len() as u64);
        while let Some(i) = chunk.iter().position(|&b| b == b'\n') {
            let piece = &chunk[..i];
            chunk = &chunk[i + 1..];
            if self.line.is_empty() && !self.line_cut {
                self.line_bytes(piece);
            } else {
                self.push_line_part(piece);
                let buf = std::mem::take(&mut self.line);
                self.line_cut = false;
                self.line_bytes(&buf);
                self.line = buf;
                self.line.clear();
            }
        }
        self.push_line_part(chunk);
    }

    fn push_line_part(&mut self, b: &[u8]) {
        let room = MAX_LINE_BUF - self.line.len();
        if b.len() > room {
            self.line.extend_from_slice(&b[..room]);
            self.line_cut = true;
        } else {
            self.line.extend_from_slice(b);
        }
    }

    /// Ends the message and returns the summary.
    pub fn finish(mut self) -> MimeSummary {
        if !self.line.is_empty() || self.line_cut {
            let buf = std::mem::take(&mut self.line);
            self.line_bytes(&buf);
            // That last line had no terminator: add none at the end.
            if let Some(leaf) = self.leaf.as_mut() {
                leaf.pending_newline = false;
            }
        }
        if self.state == State::Headers {
            self.flush_header();
            if self.top {
                // Headers only, no body.
                self.end_headers();
            }
        }
        self.close_leaf();
        self.summary
    }

    fn line_bytes(&mut self, raw: &[u8]) {
        let mut line = raw;
        if line.len() > MAX_LINE_BUF {
            line = &line[..MAX_LINE_BUF];
        }
        if raw.len() >= MAX_LINE_BUF {
            self.summary.limits.long_lines += 1;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = if self.dot_stuffed {
            line.strip_prefix(b".").unwrap_or(line)
        } else {
            line
        };
        self.scanned = self
            .scanned
            .saturating_add(raw.len().min(MAX_LINE_BUF) as u64 + 1);
        if self.scanned > MAX_BODY_BYTES {
            self.summary.limits.body_bytes = true;
            return;
        }
        match self.state {
            State::Headers => self.header_line(line),
            State::Body => self.body_line(line),
        }
    }

    fn header_line(&mut self, line: &[u8]) {
        if !self.top && self.boundary_match(line).is_some() {
            // A part without a blank line after its headers.
            self.flush_header();
            self.end_headers();
            self.body_line(line);
            return;
        }
        if line.is_empty() {
            self.flush_header();
            self.end_headers();
            return;
        }
        self.header_block_bytes += line.len() + 2;
        if self.header_block_bytes > MAX_HEADER_BYTES {
            if !self.header_block_over {
                self.header_block_over = true;
                self.summary.limits.header_bytes += 1;
            }
            return;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if !self.header.is_empty()
                && self.header.len() + line.len() <= MAX_HEADER_VALUE_LEN + 256
            {
                self.header.extend_from_slice(line);
            }
            return;
        }
        self.flush_header();
        self.header
            .extend_from_slice(&line[..line.len().min(MAX_HEADER_VALUE_LEN + 256)]);
    }

    fn flush_header(&mut self) {
        if self.header.is_empty() {
            return;
        }
        let h = std::mem::take(&mut self.header);
        if let Some(colon) = h.iter().position(|&b| b == b':') {
            let name = trim(&h[..colon]);
            let mut value = trim(&h[colon + 1..]);
            if value.len() > MAX_HEADER_VALUE_LEN {
                value = &value[..MAX_HEADER_VALUE_LEN];
            }
            self.header_field(name, value);
        }
        self.header = h;
        self.header.clear();
    }

    fn header_field(&mut self, name: &[u8], value: &[u8]) {
        let v = || String::from_utf8_lossy(value).into_owned();
        if self.top {
            let hd = &mut self.summary.headers;
            hd.count += 1;
            let set = |slot: &mut Option<String>| {
                if slot.is_none() {
                    *slot = Some(v());
                }
            };
            let join = |slot: &mut Option<String>| match slot {
                Some(s) => {
                    if s.len() < MAX_HEADER_VALUE_LEN {
                        s.push_str(", ");
                        s.push_str(&v());
                    }
                }
                None => *slot = Some(v()),
            };
            match_ci(name, b"from").then(|| set(&mut hd.from));
            match_ci(name, b"to").then(|| join(&mut hd.to));
            match_ci(name, b"cc").then(|| join(&mut hd.cc));
            match_ci(name, b"reply-to").then(|| set(&mut hd.reply_to));
            match_ci(name, b"date").then(|| set(&mut hd.date));
            match_ci(name, b"message-id").then(|| set(&mut hd.message_id));
            match_ci(name, b"x-mailer").then(|| set(&mut hd.x_mailer));
            match_ci(name, b"user-agent").then(|| set(&mut hd.user_agent));
            if match_ci(name, b"subject") && hd.subject.is_none() {
                hd.subject = Some(decode_rfc2047(value));
            }
            if match_ci(name, b"mime-version") {
                self.summary.mime = true;
            }
        }
        if match_ci(name, b"content-type") && self.block.content_type.is_none() {
            self.block.content_type = Some(v());
        } else if match_ci(name, b"content-disposition") && self.block.disposition.is_none() {
            self.block.disposition = Some(v());
        } else if match_ci(name, b"content-transfer-encoding") && self.block.encoding.is_none() {
            self.block.encoding = Some(v());
        }
    }

    /// The header block ended: decide between multipart and leaf.
    fn end_headers(&mut self) {
        let block = std::mem::take(&mut self.block);
        self.header_block_bytes = 0;
        self.header_block_over = false;
        self.state = State::Body;
        let depth = self.depth;
        self.top = false;
        let (ctype, ct_params) = match &block.content_type {
            Some(ct) => split_header_value(ct.as_bytes()),
            None => ("text/plain".to_string(), Vec::new()),
        };
        if ctype.starts_with("multipart/") {
            if let Some(b) = param(&ct_params, "boundary") {
                if self.boundaries.len() < MAX_DEPTH && !b.is_empty() {
                    self.boundaries.push(b.into_bytes());
                    self.leaf = None;
                    return;
                }
                self.summary.limits.depth += 1;
            }
        }
        let (disposition, d_params) = match &block.disposition {
            Some(d) => {
                let (t, p) = split_header_value(d.as_bytes());
                (Some(t), p)
            }
            None => (None, Vec::new()),
        };
        let filename =
            rfc2231_param(&d_params, "filename").or_else(|| rfc2231_param(&ct_params, "name"));
        let encoding = block
            .encoding
            .as_ref()
            .map(|e| String::from_utf8_lossy(trim(e.as_bytes())).to_ascii_lowercase());
        let enc = match encoding.as_deref() {
            Some("base64") => Encoding::Base64,
            Some("quoted-printable") => Encoding::QuotedPrintable,
            _ => Encoding::Identity,
        };
        let is_attachment = disposition.as_deref() == Some("attachment") || filename.is_some();
        let scan_urls = !is_attachment && (ctype == "text/plain" || ctype == "text/html");
        let info = PartInfo {
            content_type: ctype,
            charset: param(&ct_params, "charset").map(|c| c.to_ascii_lowercase()),
            disposition,
            filename,
            transfer_encoding: encoding,
            raw_size: 0,
            decoded_size: 0,
            md5: String::new(),
            depth,
        };
        self.leaf = Some(Leaf {
            info,
            enc,
            md5: Md5::new(),
            scan_urls,
            pending_newline: false,
            b64: [0; 4],
            b64_n: 0,
            b64_done: false,
        });
    }

    /// Index of the boundary this line opens or closes, and whether it closes.
    fn boundary_match(&self, line: &[u8]) -> Option<(usize, bool)> {
        let rest = line.strip_prefix(b"--")?;
        for (i, b) in self.boundaries.iter().enumerate().rev() {
            if let Some(after) = rest.strip_prefix(b.as_slice()) {
                if let Some(tail) = after.strip_prefix(b"--") {
                    if trim(tail).is_empty() {
                        return Some((i, true));
                    }
                }
                if trim(after).is_empty() {
                    return Some((i, false));
                }
            }
        }
        None
    }

    fn body_line(&mut self, line: &[u8]) {
        if let Some((level, close)) = self.boundary_match(line) {
            self.close_leaf();
            self.boundaries.truncate(level + 1);
            if close {
                self.boundaries.truncate(level);
                self.state = State::Body; // epilogue of the parent
            } else {
                self.state = State::Headers;
                self.depth = level + 1;
            }
            return;
        }
        let Some(leaf) = self.leaf.as_mut() else {
            return;
        }; // preamble/epilogue
        leaf.info.raw_size = leaf.info.raw_size.saturating_add(line.len() as u64 + 2);
        let mut out: Vec<u8> = Vec::new();
        match leaf.enc {
            Encoding::Base64 => {
                out.reserve(line.len() / 4 * 3 + 3);
                for &c in line {
                    if leaf.b64_done {
                        break;
                    }
                    let v = B64_VALUE[c as usize];
                    if v < 64 {
                        leaf.b64[leaf.b64_n & 3] = v;
                        leaf.b64_n += 1;
                        if leaf.b64_n == 4 {
                            let q = leaf.b64;
                            out.extend_from_slice(&[
                                (q[0] << 2) | (q[1] >> 4),
                                (q[1] << 4) | (q[2] >> 2),
                                (q[2] << 6) | q[3],
                            ]);
                            leaf.b64_n = 0;
                        }
                    } else if c == b'=' {
                        flush_b64(leaf, &mut out);
                        leaf.b64_done = true;
                    }
                }
            }
            Encoding::QuotedPrintable => {
                if leaf.pending_newline {
                    out.extend_from_slice(b"\r\n");
                }
                let l = trim_end(line);
                let (l, soft) = match l.strip_suffix(b"=") {
                    Some(x) => (x, true),
                    None => (l, false),
                };
                qp_decode(l, &mut out);
                leaf.pending_newline = !soft;
            }
            Encoding::Identity => {
                if leaf.pending_newline {
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(line);
                leaf.pending_newline = true;
            }
        }
        leaf.info.decoded_size = leaf.info.decoded_size.saturating_add(out.len() as u64);
        leaf.md5.update(&out);
        if leaf.scan_urls {
            self.text_push(&out);
        }
        self.scratch = out;
    }

    fn text_push(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            match b.iter().position(|&c| c == b'\n') {
                Some(i) => {
                    self.text_extend(&b[..i]);
                    b = &b[i + 1..];
                    self.text_scan();
                }
                None => {
                    self.text_extend(b);
                    b = &[];
                }
            }
        }
    }

    fn text_extend(&mut self, b: &[u8]) {
        let mut b = b;
        while !b.is_empty() {
            let room = MAX_TEXT_LINE - self.text.len();
            let take = b.len().min(room);
            self.text.extend_from_slice(&b[..take]);
            b = &b[take..];
            if self.text.len() >= MAX_TEXT_LINE {
                self.text_scan();
            }
        }
    }

    fn text_scan(&mut self) {
        let text = std::mem::take(&mut self.text);
        extract_urls(&text, &mut self.summary);
        self.text = text;
        self.text.clear();
    }

    fn close_leaf(&mut self) {
        let Some(mut leaf) = self.leaf.take() else {
            return;
        };
        if leaf.enc == Encoding::Base64 && !leaf.b64_done {
            let mut out = Vec::new();
            flush_b64(&mut leaf, &mut out);
            leaf.info.decoded_size += out.len() as u64;
            leaf.md5.update(&out);
            if leaf.scan_urls {
                self.text_push(&out);
            }
        }
        if leaf.info.depth == 0 && leaf.pending_newline {
            // In a non-multipart message the last line's CRLF is content
            // (in a multipart it belongs to the boundary, RFC 2046 §5.1.1).
            leaf.info.decoded_size += 2;
            leaf.md5.update(b"\r\n");
        }
        if leaf.scan_urls {
            self.text_scan();
        }
        let mut info = leaf.info;
        info.md5 = hex(&leaf.md5.finalize());
        if self.summary.parts.len() < MAX_PARTS {
            self.summary.parts.push(info);
        } else {
            self.summary.limits.parts += 1;
        }
    }
}

/// Base64 alphabet value of each byte; 64 for bytes outside the alphabet.
const B64_VALUE: [u8; 256] = {
    let mut t = [64u8; 256];
    let mut i = 0u8;
    while i < 26 {
        t[(b'A' + i) as usize] = i;
        t[(b'a' + i) as usize] = 26 + i;
        i += 1;
    }
    let mut d = 0u8;
    while d < 10 {
        t[(b'0' + d) as usize] = 52 + d;
        d += 1;
    }
    t[b'+' as usize] = 62;
    t[b'/' as usize] = 63;
    t
};

fn flush_b64(leaf: &mut Leaf, out: &mut Vec<u8>) {
    let q = leaf.b64;
    match leaf.b64_n {
        4 => out.extend_from_slice(&[
            (q[0] << 2) | (q[1] >> 4),
            (q[1] << 4) | (q[2] >> 2),
            (q[2] << 6) | q[3],
        ]),
        3 => out.extend_from_slice(&[(q[0] << 2) | (q[1] >> 4), (q[1] << 4) | (q[2] >> 2)]),
        2 => out.push((q[0] << 2) | (q[1] >> 4)),
        _ => {}
    }
    leaf.b64_n = 0;
}

fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(DIGITS[(x >> 4) as usize] as char);
        s.push(DIGITS[(x & 0x0f) as usize] as char);
    }
    s
}

fn match_ci(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn trim(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(s, |i| i + 1);
    &b[s..e.max(s)]
}

fn trim_end(b: &[u8]) -> &[u8] {
    let e = b
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(0, |i| i + 1);
    &b[..e]
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Quoted-printable (RFC 2045 §6.7) for one line without its soft break.
fn qp_decode(l: &[u8], out: &mut Vec<u8>) {
    let mut i = 0usize;
    while i < l.len() {
        if l[i] == b'=' {
            if let (Some(h), Some(lo)) = (
                l.get(i + 1).and_then(|&c| hex_val(c)),
                l.get(i + 2).and_then(|&c| hex_val(c)),
            ) {
                out.push((h << 4) | lo);
                i += 3;
                continue;
            }
        }
        out.push(l[i]);
        i += 1;
    }
}

/// Base64 of a whole (small) value, skipping non-alphabet bytes.
fn b64_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut n = 0u32;
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        } as u32;
        acc = (acc << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((acc >> n) as u8);
            acc &= (1 << n) - 1;
        }
    }
    out
}

/// Bytes in `charset` to UTF-8: utf-8, us-ascii, iso-8859-1 / latin1 and
/// windows-1252 (as Latin-1) are converted; any other charset is read as
/// UTF-8 with replacement characters.
pub fn charset_to_utf8(charset: &str, bytes: &[u8]) -> String {
    let cs = charset
        .split('*')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match cs.as_str() {
        "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" | "l1" | "windows-1252" | "cp1252" => {
            bytes.iter().map(|&b| b as char).collect()
        }
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Decodes RFC 2047 encoded words (`=?charset?B|Q?text?=`) in a header
/// value; whitespace between two adjacent encoded words is dropped.
/// Malformed words are kept as text.
pub fn decode_rfc2047(v: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0usize;
    let mut pending_ws: Option<(usize, usize)> = None;
    let mut last_was_word = false;
    while i < v.len() {
        if v[i] == b'=' && v.get(i + 1) == Some(&b'?') {
            if let Some((text, next)) = encoded_word(&v[i..]) {
                if let Some((s, e)) = pending_ws.take() {
                    if !last_was_word {
                        out.push_str(&String::from_utf8_lossy(&v[s..e]));
                    }
                }
                out.push_str(&text);
                i += next;
                last_was_word = true;
                continue;
            }
        }
        if v[i] == b' ' || v[i] == b'\t' {
            let s = i;
            while i < v.len() && (v[i] == b' ' || v[i] == b'\t') {
                i += 1;
            }
            if let Some((ps, pe)) = pending_ws.take() {
                out.push_str(&String::from_utf8_lossy(&v[ps..pe]));
            }
            pending_ws = Some((s, i));
            continue;
        }
        if let Some((s, e)) = pending_ws.take() {
            out.push_str(&String::from_utf8_lossy(&v[s..e]));
        }
        let s = i;
        while i < v.len()
            && v[i] != b' '
            && v[i] != b'\t'
            && !(v[i] == b'=' && v.get(i + 1) == Some(&b'?'))
        {
            i += 1;
        }
        if i == s {
            i += 1;
        }
        out.push_str(&String::from_utf8_lossy(&v[s..i]));
        last_was_word = false;
    }
    if let Some((s, e)) = pending_ws {
        out.push_str(&String::from_utf8_lossy(&v[s..e]));
    }
    out
}

/// One encoded word at the start of `w`: the decoded text and its length.
fn encoded_word(w: &[u8]) -> Option<(String, usize)> {
    let body = w.get(2..)?;
    let q1 = body.iter().position(|&b| b == b'?')?;
    let charset = std::str::from_utf8(&body[..q1]).ok()?;
    let enc = *body.get(q1 + 1)?;
    if body.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let text_start = q1 + 3;
    let rel_end = body
        .get(text_start..)?
        .windows(2)
        .position(|p| p == b"?=")?;
    let text = &body[text_start..text_start + rel_end];
    if text.contains(&b' ') {
        return None;
    }
    let bytes = match enc {
        b'B' | b'b' => b64_decode(text),
        b'Q' | b'q' => {
            let mut out = Vec::with_capacity(text.len());
            let mut i = 0usize;
            while i < text.len() {
                match text[i] {
                    b'_' => out.push(b' '),
                    b'=' => {
                        if let (Some(h), Some(l)) = (
                            text.get(i + 1).and_then(|&c| hex_val(c)),
                            text.get(i + 2).and_then(|&c| hex_val(c)),
                        ) {
                            out.push((h << 4) | l);
                            i += 3;
                            continue;
                        }
                        out.push(b'=');
                    }
                    c => out.push(c),
                }
                i += 1;
            }
            out
        }
        _ => return None,
    };
    Some((
        charset_to_utf8(charset, &bytes),
        2 + text_start + rel_end + 2,
    ))
}

/// Splits `type/subtype; a=b; c="d"` into the lower-case first token and
/// the `(lower-case name, raw value)` parameters (quotes removed, escapes
/// resolved).
fn split_header_value(v: &[u8]) -> (String, Vec<(String, Vec<u8>)>) {
    let mut parts = Vec::new();
    let mut cur = Vec::new();
    let mut in_q = false;
    let mut esc = false;
    for &c in v {
        if in_q {
            cur.push(c);
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_q = false;
            }
            continue;
        }
        match c {
            b'"' => {
                in_q = true;
                cur.push(c);
            }
            b';' => {
                parts.push(std::mem::take(&mut cur));
                if parts.len() > 64 {
                    break;
                }
            }
            _ => cur.push(c),
        }
    }
    parts.push(cur);
    let first = String::from_utf8_lossy(trim(&parts[0])).to_ascii_lowercase();
    let mut params = Vec::new();
    for p in &parts[1..] {
        let p = trim(p);
        let Some(eq) = p.iter().position(|&b| b == b'=') else {
            continue;
        };
        let name = String::from_utf8_lossy(trim(&p[..eq])).to_ascii_lowercase();
        let raw = trim(&p[eq + 1..]);
        let value = if let Some(inner) = raw.strip_prefix(b"\"") {
            let mut out = Vec::new();
            let mut esc = false;
            for &c in inner {
                if esc {
                    out.push(c);
                    esc = false;
                } else if c == b'\\' {
                    esc = true;
                } else if c == b'"' {
                    break;
                } else {
                    out.push(c);
                }
            }
            out
        } else {
            raw.to_vec()
        };
        params.push((name, value));
    }
    (first, params)
}

fn param(params: &[(String, Vec<u8>)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

fn pct_decode(v: &[u8], out: &mut Vec<u8>) {
    let mut i = 0usize;
    while i < v.len() {
        if v[i] == b'%' {
            if let (Some(h), Some(l)) = (
                v.get(i + 1).and_then(|&c| hex_val(c)),
                v.get(i + 2).and_then(|&c| hex_val(c)),
            ) {
                out.push((h << 4) | l);
                i += 3;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
}

/// `charset'language'value` (RFC 2231 §4): the charset and the value part.
fn split_ext_value(v: &[u8]) -> (String, &[u8]) {
    let mut it = v.splitn(3, |&b| b == b'\'');
    match (it.next(), it.next(), it.next()) {
        (Some(cs), Some(_lang), Some(rest)) => (String::from_utf8_lossy(cs).into_owned(), rest),
        _ => (String::new(), v),
    }
}

/// A parameter value with RFC 2231 extended forms (`name*=`,
/// `name*0*=`, `name*1=` …) resolved and converted to UTF-8; a plain
/// `name=` value is RFC 2047-decoded (common, if non-standard, for file
/// names).
fn rfc2231_param(params: &[(String, Vec<u8>)], name: &str) -> Option<String> {
    let star = format!("{name}*");
    if let Some((_, v)) = params.iter().find(|(n, _)| *n == star) {
        let (cs, rest) = split_ext_value(v);
        let mut bytes = Vec::new();
        pct_decode(rest, &mut bytes);
        return Some(charset_to_utf8(
            if cs.is_empty() { "utf-8" } else { &cs },
            &bytes,
        ));
    }
    // Continuations: name*0, name*0*, name*1, ...
    let mut bytes = Vec::new();
    let mut charset = String::new();
    let mut found = false;
    for i in 0..64usize {
        let plain = format!("{name}*{i}");
        let ext = format!("{name}*{i}*");
        if let Some((_, v)) = params.iter().find(|(n, _)| *n == ext) {
            let v = if i == 0 {
                let (cs, rest) = split_ext_value(v);
                charset = cs;
                rest
            } else {
                v.as_slice()
            };
            pct_decode(v, &mut bytes);
            found = true;
        } else if let Some((_, v)) = params.iter().find(|(n, _)| *n == plain) {
            bytes.extend_from_slice(v);
            found = true;
        } else {
            break;
        }
    }
    if found {
        return Some(charset_to_utf8(
            if charset.is_empty() {
                "utf-8"
            } else {
                &charset
            },
            &bytes,
        ));
    }
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| decode_rfc2047(v))
}

fn url_char(c: u8) -> bool {
    c.is_ascii_graphic()
        && !matches!(
            c,
            b'"' | b'\'' | b'<' | b'>' | b'`' | b'\\' | b'^' | b'{' | b'}' | b'|'
        )
}

/// Finds http/https URLs in one decoded text line.
fn extract_urls(text: &[u8], summary: &mut MimeSummary) {
    let mut i = 0usize;
    while i + 7 <= text.len() {
        let rest = &text[i..];
        let scheme_len = if rest.len() >= 8 && rest[..8].eq_ignore_ascii_case(b"https://") {
            8
        } else if rest[..7].eq_ignore_ascii_case(b"http://") {
            7
        } else {
            i += 1;
            continue;
        };
        let end = rest
            .iter()
            .position(|&c| !url_char(c))
            .unwrap_or(rest.len());
        let mut url = &rest[..end];
        while let [head @ .., last] = url {
            if matches!(last, b'.' | b',' | b';' | b':' | b'!' | b'?' | b')' | b']')
                && head.len() >= scheme_len
            {
                url = head;
            } else {
                break;
            }
        }
        i += end.max(1);
        if url.len() <= scheme_len || url.len() > MAX_URL_LEN {
            continue;
        }
        let after = &url[scheme_len..];
        let auth_end = after
            .iter()
            .position(|&c| matches!(c, b'/' | b'?' | b'#'))
            .unwrap_or(after.len());
        let mut host = &after[..auth_end];
        if let Some(at) = host.iter().rposition(|&c| c == b'@') {
            host = &host[at + 1..];
        }
        if host.first() == Some(&b'[') {
            if let Some(e) = host.iter().position(|&c| c == b']') {
                host = &host[..e + 1];
            }
        } else if let Some(colon) = host.iter().position(|&c| c == b':') {
            host = &host[..colon];
        }
        if host.is_empty() {
            continue;
        }
        let url_s = String::from_utf8_lossy(url).into_owned();
        if summary.urls.iter().any(|u| u.url == url_s) {
            continue;
        }
        if summary.urls.len() >= MAX_URLS {
            summary.limits.urls += 1;
            continue;
        }
        let host_s = String::from_utf8_lossy(host).to_ascii_lowercase();
        summary.urls.push(UrlInfo {
            url: url_s,
            host: host_s,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_b_and_q_with_charsets() {
        // Base64 UTF-8, adjacent words joined without the space between them.
        assert_eq!(
            decode_rfc2047(b"=?UTF-8?B?w6l0w6k=?= =?utf-8?Q?_=C3=A0_Paris?="),
            "été à Paris"
        );
        // ISO-8859-1 Q: 0xE9 is é.
        assert_eq!(
            decode_rfc2047(b"Re: =?iso-8859-1?q?caf=E9?= ok"),
            "Re: café ok"
        );
        // us-ascii, and a malformed word left alone.
        assert_eq!(
            decode_rfc2047(b"=?us-ascii?Q?plain?= =?x?Z?bad?="),
            "plain =?x?Z?bad?="
        );
    }

    #[test]
    fn rfc2231_filename_forms() {
        let (_, p) = split_header_value(b"attachment; filename*=utf-8''%E2%82%AC%20rates.txt");
        assert_eq!(
            rfc2231_param(&p, "filename").as_deref(),
            Some("€ rates.txt")
        );
        let (_, p) = split_header_value(
            b"attachment; filename*0*=iso-8859-1'fr'r%E9sum; filename*1*=%E9; filename*2=\".pdf\"",
        );
        assert_eq!(rfc2231_param(&p, "filename").as_deref(), Some("résumé.pdf"));
        let (_, p) = split_header_value(b"application/pdf; name=\"=?UTF-8?B?w6l0w6kucGRm?=\"");
        assert_eq!(rfc2231_param(&p, "name").as_deref(), Some("été.pdf"));
    }

    #[test]
    fn url_hosts_strip_userinfo_port_and_punctuation() {
        let mut s = MimeSummary::default();
        extract_urls(
            b"see (https://user:pw@Example.COM:8443/a?b=1). and http://x.test/",
            &mut s,
        );
        let got: Vec<_> = s
            .urls
            .iter()
            .map(|u| (u.url.as_str(), u.host.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("https://user:pw@Example.COM:8443/a?b=1", "example.com"),
                ("http://x.test/", "x.test")
            ]
        );
    }
}
