//! HTTP/1.1 bulk downloads: a GET, a `200 OK` with Content-Length, then the body in full-size
//! segments paced at the flow's rate, ACKed every second segment. These supply the
//! large-packet share of the size mix.
//!
//! Reference: RFC 9112 (HTTP/1.1 message syntax).

use crate::gen::net::{Envelope, Host};
use crate::gen::rng::Rng;
use crate::gen::tcp::{ConnSpec, Impair, TcpConn, CLIENT, SERVER};
use crate::gen::timeline::{Actor, Ctx, Kind, Script};
use crate::gen::Micros;

/// HTTP port.
pub const PORT: u16 = 80;
/// Body bytes emitted per `advance` (bounds what one download holds in memory).
pub const MAX_CHUNK: usize = 64 * 1024;

/// One download.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Client.
    pub client: Host,
    /// Server.
    pub server: Host,
    /// Host header.
    pub host: String,
    /// Request path.
    pub path: String,
    /// Body length.
    pub body_len: u64,
    /// Sender rate, bits per second (sets the segment pacing).
    pub rate_bps: u64,
    /// Wrapping on the capture link.
    pub envelope: Envelope,
    /// Client aborts with RST after the body instead of closing with FIN.
    pub reset: bool,
    /// TCP impairments.
    pub impair: Impair,
}

enum Phase {
    Request,
    Body(u64),
    Close,
}

/// The actor.
pub struct HttpDownload {
    cfg: HttpConfig,
    conn: TcpConn,
    rng: Rng,
    phase: Phase,
    next: Micros,
    pace: Micros,
}

impl HttpDownload {
    /// A download that connects when first advanced.
    pub fn new(cfg: HttpConfig, ctx: &mut Ctx, mut rng: Rng) -> Self {
        let port = ctx.net.ephemeral_port(&cfg.client);
        let conn = TcpConn::new(
            ConnSpec {
                client: &cfg.client,
                server: &cfg.server,
                client_port: port,
                server_port: PORT,
                envelope: cfg.envelope,
                kind: Kind::Http,
                impair: cfg.impair.clone(),
            },
            &ctx.net,
            rng.fork(),
        );
        let frame_bits = (conn.mss(SERVER) as u64 + 66) * 8;
        let pace = (frame_bits * 1_000_000 / cfg.rate_bps.max(1)).max(5);
        HttpDownload {
            cfg,
            conn,
            rng,
            phase: Phase::Request,
            next: 0,
            pace,
        }
    }

    fn request(&self) -> Vec<u8> {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36\r\nAccept: */*\r\nAccept-Encoding: identity\r\nConnection: keep-alive\r\n\r\n",
            self.cfg.path, self.cfg.host
        )
        .into_bytes()
    }

    fn response_head(&self) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nCache-Control: max-age=3600\r\n\r\n",
            self.cfg.body_len
        )
        .into_bytes()
    }

    /// Body bytes `[at, at + n)`: random, like compressed content.
    fn body_chunk(&mut self, n: usize) -> Vec<u8> {
        self.rng.bytes(n)
    }
}

impl Actor for HttpDownload {
    fn advance(&mut self, ctx: &mut Ctx, s: &mut Script) -> bool {
        match self.phase {
            Phase::Request => {
                let t = self.conn.open(s, ctx.now);
                let t = t + self.rng.range(50, 500);
                let req = self.request();
                let t = self.conn.send(s, CLIENT, t, &req, 20);
                let t = t + self.conn.rtt[SERVER] + self.rng.range(200, 5_000);
                // Headers and the first body bytes share the first segments.
                let first = (self.cfg.body_len as usize).min(MAX_CHUNK);
                let mut data = self.response_head();
                data.extend_from_slice(&self.body_chunk(first));
                let t = self.conn.send(s, SERVER, t, &data, self.pace);
                self.next = t + self.pace;
                let left = self.cfg.body_len - first as u64;
                self.phase = if left > 0 {
                    Phase::Body(left)
                } else {
                    Phase::Close
                };
                s.wake(self.next);
                true
            }
            Phase::Body(left) => {
                let n = (left as usize).min(MAX_CHUNK);
                let data = self.body_chunk(n);
                let t = self.conn.send(s, SERVER, self.next, &data, self.pace);
                self.next = t + self.pace;
                let left = left - n as u64;
                self.phase = if left > 0 {
                    Phase::Body(left)
                } else {
                    Phase::Close
                };
                s.wake(self.next);
                true
            }
            Phase::Close => {
                let mut t = self.next + self.conn.rtt[CLIENT];
                if self.conn.ack_pending(CLIENT) {
                    t = self.conn.ack(s, CLIENT, t);
                }
                let t = t + self.rng.range(1_000, 200_000);
                if self.cfg.reset {
                    self.conn.reset(s, CLIENT, t);
                } else {
                    self.conn.close(s, CLIENT, t);
                }
                false
            }
        }
    }
}
