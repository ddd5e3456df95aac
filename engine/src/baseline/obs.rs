//! Observations: the small facts that workers send to the baseline.
//!
//! Workers never touch device state. They turn what the dissectors and the
//! flow table see into [`Obs`] values, filtered so that only what can be new
//! for the baseline is sent (the first use of a code on a flow, not every
//! use), and hand them over in batches with the input position they reached.

use crate::capture::Nanos;
use crate::decode::Addr;
use crate::dissect::AppProto;
use spanwatch_parsers::ot::OtClass;

/// A device: an IP address (IPv4 stored v4-mapped).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct DeviceId {
    /// Address.
    pub addr: u128,
    /// True for IPv6.
    pub v6: bool,
}

impl DeviceId {
    /// From a decoded address.
    pub fn new(a: Addr, v6: bool) -> DeviceId {
        DeviceId { addr: a.0, v6 }
    }
    /// As text.
    pub fn ip(self) -> std::net::IpAddr {
        Addr(self.addr).to_ip(self.v6)
    }
    /// RFC 1918, loopback, link-local, ULA and multicast/broadcast count as
    /// internal; everything else is external.
    pub fn is_internal(self) -> bool {
        match self.ip() {
            std::net::IpAddr::V4(a) => {
                a.is_private()
                    || a.is_loopback()
                    || a.is_link_local()
                    || a.is_broadcast()
                    || a.is_multicast()
                    || a.is_unspecified()
            }
            std::net::IpAddr::V6(a) => {
                let s = a.segments();
                a.is_loopback()
                    || a.is_multicast()
                    || a.is_unspecified()
                    || (s[0] & 0xfe00) == 0xfc00
                    || (s[0] & 0xffc0) == 0xfe80
            }
        }
    }
}

impl DeviceId {
    /// Multicast, limited broadcast or unspecified: an address that names a
    /// group (or nobody), not one device.
    pub fn is_group(self) -> bool {
        match self.ip() {
            std::net::IpAddr::V4(a) => a.is_multicast() || a.is_broadcast() || a.is_unspecified(),
            std::net::IpAddr::V6(a) => a.is_multicast() || a.is_unspecified(),
        }
    }
}

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.ip())
    }
}

/// The flow an observation came from, oriented client → server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRef {
    /// `flow_id` of the flow.
    pub flow_id: u64,
    /// Client.
    pub client: DeviceId,
    /// Server.
    pub server: DeviceId,
    /// Client port.
    pub client_port: u16,
    /// Server port.
    pub server_port: u16,
    /// IP protocol.
    pub proto: u8,
    /// VLAN id.
    pub vlan: u16,
}

/// One fact for the baseline.
#[derive(Debug, Clone)]
pub struct Obs {
    /// Input position of the frame that produced it (merge key).
    pub seq: u64,
    /// Packet time.
    pub ts: Nanos,
    /// The flow.
    pub flow: FlowRef,
    /// What was seen.
    pub kind: ObsKind,
}

/// What was seen.
#[derive(Debug, Clone)]
pub enum ObsKind {
    /// A new flow's first packet.
    FlowStart {
        /// Detected protocol, if already known (usually not yet).
        app: Option<AppProto>,
    },
    /// The server answered for the first time (TCP: SYN-ACK or data; UDP:
    /// any datagram back). What a server is (a device, a service on a port)
    /// is learned from this, so an unanswered scan invents neither.
    ServerAnswered,
    /// The application protocol of a flow was found.
    AppDetected {
        /// The protocol.
        app: AppProto,
    },
    /// A flow ended: volumes (commutative aggregates only: the time a flow
    /// end is noticed depends on sweeps).
    FlowEnd {
        /// Detected protocol.
        app: Option<AppProto>,
        /// Packets to server, to client.
        pkts: [u64; 2],
        /// Bytes to server, to client.
        bytes: [u64; 2],
        /// Duration.
        duration: Nanos,
    },
    /// The first use of an OT function/service/command code on this flow,
    /// or any use of a code in a control/program/auth/file class.
    OtOp {
        /// Protocol.
        app: AppProto,
        /// Raw code (function code, service, command).
        code: u16,
        /// Raw sub-code (subcommand, sub-function), 0 if none.
        sub: u16,
        /// Name of the code.
        name: &'static str,
        /// Class.
        class: OtClass,
        /// The request succeeded (no exception / error end code), when known.
        ok: Option<bool>,
    },
    /// A write to a register/device range.
    OtWrite {
        /// Protocol.
        app: AppProto,
        /// Address space (Modbus table, SLMP device code, SRTP selector).
        area: u16,
        /// First address.
        start: u32,
        /// Number of units.
        count: u32,
    },
    /// A failed logon / password attempt.
    OtAuthFailure {
        /// Protocol.
        app: AppProto,
    },
    /// Controller state as reported by the device (e.g. SRTP status word).
    OtState {
        /// Protocol.
        app: AppProto,
        /// The device (PLC).
        device: DeviceId,
        /// State name (e.g. `run`, `stop`).
        state: &'static str,
    },
    /// A fact about a device (vendor, model, firmware, CPU model, role...).
    Asset {
        /// Protocol that revealed it.
        app: AppProto,
        /// The device.
        device: DeviceId,
        /// Fact name (`vendor`, `model`, `firmware`, `cpu_model`, `controller_id`, `program`, `role`).
        key: &'static str,
        /// Value.
        value: Box<str>,
    },
    /// EGD production: producer, exchange and config signature.
    EgdProduction {
        /// Producer id from the header.
        producer_id: u32,
        /// Exchange id.
        exchange: u32,
        /// Configuration signature.
        signature: u32,
        /// The producer id differs from the source address.
        spoofed: bool,
    },
    /// A CC-Link IE Field Basic master was seen (cyclic requests).
    CclinkMaster {
        /// A slave answered 0xCFE0: another master is present.
        second_master: bool,
    },
    /// Mean interval of periodic polling on a flow, reported once a flow has
    /// enough requests (and again if it shifts).
    PollPeriod {
        /// Protocol.
        app: AppProto,
        /// Mean interval between requests.
        interval: Nanos,
    },
    /// A TLS ClientHello.
    TlsHello {
        /// SNI, if any.
        sni: Option<Box<str>>,
        /// JA4.
        ja4: Box<str>,
    },
    /// One SMTP transaction.
    SmtpTx {
        /// Envelope sender.
        from: Box<str>,
        /// Header From.
        header_from: Option<Box<str>>,
        /// Recipients accepted (or sent, when replies are not seen).
        rcpt: u32,
        /// Recipients not listed in To/Cc (BCC-like).
        bcc: u32,
        /// Attachment file name extensions / content types.
        attachments: Vec<(Box<str>, Box<str>)>,
        /// Domains of URLs in the message.
        url_domains: Vec<Box<str>>,
    },
    /// A DNS query name.
    DnsQuery {
        /// The name.
        name: Box<str>,
    },
    /// Reassembly saw overlapping data that differs.
    StreamOverlap,
}

/// A worker's pending observations.
#[derive(Debug, Default)]
pub struct ObsBuf {
    /// Observations in input order.
    pub items: Vec<Obs>,
    /// Observations are wanted at all (a baseline is running).
    pub enabled: bool,
}

impl ObsBuf {
    /// Queues one observation.
    #[inline]
    pub fn push(&mut self, seq: u64, ts: Nanos, flow: FlowRef, kind: ObsKind) {
        if self.enabled {
            self.items.push(Obs {
                seq,
                ts,
                flow,
                kind,
            });
        }
    }
}
