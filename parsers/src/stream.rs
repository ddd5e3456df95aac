//! The streaming-parser contract every TCP dissector implements.
//!
//! A TCP direction reaches a dissector as an ordered byte stream that arrives in
//! pieces. The engine keeps the unconsumed tail; the parser only looks at the
//! bytes it is given and answers with one [`Parsed`] value:
//!
//! * [`Parsed::Message`]: `consumed` bytes made one message.
//! * [`Parsed::Skip`]: `consumed` bytes carried nothing worth reporting (keep-alive,
//!   padding, a body chunk already accounted for).
//! * [`Parsed::Incomplete`]: the message starting at byte 0 needs `needed` more
//!   bytes than were given. The engine waits for them.
//! * [`Parsed::Invalid`]: the bytes at the start are not a message (broken
//!   framing). The engine counts it and resynchronises with
//!   [`StreamParser::resync`].
//!
//! A parser that returns a message or skip with `consumed == 0` has made no
//! progress; [`drive`] detects that and stops instead of looping.
//!
//! Parsers keep no state of their own between calls beyond a small, explicit
//! mode value (`&mut self`), owned per flow and direction by the engine; SMTP's
//! command/DATA mode is the typical case.

/// Which side of the connection sent the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the initiator (client) to the responder (server).
    ToServer,
    /// From the responder (server) back to the initiator (client).
    ToClient,
}

impl Direction {
    /// The opposite direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
}

/// The answer of one parse call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<M> {
    /// `consumed` bytes formed `message`.
    Message {
        /// Bytes taken from the front of the input.
        consumed: usize,
        /// The decoded message, usually borrowing from the input.
        message: M,
    },
    /// `consumed` bytes were taken without producing a message.
    Skip {
        /// Bytes taken from the front of the input.
        consumed: usize,
    },
    /// The message at the front needs `needed` more bytes than were given.
    Incomplete {
        /// Additional bytes required (at least 1).
        needed: usize,
    },
    /// The bytes at the front do not frame a message.
    Invalid {
        /// A short, static reason, used as a counter name.
        reason: &'static str,
    },
}

/// What a probe says about the first bytes of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The bytes look like this protocol.
    Match,
    /// The bytes are not this protocol.
    NoMatch,
    /// Too few bytes to decide.
    NeedMore,
}

/// A parser for one direction of a TCP byte stream.
pub trait StreamParser {
    /// The message type, borrowing from the input where it can.
    type Message<'a>;

    /// Parses at most one message from the front of `input`.
    fn parse<'a>(&mut self, input: &'a [u8], dir: Direction) -> Parsed<Self::Message<'a>>;

    /// After a gap or an invalid frame: the offset in `input` of the first byte
    /// that plausibly starts a message, or `None` to drop all of `input`.
    fn resync(&mut self, input: &[u8], dir: Direction) -> Option<usize> {
        let _ = (input, dir);
        None
    }
}

/// The outcome of [`drive`] over one buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DriveOutcome {
    /// Bytes consumed from the front of the buffer (the engine drops them).
    pub consumed: usize,
    /// Messages handed to the callback.
    pub messages: usize,
    /// Set when the parser asked for more bytes: how many more.
    pub needed: Option<usize>,
    /// Invalid frames met (each followed by a resync attempt).
    pub invalid: usize,
    /// The last invalid reason, if any.
    pub last_invalid: Option<&'static str>,
    /// Bytes dropped while resynchronising after invalid frames.
    pub skipped: usize,
    /// The parser returned a zero-length message or skip and was stopped.
    pub stalled: bool,
}

/// Feeds `input` to `parser` until it is used up, incomplete or stalled,
/// handing each message to `on_message`.
///
/// Invalid frames are counted and followed by a call to
/// [`StreamParser::resync`]; if that finds nothing, the rest of the buffer is
/// consumed as skipped. This never loops without progress.
pub fn drive<'a, P, F>(
    parser: &mut P,
    input: &'a [u8],
    dir: Direction,
    mut on_message: F,
) -> DriveOutcome
where
    P: StreamParser,
    F: FnMut(P::Message<'a>),
{
    let mut out = DriveOutcome::default();
    while out.consumed < input.len() {
        let rest = &input[out.consumed..];
        match parser.parse(rest, dir) {
            Parsed::Message { consumed, message } => {
                if consumed == 0 || consumed > rest.len() {
                    out.stalled = true;
                    break;
                }
                out.consumed += consumed;
                out.messages += 1;
                on_message(message);
            }
            Parsed::Skip { consumed } => {
                if consumed == 0 || consumed > rest.len() {
                    out.stalled = true;
                    break;
                }
                out.consumed += consumed;
            }
            Parsed::Incomplete { needed } => {
                out.needed = Some(needed.max(1));
                break;
            }
            Parsed::Invalid { reason } => {
                out.invalid += 1;
                out.last_invalid = Some(reason);
                // Skip at least one byte so that resync cannot find the same start.
                let skip = match parser.resync(&rest[1..], dir) {
                    Some(off) => 1 + off.min(rest.len() - 1),
                    None => rest.len(),
                };
                out.skipped += skip;
                out.consumed += skip;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Length-prefixed toy protocol: one length byte, then that many bytes.
    /// A length byte of 0xFF is invalid framing; resync looks for the next 0x01.
    struct Lp;
    impl StreamParser for Lp {
        type Message<'a> = &'a [u8];
        fn parse<'a>(&mut self, input: &'a [u8], _dir: Direction) -> Parsed<&'a [u8]> {
            let Some(&len) = input.first() else {
                return Parsed::Incomplete { needed: 1 };
            };
            if len == 0xFF {
                return Parsed::Invalid {
                    reason: "bad_length",
                };
            }
            let total = 1 + len as usize;
            if input.len() < total {
                return Parsed::Incomplete {
                    needed: total - input.len(),
                };
            }
            Parsed::Message {
                consumed: total,
                message: &input[1..total],
            }
        }
        fn resync(&mut self, input: &[u8], _dir: Direction) -> Option<usize> {
            input.iter().position(|&b| b == 0x01)
        }
    }

    struct Stuck;
    impl StreamParser for Stuck {
        type Message<'a> = ();
        fn parse(&mut self, _input: &[u8], _dir: Direction) -> Parsed<()> {
            Parsed::Message {
                consumed: 0,
                message: (),
            }
        }
    }

    #[test]
    fn three_messages_then_incomplete() {
        let input = [2, b'a', b'b', 1, b'c', 0, 3, b'x'];
        let mut got = Vec::new();
        let o = drive(&mut Lp, &input, Direction::ToServer, |m| {
            got.push(m.to_vec())
        });
        assert_eq!(got, vec![b"ab".to_vec(), b"c".to_vec(), vec![]]);
        assert_eq!(o.consumed, 6);
        assert_eq!(o.needed, Some(2));
        assert!(!o.stalled);
    }

    #[test]
    fn invalid_then_resync() {
        let input = [0xFF, 9, 9, 1, b'z'];
        let mut got = Vec::new();
        let o = drive(&mut Lp, &input, Direction::ToClient, |m| {
            got.push(m.to_vec())
        });
        assert_eq!(got, vec![b"z".to_vec()]);
        assert_eq!(o.invalid, 1);
        assert_eq!(o.skipped, 3);
        assert_eq!(o.last_invalid, Some("bad_length"));
    }

    #[test]
    fn zero_progress_parser_is_stopped() {
        let o = drive(&mut Stuck, &[1, 2, 3], Direction::ToServer, |_| {});
        assert!(o.stalled);
        assert_eq!(o.consumed, 0);
        assert_eq!(o.messages, 0);
    }
}
