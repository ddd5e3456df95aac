//! Pure protocol parsers for spanwatch.
//!
//! Every module here is a function from bytes to a borrowed, typed view with a
//! typed error. Nothing in this crate does I/O, reads a clock or keeps state
//! between calls; a dissector in the engine owns whatever state a protocol
//! needs and passes it in. That keeps each parser fuzzable alone.
//!
//! TCP protocols implement the streaming contract in [`stream`]: each call
//! returns how many bytes it consumed and at most one message, or how many more
//! bytes it needs, or why the bytes are invalid.
//!
//! ```
//! use spanwatch_parsers::stream::{drive, Parsed, StreamParser, Direction};
//! use spanwatch_parsers::modbus::ModbusTcp;
//!
//! // Two Modbus/TCP "read holding registers" requests in one segment, the
//! // second cut short: the driver hands out the first and asks for more.
//! let bytes = [
//!     0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x11, 0x03, 0x00, 0x6b, 0x00, 0x03,
//!     0x00, 0x02, 0x00, 0x00, 0x00, 0x06, 0x11,
//! ];
//! let mut parser = ModbusTcp::default();
//! let mut seen = Vec::new();
//! let outcome = drive(&mut parser, &bytes, Direction::ToServer, |m| seen.push(m.transaction_id));
//! assert_eq!(seen, vec![1]);
//! assert_eq!(outcome.consumed, 12);
//! assert_eq!(outcome.needed, Some(5));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ot;
pub mod stream;

pub mod cclink;
pub mod dns;
pub mod egd;
pub mod melsoft;
pub mod modbus;
pub mod slmp;
pub mod smtp;
pub mod srtp;
pub mod tls;
