use super::{FlowKey, TcpState};
use crate::capture::Nanos;
use crate::decode::{ipproto, Packet};
use crate::dissect::FlowApp;
use std::hash::BuildHasher;

const NS: u64 = 1_000_000_000;

/// Per-state idle timeouts in seconds of packet time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// TCP before the handshake completes.
    pub tcp_new: u64,
    /// TCP established.
    pub tcp_established: u64,
    /// TCP after FIN both ways or RST.
    pub tcp_closed: u64,
    /// UDP with traffic in one direction only.
    pub udp_new: u64,
    /// UDP with traffic both ways.
    pub udp_established: u64,
    /// Other protocols (ICMP, ...), one direction only.
    pub other_new: u64,
    /// Other protocols with traffic both ways.
    pub other_established: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_new: 60,
            tcp_established: 600,
            tcp_closed: 60,
            udp_new: 30,
            udp_established: 300,
            other_new: 30,
            other_established: 300,
        }
    }
}

/// Flow table settings (`[flow]` in the configuration file).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlowConfig {
    /// The flow memcap: most flows tracked at once, over all workers.
    pub max_flows: usize,
    /// Idle timeouts.
    pub timeouts: Timeouts,
    /// Timeouts used by emergency pruning when the memcap is hit.
    pub emergency_timeouts: Timeouts,
    /// Seconds of packet time between timeout sweeps.
    pub sweep_interval: u64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            max_flows: 1_000_000,
            timeouts: Timeouts::default(),
            emergency_timeouts: Timeouts {
                tcp_new: 10,
                tcp_established: 100,
                tcp_closed: 0,
                udp_new: 10,
                udp_established: 100,
                other_new: 10,
                other_established: 100,
            },
            sweep_interval: 10,
        }
    }
}

/// Why a flow record was written (`flow.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Idle longer than its state's timeout.
    Timeout,
    /// Pruned to make room (memcap) or replaced by a new connection on the same tuple.
    Forced,
    /// Still open when the input ended.
    Shutdown,
}

impl EndReason {
    /// The EVE name.
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Timeout => "timeout",
            EndReason::Forced => "forced",
            EndReason::Shutdown => "shutdown",
        }
    }
}

/// One bidirectional flow, owned by one worker.
pub struct Flow {
    /// Canonical key.
    pub key: FlowKey,
    /// Stable id written as `flow_id`.
    pub id: u64,
    /// True when the key's `lo` endpoint is the client.
    pub client_is_lo: bool,
    /// First packet time.
    pub start: Nanos,
    /// Last packet time.
    pub last: Nanos,
    /// Packets to server, to client.
    pub pkts: [u64; 2],
    /// Bytes (frame lengths) to server, to client.
    pub bytes: [u64; 2],
    /// TCP state.
    pub tcp_state: TcpState,
    /// FIN seen from client, from server.
    pub fins: [bool; 2],
    /// TCP flags ORed, to server and to client.
    pub tcp_flags: [u8; 2],
    /// ICMP type of the first packet (for Community ID).
    pub icmp_type: u8,
    /// ICMP code of the first packet.
    pub icmp_code: u8,
    /// The handshake (SYN) was seen; otherwise the flow was picked up mid-stream.
    pub syn_seen: bool,
    /// Sequence number of the client's SYN, when seen. A SYN with the same
    /// number after a RST is a retransmitted attempt, not a new connection.
    pub client_isn: Option<u32>,
    /// The server has answered (TCP: SYN-ACK or data; otherwise any packet).
    pub answered: bool,
    /// Application-layer state: protocol detection, reassembly, dissectors.
    pub app: FlowApp,
}

impl Flow {
    fn timeout_secs(&self, t: &Timeouts) -> u64 {
        let both = self.pkts[0] > 0 && self.pkts[1] > 0;
        match self.key.proto {
            ipproto::TCP => match self.tcp_state {
                TcpState::Established | TcpState::FinWait => t.tcp_established,
                TcpState::Closed | TcpState::Reset => t.tcp_closed,
                _ => t.tcp_new,
            },
            ipproto::UDP if both => t.udp_established,
            ipproto::UDP => t.udp_new,
            _ if both => t.other_established,
            _ => t.other_new,
        }
    }

    /// True if the flow has been idle past its timeout at `now`.
    #[inline]
    pub fn expired(&self, now: Nanos, t: &Timeouts) -> bool {
        now > self
            .last
            .saturating_add(self.timeout_secs(t).saturating_mul(NS))
    }

    /// `flow.state` as Suricata writes it.
    pub fn state_name(&self) -> &'static str {
        match self.key.proto {
            ipproto::TCP => match self.tcp_state {
                TcpState::Closed | TcpState::Reset => "closed",
                TcpState::Established | TcpState::FinWait => "established",
                _ => "new",
            },
            _ if self.pkts[0] > 0 && self.pkts[1] > 0 => "established",
            _ => "new",
        }
    }

    /// Client address and port, server address and port.
    pub fn endpoints(&self) -> (crate::decode::Addr, u16, crate::decode::Addr, u16) {
        let k = &self.key;
        if self.client_is_lo {
            (k.lo, k.lo_port, k.hi, k.hi_port)
        } else {
            (k.hi, k.hi_port, k.lo, k.lo_port)
        }
    }
}

/// Flow table counters (summed over workers in the `stats` record).
#[derive(Debug, Clone, Default)]
pub struct FlowStats {
    /// Flows created.
    pub created: u64,
    /// TCP flows created.
    pub tcp: u64,
    /// UDP flows created.
    pub udp: u64,
    /// Other flows created.
    pub other: u64,
    /// TCP flows picked up without a handshake.
    pub tcp_midstream: u64,
    /// Flows ended by timeout.
    pub timed_out: u64,
    /// Flows ended because a new connection reused the tuple.
    pub reused: u64,
    /// Flows pruned by emergency pruning.
    pub pruned: u64,
    /// Flows still open at the end of the input.
    pub ended_at_shutdown: u64,
    /// Times the memcap was hit.
    pub memcap_hits: u64,
    /// Emergency pruning rounds.
    pub emergency_rounds: u64,
    /// Packets dropped because no flow could be created.
    pub memcap_drops: u64,
    /// Highest number of flows held at once.
    pub peak_flows: u64,
}

impl FlowStats {
    /// Visits every counter with its EVE stats name.
    pub fn for_each(&self, mut f: impl FnMut(&'static str, u64)) {
        f("created", self.created);
        f("tcp", self.tcp);
        f("udp", self.udp);
        f("other", self.other);
        f("tcp_midstream", self.tcp_midstream);
        f("timed_out", self.timed_out);
        f("reused", self.reused);
        f("pruned", self.pruned);
        f("ended_at_shutdown", self.ended_at_shutdown);
        f("memcap_hits", self.memcap_hits);
        f("emergency_rounds", self.emergency_rounds);
        f("memcap_drops", self.memcap_drops);
        f("peak_flows", self.peak_flows);
    }

    /// Adds another worker's counters (peak is summed: an upper bound).
    pub fn merge(&mut self, o: &FlowStats) {
        self.created += o.created;
        self.tcp += o.tcp;
        self.udp += o.udp;
        self.other += o.other;
        self.tcp_midstream += o.tcp_midstream;
        self.timed_out += o.timed_out;
        self.reused += o.reused;
        self.pruned += o.pruned;
        self.ended_at_shutdown += o.ended_at_shutdown;
        self.memcap_hits += o.memcap_hits;
        self.emergency_rounds += o.emergency_rounds;
        self.memcap_drops += o.memcap_drops;
        self.peak_flows += o.peak_flows;
    }
}

type Map = hashbrown::HashTable<Flow>;

/// Ports on which the responder usually listens: used to orient flows picked
/// up mid-stream.
fn likely_server_port(p: u16) -> bool {
    p < 1024
        || matches!(
            p,
            1433 | 1883
                | 2404
                | 3306
                | 3389
                | 4433
                | 4840
                | 5006
                | 5007
                | 5432
                | 5560
                | 5562
                | 8080
                | 8443
                | 9090
                | 18245
                | 18246
                | 20000
                | 44818
                | 61450
                | 61451
        )
}

/// A worker's flow table. Bounded by `max_flows`; all time is packet time.
pub struct FlowTable {
    map: Map,
    hasher: foldhash::fast::FixedState,
    cfg: FlowConfig,
    max_flows: usize,
    last_sweep: Nanos,
    /// Counters.
    pub stats: FlowStats,
    /// Set when the memcap was hit since the caller last looked (the worker
    /// turns it into one engine event).
    pub memcap_event_pending: bool,
}

impl FlowTable {
    /// A table holding at most `max_flows` flows (this worker's share of the memcap).
    pub fn new(cfg: &FlowConfig, max_flows: usize) -> FlowTable {
        FlowTable {
            map: Map::with_capacity(max_flows.min(1 << 14)),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed),
            cfg: cfg.clone(),
            max_flows: max_flows.max(16),
            last_sweep: 0,
            stats: FlowStats::default(),
            memcap_event_pending: false,
        }
    }

    /// Flows held now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no flow is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Finds or creates the flow of `p` and updates its counters and TCP state.
    /// Flows that this packet ends (an idle flow on the same tuple, a closed
    /// connection replaced by a new SYN, flows pruned for room) are handed to
    /// `ended` first. `clock` is the input clock (see
    /// [`crate::capture::FrameRef::clock`]); expiry compares against it. Returns the flow and whether `p` travels client → server,
    /// or `None` when the memcap left no room (counted as a drop).
    #[inline]
    pub fn track<'t>(
        &'t mut self,
        p: &Packet<'_>,
        clock: Nanos,
        ended: &mut impl FnMut(Flow, EndReason),
    ) -> Option<(&'t mut Flow, bool)> {
        let clock = clock.max(p.ts);
        let (key, src_is_lo) = FlowKey::from_packet(p);
        let h = self.hasher.hash_one(key);
        let timeouts = self.cfg.timeouts;
        // End the existing flow on this tuple if it is stale or being reused.
        let mut end: Option<EndReason> = None;
        let present = match self.map.find(h, |f| f.key == key) {
            Some(f) => {
                if f.expired(clock, &timeouts) {
                    end = Some(EndReason::Timeout);
                } else if p.proto == ipproto::TCP
                    && f.tcp_state.is_closed()
                    && p.tcp.flags & (crate::decode::tcp_flags::SYN | crate::decode::tcp_flags::ACK)
                        == crate::decode::tcp_flags::SYN
                    && f.client_isn != Some(p.tcp.seq)
                {
                    end = Some(EndReason::Forced);
                }
                true
            }
            None => false,
        };
        if let Some(reason) = end {
            if let Ok(e) = self.map.find_entry(h, |f| f.key == key) {
                let (f, _) = e.remove();
                match reason {
                    EndReason::Timeout => self.stats.timed_out += 1,
                    _ => self.stats.reused += 1,
                }
                ended(f, reason);
            }
        }
        if !present || end.is_some() {
            if self.map.len() >= self.max_flows {
                self.stats.memcap_hits += 1;
                self.memcap_event_pending = true;
                self.emergency_prune(clock, ended);
                if self.map.len() >= self.max_flows {
                    self.stats.memcap_drops += 1;
                    return None;
                }
            }
            let flow = self.new_flow(key, src_is_lo, p);
            let hasher = &self.hasher;
            self.map.insert_unique(h, flow, |f| hasher.hash_one(f.key));
            self.stats.peak_flows = self.stats.peak_flows.max(self.map.len() as u64);
        }
        let f = self.map.find_mut(h, |f| f.key == key)?;
        let to_server = src_is_lo == f.client_is_lo;
        let d = if to_server { 0 } else { 1 };
        f.pkts[d] += 1;
        f.bytes[d] += p.wire_len as u64;
        if p.ts > f.last {
            f.last = p.ts;
        }
        if p.proto == ipproto::TCP {
            f.tcp_flags[d] |= p.tcp.flags;
            f.tcp_state.on_segment(p.tcp.flags, to_server, &mut f.fins);
        }
        Some((f, to_server))
    }

    fn new_flow(&mut self, key: FlowKey, src_is_lo: bool, p: &Packet<'_>) -> Flow {
        use crate::decode::tcp_flags::{ACK, SYN};
        self.stats.created += 1;
        let mut syn_seen = false;
        let src_is_client = match p.proto {
            ipproto::TCP => {
                self.stats.tcp += 1;
                let f = p.tcp.flags & (SYN | ACK);
                if f == SYN {
                    syn_seen = true;
                    true
                } else if f == SYN | ACK {
                    syn_seen = true;
                    false
                } else {
                    self.stats.tcp_midstream += 1;
                    !likely_server_port(p.sport) || likely_server_port(p.dport)
                }
            }
            ipproto::UDP => {
                self.stats.udp += 1;
                !likely_server_port(p.sport) || likely_server_port(p.dport)
            }
            _ => {
                self.stats.other += 1;
                true
            }
        };
        let client_is_lo = src_is_lo == src_is_client;
        let (it, ic) = match p.proto {
            ipproto::ICMP | ipproto::ICMPV6 => (p.sport as u8, p.dport as u8),
            _ => (0, 0),
        };
        Flow {
            id: flow_id(&key, p.ts),
            key,
            client_is_lo,
            start: p.ts,
            last: p.ts,
            pkts: [0; 2],
            bytes: [0; 2],
            tcp_state: TcpState::None,
            fins: [false; 2],
            tcp_flags: [0; 2],
            icmp_type: it,
            icmp_code: ic,
            syn_seen,
            client_isn: (p.proto == ipproto::TCP && p.tcp.flags & (SYN | ACK) == SYN)
                .then_some(p.tcp.seq),
            answered: false,
            app: FlowApp::default(),
        }
    }

    /// Ends flows idle past their timeout, at most once per sweep interval of
    /// packet time.
    pub fn sweep(&mut self, now: Nanos, ended: &mut impl FnMut(Flow, EndReason)) {
        // At most once per interval; a clock that went back (new epoch) sweeps at once.
        if now >= self.last_sweep
            && now
                < self
                    .last_sweep
                    .saturating_add(self.cfg.sweep_interval.max(1) * NS)
        {
            return;
        }
        self.last_sweep = now;
        let t = self.cfg.timeouts;
        let mut n = 0;
        for f in self.map.extract_if(|f| f.expired(now, &t)) {
            n += 1;
            ended(f, EndReason::Timeout);
        }
        self.stats.timed_out += n;
    }

    fn emergency_prune(&mut self, now: Nanos, ended: &mut impl FnMut(Flow, EndReason)) {
        self.stats.emergency_rounds += 1;
        let t = self.cfg.emergency_timeouts;
        let mut n = 0;
        for f in self.map.extract_if(|f| f.expired(now, &t)) {
            n += 1;
            ended(f, EndReason::Forced);
        }
        // Still too full: drop the least recently seen 1/16th.
        if self.map.len() > 1 && self.map.len() + self.max_flows / 32 >= self.max_flows {
            let mut lasts: Vec<Nanos> = self.map.iter().map(|f| f.last).collect();
            let k = (lasts.len() / 16).max(1).min(lasts.len() - 1);
            let (_, cut, _) = lasts.select_nth_unstable(k);
            let cut = *cut;
            let mut removed = 0;
            let limit = k;
            for f in self.map.extract_if(|f| f.last < cut) {
                removed += 1;
                ended(f, EndReason::Forced);
                if removed >= limit {
                    break;
                }
            }
            n += removed;
        }
        self.stats.pruned += n as u64;
    }

    /// Ends every remaining flow at the end of the input. `final_ts` is the
    /// last packet time of the whole input (the same for every worker), so the
    /// reason does not depend on how packets were spread over workers.
    pub fn drain(&mut self, final_ts: Nanos, ended: &mut impl FnMut(Flow, EndReason)) {
        let t = self.cfg.timeouts;
        for f in self.map.drain() {
            if f.expired(final_ts, &t) {
                self.stats.timed_out += 1;
                ended(f, EndReason::Timeout);
            } else {
                self.stats.ended_at_shutdown += 1;
                ended(f, EndReason::Shutdown);
            }
        }
    }
}

/// A flow id that depends only on the key and the first packet time, so it is
/// the same whichever worker owns the flow. Positive, fits in an i64.
fn flow_id(key: &FlowKey, start: Nanos) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = foldhash::fast::FixedState::with_seed(0x000f_101d).build_hasher();
    key.hash(&mut h);
    start.hash(&mut h);
    h.finish() & 0x7fff_ffff_ffff_ffff
}
