//! The address plan: who exists on the simulated network, what their frames look like on the
//! capture link, and which ephemeral ports they use.
//!
//! The capture point is a SPAN port on the plant's core switch. Internal hosts (10.0.0.0/16)
//! appear with their own MAC; external hosts appear behind the gateway's MAC, with a TTL already
//! lowered by the hops between them and the site.
//!
//! | range | role | stack |
//! |---|---|---|
//! | 10.0.0.25 | mail relay | Linux |
//! | 10.0.0.53 | DNS resolver | Linux |
//! | 10.0.0.80 | intranet web/file server | Linux |
//! | 10.0.10.1–64 | HMIs / SCADA servers | Windows |
//! | 10.0.20.1–254 | PLCs | embedded |
//! | 10.0.100.0–10.0.131.255 | workstations | Windows or Linux (by address) |
//! | 10.0.250.1–2 | VXLAN tunnel endpoints | Linux |
//! | 10.0.251.1 | GRE tunnel endpoint (site side) | Linux |
//! | 192.0.2.10–49, 198.51.100.10–49, 203.0.113.10–49 | external servers | Linux |
//! | 203.0.113.250 | GRE tunnel endpoint (remote site) | Linux |

use std::collections::HashMap;

use super::rng::{mix64, Rng};
use super::wire::{Ip4, Mac, Path, Tunnel, TunnelKind};

/// The TCP/IP stack of a host: decides TTL, TCP options, window and ephemeral port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    /// Linux: TTL 64, SYN options MSS/SACK/TS/WS, ephemeral ports 32768–60999.
    Linux,
    /// Windows: TTL 128, SYN options MSS/WS/SACK (no timestamps), ports 49152–65535.
    Windows,
    /// A PLC's small stack: TTL 64, MSS only, no window scaling.
    Embedded,
}

/// One host as seen from the capture link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// Address.
    pub ip: Ip4,
    /// MAC its frames carry on the capture link (the gateway's for external hosts).
    pub mac: Mac,
    /// TTL of its packets on the capture link.
    pub ttl: u8,
    /// Its stack.
    pub stack: Stack,
    /// Round trip from the capture point to this host and back, µs.
    pub rtt: u64,
}

impl Host {
    /// True for 10.0.0.0/8.
    pub fn is_internal(&self) -> bool {
        self.ip[0] == 10
    }
}

/// MAC of the site's gateway router: every external host's frames carry it.
pub const GATEWAY_MAC: Mac = [0x02, 0x53, 0x57, 0xFF, 0x00, 0x01];
/// The internal DNS resolver.
pub const RESOLVER: Ip4 = [10, 0, 0, 53];
/// The mail relay.
pub const MAIL_RELAY: Ip4 = [10, 0, 0, 25];
/// The intranet web/file server.
pub const INTRANET_WEB: Ip4 = [10, 0, 0, 80];
/// Number of HMI hosts (10.0.10.1..).
pub const HMI_COUNT: u8 = 64;
/// Number of PLCs (10.0.20.1..).
pub const PLC_COUNT: u8 = 254;
/// Number of workstations (10.0.100.0..).
pub const WORKSTATION_COUNT: u32 = 8192;
/// The two VXLAN tunnel endpoints.
pub const VTEPS: [Ip4; 2] = [[10, 0, 250, 1], [10, 0, 250, 2]];
/// GRE tunnel endpoints: site side, remote side.
pub const GRE_ENDPOINTS: [Ip4; 2] = [[10, 0, 251, 1], [203, 0, 113, 250]];

/// How a flow's frames are wrapped on the capture link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Envelope {
    /// Plain Ethernet.
    Plain,
    /// 802.1Q-tagged with this VLAN id.
    Vlan(u16),
    /// Carried between the two VTEPs in VXLAN with this VNI.
    Vxlan(u32),
    /// Carried in GRE between the site and the remote endpoint.
    Gre,
}

impl Envelope {
    /// Bytes the envelope adds to every frame (the MSS is lowered by this much).
    pub fn overhead(self) -> usize {
        match self {
            Envelope::Plain | Envelope::Vlan(_) => 0,
            Envelope::Vxlan(_) => 50,
            Envelope::Gre => 24,
        }
    }
}

/// The address plan plus the per-host ephemeral port counters.
pub struct Net {
    salt: u64,
    next_port: HashMap<Ip4, u16>,
}

fn key(ip: Ip4) -> u64 {
    mix64(u64::from(u32::from_be_bytes(ip)) ^ 0x5350_414E_5741_5443)
}

/// A host by address, with properties fixed by the address plan (independent of the seed).
pub fn host(ip: Ip4) -> Host {
    let h = key(ip);
    if ip[0] == 10 {
        let stack = match (ip[2], ip[3]) {
            (10, _) => Stack::Windows,
            (20, _) => Stack::Embedded,
            (100..=131, _) if h % 10 < 7 => Stack::Windows,
            _ => Stack::Linux,
        };
        let ttl = match stack {
            Stack::Windows => 128,
            Stack::Linux | Stack::Embedded => 64,
        };
        Host {
            ip,
            mac: [0x02, 0x53, 0x57, ip[1], ip[2], ip[3]],
            ttl,
            stack,
            rtt: 80 + h % 400,
        }
    } else {
        Host {
            ip,
            mac: GATEWAY_MAC,
            ttl: 64 - (6 + (h % 15) as u8),
            stack: Stack::Linux,
            rtt: 4_000 + (h >> 8) % 90_000,
        }
    }
}

impl Net {
    /// A plan whose ephemeral port sequences start at `salt`-dependent points.
    pub fn new(salt: u64) -> Self {
        Net {
            salt,
            next_port: HashMap::new(),
        }
    }

    /// A host by address (see [`host`]).
    pub fn host(&self, ip: Ip4) -> Host {
        host(ip)
    }

    /// 10.0.c.d.
    pub fn internal(&self, c: u8, d: u8) -> Host {
        self.host([10, 0, c, d])
    }

    /// HMI number `i` (wraps within `HMI_COUNT`).
    pub fn hmi(&self, i: u32) -> Host {
        self.internal(10, (i % u32::from(HMI_COUNT)) as u8 + 1)
    }

    /// PLC number `i` (wraps within `PLC_COUNT`).
    pub fn plc(&self, i: u32) -> Host {
        self.internal(20, (i % u32::from(PLC_COUNT)) as u8 + 1)
    }

    /// Workstation number `i` (wraps within `WORKSTATION_COUNT`).
    pub fn workstation(&self, i: u32) -> Host {
        let i = i % WORKSTATION_COUNT;
        self.internal(100 + (i >> 8) as u8, (i & 0xFF) as u8)
    }

    /// A random workstation.
    pub fn any_workstation(&self, rng: &mut Rng) -> Host {
        self.workstation(rng.below(u64::from(WORKSTATION_COUNT)) as u32)
    }

    /// The next ephemeral port of `host`, from its stack's range, sequential per host as the
    /// common stacks do. Starts at a seed- and address-dependent point.
    pub fn ephemeral_port(&mut self, host: &Host) -> u16 {
        let (lo, hi) = match host.stack {
            Stack::Linux => (32768u16, 60999u16),
            Stack::Windows | Stack::Embedded => (49152u16, 65535u16),
        };
        let span = u64::from(hi - lo) + 1;
        let salt = self.salt;
        let next = self
            .next_port
            .entry(host.ip)
            .or_insert_with(|| lo + (mix64(key(host.ip) ^ salt) % span) as u16);
        let port = *next;
        *next = if port >= hi { lo } else { port + 1 };
        port
    }

    /// The two directions (client→server, server→client) of a flow between `client` and
    /// `server` wrapped in `env`. `rng` gives the VXLAN source port.
    pub fn paths(
        &self,
        client: &Host,
        server: &Host,
        env: Envelope,
        rng: &mut Rng,
    ) -> (Path, Path) {
        let vlan = match env {
            Envelope::Vlan(v) => Some(v),
            _ => None,
        };
        let fwd_tunnel;
        let rev_tunnel;
        match env {
            Envelope::Vxlan(vni) => {
                let a = self.host(VTEPS[0]);
                let b = self.host(VTEPS[1]);
                let sp1 = 49152 + rng.below(16384) as u16;
                let sp2 = 49152 + rng.below(16384) as u16;
                fwd_tunnel = Some(tunnel(&a, &b, TunnelKind::Vxlan { vni, src_port: sp1 }));
                rev_tunnel = Some(tunnel(&b, &a, TunnelKind::Vxlan { vni, src_port: sp2 }));
            }
            Envelope::Gre => {
                let a = self.host(GRE_ENDPOINTS[0]);
                let b = self.host(GRE_ENDPOINTS[1]);
                fwd_tunnel = Some(tunnel(&a, &b, TunnelKind::Gre));
                rev_tunnel = Some(tunnel(&b, &a, TunnelKind::Gre));
            }
            Envelope::Plain | Envelope::Vlan(_) => {
                fwd_tunnel = None;
                rev_tunnel = None;
            }
        }
        let (fwd_src_mac, fwd_dst_mac) = macs(client, server);
        let fwd = Path {
            src_mac: fwd_src_mac,
            dst_mac: fwd_dst_mac,
            vlan,
            src: client.ip,
            dst: server.ip,
            ttl: client.ttl,
            tunnel: fwd_tunnel,
        };
        let rev = Path {
            src_mac: fwd_dst_mac,
            dst_mac: fwd_src_mac,
            vlan,
            src: server.ip,
            dst: client.ip,
            ttl: server.ttl,
            tunnel: rev_tunnel,
        };
        (fwd, rev)
    }
}

/// Source and destination MAC for a frame from `a` to `b` on the capture link.
fn macs(a: &Host, b: &Host) -> (Mac, Mac) {
    match (a.is_internal(), b.is_internal()) {
        (true, true) | (false, false) => (a.mac, b.mac),
        (true, false) => (a.mac, GATEWAY_MAC),
        (false, true) => (GATEWAY_MAC, b.mac),
    }
}

fn tunnel(from: &Host, to: &Host, kind: TunnelKind) -> Tunnel {
    let (src_mac, dst_mac) = macs(from, to);
    Tunnel {
        kind,
        src_mac,
        dst_mac,
        src: from.ip,
        dst: to.ip,
        ttl: from.ttl,
    }
}

/// External server addresses (documentation ranges, never routed).
pub fn external_servers() -> impl Iterator<Item = Ip4> {
    [[192u8, 0, 2], [198, 51, 100], [203, 0, 113]]
        .into_iter()
        .flat_map(|p| (10u8..50).map(move |d| [p[0], p[1], p[2], d]))
}

/// Number of addresses `external_servers` yields.
pub const EXTERNAL_SERVER_COUNT: u64 = 120;

/// The external server that a name resolves to: stable, derived from the name only.
pub fn external_for_name(name: &str) -> Ip4 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    let i = mix64(h) % EXTERNAL_SERVER_COUNT;
    external_servers()
        .nth(i as usize)
        .unwrap_or([192, 0, 2, 10])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_ports_are_sequential_per_host_and_stay_in_range() {
        let mut net = Net::new(1);
        let ws = net.host([10, 0, 100, 7]);
        let a = net.ephemeral_port(&ws);
        let b = net.ephemeral_port(&ws);
        assert!(a >= 32768);
        assert!(b == a + 1 || b == 32768 || b == 49152);
    }

    #[test]
    fn external_hosts_sit_behind_the_gateway_mac() {
        let net = Net::new(1);
        let ws = net.workstation(3);
        let ext = net.host(external_for_name("portal.example.com"));
        assert!(!ext.is_internal());
        let mut rng = Rng::new(1);
        let (fwd, rev) = net.paths(&ws, &ext, Envelope::Vlan(20), &mut rng);
        assert_eq!(fwd.dst_mac, GATEWAY_MAC);
        assert_eq!(rev.src_mac, GATEWAY_MAC);
        assert_eq!(fwd.src_mac, ws.mac);
        assert_eq!(fwd.vlan, Some(20));
        assert_eq!(rev.dst, ws.ip);
    }
}
