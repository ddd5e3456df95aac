//! Reassembly pressure: many concurrent TCP connections, each completing its handshake and then
//! sending one data segment past a hole, so a reassembler must hold out-of-order bytes for every
//! one of them. No connection ever closes or fills its hole.
//!
//! Per connection: SYN, SYN-ACK, ACK, then `[ACK,PSH] seq = ISN+1+hole, len = payload`.

use crate::gen::net::{Envelope, Net};
use crate::gen::rng::Rng;
use crate::gen::tcp::{ConnSpec, Impair, TcpConn, CLIENT};
use crate::gen::timeline::{Actor, Ctx, Kind, Script};
use crate::gen::wire::Ip4;
use crate::gen::Micros;

/// The flood's shape.
#[derive(Clone, Debug)]
pub struct FloodConfig {
    /// Connections to open.
    pub connections: u64,
    /// Bytes skipped before the buffered segment.
    pub hole: u32,
    /// Payload of the buffered segment.
    pub payload: usize,
    /// Time between connection starts, µs.
    pub gap: Micros,
}

/// Client hosts used (10.0.x.y with x, y in 1..=254).
pub const CLIENT_HOSTS: u64 = 254 * 254;
/// Server port.
pub const SERVER_PORT: u16 = 80;

/// The actor: one connection per `advance`.
pub struct Flood {
    cfg: FloodConfig,
    rng: Rng,
    done: u64,
    servers: Vec<Ip4>,
}

impl Flood {
    /// A flood against a handful of external web servers.
    pub fn new(cfg: FloodConfig, rng: Rng) -> Self {
        Flood {
            cfg,
            rng,
            done: 0,
            servers: crate::gen::net::external_servers().take(8).collect(),
        }
    }

    /// Client address and port of connection `i`: every 5-tuple is distinct for
    /// `i < CLIENT_HOSTS * 40_000`.
    pub fn client_of(i: u64) -> (Ip4, u16) {
        let h = i % CLIENT_HOSTS;
        let ip = [10, 0, (1 + h / 254) as u8, (1 + h % 254) as u8];
        let port = 20_000 + (i / CLIENT_HOSTS) as u16;
        (ip, port)
    }
}

impl Actor for Flood {
    fn advance(&mut self, ctx: &mut Ctx, s: &mut Script) -> bool {
        if self.done >= self.cfg.connections {
            return false;
        }
        let i = self.done;
        self.done += 1;
        let (ip, port) = Flood::client_of(i);
        let net: &Net = &ctx.net;
        let client = net.host(ip);
        let server = net.host(self.servers[(i % self.servers.len() as u64) as usize]);
        let mut conn = TcpConn::new(
            ConnSpec {
                client: &client,
                server: &server,
                client_port: port,
                server_port: SERVER_PORT,
                envelope: Envelope::Plain,
                kind: Kind::Flood,
                impair: Impair::default(),
            },
            net,
            self.rng.fork(),
        );
        // Tight timing so every connection is alive at once.
        conn.rtt = [1, 1];
        let t = conn.open(s, ctx.now);
        let payload = self.rng.bytes(self.cfg.payload);
        conn.send_past_hole(s, CLIENT, t + 1, self.cfg.hole, &payload);
        s.wake(ctx.now + self.cfg.gap);
        true
    }
}
