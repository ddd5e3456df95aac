//! spanwatch: a network detection engine for SPAN/mirror ports.
//!
//! The modules follow the data path, in order:
//!
//! capture → decode → flow → reassembly → dissect → baseline → detect → output
//!
//! and [`runtime`] wires them onto threads: one reader, N workers that own
//! their flows, one output writer. See `ARCHITECTURE.md` at the repository root.
#![warn(missing_docs)]

pub mod baseline;
pub mod capture;
pub mod config;
pub mod decode;
pub mod detect;
pub mod dissect;
pub mod flow;
pub mod metrics;
pub mod output;
pub mod reassembly;
pub mod runtime;
pub mod stats;
