//! SMTP dissector: one `smtp` EVE event per mail transaction, with the
//! message summary in `email`; STARTTLS hands the connection to an embedded
//! TLS state.
//!
//! References: RFC 5321 (SMTP: §3.3 transactions, §4.1.1 commands, §4.2
//! replies, §4.5.2 dot-stuffing), RFC 2920 (PIPELINING), RFC 3030
//! (CHUNKING/BDAT), RFC 3207 (STARTTLS), RFC 4954 (AUTH), RFC 5322 (message
//! headers), RFC 2045–2047/2231 (MIME). Parsers: `spanwatch_parsers::smtp`.
//!
//! # Command/reply state machine
//!
//! ```text
//! client bytes ──StreamBuf<SmtpClientParser>──▶ command ──▶ pending FIFO (≤ MAX_PENDING_COMMANDS)
//!                                            ──▶ DATA/BDAT body ──▶ MimeScanner (per transaction)
//!                                            ──▶ TLS bytes ──▶ TlsState
//! server bytes ──StreamBuf<SmtpServerParser>──▶ reply ──▶ pops the FIFO front (pipelined replies pair FIFO)
//!                                            ──▶ TLS bytes ──▶ TlsState
//! ```
//!
//! The first reply is the greeting. Every later reply answers the oldest
//! command still waiting (RFC 2920 §3.1: replies come in command order); an
//! AUTH stays at the front through its 334 continuations. Replies drive the
//! client parser's mode: 354 to DATA → [`SmtpClientParser::data_accepted`],
//! any other reply to DATA (or to STARTTLS) →
//! [`SmtpClientParser::data_rejected`], the end of an AUTH exchange →
//! [`SmtpClientParser::auth_done`]. The end of the body (`CRLF.CRLF`) queues
//! one more expected reply, the final one.
//!
//! STARTTLS: after the server's 220 to STARTTLS the server parser is switched
//! to TLS at the next byte; the client parser switches by itself when its
//! next bytes are a TLS record. From there each direction's bytes go to an
//! embedded [`TlsState`], which writes the `tls` event (and ignores the
//! encrypted session cheaply).
//!
//! # One event per transaction
//!
//! A transaction starts at MAIL FROM (or at a RCPT/DATA/BDAT without one,
//! flagged). It ends at the end of the DATA body, the BDAT LAST chunk, RSET,
//! QUIT, HELO/EHLO, a new MAIL, or the end of the flow, and its event is
//! written once every reply it waits for has arrived (so the final 250/5xx
//! is on the event), or at once when the session never showed a server
//! reply (one-sided capture), or at the end of the flow. A session that
//! carried no transaction (EHLO + STARTTLS, failed AUTH + QUIT) gets one
//! event at its end. Session facts (HELO, AUTH attempts — mechanism and
//! outcome, never the secret —, STARTTLS, EHLO extensions, VRFY/EXPN use)
//! are written in the next event after they happen, each once.
//!
//! # Recipients and BCC
//!
//! `rcpts` lists every RCPT TO with its reply code. A recipient counts as
//! accepted on a 2xx reply, or, when no server reply was ever seen, because
//! it was sent. `undisclosed_recipients` are the accepted recipients whose
//! address is not in the To or Cc header.
//!
//! # Bounds
//!
//! Pending commands [`MAX_PENDING_COMMANDS`], transactions waiting for
//! replies [`MAX_ENDED_TXS`], recipients [`MAX_RCPTS`], AUTH attempts
//! [`MAX_AUTH_ATTEMPTS`], stored text [`MAX_TEXT`]; the message scanner has
//! its own (`spanwatch_parsers::smtp::mime`), reported in `email.limits`.
//! Every bound that bites sets an anomaly flag.

use super::streambuf::{FeedOutcome, StreamBuf};
use super::tls::TlsState;
use super::{idx, AppProto, Ctx, TcpApp};
use crate::baseline::obs::ObsKind;
use crate::output::json::JsonWriter;
use spanwatch_parsers::smtp::{
    ClientEvent, ClientMode, Command, CommandArgs, MimeScanner, MimeSummary, Reply, ServerEvent,
    ServerMode, SmtpClientParser, SmtpServerParser, Verb,
};
use spanwatch_parsers::stream::{Direction, Parsed, StreamParser};
use std::cell::Cell;
use std::collections::VecDeque;

/// Commands waiting for their reply.
pub const MAX_PENDING_COMMANDS: usize = 256;
/// Ended transactions waiting for replies before their event is written.
pub const MAX_ENDED_TXS: usize = 8;
/// Recipients kept per transaction.
pub const MAX_RCPTS: usize = 1024;
/// AUTH attempts kept until the next event.
pub const MAX_AUTH_ATTEMPTS: usize = 16;
/// EHLO keywords kept.
pub const MAX_EHLO_KEYWORDS: usize = 32;
/// Bytes kept of one command argument (HELO domain, path, parameters).
pub const MAX_TEXT: usize = 1024;
/// Addresses split out of one To/Cc header.
pub const MAX_ADDRESSES: usize = 1024;

/// Anomaly flags, named in `smtp.anomalies`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmtpAnomalies(u32);

impl SmtpAnomalies {
    /// Capture loss in either direction.
    pub const GAP: u32 = 1 << 0;
    /// A command or reply line over the length bound (skipped).
    pub const LINE_TOO_LONG: u32 = 1 << 1;
    /// A line ended with a bare LF.
    pub const BARE_LF: u32 = 1 << 2;
    /// MAIL/RCPT without `FROM:`/`TO:` or angle brackets.
    pub const PATH_SYNTAX: u32 = 1 << 3;
    /// A verb SMTP does not define.
    pub const UNKNOWN_COMMAND: u32 = 1 << 4;
    /// RCPT, DATA or BDAT without a MAIL FROM.
    pub const OUT_OF_ORDER: u32 = 1 << 5;
    /// BDAT without a valid size.
    pub const BDAT_BAD_SIZE: u32 = 1 << 6;
    /// A reply no command was waiting for.
    pub const UNSOLICITED_REPLY: u32 = 1 << 7;
    /// Reply with mixed codes, too many lines or an unterminated continuation.
    pub const REPLY_MALFORMED: u32 = 1 << 8;
    /// Server bytes that are not a reply.
    pub const NOT_A_REPLY: u32 = 1 << 9;
    /// The pending command queue overflowed (oldest dropped).
    pub const PENDING_OVERFLOW: u32 = 1 << 10;
    /// The event was written before all replies arrived.
    pub const REPLIES_MISSING: u32 = 1 << 11;
    /// More recipients than [`MAX_RCPTS`].
    pub const RCPT_LIMIT: u32 = 1 << 12;
    /// A MIME scanner bound was hit (see `email.limits`).
    pub const MIME_LIMIT: u32 = 1 << 13;
    /// The body ended without its end marker.
    pub const BODY_INCOMPLETE: u32 = 1 << 14;
    /// A dissector buffer overflowed or a parser stalled.
    pub const BUFFER: u32 = 1 << 15;
    /// More AUTH attempts than [`MAX_AUTH_ATTEMPTS`] between two events.
    pub const AUTH_LIMIT: u32 = 1 << 16;
    /// A stored argument was cut at [`MAX_TEXT`].
    pub const TEXT_CUT: u32 = 1 << 17;

    const NAMES: [(u32, &'static str); 18] = [
        (Self::GAP, "gap"),
        (Self::LINE_TOO_LONG, "line_too_long"),
        (Self::BARE_LF, "bare_lf"),
        (Self::PATH_SYNTAX, "path_syntax"),
        (Self::UNKNOWN_COMMAND, "unknown_command"),
        (Self::OUT_OF_ORDER, "command_out_of_order"),
        (Self::BDAT_BAD_SIZE, "bdat_bad_size"),
        (Self::UNSOLICITED_REPLY, "unsolicited_reply"),
        (Self::REPLY_MALFORMED, "reply_malformed"),
        (Self::NOT_A_REPLY, "not_a_reply"),
        (Self::PENDING_OVERFLOW, "pending_overflow"),
        (Self::REPLIES_MISSING, "replies_missing"),
        (Self::RCPT_LIMIT, "rcpt_limit"),
        (Self::MIME_LIMIT, "mime_limit"),
        (Self::BODY_INCOMPLETE, "body_incomplete"),
        (Self::BUFFER, "buffer_limit"),
        (Self::AUTH_LIMIT, "auth_limit"),
        (Self::TEXT_CUT, "text_cut"),
    ];

    /// Sets `bit`.
    pub fn set(&mut self, bit: u32) {
        self.0 |= bit;
    }

    /// True when `bit` is set.
    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
}

/// What a reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Helo,
    Ehlo,
    Mail,
    Rcpt(usize),
    Data,
    /// The final reply after the DATA body.
    DataEnd,
    Bdat {
        last: bool,
    },
    Rset,
    Quit,
    StartTls,
    Auth(usize),
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    expect: Expect,
    /// Transaction id, 0 for session commands.
    tx: u32,
}

#[derive(Debug)]
struct Rcpt {
    to: Vec<u8>,
    code: Option<u16>,
}

/// One mail transaction.
#[derive(Default)]
struct SmtpTx {
    id: u32,
    mail_from: Option<Vec<u8>>,
    mail_params: Vec<u8>,
    mail_reply: Option<u16>,
    rcpts: Vec<Rcpt>,
    data_reply: Option<u16>,
    bdat_chunks: u32,
    bdat_bytes: u64,
    bdat_last: bool,
    bdat_rejected: Option<u16>,
    final_reply: Option<u16>,
    scanner: Option<Box<MimeScanner>>,
    summary: Option<Box<MimeSummary>>,
    body_complete: bool,
    ended_by: Option<&'static str>,
    outstanding: u32,
    pipelined: bool,
    anomalies: SmtpAnomalies,
}

#[derive(Debug)]
struct AuthAttempt {
    mechanism: Vec<u8>,
    initial_response: bool,
    responses: u32,
    code: Option<u16>,
}

/// Facts about the whole connection.
#[derive(Debug, Default)]
struct Session {
    helo: Option<Vec<u8>>,
    greeting: Option<u16>,
    replies_seen: bool,
    extensions: Vec<String>,
    extensions_logged: bool,
    auth: Vec<AuthAttempt>,
    /// AUTH attempts past [`MAX_AUTH_ATTEMPTS`] since the last event.
    auth_not_logged: u32,
    starttls: Option<Option<u16>>,
    starttls_logged: bool,
    vrfy: u32,
    expn: u32,
    unknown_commands: u32,
    commands: u32,
    events: u32,
    /// Facts not tied to a transaction, written in the next event.
    anomalies: SmtpAnomalies,
}

/// The part of the state the parsers' callbacks work on.
#[derive(Default)]
struct Core {
    session: Session,
    pending: VecDeque<Pending>,
    cur: Option<Box<SmtpTx>>,
    ended: VecDeque<Box<SmtpTx>>,
    next_id: u32,
    tls: Option<Box<TlsState>>,
}

/// Per-flow SMTP state.
#[derive(Default)]
pub struct SmtpState {
    client: SmtpClientParser,
    cbuf: StreamBuf,
    server: SmtpServerParser,
    sbuf: StreamBuf,
    /// Set by the reply callback when STARTTLS was accepted: the server
    /// parser switches to TLS at its next byte.
    tls_switch: Cell<bool>,
    /// Per direction (to server, to client): bytes go straight to TLS.
    tls_dir: [bool; 2],
    core: Core,
}

impl SmtpState {
    /// A fresh state.
    pub fn new() -> SmtpState {
        SmtpState::default()
    }
}

/// The server parser, switched to TLS once the STARTTLS 220 was seen.
struct ServerSide<'a> {
    p: &'a mut SmtpServerParser,
    switch: &'a Cell<bool>,
}

impl StreamParser for ServerSide<'_> {
    type Message<'m> = ServerEvent<'m>;

    fn parse<'m>(&mut self, input: &'m [u8], dir: Direction) -> Parsed<ServerEvent<'m>> {
        if self.switch.get() {
            self.p.mode = ServerMode::Tls;
        }
        self.p.parse(input, dir)
    }

    fn resync(&mut self, input: &[u8], dir: Direction) -> Option<usize> {
        self.p.resync(input, dir)
    }
}

fn capped(b: &[u8], a: &mut SmtpAnomalies) -> Vec<u8> {
    if b.len() > MAX_TEXT {
        a.set(SmtpAnomalies::TEXT_CUT);
    }
    b[..b.len().min(MAX_TEXT)].to_vec()
}

fn account(out: &FeedOutcome, a: &mut SmtpAnomalies, ctx: &mut Ctx<'_>) {
    ctx.stats.invalid[idx(AppProto::Smtp)] += out.invalid as u64;
    if out.overflow {
        ctx.stats.pending_overflows += 1;
        a.set(SmtpAnomalies::BUFFER);
    }
    if out.stalled {
        ctx.stats.stalled += 1;
        a.set(SmtpAnomalies::BUFFER);
    }
}

impl Core {
    fn tls_data(&mut self, dir: Direction, b: &[u8], ctx: &mut Ctx<'_>) {
        self.tls
            .get_or_insert_with(|| Box::new(TlsState::new()))
            .on_data(dir, b, ctx);
    }

    fn tx_mut(&mut self, id: u32) -> Option<&mut SmtpTx> {
        if id == 0 {
            return None;
        }
        if let Some(t) = self.cur.as_deref_mut().filter(|t| t.id == id) {
            return Some(t);
        }
        self.ended.iter_mut().map(|b| &mut **b).find(|t| t.id == id)
    }

    /// The current transaction, started (and flagged) if there is none.
    fn cur_or_new(&mut self) -> &mut SmtpTx {
        if self.cur.is_none() {
            let mut t = self.new_tx();
            t.anomalies.set(SmtpAnomalies::OUT_OF_ORDER);
            self.cur = Some(t);
        }
        self.cur.get_or_insert_with(Box::default)
    }

    fn new_tx(&mut self) -> Box<SmtpTx> {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        Box::new(SmtpTx {
            id: self.next_id,
            ..SmtpTx::default()
        })
    }

    fn push(&mut self, expect: Expect, tx: u32, ctx: &mut Ctx<'_>) {
        if self.pending.len() >= MAX_PENDING_COMMANDS {
            if let Some(old) = self.pending.pop_front() {
                if let Some(t) = self.tx_mut(old.tx) {
                    t.outstanding = t.outstanding.saturating_sub(1);
                }
            }
            self.session.anomalies.set(SmtpAnomalies::PENDING_OVERFLOW);
        }
        if let Some(t) = self.tx_mut(tx) {
            t.outstanding += 1;
        }
        self.pending.push_back(Pending { expect, tx });
        let _ = ctx;
    }

    /// Ends the current transaction (`reason`) and writes what can be written.
    fn end_tx(&mut self, reason: &'static str, ctx: &mut Ctx<'_>) {
        if let Some(mut t) = self.cur.take() {
            t.ended_by.get_or_insert(reason);
            finish_body(&mut t);
            self.ended.push_back(t);
        }
        self.write_ended(false, ctx);
    }

    /// Writes ended transactions, oldest first, that wait for no reply (all
    /// of them when `all`).
    fn write_ended(&mut self, all: bool, ctx: &mut Ctx<'_>) {
        while let Some(front) = self.ended.front() {
            let over = self.ended.len() > MAX_ENDED_TXS;
            if !(all || over || front.outstanding == 0 || !self.session.replies_seen) {
                break;
            }
            let Some(mut t) = self.ended.pop_front() else {
                break;
            };
            if t.outstanding > 0 && self.session.replies_seen {
                t.anomalies.set(SmtpAnomalies::REPLIES_MISSING);
            }
            self.write(Some(&t), ctx);
        }
    }

    fn on_client(&mut self, ev: ClientEvent<'_>, ctx: &mut Ctx<'_>) {
        match ev {
            ClientEvent::Command(c) => self.on_command(&c, ctx),
            ClientEvent::AuthResponse { .. } => {
                if let Some(a) = self.session.auth.last_mut() {
                    a.responses = a.responses.saturating_add(1);
                }
            }
            ClientEvent::DataChunk { data, end } => {
                self.body(data, true);
                if end {
                    let t = self.cur_or_new();
                    t.body_complete = true;
                    t.ended_by = Some("data");
                    let id = t.id;
                    self.push(Expect::DataEnd, id, ctx);
                    self.end_tx("data", ctx);
                }
            }
            ClientEvent::BdatChunk {
                data, message_end, ..
            } => {
                self.body(data, false);
                if message_end {
                    let t = self.cur_or_new();
                    t.body_complete = true;
                    self.end_tx("bdat", ctx);
                }
            }
            ClientEvent::Tls(b) => self.tls_data(Direction::ToServer, b, ctx),
        }
    }

    fn body(&mut self, data: &[u8], dot_stuffed: bool) {
        let t = self.cur_or_new();
        t.scanner
            .get_or_insert_with(|| Box::new(MimeScanner::new(dot_stuffed)))
            .feed(data);
    }

    fn on_command(&mut self, c: &Command<'_>, ctx: &mut Ctx<'_>) {
        ctx.stats.messages[idx(AppProto::Smtp)] += 1;
        let s = &mut self.session;
        s.commands = s.commands.saturating_add(1);
        if c.bare_lf {
            s.anomalies.set(SmtpAnomalies::BARE_LF);
        }
        let pipelined = s.replies_seen && !self.pending.is_empty();
        match c.verb {
            Verb::Helo | Verb::Ehlo => {
                self.end_tx("helo", ctx);
                let s = &mut self.session;
                if let CommandArgs::Domain(d) = c.args {
                    s.helo = Some(capped(d, &mut s.anomalies));
                }
                s.extensions.clear();
                s.extensions_logged = false;
                let e = if c.verb == Verb::Ehlo {
                    Expect::Ehlo
                } else {
                    Expect::Helo
                };
                self.push(e, 0, ctx);
            }
            Verb::Mail => {
                self.end_tx("mail", ctx);
                let mut t = self.new_tx();
                if let CommandArgs::Path {
                    path,
                    params,
                    syntax_ok,
                } = c.args
                {
                    t.mail_from = Some(capped(path, &mut t.anomalies));
                    t.mail_params = capped(params, &mut t.anomalies);
                    if !syntax_ok {
                        t.anomalies.set(SmtpAnomalies::PATH_SYNTAX);
                    }
                }
                t.pipelined = pipelined;
                let id = t.id;
                self.cur = Some(t);
                self.push(Expect::Mail, id, ctx);
            }
            Verb::Rcpt => {
                let t = self.cur_or_new();
                t.pipelined |= pipelined;
                let id = t.id;
                let mut i = usize::MAX;
                if let CommandArgs::Path {
                    path, syntax_ok, ..
                } = c.args
                {
                    if !syntax_ok {
                        t.anomalies.set(SmtpAnomalies::PATH_SYNTAX);
                    }
                    if t.rcpts.len() < MAX_RCPTS {
                        i = t.rcpts.len();
                        let to = capped(path, &mut t.anomalies);
                        t.rcpts.push(Rcpt { to, code: None });
                    } else {
                        t.anomalies.set(SmtpAnomalies::RCPT_LIMIT);
                    }
                }
                self.push(Expect::Rcpt(i), id, ctx);
            }
            Verb::Data => {
                let t = self.cur_or_new();
                t.pipelined |= pipelined;
                let id = t.id;
                self.push(Expect::Data, id, ctx);
            }
            Verb::Bdat => {
                let t = self.cur_or_new();
                t.pipelined |= pipelined;
                t.bdat_chunks = t.bdat_chunks.saturating_add(1);
                let (size, last) = match c.args {
                    CommandArgs::Bdat { size, last } => (size, last),
                    _ => (None, false),
                };
                match size {
                    Some(n) => t.bdat_bytes = t.bdat_bytes.saturating_add(n),
                    None => t.anomalies.set(SmtpAnomalies::BDAT_BAD_SIZE),
                }
                t.bdat_last |= last;
                let id = t.id;
                self.push(Expect::Bdat { last }, id, ctx);
                if last && size == Some(0) {
                    // An empty LAST chunk carries no bytes: the message ends here.
                    let t = self.cur_or_new();
                    t.body_complete = true;
                    self.end_tx("bdat", ctx);
                }
            }
            Verb::Rset => {
                self.end_tx("rset", ctx);
                self.push(Expect::Rset, 0, ctx);
            }
            Verb::Quit => {
                self.end_tx("quit", ctx);
                self.push(Expect::Quit, 0, ctx);
            }
            Verb::StartTls => {
                self.session.starttls = Some(None);
                self.push(Expect::StartTls, 0, ctx);
            }
            Verb::Auth => {
                let s = &mut self.session;
                let i = if s.auth.len() < MAX_AUTH_ATTEMPTS {
                    let (mechanism, ir) = match c.args {
                        CommandArgs::Auth {
                            mechanism,
                            initial_response_len,
                        } => (mechanism, initial_response_len.is_some()),
                        _ => (&[][..], false),
                    };
                    s.auth.push(AuthAttempt {
                        mechanism: capped(mechanism, &mut s.anomalies),
                        initial_response: ir,
                        responses: 0,
                        code: None,
                    });
                    s.auth.len() - 1
                } else {
                    s.anomalies.set(SmtpAnomalies::AUTH_LIMIT);
                    s.auth_not_logged = s.auth_not_logged.saturating_add(1);
                    usize::MAX
                };
                self.push(Expect::Auth(i), 0, ctx);
            }
            Verb::Vrfy | Verb::Expn | Verb::Noop | Verb::Help | Verb::Unknown => {
                let s = &mut self.session;
                match c.verb {
                    Verb::Vrfy => s.vrfy = s.vrfy.saturating_add(1),
                    Verb::Expn => s.expn = s.expn.saturating_add(1),
                    Verb::Unknown => {
                        s.unknown_commands = s.unknown_commands.saturating_add(1);
                        s.anomalies.set(SmtpAnomalies::UNKNOWN_COMMAND);
                    }
                    _ => {}
                }
                self.push(Expect::Other, 0, ctx);
            }
        }
    }

    fn on_reply(
        &mut self,
        r: &Reply<'_>,
        client: &mut SmtpClientParser,
        switch: &Cell<bool>,
        ctx: &mut Ctx<'_>,
    ) {
        let code = r.code;
        let s = &mut self.session;
        s.replies_seen = true;
        if r.flags.mixed_codes || r.flags.too_many_lines || r.flags.unterminated {
            s.anomalies.set(SmtpAnomalies::REPLY_MALFORMED);
        }
        if r.flags.bare_lf {
            s.anomalies.set(SmtpAnomalies::BARE_LF);
        }
        if s.greeting.is_none() {
            let front_starttls =
                matches!(self.pending.front(), Some(p) if p.expect == Expect::StartTls);
            if self.pending.is_empty() || (matches!(code, 220 | 421 | 554) && !front_starttls) {
                s.greeting = Some(code);
                return;
            }
            // The greeting was not captured: this reply answers a command.
            s.greeting = Some(0);
        }
        let Some(p) = self.pending.pop_front() else {
            if code != 421 {
                s.anomalies.set(SmtpAnomalies::UNSOLICITED_REPLY);
            }
            return;
        };
        if matches!(p.expect, Expect::Auth(_)) && code == 334 {
            // AUTH continues: the next reply still answers it.
            self.pending.push_front(p);
            return;
        }
        if let Some(t) = self.tx_mut(p.tx) {
            t.outstanding = t.outstanding.saturating_sub(1);
        }
        match p.expect {
            Expect::Ehlo => {
                if code == 250 {
                    let s = &mut self.session;
                    s.extensions = r
                        .ehlo_capabilities()
                        .take(MAX_EHLO_KEYWORDS)
                        .map(|(k, _)| String::from_utf8_lossy(k).to_ascii_uppercase())
                        .collect();
                }
            }
            Expect::Mail => {
                if let Some(t) = self.tx_mut(p.tx) {
                    t.mail_reply = Some(code);
                }
            }
            Expect::Rcpt(i) => {
                if let Some(rc) = self.tx_mut(p.tx).and_then(|t| t.rcpts.get_mut(i)) {
                    rc.code = Some(code);
                }
            }
            Expect::Data => {
                if let Some(t) = self.tx_mut(p.tx) {
                    t.data_reply = Some(code);
                }
                if code == 354 {
                    client.data_accepted();
                } else {
                    client.data_rejected();
                }
            }
            Expect::DataEnd => {
                if let Some(t) = self.tx_mut(p.tx) {
                    t.final_reply = Some(code);
                }
            }
            Expect::Bdat { last } => {
                if let Some(t) = self.tx_mut(p.tx) {
                    if code >= 400 {
                        t.bdat_rejected.get_or_insert(code);
                    }
                    if last {
                        t.final_reply = Some(code);
                    }
                }
            }
            Expect::StartTls => {
                self.session.starttls = Some(Some(code));
                if code == 220 {
                    switch.set(true);
                } else {
                    client.data_rejected();
                }
            }
            Expect::Auth(i) => {
                if let Some(a) = self.session.auth.get_mut(i) {
                    a.code = Some(code);
                }
                client.auth_done();
            }
            Expect::Helo | Expect::Rset | Expect::Quit | Expect::Other => {}
        }
        self.write_ended(false, ctx);
    }

    /// The client direction lost bytes.
    fn client_gap(&mut self, client: &mut SmtpClientParser, cbuf: &mut StreamBuf, len: u64) {
        match client.mode {
            ClientMode::Data { .. } => {
                // Stay in the body and keep looking for its end marker.
                *cbuf = StreamBuf::default();
                client.mode = ClientMode::Data { line_start: false };
            }
            ClientMode::Bdat { remaining, last } if len < remaining => {
                *cbuf = StreamBuf::default();
                client.mode = ClientMode::Bdat {
                    remaining: remaining - len,
                    last,
                };
            }
            _ => {
                client.mode = ClientMode::Command;
                cbuf.gap();
            }
        }
        match self.cur.as_deref_mut() {
            Some(t) => t.anomalies.set(SmtpAnomalies::GAP),
            None => self.session.anomalies.set(SmtpAnomalies::GAP),
        }
    }

    /// The server direction lost bytes: the replies in flight are lost too.
    fn server_gap(&mut self, ctx: &mut Ctx<'_>) {
        let lost: Vec<u32> = self.pending.drain(..).map(|p| p.tx).collect();
        for id in lost {
            if let Some(t) = self.tx_mut(id) {
                t.outstanding = t.outstanding.saturating_sub(1);
                t.anomalies.set(SmtpAnomalies::GAP);
            }
        }
        self.session.anomalies.set(SmtpAnomalies::GAP);
        self.write_ended(false, ctx);
    }

    fn close(&mut self, ctx: &mut Ctx<'_>) {
        self.end_tx("close", ctx);
        self.write_ended(true, ctx);
        let s = &self.session;
        let unlogged = !s.auth.is_empty()
            || (s.starttls.is_some() && !s.starttls_logged)
            || s.vrfy > 0
            || s.expn > 0
            || s.unknown_commands > 0
            || s.anomalies != SmtpAnomalies::default();
        if (s.events == 0 && s.commands > 0) || unlogged {
            self.write(None, ctx);
        }
        if let Some(t) = self.tls.as_mut() {
            t.on_close(ctx);
        }
    }

    /// Writes one event: a transaction, or the session alone.
    fn write(&mut self, t: Option<&SmtpTx>, ctx: &mut Ctx<'_>) {
        let s = &mut self.session;
        s.events = s.events.saturating_add(1);
        let accepted_when_unknown = !s.replies_seen;
        let accepted = |r: &Rcpt| match r.code {
            Some(c) => (200..300).contains(&c),
            None => accepted_when_unknown,
        };
        // Recipients named in To/Cc (lower-case addr-specs).
        let mut listed: Vec<String> = Vec::new();
        if let Some(sum) = t.and_then(|t| t.summary.as_deref()) {
            for h in [&sum.headers.to, &sum.headers.cc].into_iter().flatten() {
                listed.extend(
                    split_addresses(h)
                        .into_iter()
                        .map(|a| addr_spec(a).to_ascii_lowercase()),
                );
            }
        }
        let bcc = t
            .filter(|t| t.summary.is_some())
            .map(|t| {
                t.rcpts
                    .iter()
                    .filter(|r| accepted(r))
                    .filter(|r| {
                        let to = String::from_utf8_lossy(&r.to).to_ascii_lowercase();
                        !listed.contains(&to)
                    })
                    .count() as u32
            })
            .unwrap_or(0);
        if let Some(t) = t {
            observe(t, s.replies_seen, bcc, ctx);
        }
        let s = &self.session;
        ctx.event(AppProto::Smtp, "smtp", |w| {
            w.begin_object("smtp");
            if let Some(h) = &s.helo {
                w.bytes_str("helo", h);
            }
            let mut anomalies = s.anomalies;
            if let Some(t) = t {
                anomalies.set(t.anomalies.0);
                write_tx_fields(t, bcc, &accepted, w);
                if let Some(sum) = t.summary.as_deref() {
                    if mime_limits_hit(sum) {
                        anomalies.set(SmtpAnomalies::MIME_LIMIT);
                    }
                }
            }
            write_session_fields(s, w);
            if anomalies != SmtpAnomalies::default() {
                w.begin_array("anomalies");
                for (bit, name) in SmtpAnomalies::NAMES {
                    if anomalies.has(bit) {
                        w.element_str(name);
                    }
                }
                w.end_array();
            }
            w.end_object();
            if let Some(sum) = t.and_then(|t| t.summary.as_deref()) {
                write_email(sum, t.is_some_and(|t| t.body_complete), w);
            }
        });
        // Session facts are written once.
        let s = &mut self.session;
        s.auth.clear();
        s.auth_not_logged = 0;
        s.extensions_logged = true;
        if s.starttls.is_some() {
            s.starttls_logged = true;
        }
        s.vrfy = 0;
        s.expn = 0;
        s.unknown_commands = 0;
        s.anomalies = SmtpAnomalies::default();
    }
}

/// Ends the transaction's message scan (if one runs) and keeps the summary.
fn finish_body(t: &mut SmtpTx) {
    if let Some(sc) = t.scanner.take() {
        if !t.body_complete {
            t.anomalies.set(SmtpAnomalies::BODY_INCOMPLETE);
        }
        t.summary = Some(Box::new(sc.finish()));
    }
}

fn mime_limits_hit(s: &MimeSummary) -> bool {
    let l = &s.limits;
    l.header_bytes > 0
        || l.body_bytes
        || l.parts > 0
        || l.urls > 0
        || l.long_lines > 0
        || l.depth > 0
}

fn observe(t: &SmtpTx, replies_seen: bool, bcc: u32, ctx: &mut Ctx<'_>) {
    let Some(sum) = t.summary.as_deref() else {
        return;
    };
    // Only messages the server took (or whose answer was not seen).
    if t.final_reply.is_some_and(|c| !(200..300).contains(&c)) {
        return;
    }
    let rcpt = t
        .rcpts
        .iter()
        .filter(|r| match r.code {
            Some(c) => (200..300).contains(&c),
            None => !replies_seen,
        })
        .count() as u32;
    let mut url_domains: Vec<Box<str>> = Vec::new();
    for u in &sum.urls {
        if !url_domains.iter().any(|d| **d == *u.host) {
            url_domains.push(u.host.as_str().into());
        }
    }
    ctx.observe(ObsKind::SmtpTx {
        from: String::from_utf8_lossy(t.mail_from.as_deref().unwrap_or(b"")).into(),
        header_from: sum.headers.from.as_deref().map(|f| addr_spec(f).into()),
        rcpt,
        bcc,
        attachments: sum
            .attachments()
            .map(|p| {
                (
                    p.filename.as_deref().unwrap_or("").into(),
                    p.content_type.as_str().into(),
                )
            })
            .collect(),
        url_domains,
    });
}

fn code_or_null(w: &mut JsonWriter<'_>, key: &str, c: Option<u16>) {
    if let Some(c) = c {
        w.u64(key, u64::from(c));
    }
}

fn write_tx_fields(t: &SmtpTx, bcc: u32, accepted: &dyn Fn(&Rcpt) -> bool, w: &mut JsonWriter<'_>) {
    if let Some(f) = &t.mail_from {
        w.bytes_str("mail_from", f);
    }
    if !t.rcpts.is_empty() {
        w.begin_array("rcpt_to");
        for r in &t.rcpts {
            w.element_bytes(&r.to);
        }
        w.end_array();
    }
    if !t.mail_params.is_empty() {
        w.bytes_str("mail_params", &t.mail_params);
    }
    code_or_null(w, "mail_reply", t.mail_reply);
    if !t.rcpts.is_empty() {
        w.begin_array("rcpts");
        for r in &t.rcpts {
            w.begin_element_object().bytes_str("to", &r.to);
            code_or_null(w, "code", r.code);
            w.end_object();
        }
        w.end_array();
        w.u64(
            "rcpt_accepted",
            t.rcpts.iter().filter(|r| accepted(r)).count() as u64,
        );
    }
    code_or_null(w, "data_reply", t.data_reply);
    if t.bdat_chunks > 0 {
        w.begin_object("bdat")
            .u64("chunks", u64::from(t.bdat_chunks))
            .u64("bytes", t.bdat_bytes)
            .bool("last", t.bdat_last);
        code_or_null(w, "rejected_code", t.bdat_rejected);
        w.end_object();
    }
    code_or_null(w, "final_reply", t.final_reply);
    if t.summary.is_some() {
        w.u64("undisclosed_recipients", u64::from(bcc));
    }
    if t.pipelined {
        w.bool("pipelined", true);
    }
    if let Some(e) = t.ended_by {
        w.str("ended_by", e);
    }
}

fn write_session_fields(s: &Session, w: &mut JsonWriter<'_>) {
    if !s.auth.is_empty() {
        w.begin_array("auth");
        for a in &s.auth {
            w.begin_element_object()
                .bytes_str("mechanism", &a.mechanism)
                .bool("initial_response", a.initial_response)
                .u64("responses", u64::from(a.responses));
            code_or_null(w, "code", a.code);
            w.str(
                "outcome",
                match a.code {
                    Some(235) => "success",
                    Some(c) if c >= 400 => "failure",
                    _ => "unknown",
                },
            );
            w.end_object();
        }
        w.end_array();
    }
    if s.auth_not_logged > 0 {
        w.u64("auth_not_logged", u64::from(s.auth_not_logged));
    }
    if let Some(st) = s.starttls.filter(|_| !s.starttls_logged) {
        w.begin_object("starttls");
        code_or_null(w, "code", st);
        w.bool("accepted", st == Some(220)).end_object();
    }
    if !s.extensions_logged && !s.extensions.is_empty() {
        w.begin_array("extensions");
        for e in &s.extensions {
            w.element_str(e);
        }
        w.end_array();
    }
    if s.vrfy > 0 {
        w.u64("vrfy", u64::from(s.vrfy));
    }
    if s.expn > 0 {
        w.u64("expn", u64::from(s.expn));
    }
    if s.unknown_commands > 0 {
        w.u64("unknown_commands", u64::from(s.unknown_commands));
    }
    if let Some(g) = s.greeting.filter(|g| *g != 0 && *g != 220) {
        w.u64("greeting", u64::from(g));
    }
}

fn write_email(sum: &MimeSummary, complete: bool, w: &mut JsonWriter<'_>) {
    let h = &sum.headers;
    w.begin_object("email")
        .str("status", if complete { "PARSE_DONE" } else { "INCOMPLETE" });
    if let Some(f) = &h.from {
        w.str("from", f);
    }
    for (key, v) in [("to", &h.to), ("cc", &h.cc)] {
        if let Some(v) = v {
            w.begin_array(key);
            for a in split_addresses(v) {
                w.element_str(a);
            }
            w.end_array();
        }
    }
    for (key, v) in [
        ("reply_to", &h.reply_to),
        ("subject", &h.subject),
        ("date", &h.date),
        ("message_id", &h.message_id),
        ("x_mailer", &h.x_mailer),
        ("user_agent", &h.user_agent),
    ] {
        if let Some(v) = v {
            w.str(key, v);
        }
    }
    let names: Vec<&str> = sum
        .attachments()
        .filter_map(|p| p.filename.as_deref())
        .collect();
    if !names.is_empty() {
        w.begin_array("attachment");
        for n in names {
            w.element_str(n);
        }
        w.end_array();
    }
    if !sum.urls.is_empty() {
        w.begin_array("url");
        for u in &sum.urls {
            w.element_str(&u.url);
        }
        w.end_array();
        w.begin_array("url_domains");
        let mut seen: Vec<&str> = Vec::new();
        for u in &sum.urls {
            if !seen.contains(&u.host.as_str()) {
                seen.push(&u.host);
                w.element_str(&u.host);
            }
        }
        w.end_array();
    }
    if !sum.parts.is_empty() {
        w.begin_array("parts");
        for p in &sum.parts {
            w.begin_element_object()
                .str("content_type", &p.content_type);
            if let Some(c) = &p.charset {
                w.str("charset", c);
            }
            if let Some(d) = &p.disposition {
                w.str("disposition", d);
            }
            if let Some(f) = &p.filename {
                w.str("filename", f);
            }
            if let Some(e) = &p.transfer_encoding {
                w.str("encoding", e);
            }
            w.u64("size", p.raw_size)
                .u64("decoded_size", p.decoded_size)
                .str("md5", &p.md5);
            if p.depth > 0 {
                w.u64("depth", p.depth as u64);
            }
            w.end_object();
        }
        w.end_array();
    }
    w.u64("body_bytes", sum.total_bytes)
        .u64("header_count", sum.headers.count as u64);
    if sum.mime {
        w.bool("mime", true);
    }
    if mime_limits_hit(sum) {
        let l = &sum.limits;
        w.begin_object("limits")
            .u64("header_bytes", u64::from(l.header_bytes))
            .bool("body_bytes", l.body_bytes)
            .u64("parts", u64::from(l.parts))
            .u64("urls", u64::from(l.urls))
            .u64("long_lines", u64::from(l.long_lines))
            .u64("depth", u64::from(l.depth))
            .end_object();
    }
    w.end_object();
}

/// Splits an address-list header value at the commas that are outside
/// quotes and angle brackets (RFC 5322 §3.4); empty entries are dropped.
/// At most [`MAX_ADDRESSES`].
pub fn split_addresses(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, 0u32, 0usize);
    fn push<'v>(s: &'v str, out: &mut Vec<&'v str>) {
        let t = s.trim();
        if !t.is_empty() && out.len() < MAX_ADDRESSES {
            out.push(t);
        }
    }
    for (i, c) in v.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = angle.saturating_add(1),
            '>' if !quoted => angle = angle.saturating_sub(1),
            ',' if !quoted && angle == 0 => {
                push(&v[start..i], &mut out);
                start = i + 1;
            }
            _ => {}
        }
    }
    push(&v[start..], &mut out);
    out
}

/// The addr-spec of one address: the text between the last `<` and the
/// following `>`, else the whole entry without quotes.
pub fn addr_spec(a: &str) -> &str {
    if let Some(l) = a.rfind('<') {
        if let Some(r) = a[l..].find('>') {
            return a[l + 1..l + r].trim();
        }
    }
    a.trim().trim_matches('"')
}

impl TcpApp for SmtpState {
    fn on_data(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) {
        let max = ctx.cfg.max_pending_bytes;
        match dir {
            Direction::ToServer => {
                if self.tls_dir[0] {
                    self.core.tls_data(dir, data, ctx);
                    return;
                }
                let core = &mut self.core;
                let out = self.cbuf.feed(&mut self.client, dir, data, max, |ev| {
                    core.on_client(ev, ctx)
                });
                let mut a = SmtpAnomalies::default();
                account(&out, &mut a, ctx);
                if out.invalid > 0 {
                    a.set(SmtpAnomalies::LINE_TOO_LONG);
                }
                self.core.session.anomalies.set(a.0);
                if self.client.mode == ClientMode::Tls {
                    self.tls_dir[0] = true;
                    self.cbuf = StreamBuf::default();
                }
            }
            Direction::ToClient => {
                if self.tls_dir[1] {
                    self.core.tls_data(dir, data, ctx);
                    return;
                }
                let switch = &self.tls_switch;
                let core = &mut self.core;
                let client = &mut self.client;
                let mut side = ServerSide {
                    p: &mut self.server,
                    switch,
                };
                let out = self.sbuf.feed(&mut side, dir, data, max, |ev| match ev {
                    ServerEvent::Reply(r) => core.on_reply(&r, client, switch, ctx),
                    ServerEvent::Tls(b) => core.tls_data(Direction::ToClient, b, ctx),
                });
                let mut a = SmtpAnomalies::default();
                account(&out, &mut a, ctx);
                if out.invalid > 0 {
                    a.set(SmtpAnomalies::NOT_A_REPLY);
                }
                self.core.session.anomalies.set(a.0);
                if self.server.mode == ServerMode::Tls {
                    self.tls_dir[1] = true;
                    self.sbuf = StreamBuf::default();
                }
            }
        }
    }

    fn on_gap(&mut self, dir: Direction, len: u64, ctx: &mut Ctx<'_>) {
        let d = usize::from(dir == Direction::ToClient);
        if self.tls_dir[d] {
            if let Some(t) = self.core.tls.as_mut() {
                t.on_gap(dir, len, ctx);
            }
            return;
        }
        match dir {
            Direction::ToServer => self.core.client_gap(&mut self.client, &mut self.cbuf, len),
            Direction::ToClient => {
                self.sbuf.gap();
                self.core.server_gap(ctx);
            }
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_>) {
        self.core.close(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tls::harness::Harness;
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, ..Default::default() })]

        /// Fuzzing: mutated real sessions in random pieces, with gaps, never
        /// panic and always write valid JSON.
        #[test]
        fn mutated_sessions_in_any_split_never_panic(
            seed in 0usize..64,
            flips in proptest::collection::vec((proptest::prelude::any::<u16>(), proptest::prelude::any::<u8>()), 0..8),
            cuts in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..32),
        ) {
            let seeds = super::super::tls::harness::seeds("smtp");
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
            let mut h = Harness::new(40000, 25, 6);
            super::super::tls::harness::interleave(&mut SmtpState::new(), &mut h, &c, &s, &cuts);
        }
    }

    fn run(steps: &[(Direction, &[u8])]) -> (Harness, SmtpState) {
        let mut h = Harness::new(40000, 25, 6);
        let mut st = SmtpState::new();
        for (dir, b) in steps {
            st.on_data(*dir, b, &mut h.ctx());
        }
        (h, st)
    }

    const C: Direction = Direction::ToServer;
    const S: Direction = Direction::ToClient;

    const MSG: &[u8] =
        b"From: \"A\" <a@x.test>\r\nTo: b@y.test\r\nSubject: hi\r\n\r\nsee https://evil.test/x\r\n";

    #[test]
    fn pipelined_envelope_replies_pair_fifo_and_bcc_is_counted() {
        let (mut h, mut st) = run(&[
            (S, b"220 mx ESMTP\r\n"),
            (C, b"EHLO c.test\r\n"),
            (S, b"250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
            (
                C,
                b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nRCPT TO:<hidden@z.test>\r\nRCPT TO:<no@y.test>\r\nDATA\r\n",
            ),
            (S, b"250 ok\r\n250 ok\r\n250 ok\r\n550 no such user\r\n354 go\r\n"),
            (C, MSG),
            (C, b".\r\nQUIT\r\n"),
        ]);
        assert!(h.events("smtp").is_empty(), "waits for the final reply");
        st.on_data(S, b"250 queued\r\n221 bye\r\n", &mut h.ctx());
        let ev = h.events("smtp");
        assert_eq!(ev.len(), 1);
        let s = &ev[0]["smtp"];
        assert_eq!(s["helo"], "c.test");
        assert_eq!(s["mail_from"], "a@x.test");
        assert_eq!(
            s["rcpts"],
            serde_json::json!([
                {"to": "b@y.test", "code": 250},
                {"to": "hidden@z.test", "code": 250},
                {"to": "no@y.test", "code": 550}
            ])
        );
        assert_eq!(
            (&s["data_reply"], &s["final_reply"]),
            (&354.into(), &250.into())
        );
        assert_eq!(s["pipelined"], true);
        assert_eq!(s["undisclosed_recipients"], 1);
        assert_eq!(
            s["extensions"],
            serde_json::json!(["PIPELINING", "CHUNKING"])
        );
        let e = &ev[0]["email"];
        assert_eq!(e["status"], "PARSE_DONE");
        assert_eq!(e["to"], serde_json::json!(["b@y.test"]));
        assert_eq!(e["url_domains"], serde_json::json!(["evil.test"]));
        let obs: Vec<_> = h.obs_kinds();
        assert!(matches!(
            obs[..],
            [ObsKind::SmtpTx { rcpt: 2, bcc: 1, header_from: Some(f), .. }] if &**f == "a@x.test"
        ));
        st.on_close(&mut h.ctx());
        assert_eq!(h.events("smtp").len(), 1, "nothing left for the session");
    }

    #[test]
    fn refused_pipelined_data_then_rset_is_one_rejected_transaction() {
        // RFC 2920: the client must not send the body after a refused DATA;
        // the RSET that follows is a command, not message text.
        let (mut h, mut st) = run(&[
            (S, b"220 mx\r\n"),
            (C, b"EHLO c\r\n"),
            (S, b"250 mx\r\n"),
            (C, b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"),
            (
                S,
                b"250 ok\r\n550 relay denied\r\n554 no valid recipients\r\n",
            ),
            (C, b"RSET\r\n"),
            (S, b"250 reset\r\n"),
        ]);
        st.on_close(&mut h.ctx());
        let ev = h.events("smtp");
        assert_eq!(ev.len(), 1);
        let s = &ev[0]["smtp"];
        assert_eq!(s["data_reply"], 554);
        assert_eq!(s["rcpt_accepted"], 0);
        assert_eq!(s["ended_by"], "rset");
        assert!(ev[0].get("email").is_none());
        assert!(h.obs_kinds().is_empty());
    }

    #[test]
    fn auth_attempts_are_logged_without_secrets() {
        let (mut h, mut st) = run(&[
            (S, b"220 mx\r\n"),
            (C, b"EHLO c\r\n"),
            (S, b"250-mx\r\n250 AUTH LOGIN PLAIN\r\n"),
            (C, b"AUTH LOGIN\r\n"),
            (S, b"334 VXNlcm5hbWU6\r\n"),
            (C, b"dXNlcg==\r\n"),
            (S, b"334 UGFzc3dvcmQ6\r\n"),
            (C, b"c2VjcmV0\r\n"),
            (S, b"535 5.7.8 bad\r\n"),
            (C, b"AUTH PLAIN AHVzZXIAc2VjcmV0\r\n"),
            (S, b"235 ok\r\n"),
            (C, b"QUIT\r\n"),
            (S, b"221 bye\r\n"),
        ]);
        st.on_close(&mut h.ctx());
        let ev = h.events("smtp");
        assert_eq!(ev.len(), 1);
        assert_eq!(
            ev[0]["smtp"]["auth"],
            serde_json::json!([
                {"mechanism": "LOGIN", "initial_response": false, "responses": 2, "code": 535, "outcome": "failure"},
                {"mechanism": "PLAIN", "initial_response": true, "responses": 0, "code": 235, "outcome": "success"}
            ])
        );
        let line = String::from_utf8_lossy(&h.out);
        assert!(!line.contains("c2VjcmV0") && !line.contains("AHVzZXIAc2VjcmV0"));
    }

    #[test]
    fn bdat_chunks_and_a_body_gap_keep_the_transaction() {
        let (mut h, mut st) = run(&[
            (S, b"220 mx\r\n"),
            (C, b"EHLO c\r\n"),
            (S, b"250 mx\r\n"),
            (C, b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"),
            (S, b"250 ok\r\n250 ok\r\n"),
        ]);
        let (a, b) = MSG.split_at(30);
        let mut c1 = format!("BDAT {}\r\n", a.len()).into_bytes();
        c1.extend_from_slice(a);
        st.on_data(C, &c1, &mut h.ctx());
        st.on_data(S, b"250 chunk\r\n", &mut h.ctx());
        let mut c2 = format!("BDAT {} LAST\r\n", b.len()).into_bytes();
        c2.extend_from_slice(&b[..22]);
        st.on_data(C, &c2, &mut h.ctx());
        // Five bytes of the last chunk's body text are lost.
        st.on_gap(C, 5, &mut h.ctx());
        st.on_data(C, &b[27..], &mut h.ctx());
        st.on_data(S, b"250 done\r\n", &mut h.ctx());
        let ev = h.events("smtp");
        assert_eq!(ev.len(), 1);
        let s = &ev[0]["smtp"];
        assert_eq!(s["bdat"]["chunks"], 2);
        assert_eq!(s["bdat"]["last"], true);
        assert_eq!(s["final_reply"], 250);
        assert_eq!(s["ended_by"], "bdat");
        assert!(s["anomalies"].as_array().unwrap().contains(&"gap".into()));
        assert_eq!(ev[0]["email"]["subject"], "hi");
    }

    #[test]
    fn one_sided_capture_writes_at_the_end_of_data() {
        let mut wire = b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n".to_vec();
        wire.extend_from_slice(MSG);
        wire.extend_from_slice(b".\r\n");
        let (h, _st) = run(&[(C, &wire)]);
        let ev = h.events("smtp");
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["smtp"]["rcpt_accepted"], 1);
        assert!(ev[0]["smtp"].get("data_reply").is_none());
        assert_eq!(ev[0]["email"]["status"], "PARSE_DONE");
        assert!(matches!(
            h.obs_kinds()[..],
            [ObsKind::SmtpTx {
                rcpt: 1,
                bcc: 0,
                ..
            }]
        ));
    }

    #[test]
    fn starttls_hands_the_next_bytes_to_tls() {
        let ch = {
            // Minimal TLS 1.2 ClientHello with SNI mx.test.
            let mut body = vec![3, 3];
            body.extend_from_slice(&[0; 32]);
            body.extend_from_slice(&[0, 0, 2, 0xc0, 0x2f, 1, 0]);
            let name = b"mx.test";
            let mut sni = vec![0, 0];
            sni.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
            sni.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
            sni.push(0);
            sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
            sni.extend_from_slice(name);
            body.extend_from_slice(&(sni.len() as u16).to_be_bytes());
            body.extend_from_slice(&sni);
            let mut hs = vec![1, 0];
            hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
            hs.extend_from_slice(&body);
            let mut rec = vec![22, 3, 1];
            rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
            rec.extend_from_slice(&hs);
            rec
        };
        let (mut h, mut st) = run(&[
            (S, b"220 mx\r\n"),
            (C, b"EHLO c\r\n"),
            (S, b"250-mx\r\n250 STARTTLS\r\n"),
            (C, b"STARTTLS\r\n"),
            (S, b"220 go ahead\r\n"),
            (C, &ch[..3]),
            (C, &ch[3..]),
        ]);
        assert!(st.tls_dir[0]);
        st.on_close(&mut h.ctx());
        let tls = h.events("tls");
        assert_eq!(tls.len(), 1);
        assert_eq!(tls[0]["tls"]["sni"], "mx.test");
        let smtp = h.events("smtp");
        assert_eq!(smtp.len(), 1);
        assert_eq!(smtp[0]["smtp"]["starttls"]["accepted"], true);
    }

    #[test]
    fn addresses_split_outside_quotes_and_brackets() {
        let v = "\"Doe, J.\" <j@x.test>, b@y.test,\r\n <c@z.test>, undisclosed-recipients:;";
        let a = split_addresses(v);
        assert_eq!(
            a,
            [
                "\"Doe, J.\" <j@x.test>",
                "b@y.test",
                "<c@z.test>",
                "undisclosed-recipients:;"
            ]
        );
        assert_eq!(
            a.iter().map(|x| addr_spec(x)).collect::<Vec<_>>(),
            [
                "j@x.test",
                "b@y.test",
                "c@z.test",
                "undisclosed-recipients:;"
            ]
        );
    }
}
