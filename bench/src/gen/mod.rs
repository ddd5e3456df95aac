//! `spanwatch-gen`: a seeded, deterministic capture generator.
//!
//! Same seed and arguments ⇒ byte-identical pcap, forever: all randomness comes from
//! [`rng::Rng`] (xoshiro256** seeded by SplitMix64), timestamps from a fixed [`EPOCH`], and no
//! floating-point function whose last bit depends on the platform is used.
//!
//! The pieces follow the data from conversation to file:
//! - [`actors`]: one state machine per kind of conversation (Modbus poller, TLS session, SMTP
//!   transaction, DNS lookup, HTTP download, reassembly flood) plus the population spawner;
//! - [`tcp`]: sequence numbers, ACKs, options, impairments of one TCP connection;
//! - [`wire`]: frames with correct lengths and checksums (VLAN, VXLAN, GRE);
//! - [`timeline`]: merges every actor's frames in time order, streaming;
//! - [`pcap`]: the file writer.
//!
//! Profiles: [`write_demo`] (small, one of each flow, committed as `pcaps/demo.pcap`),
//! [`write_bench`] (the realistic mix up to a size), [`write_flood`] (half-open connections
//! holding out-of-order data). A labelled attack scenario is a [`timeline::Timeline`] with the
//! background [`actors::mix::Mix`] plus hand-configured actors spawned at chosen times.
//!
//! ```
//! use spanwatch_bench::gen::{write_bench, BenchOptions};
//! let mut out = Vec::new();
//! let stats = write_bench(&mut out, &BenchOptions { size: 200_000, seed: 7 }, &mut |_| {}).unwrap();
//! assert_eq!(stats.file_bytes, out.len() as u64);
//! assert!(out.len() <= 200_000);
//! ```

pub mod actors;
pub mod bytes;
pub mod net;
pub mod pcap;
pub mod rng;
pub mod scenario;
pub mod tcp;
pub mod timeline;
pub mod wire;

use std::io::{self, Write};

use actors::dns::{DnsConfig, DnsLookup, TYPE_A, TYPE_AAAA};
use actors::flood::{Flood, FloodConfig};
use actors::http::{HttpConfig, HttpDownload};
use actors::mix::{Mix, MixConfig};
use actors::modbus::{ModbusConfig, ModbusPoller, Read, Write as MbWrite};
use actors::smtp::{Attachment, SmtpConfig, SmtpSession};
use actors::tls::{ClientProfile, TlsConfig, TlsSession};
use net::{external_for_name, Envelope, Net, MAIL_RELAY, RESOLVER};
use pcap::PcapWriter;
use rng::Rng;
use tcp::Impair;
use timeline::{Limits, Stats, Timeline};

/// Microseconds since the Unix epoch.
pub type Micros = u64;

/// Every capture starts here: 2026-01-05T08:00:00Z.
pub const EPOCH: Micros = 1_767_600_000 * 1_000_000;

/// Seed of the committed demo capture.
pub const DEMO_SEED: u64 = 1;

/// (year, month, day, hour, minute, second) of a timestamp, UTC (proleptic Gregorian).
pub fn civil_from_micros(t: Micros) -> (i64, u32, u32, u32, u32, u32) {
    let secs = (t / 1_000_000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Days since 1970-01-01 to a civil date (era-based algorithm, 400-year cycles).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem / 60) % 60) as u32,
        (rem % 60) as u32,
    )
}

/// Parses a size such as `1G`, `500M`, `64K`, `1.5G` or `12345` (binary units: K = 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size suffix in {s:?} (use K, M, G or T)")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let value: f64 = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(format!("size must be positive: {s:?}"));
    }
    Ok((value * mult as f64) as u64)
}

/// Options of the bench profile.
#[derive(Clone, Copy, Debug)]
pub struct BenchOptions {
    /// File size to stop at (the file never exceeds it).
    pub size: u64,
    /// Seed.
    pub seed: u64,
}

/// Writes the bench mix (see pcaps/README.md for the proportions) until `opts.size` bytes.
pub fn write_bench<W: Write>(
    out: W,
    opts: &BenchOptions,
    progress: &mut dyn FnMut(&Stats),
) -> io::Result<Stats> {
    let mut rng = Rng::new(opts.seed);
    let mut tl = Timeline::new(Net::new(rng.next_u64()));
    tl.spawn(EPOCH, Box::new(Mix::new(MixConfig::default(), rng.fork())));
    let mut w = PcapWriter::new(out)?;
    let limits = Limits {
        max_file_bytes: Some(opts.size),
        max_packets: None,
    };
    let stats = tl.run(&mut w, limits, progress)?;
    w.finish()?;
    Ok(stats)
}

/// Options of the flood profile.
#[derive(Clone, Copy, Debug)]
pub struct FloodOptions {
    /// Connections.
    pub connections: u64,
    /// Bytes of hole before the buffered segment.
    pub hole: u32,
    /// Payload of the buffered segment.
    pub payload: usize,
    /// Seed.
    pub seed: u64,
}

/// Writes the half-open reassembly flood.
pub fn write_flood<W: Write>(
    out: W,
    opts: &FloodOptions,
    progress: &mut dyn FnMut(&Stats),
) -> io::Result<Stats> {
    let mut rng = Rng::new(opts.seed);
    let mut tl = Timeline::new(Net::new(rng.next_u64()));
    let cfg = FloodConfig {
        connections: opts.connections,
        hole: opts.hole,
        payload: opts.payload,
        gap: 4,
    };
    tl.spawn(EPOCH, Box::new(Flood::new(cfg, rng.fork())));
    let mut w = PcapWriter::new(out)?;
    let stats = tl.run(&mut w, Limits::default(), progress)?;
    w.finish()?;
    Ok(stats)
}

/// The demo timeline: one of each kind of flow, a few seconds long.
pub fn demo_timeline(seed: u64) -> Timeline {
    let mut rng = Rng::new(seed);
    let mut tl = Timeline::new(Net::new(rng.next_u64()));
    let ms = 1_000u64;
    let ctx = tl.ctx();
    let ws = ctx.net.workstation(10);
    let ws2 = ctx.net.workstation(300);
    let resolver = ctx.net.host(RESOLVER);

    let mut actors: Vec<(Micros, Box<dyn timeline::Actor>)> = Vec::new();
    let dns = |name: &str, qtype: u16, env: Envelope, client: &net::Host| DnsConfig {
        client: client.clone(),
        resolver: resolver.clone(),
        name: name.into(),
        qtype,
        envelope: env,
        latency: 400,
    };
    actors.push((
        0,
        Box::new(DnsLookup::new(
            dns("portal.example.com", TYPE_A, Envelope::Plain, &ws),
            rng.fork(),
        )),
    ));
    actors.push((
        5 * ms,
        Box::new(DnsLookup::new(
            dns("www.example.com", TYPE_AAAA, Envelope::Plain, &ws),
            rng.fork(),
        )),
    ));
    actors.push((
        12 * ms,
        Box::new(DnsLookup::new(
            dns("wpad.corp.example", TYPE_A, Envelope::Plain, &ws2),
            rng.fork(),
        )),
    ));

    let tls = |client: &net::Host, sni: &str, profile, server_tls13, exchanges, reset| TlsConfig {
        client: client.clone(),
        server: net::host(external_for_name(sni)),
        server_port: 443,
        sni: sni.into(),
        profile,
        server_tls13,
        envelope: Envelope::Plain,
        exchanges,
        burst: (1, 2),
        think: 150_000,
        request: (300, 600),
        response: (500, 2_500),
        large_chance: 0.0,
        large_response: (0, 0),
        reset,
        impair: Impair::default(),
    };
    let c = tls(
        &ws,
        "portal.example.com",
        ClientProfile::Browser,
        true,
        2,
        false,
    );
    actors.push((30 * ms, Box::new(TlsSession::new(c, tl.ctx(), rng.fork()))));
    let c = tls(
        &ws2,
        "time.example.net",
        ClientProfile::Legacy12,
        false,
        1,
        true,
    );
    actors.push((300 * ms, Box::new(TlsSession::new(c, tl.ctx(), rng.fork()))));

    let ctx = tl.ctx();
    let reads = vec![
        Read {
            function: 3,
            address: 0,
            quantity: 10,
        },
        Read {
            function: 4,
            address: 100,
            quantity: 4,
        },
        Read {
            function: 1,
            address: 0,
            quantity: 16,
        },
        Read {
            function: 2,
            address: 32,
            quantity: 8,
        },
    ];
    let mb = ModbusConfig {
        hmi: ctx.net.hmi(0),
        plc: ctx.net.plc(0),
        envelope: Envelope::Vlan(100),
        unit_id: 1,
        period: 250_000,
        reads,
        write_chance: 0.0,
        writes_at: vec![(1, MbWrite::Single(120)), (2, MbWrite::Multiple(200, 4))],
        exception_chance: 0.0,
        cycles: Some(4),
        impair: Impair::default(),
    };
    actors.push((500 * ms, Box::new(ModbusPoller::new(mb, ctx, rng.fork()))));

    let smtp = SmtpConfig {
        client: ctx.net.host(MAIL_RELAY),
        server: ctx.net.host(external_for_name("mx.example.net")),
        envelope: Envelope::Plain,
        from: "billing@corp.example".into(),
        rcpts: vec!["alice@example.net".into(), "bob@example.net".into()],
        subject: "Invoice 2026-0001".into(),
        url: "https://portal.example.com/invoices/2026-0001".into(),
        attachment: Attachment::Html,
        attachment_len: 3_000,
        impair: Impair::default(),
    };
    actors.push((
        1_000 * ms,
        Box::new(SmtpSession::new(smtp, ctx, rng.fork())),
    ));

    let http = HttpConfig {
        client: ws.clone(),
        server: ctx.net.host(external_for_name("updates.example.com")),
        host: "updates.example.com".into(),
        path: "/firmware/hmi-panel-4.2.1.bin".into(),
        body_len: 40_000,
        rate_bps: 50_000_000,
        envelope: Envelope::Plain,
        reset: false,
        impair: Impair {
            force_ooo: vec![5],
            force_retx: vec![12],
            ..Impair::default()
        },
    };
    actors.push((
        1_500 * ms,
        Box::new(HttpDownload::new(http, ctx, rng.fork())),
    ));

    let mb_vx = ModbusConfig {
        hmi: ctx.net.hmi(1),
        plc: ctx.net.plc(1),
        envelope: Envelope::Vxlan(5001),
        unit_id: 255,
        period: 200_000,
        reads: vec![Read {
            function: 3,
            address: 40,
            quantity: 20,
        }],
        write_chance: 0.0,
        writes_at: Vec::new(),
        exception_chance: 0.0,
        cycles: Some(2),
        impair: Impair::default(),
    };
    actors.push((
        2_000 * ms,
        Box::new(ModbusPoller::new(mb_vx, ctx, rng.fork())),
    ));

    let gre = HttpConfig {
        client: ctx.net.workstation(77),
        server: ctx.net.host(external_for_name("docs.example.com")),
        host: "docs.example.com".into(),
        path: "/manuals/plc-s7.pdf".into(),
        body_len: 6_000,
        rate_bps: 20_000_000,
        envelope: Envelope::Gre,
        reset: false,
        impair: Impair::default(),
    };
    actors.push((
        2_200 * ms,
        Box::new(HttpDownload::new(gre, ctx, rng.fork())),
    ));

    for (at, a) in actors {
        tl.spawn(EPOCH + at, a);
    }
    tl
}

/// Writes the demo capture (the committed `pcaps/demo.pcap` is `write_demo(_, DEMO_SEED)`).
pub fn write_demo<W: Write>(out: W, seed: u64) -> io::Result<Stats> {
    let mut tl = demo_timeline(seed);
    let mut w = PcapWriter::new(out)?;
    let stats = tl.run(&mut w, Limits::default(), &mut |_| {})?;
    w.finish()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_date_of_the_epoch_is_2026_01_05_0800() {
        assert_eq!(civil_from_micros(EPOCH), (2026, 1, 5, 8, 0, 0));
        assert_eq!(
            civil_from_micros(951_782_400_000_000),
            (2000, 2, 29, 0, 0, 0)
        );
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("500m"), Ok(500 << 20));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("1X").is_err());
        assert!(parse_size("-5M").is_err());
    }
}

#[cfg(test)]
mod golden;
