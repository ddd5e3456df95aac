//! Actors the scenarios add to the generator's own: a scripted TCP conversation (any protocol,
//! including scans that get no answer), a periodic driver that emits datagrams or spawns
//! conversations on a schedule, a DNS lookup against the site's zone, and an SMTP transaction
//! with separate envelope and header recipients (so BCC exists), PIPELINING and named
//! attachments.

use crate::gen::actors::smtp::rfc5322_date;
use crate::gen::net::{Envelope, Host};
use crate::gen::rng::Rng;
use crate::gen::tcp::{ConnSpec, Impair, TcpConn, CLIENT, SERVER};
use crate::gen::timeline::{Actor, Ctx, Kind, Script};
use crate::gen::wire::{build_frame, Ip4, Transport};
use crate::gen::Micros;

use super::proto::{dns_answer, dns_query, mime_message, Message};

/// One application message of a [`Conversation`].
#[derive(Clone, Debug)]
pub struct Msg {
    /// Sender: [`CLIENT`] or [`SERVER`].
    pub side: usize,
    /// Think time before sending, after the previous message was seen (the sender's round
    /// trip from the capture point is added).
    pub think: Micros,
    /// Payload.
    pub bytes: Vec<u8>,
}

impl Msg {
    /// A client message after `think` µs.
    pub fn c(think: Micros, bytes: Vec<u8>) -> Msg {
        Msg {
            side: CLIENT,
            think,
            bytes,
        }
    }
    /// A server message after `think` µs.
    pub fn s(think: Micros, bytes: Vec<u8>) -> Msg {
        Msg {
            side: SERVER,
            think,
            bytes,
        }
    }
}

/// How a conversation starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// Three-way handshake.
    Handshake,
    /// A SYN nobody answers (scan of an unused address), retried once a second later.
    SynOnly,
    /// A SYN the server refuses with RST+ACK (closed port).
    Refused,
}

/// How a conversation ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// FIN exchange started by this side.
    Fin(usize),
    /// RST from this side.
    Rst(usize),
}

/// A whole TCP conversation, emitted in one go.
#[derive(Clone, Debug)]
pub struct ConvConfig {
    /// Initiator.
    pub client: Host,
    /// Responder.
    pub server: Host,
    /// Server port.
    pub port: u16,
    /// Wrapping on the capture link.
    pub envelope: Envelope,
    /// Statistics class.
    pub kind: Kind,
    /// Opening.
    pub open: Open,
    /// Messages in order.
    pub msgs: Vec<Msg>,
    /// Closing.
    pub end: End,
    /// µs between segments of one message.
    pub pace: Micros,
}

impl ConvConfig {
    /// A plain-Ethernet conversation with a handshake and a client FIN.
    pub fn new(client: &Host, server: &Host, port: u16, kind: Kind, msgs: Vec<Msg>) -> ConvConfig {
        ConvConfig {
            client: client.clone(),
            server: server.clone(),
            port,
            envelope: Envelope::Plain,
            kind,
            open: Open::Handshake,
            msgs,
            end: End::Fin(CLIENT),
            pace: 40,
        }
    }
}

/// The actor.
pub struct Conversation {
    cfg: ConvConfig,
    conn: TcpConn,
    rng: Rng,
}

impl Conversation {
    /// A conversation that starts when first advanced.
    pub fn new(cfg: ConvConfig, ctx: &mut Ctx, mut rng: Rng) -> Conversation {
        let port = ctx.net.ephemeral_port(&cfg.client);
        let conn = TcpConn::new(
            ConnSpec {
                client: &cfg.client,
                server: &cfg.server,
                client_port: port,
                server_port: cfg.port,
                envelope: cfg.envelope,
                kind: cfg.kind,
                impair: Impair::default(),
            },
            &ctx.net,
            rng.fork(),
        );
        Conversation { cfg, conn, rng }
    }

    /// Boxed, for `Ctx::spawn`.
    pub fn boxed(cfg: ConvConfig, ctx: &mut Ctx, rng: Rng) -> Box<dyn Actor> {
        Box::new(Conversation::new(cfg, ctx, rng))
    }
}

impl Actor for Conversation {
    fn advance(&mut self, ctx: &mut Ctx, s: &mut Script) -> bool {
        if self.cfg.open == Open::SynOnly {
            let t = self.conn.syn_only(s, ctx.now);
            // The scanner gives up: a second SYN a second later, then nothing.
            self.conn.syn_only(s, t + 1_000_000);
            return false;
        }
        if self.cfg.open == Open::Refused {
            let t = self.conn.syn_only(s, ctx.now);
            self.conn.reset(s, SERVER, t + self.conn.rtt[SERVER] + 50);
            return false;
        }
        let mut t = self.conn.open(s, ctx.now);
        let msgs = std::mem::take(&mut self.cfg.msgs);
        for (i, m) in msgs.iter().enumerate() {
            t += self.conn.rtt[m.side] + m.think + self.rng.range(20, 200);
            t = self.conn.send(s, m.side, t, &m.bytes, self.cfg.pace);
            let receiver = 1 - m.side;
            // The receiver ACKs at once when its own reply is far away, else the reply carries it.
            let next_own = msgs
                .get(i + 1)
                .filter(|n| n.side == receiver)
                .map(|n| t + self.conn.rtt[receiver] + n.think);
            if let Some(a) = self.conn.delayed_ack(s, receiver, t, next_own) {
                t = t.max(a);
            }
        }
        match self.cfg.end {
            End::Fin(side) => {
                self.conn.close(s, side, t + self.rng.range(200, 5_000));
            }
            End::Rst(side) => {
                self.conn.reset(s, side, t + self.rng.range(100, 2_000));
            }
        }
        false
    }
}

/// What a [`Periodic`] driver does at each tick: push frames into the script (at or after
/// `ctx.now`) and/or spawn actors.
pub type Tick = Box<dyn FnMut(&mut Ctx, &mut Script, &mut Rng, u64)>;

/// Calls a [`Tick`] every `period` µs (± `jitter_pct` %) from its spawn time until `until`, or
/// at exponentially distributed intervals of mean `period` when `poisson`.
pub struct Periodic {
    period: Micros,
    jitter_pct: u64,
    poisson: bool,
    until: Micros,
    n: u64,
    tick: Tick,
    rng: Rng,
}

impl Periodic {
    /// A fixed-period driver.
    pub fn every(period: Micros, jitter_pct: u64, until: Micros, rng: Rng, tick: Tick) -> Self {
        Periodic {
            period,
            jitter_pct,
            poisson: false,
            until,
            n: 0,
            tick,
            rng,
        }
    }

    /// A Poisson driver (mean interval `mean`).
    pub fn poisson(mean: Micros, until: Micros, rng: Rng, tick: Tick) -> Self {
        Periodic {
            period: mean,
            jitter_pct: 0,
            poisson: true,
            until,
            n: 0,
            tick,
            rng,
        }
    }
}

impl Actor for Periodic {
    fn advance(&mut self, ctx: &mut Ctx, s: &mut Script) -> bool {
        if ctx.now >= self.until {
            return false;
        }
        (self.tick)(ctx, s, &mut self.rng, self.n);
        self.n += 1;
        let gap = if self.poisson {
            self.rng.exp(self.period as f64) as Micros + 1
        } else {
            self.rng.jitter(self.period, self.jitter_pct).max(1)
        };
        s.wake(ctx.now + gap);
        true
    }
}

/// Builds one UDP frame from `src` to `dst` (plain Ethernet).
pub fn udp_frame(
    ctx: &Ctx,
    rng: &mut Rng,
    src: &Host,
    dst: &Host,
    ports: (u16, u16),
    payload: &[u8],
) -> Vec<u8> {
    let (fwd, _) = ctx.net.paths(src, dst, Envelope::Plain, rng);
    let mut f = Vec::with_capacity(payload.len() + 64);
    build_frame(
        &mut f,
        &fwd,
        rng.next_u16(),
        &Transport::Udp {
            src_port: ports.0,
            dst_port: ports.1,
        },
        payload,
    );
    f
}

/// Pushes one DNS lookup (query at `t`, answer `latency` µs later) from `client` to `resolver`
/// for `name`, answered with `addr` (NXDOMAIN when `None`). Returns the answer time.
#[allow(clippy::too_many_arguments)]
pub fn dns_lookup(
    ctx: &Ctx,
    s: &mut Script,
    rng: &mut Rng,
    t: Micros,
    client: &Host,
    resolver: &Host,
    name: &str,
    addr: Option<Ip4>,
) -> Micros {
    let id = rng.next_u16();
    let port = 49152 + rng.below(16384) as u16;
    let q = udp_frame(ctx, rng, client, resolver, (port, 53), &dns_query(id, name));
    let t = s.push(t, Kind::Dns, q);
    let latency = if rng.chance(0.7) {
        rng.range(150, 600)
    } else {
        rng.range(8_000, 40_000)
    };
    let ttl = 300;
    let a = udp_frame(
        ctx,
        rng,
        resolver,
        client,
        (53, port),
        &dns_answer(id, name, addr, ttl),
    );
    s.push(t + latency, Kind::Dns, a)
}

/// One SMTP transaction.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// Sending host.
    pub client: Host,
    /// Receiving MTA.
    pub server: Host,
    /// Name the server greets with.
    pub server_name: String,
    /// EHLO name.
    pub helo: String,
    /// Envelope sender.
    pub mail_from: String,
    /// Envelope recipients.
    pub rcpt_to: Vec<String>,
    /// The message.
    pub message: Message,
    /// Send MAIL, RCPT… and DATA as one pipelined group (RFC 2920), as MTAs and bulk mailers do.
    pub pipelining: bool,
}

/// The SMTP actor: the whole transaction in one go.
pub struct Mail {
    cfg: MailConfig,
    conn: TcpConn,
    rng: Rng,
}

impl Mail {
    /// A transaction that starts when first advanced.
    pub fn new(cfg: MailConfig, ctx: &mut Ctx, mut rng: Rng) -> Mail {
        let port = ctx.net.ephemeral_port(&cfg.client);
        let conn = TcpConn::new(
            ConnSpec {
                client: &cfg.client,
                server: &cfg.server,
                client_port: port,
                server_port: 25,
                envelope: Envelope::Plain,
                kind: Kind::Smtp,
                impair: Impair::default(),
            },
            &ctx.net,
            rng.fork(),
        );
        Mail { cfg, conn, rng }
    }

    /// Boxed, for `Ctx::spawn`.
    pub fn boxed(cfg: MailConfig, ctx: &mut Ctx, rng: Rng) -> Box<dyn Actor> {
        Box::new(Mail::new(cfg, ctx, rng))
    }

    fn exchange(&mut self, s: &mut Script, t: Micros, cmd: &[u8], reply: &[u8]) -> Micros {
        let t = t + self.conn.rtt[CLIENT] + self.rng.range(50, 600);
        let t = self.conn.send(s, CLIENT, t, cmd, 30);
        let t = t + self.conn.rtt[SERVER] + self.rng.range(100, 3_000);
        self.conn.send(s, SERVER, t, reply, 30)
    }
}

impl Actor for Mail {
    fn advance(&mut self, ctx: &mut Ctx, s: &mut Script) -> bool {
        let c = self.cfg.clone();
        let t = self.conn.open(s, ctx.now);
        let t = t + self.conn.rtt[SERVER] + self.rng.range(2_000, 30_000);
        let banner = format!("220 {} ESMTP Postfix\r\n", c.server_name);
        let t = self.conn.send(s, SERVER, t, banner.as_bytes(), 30);
        let ehlo_reply = format!(
            "250-{} Hello {}\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 HELP\r\n",
            c.server_name, c.helo
        );
        let mut t = self.exchange(
            s,
            t,
            format!("EHLO {}\r\n", c.helo).as_bytes(),
            ehlo_reply.as_bytes(),
        );
        if c.pipelining {
            let mut cmd = format!("MAIL FROM:<{}>\r\n", c.mail_from);
            let mut reply = String::from("250 2.1.0 Ok\r\n");
            for r in &c.rcpt_to {
                cmd.push_str(&format!("RCPT TO:<{r}>\r\n"));
                reply.push_str("250 2.1.5 Ok\r\n");
            }
            cmd.push_str("DATA\r\n");
            reply.push_str("354 End data with <CR><LF>.<CR><LF>\r\n");
            t = self.exchange(s, t, cmd.as_bytes(), reply.as_bytes());
        } else {
            t = self.exchange(
                s,
                t,
                format!("MAIL FROM:<{}>\r\n", c.mail_from).as_bytes(),
                b"250 2.1.0 Ok\r\n",
            );
            for r in &c.rcpt_to {
                t = self.exchange(
                    s,
                    t,
                    format!("RCPT TO:<{r}>\r\n").as_bytes(),
                    b"250 2.1.5 Ok\r\n",
                );
            }
            t = self.exchange(
                s,
                t,
                b"DATA\r\n",
                b"354 End data with <CR><LF>.<CR><LF>\r\n",
            );
        }
        let domain = c.mail_from.rsplit('@').next().unwrap_or("example.org");
        let msg_id = format!("<{:016x}@{domain}>", self.rng.next_u64());
        let boundary = format!(
            "----=_Part_{:08x}{:08x}",
            self.rng.next_u32(),
            self.rng.next_u32()
        );
        let body = mime_message(&c.message, &rfc5322_date(t), &msg_id, &boundary);
        let queued = format!(
            "250 2.0.0 Ok: queued as {:010X}\r\n",
            self.rng.next_u64() >> 24
        );
        let t = t + self.conn.rtt[CLIENT] + self.rng.range(50, 600);
        let t = self.conn.send(s, CLIENT, t, &body, self.rng.range(40, 200));
        let t = t + self.conn.rtt[SERVER] + self.rng.range(1_000, 20_000);
        let t = self.conn.send(s, SERVER, t, queued.as_bytes(), 30);
        let t = self.exchange(s, t, b"QUIT\r\n", b"221 2.0.0 Bye\r\n");
        self.conn.close(s, SERVER, t + 100);
        false
    }
}

/// What a [`PollLoop`] sends each cycle: (request, response, PLC turnaround µs) triples.
pub type PollFn = Box<dyn FnMut(u64, Micros, &mut Rng) -> Vec<(Vec<u8>, Vec<u8>)>>;

/// A long-lived polling connection (HMI → PLC): one connection, a request/response exchange
/// (or a few) every period, until `until`, then a client FIN.
pub struct PollLoop {
    conn: TcpConn,
    rng: Rng,
    period: Micros,
    until: Micros,
    next: Option<Micros>,
    n: u64,
    poll: PollFn,
}

impl PollLoop {
    /// A connection from `client` to `server:port` that opens when first advanced.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: &Host,
        server: &Host,
        port: u16,
        period: Micros,
        until: Micros,
        ctx: &mut Ctx,
        mut rng: Rng,
        poll: PollFn,
    ) -> PollLoop {
        let cport = ctx.net.ephemeral_port(client);
        let conn = TcpConn::new(
            ConnSpec {
                client,
                server,
                client_port: cport,
                server_port: port,
                envelope: Envelope::Plain,
                kind: Kind::Modbus,
                impair: Impair::default(),
            },
            &ctx.net,
            rng.fork(),
        );
        PollLoop {
            conn,
            rng,
            period,
            until,
            next: None,
            n: 0,
            poll,
        }
    }
}

impl Actor for PollLoop {
    fn advance(&mut self, ctx: &mut Ctx, s: &mut Script) -> bool {
        let Some(start) = self.next else {
            let t = self.conn.open(s, ctx.now);
            let first = t + self.rng.range(2_000, 40_000);
            self.next = Some(first);
            s.wake(first);
            return true;
        };
        if start >= self.until {
            self.conn.close(s, CLIENT, start);
            return false;
        }
        let exchanges = (self.poll)(self.n, start, &mut self.rng);
        let mut t = start;
        for (i, (req, resp)) in exchanges.iter().enumerate() {
            if i > 0 {
                t += self.rng.range(150, 900);
            }
            t = self.conn.send(s, CLIENT, t, req, 200);
            t += self.conn.rtt[SERVER] + self.rng.range(800, 6_000);
            t = self.conn.send(s, SERVER, t, resp, 200);
        }
        self.n += 1;
        let next = start + self.rng.jitter(self.period, 1);
        self.next = Some(next);
        self.conn.delayed_ack(s, CLIENT, t, Some(next));
        s.wake(next);
        true
    }
}
