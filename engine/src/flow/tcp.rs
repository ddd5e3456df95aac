use crate::decode::tcp_flags::{ACK, FIN, RST, SYN};

/// TCP connection state as seen from the mirror port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TcpState {
    /// Nothing seen yet.
    #[default]
    None,
    /// SYN from the client.
    SynSent,
    /// SYN-ACK from the server.
    SynRecv,
    /// Handshake complete, or data seen on a connection picked up mid-stream.
    Established,
    /// One side sent FIN.
    FinWait,
    /// Both sides sent FIN.
    Closed,
    /// A RST was seen.
    Reset,
}

impl TcpState {
    /// Name as written in EVE (`tcp.state`).
    pub fn name(self) -> &'static str {
        match self {
            TcpState::None => "none",
            TcpState::SynSent => "syn_sent",
            TcpState::SynRecv => "syn_recv",
            TcpState::Established => "established",
            TcpState::FinWait => "fin_wait",
            TcpState::Closed => "closed",
            TcpState::Reset => "reset",
        }
    }

    /// True when the connection is over (FIN both ways, or RST).
    pub fn is_closed(self) -> bool {
        matches!(self, TcpState::Closed | TcpState::Reset)
    }

    /// Advances the state for a segment with `flags` from the client
    /// (`to_server`) or the server. `fins` records which sides sent FIN.
    pub fn on_segment(&mut self, flags: u8, to_server: bool, fins: &mut [bool; 2]) {
        if flags & RST != 0 {
            *self = TcpState::Reset;
            return;
        }
        if flags & FIN != 0 {
            fins[if to_server { 0 } else { 1 }] = true;
            *self = if fins[0] && fins[1] {
                TcpState::Closed
            } else {
                TcpState::FinWait
            };
            return;
        }
        *self = match (*self, flags & (SYN | ACK)) {
            (TcpState::None, SYN) => TcpState::SynSent,
            (TcpState::None | TcpState::SynSent, f) if f == SYN | ACK => TcpState::SynRecv,
            (TcpState::SynRecv, ACK) if to_server => TcpState::Established,
            // Picked up mid-stream: any non-SYN segment establishes.
            (TcpState::None, _) => TcpState::Established,
            (s, _) => s,
        };
    }
}
