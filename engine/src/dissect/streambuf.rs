//! Per-direction buffering between reassembly and a stream parser.
//!
//! Data that arrives in order and holds whole messages is parsed straight
//! from the borrowed slice; only an incomplete tail is copied, and a parser
//! that asked for `needed` more bytes is not called again until they are here.

use spanwatch_parsers::stream::{drive, Direction, DriveOutcome, StreamParser};

/// What one [`StreamBuf::feed`] did.
#[derive(Debug, Default, Clone, Copy)]
pub struct FeedOutcome {
    /// Messages handed out.
    pub messages: usize,
    /// Invalid frames met.
    pub invalid: usize,
    /// Bytes dropped (resync, overflow).
    pub skipped: usize,
    /// The pending buffer overflowed its bound.
    pub overflow: bool,
    /// The parser made no progress and was stopped.
    pub stalled: bool,
}

/// The unconsumed tail of one direction, bounded.
#[derive(Debug, Default)]
pub struct StreamBuf {
    pending: Vec<u8>,
    /// Bytes the parser needs in `pending` before it is worth calling again.
    need: usize,
    /// After a gap: drop bytes until the parser's `resync` finds a message start.
    resync: bool,
}

impl StreamBuf {
    /// Bytes held.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Forgets the held tail and resynchronises on the next data.
    pub fn gap(&mut self) {
        self.pending.clear();
        self.pending.shrink_to(4096);
        self.need = 0;
        self.resync = true;
    }

    /// Feeds `data` to `parser`, handing each message to `on`. At most `max`
    /// bytes are held between calls; a message larger than that is dropped
    /// and the stream resynchronises.
    pub fn feed<P, F>(
        &mut self,
        parser: &mut P,
        dir: Direction,
        mut data: &[u8],
        max: usize,
        mut on: F,
    ) -> FeedOutcome
    where
        P: StreamParser,
        F: for<'m> FnMut(P::Message<'m>),
    {
        let mut out = FeedOutcome::default();
        if self.resync {
            match parser.resync(data, dir) {
                Some(off) if off <= data.len() => {
                    out.skipped += off;
                    data = &data[off..];
                    self.resync = false;
                }
                _ => {
                    out.skipped += data.len();
                    return out;
                }
            }
        }
        if self.pending.is_empty() {
            let o = drive(parser, data, dir, &mut on);
            self.account(&o, &mut out);
            let rest = &data[o.consumed.min(data.len())..];
            if !rest.is_empty() && !o.stalled {
                if rest.len() > max {
                    out.overflow = true;
                    out.skipped += rest.len();
                    self.gap();
                } else {
                    self.pending.extend_from_slice(rest);
                    self.need = o.needed.map(|n| rest.len() + n).unwrap_or(0);
                }
            }
            return out;
        }
        if self.pending.len() + data.len() > max {
            out.overflow = true;
            out.skipped += self.pending.len();
            self.gap();
            // Try to pick the stream up again inside the new data.
            let more = self.feed(parser, dir, data, max, on);
            out.messages += more.messages;
            out.invalid += more.invalid;
            out.skipped += more.skipped;
            out.stalled |= more.stalled;
            return out;
        }
        self.pending.extend_from_slice(data);
        if self.pending.len() < self.need {
            return out;
        }
        let o = drive(parser, &self.pending, dir, &mut on);
        self.account(&o, &mut out);
        let consumed = o.consumed.min(self.pending.len());
        self.pending.drain(..consumed);
        self.need = o.needed.map(|n| self.pending.len() + n).unwrap_or(0);
        if o.stalled {
            self.gap();
        }
        out
    }

    fn account(&mut self, o: &DriveOutcome, out: &mut FeedOutcome) {
        out.messages += o.messages;
        out.invalid += o.invalid;
        out.skipped += o.skipped;
        out.stalled |= o.stalled;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spanwatch_parsers::stream::Parsed;

    /// One length byte then that many bytes; 0xFF is broken framing.
    struct Lp;
    impl StreamParser for Lp {
        type Message<'a> = &'a [u8];
        fn parse<'a>(&mut self, input: &'a [u8], _d: Direction) -> Parsed<&'a [u8]> {
            match input.first() {
                None => Parsed::Incomplete { needed: 1 },
                Some(0xFF) => Parsed::Invalid { reason: "bad" },
                Some(&n) if input.len() < 1 + n as usize => Parsed::Incomplete {
                    needed: 1 + n as usize - input.len(),
                },
                Some(&n) => Parsed::Message {
                    consumed: 1 + n as usize,
                    message: &input[1..1 + n as usize],
                },
            }
        }
        fn resync(&mut self, input: &[u8], _d: Direction) -> Option<usize> {
            input.iter().position(|&b| b == 2)
        }
    }

    fn collect(buf: &mut StreamBuf, parts: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        for p in parts {
            buf.feed(&mut Lp, Direction::ToServer, p, 64, |m| {
                got.push(m.to_vec())
            });
        }
        got
    }

    #[test]
    fn one_message_in_three_pieces() {
        let mut b = StreamBuf::default();
        assert_eq!(
            collect(&mut b, &[&[4, b'a'], b"bc", &[b'd', 1]]),
            vec![b"abcd".to_vec()]
        );
        assert_eq!(b.pending(), 1);
    }

    #[test]
    fn gap_then_resync_on_next_message_start() {
        let mut b = StreamBuf::default();
        let mut got = collect(&mut b, &[&[3, b'x']]);
        b.gap();
        got.extend(collect(&mut b, &[&[b'y', b'z', 2, b'o', b'k', 1, b'!']]));
        assert_eq!(got, vec![b"ok".to_vec(), b"!".to_vec()]);
    }

    #[test]
    fn overflow_is_bounded_and_reported() {
        let mut b = StreamBuf::default();
        let big = [200u8; 70];
        let o = b.feed(&mut Lp, Direction::ToServer, &big, 64, |_| {});
        assert!(o.overflow);
        assert_eq!(b.pending(), 0);
    }
}
