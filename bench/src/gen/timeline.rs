//! The timeline: traffic actors composed on one clock and merged into one time-ordered capture.
//!
//! An [`Actor`] is a small state machine for one conversation (a Modbus poller, a TLS session, a
//! DNS lookup) or for a population (a spawner that starts conversations). When its [`Script`]
//! runs dry, the timeline calls [`Actor::advance`], and the actor appends its next few frames
//! with their timestamps (never earlier than the previous one). The timeline keeps one heap entry
//! per actor, keyed by the time of the actor's next frame, so the capture comes out in time order
//! while each actor holds only its next exchange in memory: the whole run streams.
//!
//! Ties are broken by insertion order and every actor owns its own seeded generator, so a run is
//! deterministic and adding an actor to a scenario does not change what the others do.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::io::{self, Write};

use super::net::Net;
use super::pcap::{PcapWriter, RECORD_HEADER_LEN};
use super::Micros;

/// Traffic class of a frame, for the statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Modbus/TCP polling and writes.
    Modbus,
    /// TLS sessions.
    Tls,
    /// SMTP transactions.
    Smtp,
    /// DNS over UDP.
    Dns,
    /// HTTP-like bulk transfers.
    Http,
    /// Half-open connections of the reassembly flood.
    Flood,
}

impl Kind {
    /// Every kind, in statistics order.
    pub const ALL: [Kind; 6] = [
        Kind::Modbus,
        Kind::Tls,
        Kind::Smtp,
        Kind::Dns,
        Kind::Http,
        Kind::Flood,
    ];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Modbus => "modbus",
            Kind::Tls => "tls",
            Kind::Smtp => "smtp",
            Kind::Dns => "dns",
            Kind::Http => "http-bulk",
            Kind::Flood => "flood",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A built frame waiting for its time.
#[derive(Debug)]
pub struct Frame {
    /// Traffic class.
    pub kind: Kind,
    /// The Ethernet frame.
    pub bytes: Vec<u8>,
}

#[derive(Debug)]
struct Entry {
    ts: Micros,
    frame: Option<Frame>,
}

/// An actor's queue of upcoming frames and wake-ups, in non-decreasing time order.
#[derive(Debug, Default)]
pub struct Script {
    q: VecDeque<Entry>,
    last: Micros,
}

impl Script {
    /// Appends a frame at `ts`, or at the previous entry's time if `ts` is earlier (a script
    /// never goes back in time). Returns the time used.
    pub fn push(&mut self, ts: Micros, kind: Kind, bytes: Vec<u8>) -> Micros {
        let ts = ts.max(self.last);
        self.last = ts;
        self.q.push_back(Entry {
            ts,
            frame: Some(Frame { kind, bytes }),
        });
        ts
    }

    /// Asks to be advanced again at `ts` without emitting anything (clamped like `push`).
    pub fn wake(&mut self, ts: Micros) -> Micros {
        let ts = ts.max(self.last);
        self.last = ts;
        self.q.push_back(Entry { ts, frame: None });
        ts
    }

    /// Time of the last entry pushed (or of the current step when none is queued).
    pub fn last(&self) -> Micros {
        self.last
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Removes and returns every queued frame (wake-ups are dropped): lets a tool or a test
    /// run an actor by hand.
    pub fn take_frames(&mut self) -> Vec<(Micros, Frame)> {
        self.q
            .drain(..)
            .filter_map(|e| e.frame.map(|f| (e.ts, f)))
            .collect()
    }

    fn front_ts(&self) -> Option<Micros> {
        self.q.front().map(|e| e.ts)
    }
}

/// What actors may reach while advancing: the clock, the address plan, and the spawner.
pub struct Ctx {
    /// Time of the entry being processed.
    pub now: Micros,
    /// Address plan and port counters, shared by every actor.
    pub net: Net,
    spawns: Vec<(Micros, Box<dyn Actor>)>,
}

impl Ctx {
    /// A context at time 0 (the timeline owns one; actors can also be built against a
    /// stand-alone one, e.g. in tests).
    pub fn new(net: Net) -> Self {
        Ctx {
            now: 0,
            net,
            spawns: Vec::new(),
        }
    }

    /// Starts `actor` at `at` (not earlier than now).
    pub fn spawn(&mut self, at: Micros, actor: Box<dyn Actor>) {
        self.spawns.push((at.max(self.now), actor));
    }
}

/// One conversation or population on the timeline.
pub trait Actor {
    /// Called at `ctx.now` whenever `script` is empty (the first time at the spawn time).
    /// Appends the next frames and/or a wake-up, all at or after `ctx.now`, and returns `true`;
    /// or returns `false` when the actor is finished (whatever it just appended is still
    /// emitted, then it is dropped).
    fn advance(&mut self, ctx: &mut Ctx, script: &mut Script) -> bool;
}

/// When `run` stops.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Stop before a record would make the file larger than this.
    pub max_file_bytes: Option<u64>,
    /// Stop after this many packets.
    pub max_packets: Option<u64>,
}

/// Packet-size classes named after the IMIX sizes they are nearest to.
pub const SIZE_CLASSES: [&str; 3] = [
    "small (<=320 B, ~64)",
    "medium (321-1037 B, ~576)",
    "large (>=1038 B, ~1500)",
];

fn size_class(len: usize) -> usize {
    match len {
        0..=320 => 0,
        321..=1037 => 1,
        _ => 2,
    }
}

/// What a run wrote.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Records written.
    pub packets: u64,
    /// Sum of frame lengths.
    pub frame_bytes: u64,
    /// File size (headers included).
    pub file_bytes: u64,
    /// First timestamp.
    pub first_ts: Option<Micros>,
    /// Last timestamp.
    pub last_ts: Micros,
    /// Packets and frame bytes per `Kind` (index = position in `Kind::ALL`).
    pub per_kind: [(u64, u64); 6],
    /// Packets per size class (`SIZE_CLASSES`).
    pub sizes: [u64; 3],
    /// Actors started.
    pub actors_started: u64,
    /// Most actors alive at once (≈ concurrent conversations).
    pub max_live_actors: u64,
}

impl Stats {
    fn record(&mut self, ts: Micros, frame: &Frame) {
        self.packets += 1;
        let len = frame.bytes.len() as u64;
        self.frame_bytes += len;
        self.file_bytes += RECORD_HEADER_LEN + len;
        self.first_ts.get_or_insert(ts);
        self.last_ts = ts;
        let k = &mut self.per_kind[frame.kind.index()];
        k.0 += 1;
        k.1 += len;
        self.sizes[size_class(frame.bytes.len())] += 1;
    }

    /// Mean frame length.
    pub fn mean_frame_len(&self) -> f64 {
        if self.packets == 0 {
            0.0
        } else {
            self.frame_bytes as f64 / self.packets as f64
        }
    }

    /// Seconds between the first and last packet.
    pub fn span_secs(&self) -> f64 {
        self.last_ts
            .saturating_sub(self.first_ts.unwrap_or(self.last_ts)) as f64
            / 1e6
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "packets {}  file bytes {}  mean frame {:.1} B  span {:.1} s",
            self.packets,
            self.file_bytes,
            self.mean_frame_len(),
            self.span_secs()
        )?;
        writeln!(
            f,
            "actors started {}  most alive at once {}",
            self.actors_started, self.max_live_actors
        )?;
        for (i, name) in SIZE_CLASSES.iter().enumerate() {
            writeln!(
                f,
                "  size {:<28} {:>6.2}% of packets",
                name,
                pct(self.sizes[i], self.packets)
            )?;
        }
        for k in Kind::ALL {
            let (p, b) = self.per_kind[k.index()];
            if p > 0 {
                writeln!(
                    f,
                    "  kind {:<10} {:>6.2}% of packets  {:>6.2}% of bytes",
                    k.name(),
                    pct(p, self.packets),
                    pct(b, self.frame_bytes)
                )?;
            }
        }
        Ok(())
    }
}

struct Slot {
    actor: Option<Box<dyn Actor>>,
    script: Script,
}

/// Actors plus the merge heap.
pub struct Timeline {
    slots: Vec<Slot>,
    free: Vec<usize>,
    heap: BinaryHeap<Reverse<(Micros, u64, usize)>>,
    seq: u64,
    ctx: Ctx,
    live: u64,
    stats: Stats,
}

/// How often (in packets) `run` reports progress (a power of two).
pub const PROGRESS_EVERY: u64 = 1 << 16;

impl Timeline {
    /// An empty timeline over the address plan `net`.
    pub fn new(net: Net) -> Self {
        Timeline {
            slots: Vec::new(),
            free: Vec::new(),
            heap: BinaryHeap::new(),
            seq: 0,
            ctx: Ctx::new(net),
            live: 0,
            stats: Stats::default(),
        }
    }

    /// The context actors are built against before they are spawned.
    pub fn ctx(&mut self) -> &mut Ctx {
        &mut self.ctx
    }

    /// Starts `actor` at `at`.
    pub fn spawn(&mut self, at: Micros, actor: Box<dyn Actor>) {
        let mut script = Script::default();
        script.wake(at);
        let slot = Slot {
            actor: Some(actor),
            script,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        self.live += 1;
        self.stats.actors_started += 1;
        self.stats.max_live_actors = self.stats.max_live_actors.max(self.live);
        self.schedule(idx, at);
    }

    fn schedule(&mut self, idx: usize, ts: Micros) {
        self.seq += 1;
        self.heap.push(Reverse((ts, self.seq, idx)));
    }

    /// Merges every actor's frames into `out` until all actors finish or a limit is reached.
    /// `progress` is called every `PROGRESS_EVERY` packets.
    pub fn run<W: Write>(
        &mut self,
        out: &mut PcapWriter<W>,
        limits: Limits,
        progress: &mut dyn FnMut(&Stats),
    ) -> io::Result<Stats> {
        self.stats.file_bytes = out.bytes_written();
        while let Some(Reverse((ts, _, idx))) = self.heap.pop() {
            self.ctx.now = ts;
            let entry = self.slots[idx].script.q.pop_front();
            if let Some(Entry {
                frame: Some(frame), ..
            }) = entry
            {
                let rec = RECORD_HEADER_LEN + frame.bytes.len() as u64;
                if limits
                    .max_file_bytes
                    .is_some_and(|max| out.bytes_written() + rec > max)
                    || limits
                        .max_packets
                        .is_some_and(|max| self.stats.packets >= max)
                {
                    break;
                }
                out.write_packet(ts, &frame.bytes)?;
                self.stats.record(ts, &frame);
                if self.stats.packets & (PROGRESS_EVERY - 1) == 0 {
                    progress(&self.stats);
                }
            }
            let slot = &mut self.slots[idx];
            if slot.script.is_empty() {
                let more = match slot.actor.as_mut() {
                    Some(actor) => actor.advance(&mut self.ctx, &mut slot.script),
                    None => false,
                };
                if !more {
                    slot.actor = None;
                }
            }
            match self.slots[idx].script.front_ts() {
                Some(next) => self.schedule(idx, next),
                None => {
                    self.slots[idx].actor = None;
                    self.free.push(idx);
                    self.live -= 1;
                }
            }
            let spawns = std::mem::take(&mut self.ctx.spawns);
            for (at, actor) in spawns {
                self.spawn(at, actor);
            }
        }
        Ok(self.stats.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Emits `n` one-byte frames `gap` µs apart, starting at its spawn time.
    struct Ticker {
        n: u32,
        gap: Micros,
        tag: u8,
    }

    impl Actor for Ticker {
        fn advance(&mut self, ctx: &mut Ctx, script: &mut Script) -> bool {
            if self.n == 0 {
                return false;
            }
            self.n -= 1;
            script.push(ctx.now + self.gap, Kind::Dns, vec![self.tag]);
            true
        }
    }

    fn timestamps_and_tags(buf: &[u8]) -> Vec<(u32, u8)> {
        let mut out = Vec::new();
        let mut at = 24;
        while at + 16 <= buf.len() {
            let usec = u32::from_le_bytes(buf[at + 4..at + 8].try_into().unwrap());
            let len = u32::from_le_bytes(buf[at + 8..at + 12].try_into().unwrap()) as usize;
            out.push((usec, buf[at + 16]));
            at += 16 + len;
        }
        out
    }

    #[test]
    fn two_actors_interleave_in_time_order_with_ties_in_spawn_order() {
        let mut tl = Timeline::new(Net::new(0));
        tl.spawn(
            0,
            Box::new(Ticker {
                n: 3,
                gap: 10,
                tag: b'a',
            }),
        );
        tl.spawn(
            5,
            Box::new(Ticker {
                n: 2,
                gap: 5,
                tag: b'b',
            }),
        );
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let stats = tl.run(&mut w, Limits::default(), &mut |_| {}).unwrap();
        assert_eq!(stats.packets, 5);
        assert_eq!(stats.max_live_actors, 2);
        let got = timestamps_and_tags(&w.finish().unwrap());
        // a: 10, 20, 30; b: 10, 15 — the tie at 10 goes to the actor scheduled first.
        assert_eq!(
            got,
            vec![(10, b'a'), (10, b'b'), (15, b'b'), (20, b'a'), (30, b'a')]
        );
    }

    #[test]
    fn file_size_limit_is_never_exceeded() {
        let mut tl = Timeline::new(Net::new(0));
        tl.spawn(
            0,
            Box::new(Ticker {
                n: 100,
                gap: 1,
                tag: 0,
            }),
        );
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let limits = Limits {
            max_file_bytes: Some(24 + 17 * 10 + 5),
            max_packets: None,
        };
        let stats = tl.run(&mut w, limits, &mut |_| {}).unwrap();
        assert_eq!(stats.packets, 10);
        assert_eq!(w.finish().unwrap().len(), 24 + 17 * 10);
    }
}
