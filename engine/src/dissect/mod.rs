//! Dissect: protocol detection and per-flow application-layer state.
