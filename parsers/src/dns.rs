//! Placeholder until the parser lands.

/// Placeholder probe.
pub fn probe(_input: &[u8]) -> crate::stream::Probe {
    crate::stream::Probe::NoMatch
}

/// Placeholder probe.
pub fn probe_tcp(_input: &[u8]) -> crate::stream::Probe {
    crate::stream::Probe::NoMatch
}
