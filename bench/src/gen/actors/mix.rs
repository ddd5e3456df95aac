//! The background population for `spanwatch-gen bench`: a fixed set of long-lived Modbus
//! pollers (with a little churn) plus Poisson arrivals of TLS sessions, DNS lookups, HTTP
//! downloads and SMTP transactions. The proportions are documented in pcaps/README.md.

use crate::gen::actors::dns::{DnsConfig, DnsLookup, MISSING, TYPE_A, TYPE_AAAA, ZONE};
use crate::gen::actors::http::{HttpConfig, HttpDownload};
use crate::gen::actors::modbus::{ModbusConfig, ModbusPoller};
use crate::gen::actors::smtp::{Attachment, SmtpConfig, SmtpSession};
use crate::gen::actors::tls::{server_speaks_tls13, ClientProfile, TlsConfig, TlsSession, DOMAINS};
use crate::gen::net::{external_for_name, Envelope, INTRANET_WEB, MAIL_RELAY, RESOLVER};
use crate::gen::rng::Rng;
use crate::gen::tcp::Impair;
use crate::gen::timeline::{Actor, Ctx, Script};
use crate::gen::Micros;

/// Rates and populations of the bench mix.
#[derive(Clone, Debug)]
pub struct MixConfig {
    /// Modbus connections opened in the first seconds.
    pub modbus_connections: u32,
    /// Share of Modbus connections that end (HMI restarts) after 30–300 s.
    pub modbus_finite_share: f64,
    /// New Modbus connections per second (replacing the ones that end).
    pub modbus_per_sec: f64,
    /// TLS sessions started in the first two minutes (so the capture starts with a population).
    pub tls_initial: u32,
    /// TLS sessions per second afterwards.
    pub tls_per_sec: f64,
    /// Share of TLS sessions that are interactive (think ~3 s); the rest are persistent
    /// background connections (think ~120 s).
    pub tls_interactive_share: f64,
    /// DNS lookups per second.
    pub dns_per_sec: f64,
    /// HTTP downloads per second.
    pub http_per_sec: f64,
    /// SMTP transactions per second.
    pub smtp_per_sec: f64,
    /// Per-segment retransmission probability.
    pub retx: f64,
    /// Per-segment out-of-order probability.
    pub ooo: f64,
    /// Per-mille of flows carried in VXLAN, and again in GRE.
    pub tunnel_per_mille: u64,
    /// Per-mille of IT flows that are VLAN-tagged (OT flows: 5x this, capped at 600).
    pub vlan_per_mille: u64,
}

impl Default for MixConfig {
    fn default() -> Self {
        MixConfig {
            modbus_connections: 180,
            modbus_finite_share: 0.1,
            modbus_per_sec: 0.15,
            tls_initial: 12_000,
            tls_per_sec: 12.0,
            tls_interactive_share: 0.15,
            dns_per_sec: 100.0,
            http_per_sec: 0.5,
            smtp_per_sec: 0.3,
            retx: 0.005,
            ooo: 0.005,
            tunnel_per_mille: 8,
            vlan_per_mille: 120,
        }
    }
}

/// The initial TLS population starts within this long.
const TLS_RAMP: Micros = 120_000_000;
const CLASSES: usize = 5;
const TLS: usize = 0;
const DNS: usize = 1;
const HTTP: usize = 2;
const SMTP: usize = 3;
const MODBUS: usize = 4;

/// The spawner actor. It never finishes: the run ends at the size limit.
pub struct Mix {
    cfg: MixConfig,
    rng: Rng,
    started: bool,
    next: [Micros; CLASSES],
    modbus_seq: u32,
}

impl Mix {
    /// A spawner drawing from `rng`.
    pub fn new(cfg: MixConfig, rng: Rng) -> Self {
        Mix {
            cfg,
            rng,
            started: false,
            next: [0; CLASSES],
            modbus_seq: 0,
        }
    }

    fn rate(&self, class: usize) -> f64 {
        match class {
            TLS => self.cfg.tls_per_sec,
            DNS => self.cfg.dns_per_sec,
            HTTP => self.cfg.http_per_sec,
            SMTP => self.cfg.smtp_per_sec,
            MODBUS => self.cfg.modbus_per_sec,
            _ => 0.0,
        }
    }

    fn arrival(&mut self, class: usize, after: Micros) -> Micros {
        let rate = self.rate(class);
        if rate <= 0.0 {
            return Micros::MAX;
        }
        after + self.rng.exp(1e6 / rate) as Micros + 1
    }

    fn impair(&self) -> Impair {
        Impair {
            retx: self.cfg.retx,
            ooo: self.cfg.ooo,
            ..Impair::default()
        }
    }

    fn envelope(&mut self, ot: bool) -> Envelope {
        let r = self.rng.below(1000);
        let t = self.cfg.tunnel_per_mille;
        let vlan = if ot {
            (self.cfg.vlan_per_mille * 5).min(600)
        } else {
            self.cfg.vlan_per_mille
        };
        if r < t {
            Envelope::Vxlan(5000 + self.rng.below(4) as u32)
        } else if r < 2 * t {
            Envelope::Gre
        } else if r < 2 * t + vlan {
            if ot {
                Envelope::Vlan(100 + self.rng.below(4) as u16)
            } else {
                Envelope::Vlan(*self.rng.pick(&[10, 20, 30]))
            }
        } else {
            Envelope::Plain
        }
    }

    fn spawn_modbus(&mut self, ctx: &mut Ctx, at: Micros, finite: bool) {
        let k = self.modbus_seq;
        self.modbus_seq += 1;
        let period = *self.rng.pick(&[
            100_000, 250_000, 250_000, 500_000, 500_000, 1_000_000, 2_000_000,
        ]);
        let cycles = finite.then(|| (self.rng.range(30_000_000, 300_000_000) / period) as u32);
        let cfg = ModbusConfig {
            hmi: ctx.net.hmi(k / 16),
            plc: ctx.net.plc(k.wrapping_mul(7)),
            envelope: self.envelope(true),
            unit_id: if self.rng.chance(0.8) { 1 } else { 255 },
            period,
            reads: ModbusConfig::random_reads(&mut self.rng),
            write_chance: 0.01,
            writes_at: Vec::new(),
            exception_chance: 0.0005,
            cycles,
            impair: self.impair(),
        };
        let rng = self.rng.fork();
        let actor = ModbusPoller::new(cfg, ctx, rng);
        ctx.spawn(at, Box::new(actor));
    }

    fn spawn_tls(&mut self, ctx: &mut Ctx, at: Micros) {
        let sni = *self.rng.pick(DOMAINS);
        let profile = match self.rng.weighted(&[50, 35, 15]) {
            0 => ClientProfile::Browser,
            1 => ClientProfile::Library,
            _ => ClientProfile::Legacy12,
        };
        let interactive = self.rng.chance(self.cfg.tls_interactive_share);
        let cfg = TlsConfig {
            client: ctx.net.any_workstation(&mut self.rng),
            server: ctx.net.host(external_for_name(sni)),
            server_port: 443,
            sni: sni.to_string(),
            profile,
            server_tls13: server_speaks_tls13(sni),
            envelope: self.envelope(false),
            exchanges: if interactive {
                self.rng.range(1, 40)
            } else {
                self.rng.range(1, 30)
            } as u32,
            burst: (2, 8),
            think: if interactive { 3_000_000 } else { 120_000_000 },
            request: (260, 900),
            response: (250, 1_300),
            large_chance: 0.02,
            large_response: (4_000, 60_000),
            reset: self.rng.chance(0.03),
            impair: self.impair(),
        };
        let rng = self.rng.fork();
        let actor = TlsSession::new(cfg, ctx, rng);
        ctx.spawn(at, Box::new(actor));
    }

    fn spawn_dns(&mut self, ctx: &mut Ctx, at: Micros) {
        let name = if self.rng.chance(0.03) {
            self.rng.pick(MISSING).to_string()
        } else {
            // Lower entries of the zone are asked for less often.
            let i = self.rng.below(ZONE.len() as u64) as usize;
            let j = self.rng.below(i as u64 + 1) as usize;
            ZONE[j].name.to_string()
        };
        let cfg = DnsConfig {
            client: ctx.net.any_workstation(&mut self.rng),
            resolver: ctx.net.host(RESOLVER),
            name,
            qtype: if self.rng.chance(0.7) {
                TYPE_A
            } else {
                TYPE_AAAA
            },
            envelope: self.envelope(false),
            latency: if self.rng.chance(0.8) {
                self.rng.range(150, 600)
            } else {
                self.rng.range(5_000, 60_000)
            },
        };
        ctx.spawn(at, Box::new(DnsLookup::new(cfg, self.rng.fork())));
    }

    fn spawn_http(&mut self, ctx: &mut Ctx, at: Micros) {
        let internal = self.rng.chance(0.3);
        let (server, host) = if internal {
            (
                ctx.net.host(INTRANET_WEB),
                "fileserver.corp.example".to_string(),
            )
        } else {
            let h = *self.rng.pick(&[
                "updates.example.com",
                "cdn.example.net",
                "storage.example.net",
                "video.example.net",
            ]);
            (ctx.net.host(external_for_name(h)), h.to_string())
        };
        let cfg = HttpConfig {
            client: ctx.net.any_workstation(&mut self.rng),
            server,
            host,
            path: format!("/files/{:08x}.bin", self.rng.next_u32()),
            body_len: self.rng.log_uniform(20_000, 8_000_000),
            rate_bps: self.rng.range(20_000_000, 300_000_000),
            envelope: self.envelope(false),
            reset: self.rng.chance(0.05),
            impair: self.impair(),
        };
        let rng = self.rng.fork();
        let actor = HttpDownload::new(cfg, ctx, rng);
        ctx.spawn(at, Box::new(actor));
    }

    fn spawn_smtp(&mut self, ctx: &mut Ctx, at: Micros) {
        let outbound = self.rng.chance(0.6);
        let relay = ctx.net.host(MAIL_RELAY);
        let remote = ctx.net.host(external_for_name("mx.example.net"));
        let (client, server) = if outbound {
            (relay, remote)
        } else {
            (remote, relay)
        };
        let (from_domain, to_domain) = if outbound {
            ("corp.example", "example.net")
        } else {
            ("example.net", "corp.example")
        };
        let users = [
            "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ops", "billing",
        ];
        let n = self.rng.range(1, 5) as usize;
        let rcpts = (0..n)
            .map(|_| format!("{}@{to_domain}", self.rng.pick(&users)))
            .collect();
        let attachment = match self.rng.weighted(&[30, 40, 30]) {
            0 => Attachment::Html,
            1 => Attachment::Pdf,
            _ => Attachment::Xlsx,
        };
        let cfg = SmtpConfig {
            client,
            server,
            envelope: self.envelope(false),
            from: format!("{}@{from_domain}", self.rng.pick(&users)),
            rcpts,
            subject: self
                .rng
                .pick(&[
                    "Invoice",
                    "Shift report",
                    "Maintenance window",
                    "Purchase order",
                    "Meeting notes",
                ])
                .to_string(),
            url: format!(
                "https://{}/doc/{}",
                self.rng.pick(DOMAINS),
                self.rng.below(100_000)
            ),
            attachment,
            attachment_len: self.rng.log_uniform(2_000, 300_000) as usize,
            impair: self.impair(),
        };
        let rng = self.rng.fork();
        let actor = SmtpSession::new(cfg, ctx, rng);
        ctx.spawn(at, Box::new(actor));
    }
}

impl Actor for Mix {
    fn advance(&mut self, ctx: &mut Ctx, s: &mut Script) -> bool {
        let now = ctx.now;
        if !self.started {
            self.started = true;
            for _ in 0..self.cfg.modbus_connections {
                let at = now + self.rng.below(3_000_000);
                let finite = self.rng.chance(self.cfg.modbus_finite_share);
                self.spawn_modbus(ctx, at, finite);
            }
            for _ in 0..self.cfg.tls_initial {
                let at = now + self.rng.below(TLS_RAMP);
                self.spawn_tls(ctx, at);
            }
            for c in 0..CLASSES {
                self.next[c] = self.arrival(c, now);
            }
        }
        for c in 0..CLASSES {
            while self.next[c] <= now {
                let at = self.next[c];
                match c {
                    TLS => self.spawn_tls(ctx, at),
                    DNS => self.spawn_dns(ctx, at),
                    HTTP => self.spawn_http(ctx, at),
                    SMTP => self.spawn_smtp(ctx, at),
                    MODBUS => self.spawn_modbus(ctx, at, true),
                    _ => {}
                }
                self.next[c] = self.arrival(c, at);
            }
        }
        let wake = self.next.iter().copied().min().unwrap_or(Micros::MAX);
        if wake == Micros::MAX {
            return false;
        }
        s.wake(wake);
        true
    }
}
