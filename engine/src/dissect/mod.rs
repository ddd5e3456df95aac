//! Dissect: protocol detection and per-flow application-layer state.

/// Application-layer state of one flow (protocol detection, reassembly and
/// dissector state). Empty until a flow carries payload worth looking at.
#[derive(Default)]
pub struct FlowApp {
    /// The detected application protocol, when known.
    pub app_proto: Option<&'static str>,
}
