//! SMTP: client commands, server replies, the DATA/BDAT body stream, and an
//! incremental RFC 5322 / MIME scanner for the message itself.
//!
//! References: RFC 5321 (SMTP), RFC 1870 (SIZE), RFC 2920 (PIPELINING),
//! RFC 3030 (CHUNKING/BDAT), RFC 3207 (STARTTLS), RFC 4954 (AUTH),
//! RFC 5322 (message format), RFC 2045/2046 (MIME), RFC 2047 (encoded words),
//! RFC 2231 (parameter value continuations and charsets).
//!
//! # Pieces
//!
//! * [`parse_command`]: one client command line (`MAIL FROM:<a@b> SIZE=10`).
//! * [`parse_reply`]: one (multi-line) server reply (`250-…` … `250 …`),
//!   with [`Reply::ehlo_capabilities`].
//! * [`SmtpClientParser`]: a [`StreamParser`] for the client direction. Its
//!   small mode ([`ClientMode`]) follows the conversation: commands, then the
//!   DATA body as [`ClientEvent::DataChunk`]s up to the `CRLF.CRLF` end
//!   marker, BDAT chunks by byte count, AUTH responses (withheld), and TLS
//!   after STARTTLS.
//! * [`SmtpServerParser`]: a [`StreamParser`] for replies.
//! * [`MimeScanner`] (in [`mime`]): fed the body chunks, builds a bounded
//!   [`MimeSummary`] (headers, MIME parts, attachment names, URLs).
//!
//! # DATA and pipelining
//!
//! After `DATA` the client parser waits in [`ClientMode::DataPending`]: the
//! body must only start after a 354 reply. The engine, which sees the
//! replies, calls [`SmtpClientParser::data_accepted`] (354) or
//! [`SmtpClientParser::data_rejected`] (any other reply). When the engine has
//! not seen the reply (one-sided capture, or the body arrived first), the
//! parser decides from the first line: a line that is a known SMTP command
//! means the DATA was rejected and the client went on with commands
//! (RFC 2920 §3.1: a client whose pipelined DATA was refused sends RSET/QUIT,
//! not a body); anything else is the body. This is where RFC-following
//! differs from dissectors that switch to body mode on the DATA command
//! alone and then read the next commands as message text.

use crate::stream::{Direction, Parsed, Probe, StreamParser};

pub mod mime;

pub use mime::{MessageHeaders, MimeLimits, MimeScanner, MimeSummary, PartInfo, UrlInfo};

/// Longest client command line accepted, CRLF included. RFC 5321 §4.5.3.1.4
/// says 512; extensions (AUTH initial responses, many ESMTP parameters) need
/// more, so the bound is generous. A longer line is broken framing.
pub const MAX_LINE_LEN: usize = 4096;
/// Longest reply line, CRLF included.
pub const MAX_REPLY_LINE_LEN: usize = 4096;
/// Most lines in one multi-line reply.
pub const MAX_REPLY_LINES: usize = 256;

/// A command verb. Unknown verbs are kept as [`Verb::Unknown`] with the raw
/// text in [`Command::verb_raw`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// HELO domain
    Helo,
    /// EHLO domain
    Ehlo,
    /// `MAIL FROM:<path> [params]`
    Mail,
    /// `RCPT TO:<path> [params]`
    Rcpt,
    /// DATA
    Data,
    /// `BDAT size [LAST]`
    Bdat,
    /// RSET
    Rset,
    /// NOOP
    Noop,
    /// QUIT
    Quit,
    /// STARTTLS
    StartTls,
    /// `AUTH mechanism [initial-response]`
    Auth,
    /// VRFY string
    Vrfy,
    /// EXPN string
    Expn,
    /// `HELP [string]`
    Help,
    /// Anything else.
    Unknown,
}

impl Verb {
    fn from_bytes(v: &[u8]) -> Verb {
        const TABLE: [(&[u8], Verb); 14] = [
            (b"HELO", Verb::Helo),
            (b"EHLO", Verb::Ehlo),
            (b"MAIL", Verb::Mail),
            (b"RCPT", Verb::Rcpt),
            (b"DATA", Verb::Data),
            (b"BDAT", Verb::Bdat),
            (b"RSET", Verb::Rset),
            (b"NOOP", Verb::Noop),
            (b"QUIT", Verb::Quit),
            (b"STARTTLS", Verb::StartTls),
            (b"AUTH", Verb::Auth),
            (b"VRFY", Verb::Vrfy),
            (b"EXPN", Verb::Expn),
            (b"HELP", Verb::Help),
        ];
        TABLE
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(v))
            .map(|(_, verb)| *verb)
            .unwrap_or(Verb::Unknown)
    }

    /// The upper-case verb name (`"UNKNOWN"` for unknown verbs).
    pub fn name(self) -> &'static str {
        match self {
            Verb::Helo => "HELO",
            Verb::Ehlo => "EHLO",
            Verb::Mail => "MAIL",
            Verb::Rcpt => "RCPT",
            Verb::Data => "DATA",
            Verb::Bdat => "BDAT",
            Verb::Rset => "RSET",
            Verb::Noop => "NOOP",
            Verb::Quit => "QUIT",
            Verb::StartTls => "STARTTLS",
            Verb::Auth => "AUTH",
            Verb::Vrfy => "VRFY",
            Verb::Expn => "EXPN",
            Verb::Help => "HELP",
            Verb::Unknown => "UNKNOWN",
        }
    }
}

/// The arguments of a command, by verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandArgs<'a> {
    /// No arguments (DATA, RSET, QUIT, STARTTLS, or a bare NOOP/HELP).
    None,
    /// HELO/EHLO domain or address literal.
    Domain(&'a [u8]),
    /// MAIL FROM / RCPT TO.
    Path {
        /// The mailbox between `<` and `>` (empty for the null path `<>`).
        path: &'a [u8],
        /// ESMTP parameters after the path (`SIZE=1000 BODY=8BITMIME`).
        params: &'a [u8],
        /// False when `FROM:`/`TO:` or the angle brackets were missing.
        syntax_ok: bool,
    },
    /// BDAT.
    Bdat {
        /// Chunk size; `None` when missing or not a number.
        size: Option<u64>,
        /// `LAST` was given.
        last: bool,
    },
    /// AUTH. The initial response is a secret: only its length is kept.
    Auth {
        /// SASL mechanism name (`PLAIN`, `LOGIN`, …).
        mechanism: &'a [u8],
        /// Length of the initial response, if one was sent (`=` counts as 1).
        initial_response_len: Option<usize>,
    },
    /// Free text (VRFY, EXPN, HELP, NOOP, unknown verbs).
    Text(&'a [u8]),
}

/// One client command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command<'a> {
    /// The verb.
    pub verb: Verb,
    /// The verb as sent (case kept).
    pub verb_raw: &'a [u8],
    /// Decoded arguments.
    pub args: CommandArgs<'a>,
    /// Bytes of the line, terminator included.
    pub line_len: usize,
    /// The line ended in a bare LF instead of CRLF (a violation).
    pub bare_lf: bool,
}

impl<'a> Command<'a> {
    /// For MAIL/RCPT: the ESMTP parameters as `(keyword, value)` pairs.
    pub fn params(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a {
        let p: &'a [u8] = match self.args {
            CommandArgs::Path { params, .. } => params,
            _ => &[],
        };
        p.split(|&b| b == b' ').filter(|s| !s.is_empty()).map(|kv| {
            match kv.iter().position(|&b| b == b'=') {
                Some(i) => (&kv[..i], Some(&kv[i + 1..])),
                None => (kv, None),
            }
        })
    }

    /// For MAIL/RCPT: the path (mailbox), if any.
    pub fn path(&self) -> Option<&'a [u8]> {
        match self.args {
            CommandArgs::Path { path, .. } => Some(path),
            _ => None,
        }
    }
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

fn strip_prefix_ci<'a>(b: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = b.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        Some(&b[prefix.len()..])
    } else {
        None
    }
}

fn parse_path<'a>(args: &'a [u8], keyword: &[u8]) -> CommandArgs<'a> {
    let (after, mut ok) = match strip_prefix_ci(args, keyword) {
        Some(r) => (r, true),
        None => (args, false),
    };
    // Tolerate "FROM: <x>" (space after the colon), seen in the wild.
    let after = trim(after);
    if let Some(inner) = after.strip_prefix(b"<") {
        if let Some(end) = inner.iter().position(|&b| b == b'>') {
            return CommandArgs::Path {
                path: &inner[..end],
                params: trim(&inner[end + 1..]),
                syntax_ok: ok,
            };
        }
        ok = false;
        return CommandArgs::Path {
            path: inner,
            params: &[],
            syntax_ok: ok,
        };
    }
    let end = after.iter().position(|&b| b == b' ').unwrap_or(after.len());
    CommandArgs::Path {
        path: &after[..end],
        params: trim(&after[end..]),
        syntax_ok: false,
    }
}

/// Parses one command line (without needing the terminator; `line` is the
/// text before CRLF/LF). Never fails: an unknown verb is data.
fn command_from_line(line: &[u8], line_len: usize, bare_lf: bool) -> Command<'_> {
    let line_t = trim(line);
    let sp = line_t
        .iter()
        .position(|&b| b == b' ')
        .unwrap_or(line_t.len());
    let verb_raw = &line_t[..sp];
    let rest = trim(&line_t[sp..]);
    let verb = Verb::from_bytes(verb_raw);
    let args = match verb {
        Verb::Helo | Verb::Ehlo => CommandArgs::Domain(rest),
        Verb::Mail => parse_path(rest, b"FROM:"),
        Verb::Rcpt => parse_path(rest, b"TO:"),
        Verb::Bdat => {
            let mut it = rest.split(|&b| b == b' ').filter(|s| !s.is_empty());
            let size = it
                .next()
                .and_then(|s| std::str::from_utf8(s).ok())
                .and_then(|s| s.parse::<u64>().ok());
            let last = it.next().is_some_and(|s| s.eq_ignore_ascii_case(b"LAST"));
            CommandArgs::Bdat { size, last }
        }
        Verb::Auth => {
            let sp2 = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            let ir = trim(&rest[sp2..]);
            CommandArgs::Auth {
                mechanism: &rest[..sp2],
                initial_response_len: if ir.is_empty() { None } else { Some(ir.len()) },
            }
        }
        Verb::Data | Verb::Rset | Verb::Quit | Verb::StartTls if rest.is_empty() => {
            CommandArgs::None
        }
        _ if rest.is_empty() => CommandArgs::None,
        _ => CommandArgs::Text(rest),
    };
    Command {
        verb,
        verb_raw,
        args,
        line_len,
        bare_lf,
    }
}

/// One line at the front of `input`: `(text without terminator, line length
/// with terminator, bare LF)`. `Err(true)` when the line is longer than
/// `max`, `Err(false)` when it is not complete yet.
fn take_line(input: &[u8], max: usize) -> Result<(&[u8], usize, bool), bool> {
    let window = &input[..input.len().min(max)];
    match window.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let bare = i == 0 || input[i - 1] != b'\r';
            let text = if bare { &input[..i] } else { &input[..i - 1] };
            Ok((text, i + 1, bare))
        }
        None => Err(input.len() >= max),
    }
}

/// Parses one command line from the front of `input`.
///
/// ```text
/// VERB [SP arguments] CRLF          e.g.  MAIL FROM:<a@b.example> SIZE=1200
/// ```
///
/// Incomplete until a LF is seen; Invalid when no LF appears within
/// [`MAX_LINE_LEN`] bytes.
pub fn parse_command(input: &[u8]) -> Parsed<Command<'_>> {
    match take_line(input, MAX_LINE_LEN) {
        Ok((text, len, bare)) => Parsed::Message {
            consumed: len,
            message: command_from_line(text, len, bare),
        },
        Err(true) => Parsed::Invalid {
            reason: "smtp_line_too_long",
        },
        Err(false) => Parsed::Incomplete { needed: 1 },
    }
}

/// Violations in a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplyFlags {
    /// Continuation lines carried a different code than the first.
    pub mixed_codes: bool,
    /// A line ended with a bare LF.
    pub bare_lf: bool,
    /// The reply was cut at [`MAX_REPLY_LINES`].
    pub too_many_lines: bool,
    /// A continuation was followed by a line that is not a reply line; the
    /// reply ends before it.
    pub unterminated: bool,
}

/// One server reply, possibly multi-line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The three-digit code of the first line.
    pub code: u16,
    /// All lines as received, terminators included.
    pub raw: &'a [u8],
    /// Number of lines.
    pub line_count: usize,
    /// Violations.
    pub flags: ReplyFlags,
}

fn reply_code(line: &[u8]) -> Option<u16> {
    let d = line.get(..3)?;
    if !d.iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&d[0]) {
        return None;
    }
    match line.get(3) {
        None | Some(b' ') | Some(b'-') | Some(b'\r') | Some(b'\n') => {}
        _ => return None,
    }
    Some((d[0] - b'0') as u16 * 100 + (d[1] - b'0') as u16 * 10 + (d[2] - b'0') as u16)
}

impl<'a> Reply<'a> {
    /// The text of each line (after `ddd-`/`ddd `), without terminators.
    pub fn lines(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut rest = self.raw;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let nl = rest
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(rest.len() - 1);
            let line = &rest[..nl + 1];
            rest = &rest[nl + 1..];
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            Some(line.get(4..).unwrap_or(&[]))
        })
    }

    /// The class digit: 2 positive, 3 intermediate, 4 transient, 5 permanent.
    pub fn class(&self) -> u8 {
        (self.code / 100) as u8
    }

    /// EHLO capabilities: for a 250 reply, every line after the greeting as
    /// `(keyword, parameters)`, e.g. `(b"SIZE", b"35882577")`.
    pub fn ehlo_capabilities(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let skip = if self.code == 250 { 1 } else { usize::MAX };
        self.lines().skip(skip).map(|l| {
            let l = trim(l);
            let sp = l
                .iter()
                .position(|&b| b == b' ' || b == b'=')
                .unwrap_or(l.len());
            (&l[..sp], trim(l.get(sp + 1..).unwrap_or(&[])))
        })
    }

    /// True when the EHLO reply advertises `keyword` (case-insensitive).
    pub fn has_capability(&self, keyword: &[u8]) -> bool {
        self.ehlo_capabilities()
            .any(|(k, _)| k.eq_ignore_ascii_case(keyword))
    }
}

/// Parses one reply from the front of `input`.
///
/// ```text
/// 250-first line CRLF        (continuation: code, '-')
/// 250-more CRLF
/// 250 last line CRLF         (final: code, ' ' or end of line)
/// ```
///
/// Invalid when the first line is not `[2-5]dd` followed by SP, `-` or the
/// end of the line, or when a line exceeds [`MAX_REPLY_LINE_LEN`].
pub fn parse_reply(input: &[u8]) -> Parsed<Reply<'_>> {
    let mut off = 0usize;
    let mut flags = ReplyFlags::default();
    let mut code = 0u16;
    let mut lines = 0usize;
    loop {
        let rest = &input[off..];
        if lines > 0 && reply_code(rest).is_none() && rest.len() >= 4 {
            // A continuation promised more lines but this is not one.
            flags.unterminated = true;
            return Parsed::Message {
                consumed: off,
                message: Reply {
                    code,
                    raw: &input[..off],
                    line_count: lines,
                    flags,
                },
            };
        }
        let (text, len, bare) = match take_line(rest, MAX_REPLY_LINE_LEN) {
            Ok(l) => l,
            Err(true) => {
                return Parsed::Invalid {
                    reason: "smtp_reply_line_too_long",
                }
            }
            Err(false) => {
                if lines == 0 && !rest.is_empty() && reply_code(rest).is_none() && rest.len() >= 4 {
                    return Parsed::Invalid {
                        reason: "smtp_not_a_reply",
                    };
                }
                if let Some(b) = rest.first() {
                    if !b.is_ascii_digit() {
                        return Parsed::Invalid {
                            reason: "smtp_not_a_reply",
                        };
                    }
                }
                return Parsed::Incomplete { needed: 1 };
            }
        };
        let Some(c) = reply_code(text) else {
            if lines == 0 {
                return Parsed::Invalid {
                    reason: "smtp_not_a_reply",
                };
            }
            flags.unterminated = true;
            return Parsed::Message {
                consumed: off,
                message: Reply {
                    code,
                    raw: &input[..off],
                    line_count: lines,
                    flags,
                },
            };
        };
        if lines == 0 {
            code = c;
        } else if c != code {
            flags.mixed_codes = true;
        }
        flags.bare_lf |= bare;
        lines += 1;
        off += len;
        let more = text.get(3) == Some(&b'-');
        if !more {
            break;
        }
        if lines >= MAX_REPLY_LINES {
            flags.too_many_lines = true;
            break;
        }
    }
    Parsed::Message {
        consumed: off,
        message: Reply {
            code,
            raw: &input[..off],
            line_count: lines,
            flags,
        },
    }
}

/// What the client direction is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientMode {
    /// Reading command lines.
    #[default]
    Command,
    /// DATA was sent; the 354 (or a refusal) has not been seen.
    DataPending,
    /// Inside a DATA body. `line_start`: the next byte starts a line.
    Data {
        /// True when the next byte starts a line (the end marker may follow).
        line_start: bool,
    },
    /// Inside a BDAT chunk.
    Bdat {
        /// Bytes of the chunk still to come.
        remaining: u64,
        /// The chunk was announced with LAST.
        last: bool,
    },
    /// AUTH exchange: lines are SASL responses until a command shows up.
    Auth,
    /// STARTTLS was sent; waiting for the TLS ClientHello or a refusal.
    StartTlsPending,
    /// TLS: bytes pass through as [`ClientEvent::Tls`].
    Tls,
}

/// One unit from the client direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientEvent<'a> {
    /// A command line.
    Command(Command<'a>),
    /// A SASL response line during AUTH. The content is a secret and is not
    /// exposed; `len` is its length without the terminator.
    AuthResponse {
        /// Length of the response text.
        len: usize,
    },
    /// Body bytes of a DATA transfer, dot-stuffed as on the wire. The final
    /// chunk has `end: true`; the `CRLF.CRLF` marker's last three bytes
    /// (`.CRLF`) are not part of any chunk (the CRLF before the dot is, it
    /// ends the last body line).
    DataChunk {
        /// Body bytes.
        data: &'a [u8],
        /// The end marker followed these bytes.
        end: bool,
    },
    /// Bytes of a BDAT chunk (not dot-stuffed).
    BdatChunk {
        /// Chunk bytes.
        data: &'a [u8],
        /// This completes the chunk announced by the BDAT command.
        chunk_end: bool,
        /// ... and that chunk was the LAST one of the message.
        message_end: bool,
    },
    /// TLS bytes after STARTTLS (hand them to the TLS parser).
    Tls(&'a [u8]),
}

/// Stream parser for the client direction. The mode is public so that the
/// engine can persist and override it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmtpClientParser {
    /// Current mode.
    pub mode: ClientMode,
}

fn looks_like_tls(input: &[u8]) -> bool {
    input.len() >= 2 && input[0] == 0x16 && input[1] == 0x03
}

fn is_base64_line(l: &[u8]) -> bool {
    l.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
}

/// True when `line` is a command with a known verb (the pipelining check).
fn is_known_command(line: &[u8]) -> bool {
    let t = trim(line);
    let sp = t.iter().position(|&b| b == b' ').unwrap_or(t.len());
    Verb::from_bytes(&t[..sp]) != Verb::Unknown
}

impl SmtpClientParser {
    /// A parser in command mode.
    pub fn new() -> Self {
        Self::default()
    }

    /// The server answered DATA with 354: the body follows.
    pub fn data_accepted(&mut self) {
        if self.mode == ClientMode::DataPending {
            self.mode = ClientMode::Data { line_start: true };
        }
    }

    /// The server refused DATA (or STARTTLS): back to commands.
    pub fn data_rejected(&mut self) {
        if matches!(
            self.mode,
            ClientMode::DataPending | ClientMode::StartTlsPending
        ) {
            self.mode = ClientMode::Command;
        }
    }

    /// The AUTH exchange finished (235/5xx seen).
    pub fn auth_done(&mut self) {
        if self.mode == ClientMode::Auth {
            self.mode = ClientMode::Command;
        }
    }

    fn command<'a>(&mut self, input: &'a [u8]) -> Parsed<ClientEvent<'a>> {
        if looks_like_tls(input) {
            self.mode = ClientMode::Tls;
            return Parsed::Message {
                consumed: input.len(),
                message: ClientEvent::Tls(input),
            };
        }
        match parse_command(input) {
            Parsed::Message { consumed, message } => {
                self.mode = match (message.verb, message.args) {
                    (Verb::Data, _) => ClientMode::DataPending,
                    (
                        Verb::Bdat,
                        CommandArgs::Bdat {
                            size: Some(n),
                            last,
                        },
                    ) if n > 0 => ClientMode::Bdat { remaining: n, last },
                    (Verb::Auth, _) => ClientMode::Auth,
                    (Verb::StartTls, _) => ClientMode::StartTlsPending,
                    _ => ClientMode::Command,
                };
                Parsed::Message {
                    consumed,
                    message: ClientEvent::Command(message),
                }
            }
            Parsed::Skip { consumed } => Parsed::Skip { consumed },
            Parsed::Incomplete { needed } => Parsed::Incomplete { needed },
            Parsed::Invalid { reason } => Parsed::Invalid { reason },
        }
    }

    fn data<'a>(&mut self, input: &'a [u8], line_start: bool) -> Parsed<ClientEvent<'a>> {
        if line_start {
            if input.starts_with(b".\r\n") {
                self.mode = ClientMode::Command;
                return Parsed::Message {
                    consumed: 3,
                    message: ClientEvent::DataChunk {
                        data: &[],
                        end: true,
                    },
                };
            }
            if input.len() < 3 && b".\r\n".starts_with(input) {
                return Parsed::Incomplete {
                    needed: 3 - input.len(),
                };
            }
        }
        if let Some(i) = find(input, b"\r\n.\r\n") {
            self.mode = ClientMode::Command;
            return Parsed::Message {
                consumed: i + 5,
                message: ClientEvent::DataChunk {
                    data: &input[..i + 2],
                    end: true,
                },
            };
        }
        // Hold back a tail that could start the end marker.
        let hold = [4usize, 3, 2, 1]
            .into_iter()
            .find(|&k| input.len() >= k && b"\r\n.\r\n".starts_with(&input[input.len() - k..]))
            .unwrap_or(0);
        let emit = input.len() - hold;
        if emit == 0 {
            return Parsed::Incomplete { needed: 5 - hold };
        }
        let data = &input[..emit];
        self.mode = ClientMode::Data {
            line_start: data.ends_with(b"\r\n"),
        };
        Parsed::Message {
            consumed: emit,
            message: ClientEvent::DataChunk { data, end: false },
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let mut from = 0usize;
    while from + needle.len() <= hay.len() {
        let i = from
            + hay[from..hay.len() - needle.len() + 1]
                .iter()
                .position(|&b| b == first)?;
        if &hay[i..i + needle.len()] == needle {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

impl StreamParser for SmtpClientParser {
    type Message<'a> = ClientEvent<'a>;

    fn parse<'a>(&mut self, input: &'a [u8], _dir: Direction) -> Parsed<ClientEvent<'a>> {
        if input.is_empty() {
            return Parsed::Incomplete { needed: 1 };
        }
        match self.mode {
            ClientMode::Command => self.command(input),
            ClientMode::Tls => Parsed::Message {
                consumed: input.len(),
                message: ClientEvent::Tls(input),
            },
            ClientMode::StartTlsPending => {
                if input.len() < 2 && input[0] == 0x16 {
                    return Parsed::Incomplete { needed: 1 };
                }
                if looks_like_tls(input) {
                    self.mode = ClientMode::Tls;
                    return Parsed::Message {
                        consumed: input.len(),
                        message: ClientEvent::Tls(input),
                    };
                }
                self.mode = ClientMode::Command;
                self.command(input)
            }
            ClientMode::DataPending => match take_line(input, MAX_LINE_LEN) {
                Ok((text, _, _)) if is_known_command(text) => {
                    self.mode = ClientMode::Command;
                    self.command(input)
                }
                Ok(_) | Err(true) => {
                    self.mode = ClientMode::Data { line_start: true };
                    self.data(input, true)
                }
                Err(false) => {
                    // The end marker right away (empty body) needs no wait.
                    if input.starts_with(b".\r\n") {
                        self.mode = ClientMode::Data { line_start: true };
                        return self.data(input, true);
                    }
                    Parsed::Incomplete { needed: 1 }
                }
            },
            ClientMode::Data { line_start } => self.data(input, line_start),
            ClientMode::Bdat { remaining, last } => {
                let n = (input.len() as u64).min(remaining) as usize;
                let left = remaining - n as u64;
                let chunk_end = left == 0;
                self.mode = if chunk_end {
                    ClientMode::Command
                } else {
                    ClientMode::Bdat {
                        remaining: left,
                        last,
                    }
                };
                Parsed::Message {
                    consumed: n,
                    message: ClientEvent::BdatChunk {
                        data: &input[..n],
                        chunk_end,
                        message_end: chunk_end && last,
                    },
                }
            }
            ClientMode::Auth => match take_line(input, MAX_LINE_LEN) {
                Ok((text, len, _)) => {
                    let t = trim(text);
                    if t == b"*" {
                        self.mode = ClientMode::Command;
                        return Parsed::Message {
                            consumed: len,
                            message: ClientEvent::AuthResponse { len: t.len() },
                        };
                    }
                    if is_known_command(t) && !t.contains(&b'=') && t.len() <= 8
                        || !is_base64_line(t)
                    {
                        self.mode = ClientMode::Command;
                        return self.command(input);
                    }
                    Parsed::Message {
                        consumed: len,
                        message: ClientEvent::AuthResponse { len: text.len() },
                    }
                }
                Err(true) => Parsed::Invalid {
                    reason: "smtp_line_too_long",
                },
                Err(false) => Parsed::Incomplete { needed: 1 },
            },
        }
    }

    /// In command mode: the start of the next line that begins with a known
    /// verb. In other modes: nothing (the engine should drop the buffer and
    /// reset the mode).
    fn resync(&mut self, input: &[u8], _dir: Direction) -> Option<usize> {
        let mut off = 0usize;
        while off < input.len() {
            let nl = input[off..].iter().position(|&b| b == b'\n')?;
            off += nl + 1;
            let rest = &input[off..];
            let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            if line_end <= MAX_LINE_LEN && is_known_command(&rest[..line_end]) {
                self.mode = ClientMode::Command;
                return Some(off);
            }
        }
        None
    }
}

/// What the server direction is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerMode {
    /// Reading replies.
    #[default]
    Reply,
    /// TLS after STARTTLS.
    Tls,
}

/// One unit from the server direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEvent<'a> {
    /// A reply.
    Reply(Reply<'a>),
    /// TLS bytes.
    Tls(&'a [u8]),
}

/// Stream parser for the server direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmtpServerParser {
    /// Current mode.
    pub mode: ServerMode,
}

impl StreamParser for SmtpServerParser {
    type Message<'a> = ServerEvent<'a>;

    fn parse<'a>(&mut self, input: &'a [u8], _dir: Direction) -> Parsed<ServerEvent<'a>> {
        if input.is_empty() {
            return Parsed::Incomplete { needed: 1 };
        }
        if self.mode == ServerMode::Tls || looks_like_tls(input) {
            self.mode = ServerMode::Tls;
            return Parsed::Message {
                consumed: input.len(),
                message: ServerEvent::Tls(input),
            };
        }
        match parse_reply(input) {
            Parsed::Message { consumed, message } => Parsed::Message {
                consumed,
                message: ServerEvent::Reply(message),
            },
            Parsed::Skip { consumed } => Parsed::Skip { consumed },
            Parsed::Incomplete { needed } => Parsed::Incomplete { needed },
            Parsed::Invalid { reason } => Parsed::Invalid { reason },
        }
    }

    /// The start of the next line that begins like a reply.
    fn resync(&mut self, input: &[u8], _dir: Direction) -> Option<usize> {
        let mut off = 0usize;
        while off < input.len() {
            let nl = input[off..].iter().position(|&b| b == b'\n')?;
            off += nl + 1;
            if reply_code(&input[off..]).is_some() {
                return Some(off);
            }
        }
        None
    }
}

/// Does a server greeting look like SMTP? `220` then SP or `-`.
pub fn probe_server(input: &[u8]) -> Probe {
    if input.len() < 4 {
        return if b"220 ".starts_with(input) || b"220-".starts_with(input) {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    }
    if input.starts_with(b"220 ") || input.starts_with(b"220-") {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

/// Does a client stream start like SMTP? `EHLO`/`HELO` + SP.
pub fn probe_client(input: &[u8]) -> Probe {
    let n = input.len().min(5);
    let ok = |p: &[u8]| p[..n].eq_ignore_ascii_case(&input[..n]);
    if n < 5 {
        return if ok(b"EHLO ") || ok(b"HELO ") {
            Probe::NeedMore
        } else {
            Probe::NoMatch
        };
    }
    if ok(b"EHLO ") || ok(b"HELO ") {
        Probe::Match
    } else {
        Probe::NoMatch
    }
}

/// Fuzz entry: both directions, the MIME scanner in data-derived chunk
/// sizes, with invariants asserted.
#[doc(hidden)]
pub fn fuzz(data: &[u8]) {
    use crate::stream::drive;
    let _ = (probe_client(data), probe_server(data));
    let mut p = SmtpClientParser::new();
    let mut whole = MimeScanner::new(true);
    let out = drive(&mut p, data, Direction::ToServer, |e| match e {
        ClientEvent::Command(c) => {
            assert!(c.line_len <= MAX_LINE_LEN);
            let _ = c.params().count();
        }
        ClientEvent::DataChunk { data: d, .. } => whole.feed(d),
        ClientEvent::BdatChunk { data: d, .. } => whole.feed(d),
        ClientEvent::AuthResponse { len } => assert!(len < MAX_LINE_LEN),
        ClientEvent::Tls(_) => {}
    });
    assert!(out.consumed <= data.len() && !out.stalled);
    if out.consumed < data.len() {
        assert!(out.needed.is_some());
    }
    let mut s = SmtpServerParser::default();
    let out = drive(&mut s, data, Direction::ToClient, |e| {
        if let ServerEvent::Reply(r) = e {
            assert!(r.line_count <= MAX_REPLY_LINES && r.line_count >= 1);
            assert_eq!(r.lines().count(), r.line_count);
            let _ = r.ehlo_capabilities().count();
        }
    });
    assert!(out.consumed <= data.len() && !out.stalled);
    // Chunking must not change what the scanner finds.
    let mut one = MimeScanner::new(false);
    one.feed(data);
    let a = one.finish();
    let mut chunked = MimeScanner::new(false);
    let mut off = 0usize;
    let mut i = 0usize;
    while off < data.len() {
        let step = 1 + (data.get(i).copied().unwrap_or(7) as usize % 61);
        let end = (off + step).min(data.len());
        chunked.feed(&data[off..end]);
        off = end;
        i += 1;
    }
    let b = chunked.finish();
    assert_eq!(a, b, "MIME summary depends on chunking");
    assert!(a.parts.len() <= mime::MAX_PARTS);
    assert!(a.urls.len() <= mime::MAX_URLS);
    let _ = whole.finish();
    let mut p2 = SmtpClientParser::new();
    let _ = p2.resync(data, Direction::ToServer);
    let _ = s.resync(data, Direction::ToClient);
}
