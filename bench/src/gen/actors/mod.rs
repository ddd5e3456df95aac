//! Traffic actors: one module per kind of conversation, plus the population spawner.
//!
//! Each conversation actor takes a `…Config` (who talks to whom, how, for how long) and its own
//! [`Rng`](crate::gen::rng::Rng), so a scenario can place hand-configured conversations on the
//! timeline next to the background mix.

pub mod dns;
pub mod flood;
pub mod http;
pub mod mix;
pub mod modbus;
pub mod smtp;
pub mod tls;
