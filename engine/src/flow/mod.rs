//! Flow: bidirectional flow keys, per-worker flow tables and TCP state.
