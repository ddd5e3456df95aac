//! Placeholder until the parser lands.

/// Placeholder probe.
pub fn probe_server(_input: &[u8]) -> crate::stream::Probe {
    crate::stream::Probe::NoMatch
}

/// Placeholder probe.
pub fn probe_client(_input: &[u8]) -> crate::stream::Probe {
    crate::stream::Probe::NoMatch
}
