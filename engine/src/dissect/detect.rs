//! Protocol detection by content. Port hints only decide the order in which
//! probes run; a probe must recognise the bytes for a protocol to be chosen.

use super::AppProto;
use spanwatch_parsers::stream::{Direction, Probe};

/// The transport a flow runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP: probes see reassembled bytes.
    Tcp,
    /// UDP: probes see one datagram.
    Udp,
}

/// Protocols that can run on `t`.
fn runs_on(p: AppProto, t: Transport) -> bool {
    match p {
        AppProto::Modbus | AppProto::GeSrtp | AppProto::Tls | AppProto::Smtp => t == Transport::Tcp,
        AppProto::GeEgd | AppProto::CclinkIef => t == Transport::Udp,
        AppProto::Slmp | AppProto::Melsoft | AppProto::Dns => true,
    }
}

/// Default ports: a hint, never a decision.
fn port_hint(p: AppProto, t: Transport, port: u16) -> bool {
    match p {
        AppProto::Modbus => port == 502,
        AppProto::GeSrtp => port == 18245,
        AppProto::GeEgd => port == 18246 || port == 7937,
        AppProto::Slmp => {
            matches!(port, 5000..=5010 | 1025..=1281 | 61451) && t == Transport::Tcp
                || port == 61451
        }
        AppProto::Melsoft => matches!(port, 5006 | 5007 | 5560 | 5562),
        AppProto::CclinkIef => port == 61450,
        AppProto::Tls => matches!(port, 443 | 465 | 636 | 853 | 993 | 995 | 4433 | 8443 | 9090),
        AppProto::Smtp => matches!(port, 25 | 587 | 2525),
        AppProto::Dns => port == 53 || port == 5353,
    }
}

/// The protocols to probe for a flow between these ports, hinted ones first,
/// then the rest in a fixed order. Returns the array and how many entries are used.
pub fn probe_order(t: Transport, client_port: u16, server_port: u16) -> ([AppProto; 9], usize) {
    let mut out = [AppProto::Modbus; 9];
    let mut n = 0;
    for hinted in [true, false] {
        for p in AppProto::ALL {
            if !runs_on(p, t) {
                continue;
            }
            let h = port_hint(p, t, server_port) || port_hint(p, t, client_port);
            if h == hinted {
                out[n] = p;
                n += 1;
            }
        }
    }
    (out, n)
}

/// Runs one protocol's probe on the first bytes of a direction (TCP) or on a
/// datagram (UDP).
pub fn probe(p: AppProto, t: Transport, dir: Direction, data: &[u8]) -> Probe {
    use spanwatch_parsers as sp;
    match (p, t) {
        (AppProto::Modbus, Transport::Tcp) => sp::modbus::probe(data),
        (AppProto::GeSrtp, Transport::Tcp) => sp::srtp::probe(data),
        (AppProto::GeEgd, Transport::Udp) => sp::egd::probe(data),
        (AppProto::Slmp, _) => sp::slmp::probe(data),
        (AppProto::Melsoft, _) => sp::melsoft::probe(data),
        (AppProto::CclinkIef, Transport::Udp) => match sp::cclink::parse_datagram(data) {
            Ok(
                sp::cclink::Datagram::CyclicRequest(_) | sp::cclink::Datagram::CyclicResponse(_),
            ) => Probe::Match,
            _ => Probe::NoMatch,
        },
        (AppProto::Tls, Transport::Tcp) => sp::tls::probe(data),
        (AppProto::Smtp, Transport::Tcp) => match dir {
            Direction::ToClient => sp::smtp::probe_server(data),
            Direction::ToServer => sp::smtp::probe_client(data),
        },
        (AppProto::Dns, Transport::Tcp) => sp::dns::probe_tcp(data),
        (AppProto::Dns, Transport::Udp) => sp::dns::probe(data),
        _ => Probe::NoMatch,
    }
}

/// The outcome of probing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    /// This protocol.
    Found(AppProto),
    /// Undecided: wait for more bytes.
    NeedMore,
    /// No protocol matches.
    Unknown,
}

/// Detection state of one TCP flow: which candidates are still possible,
/// and the bytes seen so far per direction while undecided.
#[derive(Debug)]
pub struct Detector {
    order: [AppProto; 9],
    n: usize,
    rejected: u16,
    /// Bytes held per direction (to server, to client) while undecided.
    pub held: [Vec<u8>; 2],
    /// The direction that sent the first bytes.
    pub first: Option<Direction>,
}

impl Detector {
    /// A detector for a flow between these ports.
    pub fn new(t: Transport, client_port: u16, server_port: u16) -> Detector {
        let (order, n) = probe_order(t, client_port, server_port);
        Detector {
            order,
            n,
            rejected: 0,
            held: [Vec::new(), Vec::new()],
            first: None,
        }
    }

    /// Probes `data` (everything seen so far in `dir`). `limit_reached` means
    /// no more bytes will be waited for.
    pub fn detect(
        &mut self,
        t: Transport,
        dir: Direction,
        data: &[u8],
        limit_reached: bool,
    ) -> Detection {
        self.first.get_or_insert(dir);
        let mut waiting = false;
        let mut candidate = None;
        for (i, p) in self.order[..self.n].iter().enumerate() {
            if self.rejected & (1 << i) != 0 {
                continue;
            }
            match probe(*p, t, dir, data) {
                Probe::Match => {
                    if !waiting || limit_reached {
                        return Detection::Found(*p);
                    }
                    candidate.get_or_insert(*p);
                }
                Probe::NoMatch => {
                    // A probe that rejects one direction may still accept the
                    // other (SMTP's server banner vs client commands): only
                    // a rejection of the first direction to speak is final.
                    if Some(dir) == self.first {
                        self.rejected |= 1 << i;
                    }
                }
                Probe::NeedMore => waiting = true,
            }
        }
        if let Some(p) = candidate {
            return if limit_reached {
                Detection::Found(p)
            } else {
                Detection::NeedMore
            };
        }
        let all_rejected = (0..self.n).all(|i| self.rejected & (1 << i) != 0);
        if all_rejected || limit_reached {
            Detection::Unknown
        } else {
            Detection::NeedMore
        }
    }
}

/// Creates the TCP dissector for a detected protocol.
pub fn start_tcp(p: AppProto, cfg: &super::DissectConfig) -> Option<Box<dyn super::TcpApp + Send>> {
    let _ = cfg;
    match p {
        AppProto::Modbus => Some(Box::new(super::modbus::ModbusState::new())),
        AppProto::GeSrtp => Some(Box::new(super::srtp::SrtpState::new())),
        AppProto::Slmp => Some(Box::new(super::slmp::SlmpTcp::new())),
        AppProto::Melsoft => Some(Box::new(super::melsoft::MelsoftTcp::new())),
        AppProto::Tls => Some(Box::new(super::tls::TlsState::new())),
        AppProto::Smtp => Some(Box::new(super::smtp::SmtpState::new())),
        AppProto::Dns => Some(Box::new(super::dns::DnsTcp::new())),
        _ => None,
    }
}

/// Creates the UDP dissector for a detected protocol.
pub fn start_udp(p: AppProto, cfg: &super::DissectConfig) -> Option<Box<dyn super::UdpApp + Send>> {
    let _ = cfg;
    match p {
        AppProto::GeEgd => Some(Box::new(super::egd::EgdState::new())),
        AppProto::Slmp => Some(Box::new(super::slmp::SlmpUdp::new())),
        AppProto::Melsoft => Some(Box::new(super::melsoft::MelsoftUdp::new())),
        AppProto::CclinkIef => Some(Box::new(super::cclink::CclinkState::new())),
        AppProto::Dns => Some(Box::new(super::dns::DnsUdp::new())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_hints_order_the_probes() {
        let (o, n) = probe_order(Transport::Tcp, 51000, 502);
        assert_eq!(o[0], AppProto::Modbus);
        assert!(o[..n].contains(&AppProto::Tls));
        assert!(!o[..n].contains(&AppProto::GeEgd), "EGD is UDP only");
        let (o, _) = probe_order(Transport::Tcp, 51000, 9090);
        assert_eq!(o[0], AppProto::Tls);
        let (o, n) = probe_order(Transport::Udp, 18246, 18246);
        assert_eq!(o[0], AppProto::GeEgd);
        assert!(!o[..n].contains(&AppProto::Modbus));
    }
}
