//! Flow: bidirectional flow keys, per-worker flow tables and TCP state.
//!
//! A [`FlowKey`] is canonical: both directions of a conversation produce the
//! same key (the lower endpoint first), so one table entry holds both. The
//! flow remembers which side is the client; packets are then `ToServer` or
//! `ToClient`.
//!
//! Each worker owns a [`FlowTable`]; nothing in it is shared or locked. All
//! timeouts are measured in packet time.

mod key;
mod table;
mod tcp;

pub use key::FlowKey;
pub use table::{EndReason, Flow, FlowConfig, FlowStats, FlowTable, Timeouts};
pub use tcp::TcpState;
