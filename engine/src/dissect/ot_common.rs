//! Per-flow bookkeeping shared by the OT dissectors (Modbus, GE SRTP/EGD,
//! SLMP, MELSOFT, CC-Link IE Field Basic).
//!
//! Each OT dissector turns a request and its answer into one transaction and
//! writes it as one EVE event. What they share lives here:
//!
//! * [`Pending`]: the bounded list of requests that wait for an answer
//!   ([`MAX_PENDING`] per flow; when it is full the oldest request is taken
//!   out and logged unanswered).
//! * [`TcpSide`]: the two directions' [`StreamBuf`]s and the accounting of
//!   what a feed did (messages, invalid frames, stalls, overflows).
//! * [`OtFlow`]: what the baseline needs from a flow: first use of each
//!   (code, sub-code) and every change-class request as [`ObsKind::OtOp`],
//!   polling period ([`PollTracker`]), device facts sent once per flow and
//!   value ([`ObsKind::Asset`]), and the per-flow error counters written on
//!   the flow record.
//! * [`CodeCounts`]: bounded per-flow counters of 16-bit codes.
//!
//! Nothing here allocates per message: the vectors grow to their bound once
//! per flow, and facts are turned into strings only when an observation is
//! actually sent.

use super::streambuf::FeedOutcome;
use super::{idx, AppProto, Ctx, StreamBuf};
use crate::baseline::obs::{DeviceId, ObsKind};
use crate::capture::Nanos;
use crate::output::json::JsonWriter;
use spanwatch_parsers::ot::OtClass;
use spanwatch_parsers::stream::{Direction, StreamParser};
use std::collections::VecDeque;

/// Requests waiting for an answer, per flow.
pub const MAX_PENDING: usize = 32;
/// Distinct (code, sub-code) pairs remembered per flow for "first use".
pub const MAX_SEEN_OPS: usize = 64;
/// Distinct 16-bit codes counted per flow (the rest are summed in `other`).
pub const MAX_CODES: usize = 64;
/// Device facts remembered per flow (to send each one once per value).
pub const MAX_FACTS: usize = 16;
/// Longest device fact value sent to the baseline, in characters.
pub const MAX_FACT_LEN: usize = 64;
/// Read/cyclic requests after which the polling period is first reported.
pub const POLL_FIRST: u32 = 16;
/// Requests per window after the first report; a new mean that moved by more
/// than half is reported again.
pub const POLL_WINDOW: u32 = 256;

/// Which end of the flow a fact is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The flow's initiator.
    Client,
    /// The flow's responder.
    Server,
}

impl Side {
    /// The side that sent bytes travelling in `dir`.
    #[inline]
    pub fn sender(dir: Direction) -> Side {
        match dir {
            Direction::ToServer => Side::Client,
            Direction::ToClient => Side::Server,
        }
    }

    /// The device at this end of the flow.
    pub fn device(self, ctx: &Ctx<'_>) -> DeviceId {
        let f = ctx.flow;
        match self {
            Side::Client => DeviceId::new(f.src, f.is_v6),
            Side::Server => DeviceId::new(f.dst, f.is_v6),
        }
    }

    fn bit(self) -> u8 {
        match self {
            Side::Client => 1,
            Side::Server => 2,
        }
    }
}

/// Index of a direction in two-element arrays (to server, to client).
#[inline]
pub fn di(dir: Direction) -> usize {
    match dir {
        Direction::ToServer => 0,
        Direction::ToClient => 1,
    }
}

/// Requests waiting for their answer, oldest first, at most [`MAX_PENDING`].
#[derive(Debug)]
pub struct Pending<T> {
    items: VecDeque<T>,
}

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Pending {
            items: VecDeque::new(),
        }
    }
}

impl<T> Pending<T> {
    /// Queues `t`. When the list is full the oldest request is returned: the
    /// caller logs it unanswered and counts it.
    pub fn push(&mut self, t: T) -> Option<T> {
        let evicted = if self.items.len() >= MAX_PENDING {
            self.items.pop_front()
        } else {
            None
        };
        self.items.push_back(t);
        evicted
    }

    /// Takes out the oldest request that `pred` accepts.
    pub fn take(&mut self, pred: impl Fn(&T) -> bool) -> Option<T> {
        let i = self.items.iter().position(pred)?;
        self.items.remove(i)
    }

    /// Takes out the oldest request.
    pub fn pop_front(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    /// Requests waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Both directions of a TCP OT session: the bounded tails between segments
/// and the stream parsers.
#[derive(Debug, Default)]
pub struct TcpSide<P> {
    bufs: [StreamBuf; 2],
    parsers: [P; 2],
}

impl<P: StreamParser> TcpSide<P> {
    /// Feeds `data` of `dir` to the parser, handing each message to `on`;
    /// counts messages, invalid frames, stalls and overflows in `ctx.stats`.
    /// The caller adds the outcome to its flow's [`ErrorCounts`].
    pub fn feed<'c, F>(
        &mut self,
        app: AppProto,
        dir: Direction,
        data: &[u8],
        ctx: &mut Ctx<'c>,
        mut on: F,
    ) -> FeedOutcome
    where
        F: for<'m> FnMut(P::Message<'m>, &mut Ctx<'c>),
    {
        let d = di(dir);
        let max = ctx.cfg.max_pending_bytes;
        let o = self.bufs[d].feed(&mut self.parsers[d], dir, data, max, |m| on(m, ctx));
        let i = idx(app);
        ctx.stats.messages[i] += o.messages as u64;
        ctx.stats.invalid[i] += o.invalid as u64;
        if o.stalled {
            ctx.stats.stalled += 1;
        }
        if o.overflow {
            ctx.stats.pending_overflows += 1;
        }
        o
    }

    /// Bytes of `dir` were lost: drop the held tail and resynchronise.
    pub fn gap(&mut self, dir: Direction) {
        self.bufs[di(dir)].gap();
    }
}

/// Per-flow framing and pairing trouble, written on the flow record.
#[derive(Debug, Default, Clone, Copy)]
pub struct ErrorCounts {
    /// Invalid frames (each followed by a resynchronisation).
    pub invalid: u32,
    /// Gaps (lost bytes) in either direction.
    pub gaps: u32,
    /// Parser stopped for making no progress.
    pub stalled: u32,
    /// Held tail above `max_pending_bytes`.
    pub overflows: u32,
    /// Requests logged without an answer (flow end, pending list full, gap).
    pub unanswered: u32,
    /// Answers that matched no request.
    pub orphan_responses: u32,
    /// Times the pending list was full.
    pub pending_full: u32,
}

impl ErrorCounts {
    /// Adds what one feed met.
    pub fn account(&mut self, o: &FeedOutcome) {
        self.invalid = self.invalid.saturating_add(o.invalid as u32);
        self.stalled = self.stalled.saturating_add(u32::from(o.stalled));
        self.overflows = self.overflows.saturating_add(u32::from(o.overflow));
    }

    /// Counts one gap.
    pub fn gap(&mut self) {
        self.gaps = self.gaps.saturating_add(1);
    }

    /// Writes the counters into the protocol's flow object.
    pub fn write(&self, w: &mut JsonWriter<'_>) {
        w.u64("invalid", self.invalid.into())
            .u64("gaps", self.gaps.into());
        for (k, v) in [
            ("stalled", self.stalled),
            ("overflows", self.overflows),
            ("unanswered", self.unanswered),
            ("orphan_responses", self.orphan_responses),
            ("pending_full", self.pending_full),
        ] {
            if v > 0 {
                w.u64(k, v.into());
            }
        }
    }
}

/// Per-flow counters of 16-bit codes (SLMP/MELSOFT commands, SRTP
/// services), at most [`MAX_CODES`] distinct codes.
#[derive(Debug, Default, Clone)]
pub struct CodeCounts {
    entries: Vec<(u16, u32)>,
    other: u32,
}

impl CodeCounts {
    /// Counts one use of `code`.
    #[inline]
    pub fn add(&mut self, code: u16) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.0 == code) {
            e.1 = e.1.saturating_add(1);
        } else if self.entries.len() < MAX_CODES {
            self.entries.push((code, 1));
        } else {
            self.other = self.other.saturating_add(1);
        }
    }

    /// Writes `"key": {"0x0401": 5, ...}` in code order, plus
    /// `"key_other"` when codes did not fit.
    pub fn write_hex(&self, w: &mut JsonWriter<'_>, key: &str, other_key: &str) {
        let mut sorted: [(u16, u32); MAX_CODES] = [(0, 0); MAX_CODES];
        let n = self.entries.len().min(MAX_CODES);
        sorted[..n].copy_from_slice(&self.entries[..n]);
        sorted[..n].sort_unstable_by_key(|e| e.0);
        w.begin_object(key);
        for (code, count) in &sorted[..n] {
            let mut b = [0u8; 6];
            w.u64(hex_key(&mut b, *code), u64::from(*count));
        }
        w.end_object();
        if self.other > 0 {
            w.u64(other_key, self.other.into());
        }
    }
}

/// `0x` and four lower-case hex digits, for JSON keys without allocating.
pub fn hex_key(b: &mut [u8; 6], code: u16) -> &str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    b[0] = b'0';
    b[1] = b'x';
    for (i, slot) in b[2..].iter_mut().enumerate() {
        let shift = 12 - 4 * i as u32;
        *slot = HEX[usize::from((code >> shift) & 0xF)];
    }
    std::str::from_utf8(b).unwrap_or("0x????")
}

/// Decimal text of a small number, for JSON keys without allocating.
pub fn dec_key(b: &mut [u8; 5], v: u16) -> &str {
    let mut i = b.len();
    let mut v = v;
    loop {
        i -= 1;
        b[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    std::str::from_utf8(&b[i..]).unwrap_or("?")
}

/// Mean interval between read (or cyclic) requests of a flow: reported once
/// after [`POLL_FIRST`] requests, then again after each [`POLL_WINDOW`]
/// requests whose mean moved by more than half.
#[derive(Debug, Default, Clone, Copy)]
pub struct PollTracker {
    n: u32,
    window_start: Nanos,
    reported: Option<Nanos>,
}

impl PollTracker {
    /// One more polling request at `ts`; returns an interval to report.
    pub fn on_request(&mut self, ts: Nanos) -> Option<Nanos> {
        self.n = self.n.saturating_add(1);
        if self.n == 1 {
            self.window_start = ts;
            return None;
        }
        match self.reported {
            None if self.n == POLL_FIRST => {
                let iv = ts.saturating_sub(self.window_start) / u64::from(POLL_FIRST - 1);
                self.reported = Some(iv);
                self.window_start = ts;
                self.n = 1;
                Some(iv)
            }
            Some(old) if self.n == POLL_WINDOW + 1 => {
                let iv = ts.saturating_sub(self.window_start) / u64::from(POLL_WINDOW);
                self.window_start = ts;
                self.n = 1;
                let moved = iv.abs_diff(old).saturating_mul(2) > old;
                if moved {
                    self.reported = Some(iv);
                    Some(iv)
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

/// True for classes whose every request is sent to the baseline.
#[inline]
pub fn always_observed(class: OtClass) -> bool {
    matches!(
        class,
        OtClass::Control | OtClass::Program | OtClass::Auth | OtClass::File | OtClass::Write
    )
}

/// What a flow has told the baseline already, and its error counters.
#[derive(Debug, Default)]
pub struct OtFlow {
    seen_ops: Vec<(u16, u16)>,
    facts: Vec<(Side, &'static str, u64)>,
    roles: u8,
    poll: PollTracker,
    /// Framing and pairing trouble.
    pub errs: ErrorCounts,
}

impl OtFlow {
    /// A transaction completed (or was given up): sends [`ObsKind::OtOp`]
    /// on the first use of (code, sub) on this flow and on every request of
    /// a class that changes something ([`always_observed`]). A flow remembers
    /// [`MAX_SEEN_OPS`] pairs; later new pairs count as seen.
    #[allow(clippy::too_many_arguments)]
    pub fn op(
        &mut self,
        ctx: &mut Ctx<'_>,
        app: AppProto,
        code: u16,
        sub: u16,
        name: &'static str,
        class: OtClass,
        ok: Option<bool>,
    ) {
        if !ctx.obs.enabled {
            return;
        }
        let first = if self.seen_ops.contains(&(code, sub)) {
            false
        } else if self.seen_ops.len() < MAX_SEEN_OPS {
            self.seen_ops.push((code, sub));
            true
        } else {
            false
        };
        if first || always_observed(class) {
            ctx.observe(ObsKind::OtOp {
                app,
                code,
                sub,
                name,
                class,
                ok,
            });
        }
    }

    /// A polling-class request was seen at `ctx.ts`.
    pub fn poll(&mut self, ctx: &mut Ctx<'_>, app: AppProto, class: OtClass) {
        if !matches!(class, OtClass::Read | OtClass::Cyclic) {
            return;
        }
        if let Some(interval) = self.poll.on_request(ctx.ts) {
            ctx.observe(ObsKind::PollPeriod { app, interval });
        }
    }

    /// Sends `key = value` about the device at `side`, once per flow and
    /// value. `value` is raw device text; see [`fact_text`].
    pub fn fact(
        &mut self,
        ctx: &mut Ctx<'_>,
        app: AppProto,
        side: Side,
        key: &'static str,
        value: &[u8],
    ) {
        self.fact_with(ctx, app, side, key, value, || fact_text(value));
    }

    /// Like [`OtFlow::fact`] for values that must be formatted: `raw`
    /// identifies the value, `text` (called only when the fact is new or
    /// changed and observations are on) makes its text.
    pub fn fact_with(
        &mut self,
        ctx: &mut Ctx<'_>,
        app: AppProto,
        side: Side,
        key: &'static str,
        raw: &[u8],
        text: impl FnOnce() -> Option<Box<str>>,
    ) {
        if !ctx.obs.enabled {
            return;
        }
        let h = fnv1a(raw);
        match self.facts.iter().position(|f| f.0 == side && f.1 == key) {
            Some(i) => match self.facts.get_mut(i) {
                Some(f) if f.2 == h => return,
                Some(f) => f.2 = h,
                None => {}
            },
            None if self.facts.len() < MAX_FACTS => self.facts.push((side, key, h)),
            None => {}
        }
        let Some(value) = text() else {
            return;
        };
        let device = side.device(ctx);
        ctx.observe(ObsKind::Asset {
            app,
            device,
            key,
            value,
        });
    }

    /// Sends the `role` fact of the device at `side`, once per flow.
    pub fn role(&mut self, ctx: &mut Ctx<'_>, app: AppProto, side: Side, role: &'static str) {
        if self.roles & side.bit() != 0 || !ctx.obs.enabled {
            return;
        }
        self.roles |= side.bit();
        let device = side.device(ctx);
        ctx.observe(ObsKind::Asset {
            app,
            device,
            key: "role",
            value: role.into(),
        });
    }
}

fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Device text as a fact value: visible ASCII kept, every run of spaces and
/// other bytes (NULs, padding, run indicators) becomes one space, the ends
/// are trimmed and the result cut at [`MAX_FACT_LEN`]. `None` when nothing
/// printable is left.
pub fn fact_text(raw: &[u8]) -> Option<Box<str>> {
    let mut s = String::with_capacity(raw.len().min(MAX_FACT_LEN));
    let mut space = false;
    for &b in raw {
        if s.len() >= MAX_FACT_LEN {
            break;
        }
        if (0x21..=0x7E).contains(&b) {
            if space && !s.is_empty() {
                s.push(' ');
            }
            space = false;
            s.push(char::from(b));
        } else {
            space = true;
        }
    }
    if s.is_empty() {
        None
    } else {
        Some(s.into_boxed_str())
    }
}

/// Writes the fields every OT transaction event shares: `class` and, when
/// both halves were seen, `latency_us`.
pub fn write_tx_meta(
    w: &mut JsonWriter<'_>,
    class: OtClass,
    req_ts: Option<Nanos>,
    resp_ts: Option<Nanos>,
) {
    w.str("class", class.name());
    if let (Some(a), Some(b)) = (req_ts, resp_ts) {
        w.u64("latency_us", b.saturating_sub(a) / 1_000);
    }
}

/// Writes `"flags": [names]` when `names` is not empty.
pub fn write_flags<'n>(w: &mut JsonWriter<'_>, names: impl Iterator<Item = &'n str>) {
    let mut names = names.peekable();
    if names.peek().is_none() {
        return;
    }
    w.begin_array("flags");
    for n in names {
        w.element_str(n);
    }
    w.end_array();
}

/// An IPv4 address as dotted text in `b`, without allocating.
pub fn dotted(b: &mut [u8; 15], ip: [u8; 4]) -> &str {
    let mut n = 0;
    for (i, octet) in ip.iter().enumerate() {
        if i > 0 {
            b[n] = b'.';
            n += 1;
        }
        let mut d = [0u8; 5];
        let t = dec_key(&mut d, u16::from(*octet));
        b[n..n + t.len()].copy_from_slice(t.as_bytes());
        n += t.len();
    }
    std::str::from_utf8(&b[..n]).unwrap_or("")
}

/// Writes an IPv4 address as dotted text without allocating.
pub fn write_ipv4(w: &mut JsonWriter<'_>, key: &str, ip: [u8; 4]) {
    let mut b = [0u8; 15];
    w.str(key, dotted(&mut b, ip));
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A [`Ctx`] over owned parts, for dissector unit tests.

    use super::super::{Ctx, DissectConfig, DissectStats, OtEvents};
    use crate::baseline::obs::{ObsBuf, ObsKind};
    use crate::decode::Addr;
    use crate::output::eve::FlowHeader;

    /// Everything a [`Ctx`] borrows.
    pub struct Harness {
        pub out: Vec<u8>,
        pub flow: FlowHeader,
        pub cfg: DissectConfig,
        pub stats: DissectStats,
        pub obs: ObsBuf,
        pub ts: u64,
    }

    impl Harness {
        /// A TCP (6) or UDP (17) flow 10.0.0.1:40000 -> 10.0.0.2:`port`,
        /// logging every OT transaction, with observations on.
        pub fn new(proto: u8, port: u16) -> Harness {
            Harness {
                out: Vec::new(),
                flow: FlowHeader {
                    flow_id: 7,
                    src: Addr::v4([10, 0, 0, 1]),
                    dst: Addr::v4([10, 0, 0, 2]),
                    sport: 40000,
                    dport: port,
                    proto,
                    is_v6: false,
                    vlan: 0,
                    tunnel: None,
                },
                cfg: DissectConfig {
                    ot_events: OtEvents::All,
                    ..DissectConfig::default()
                },
                stats: DissectStats::default(),
                obs: ObsBuf {
                    items: Vec::new(),
                    enabled: true,
                },
                ts: 1_700_000_000_000_000_000,
            }
        }

        /// A context at the current time.
        pub fn ctx(&mut self) -> Ctx<'_> {
            Ctx {
                out: &mut self.out,
                flow: &self.flow,
                ts: self.ts,
                cfg: &self.cfg,
                stats: &mut self.stats,
                seq: 0,
                obs: &mut self.obs,
            }
        }

        /// The EVE records written so far.
        pub fn events(&self) -> Vec<serde_json::Value> {
            String::from_utf8_lossy(&self.out)
                .lines()
                .map(|l| serde_json::from_str(l).expect("valid JSON"))
                .collect()
        }

        /// The observations sent so far.
        pub fn obs(&self) -> Vec<&ObsKind> {
            self.obs.items.iter().map(|o| &o.kind).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_period_after_16_requests_then_only_when_it_moves() {
        let mut p = PollTracker::default();
        let ms = 1_000_000u64;
        let mut got = Vec::new();
        for i in 0..16u64 {
            if let Some(iv) = p.on_request(i * 100 * ms) {
                got.push((i, iv));
            }
        }
        assert_eq!(got, vec![(15, 100 * ms)]);
        // 256 more at the same rate: nothing new.
        let mut t = 1500 * ms;
        for _ in 0..256 {
            t += 100 * ms;
            assert_eq!(p.on_request(t), None);
        }
        // 256 at 200 ms: reported once, at the end of the window.
        let mut reports = Vec::new();
        for _ in 0..256 {
            t += 200 * ms;
            reports.extend(p.on_request(t));
        }
        assert_eq!(reports, vec![200 * ms]);
    }

    #[test]
    fn pending_is_bounded_and_gives_back_the_oldest() {
        let mut p = Pending::default();
        for i in 0..MAX_PENDING as u32 {
            assert_eq!(p.push(i), None);
        }
        assert_eq!(p.push(99), Some(0));
        assert_eq!(p.len(), MAX_PENDING);
        assert_eq!(p.take(|&x| x == 5), Some(5));
        assert_eq!(p.pop_front(), Some(1));
    }

    #[test]
    fn code_counts_are_capped_and_sorted_on_output() {
        let mut c = CodeCounts::default();
        for code in (0..MAX_CODES as u16 + 3).rev() {
            c.add(code);
        }
        c.add(0x0401);
        let mut buf = Vec::new();
        let mut w = JsonWriter::object(&mut buf);
        c.write_hex(&mut w, "commands", "commands_other");
        w.finish();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["commands"].as_object().unwrap().len(), MAX_CODES);
        assert_eq!(
            v["commands_other"], 4,
            "three codes did not fit, plus 0x0401"
        );
        assert_eq!(v["commands"]["0x0042"], 1);
        let keys: Vec<&String> = v["commands"].as_object().unwrap().keys().collect();
        assert_eq!(keys.first().map(|k| k.as_str()), Some("0x0003"));
    }

    #[test]
    fn fact_text_keeps_printable_runs() {
        assert_eq!(
            fact_text(b"\x00\xffWingpath Limited").as_deref(),
            Some("Wingpath Limited")
        );
        assert_eq!(
            fact_text(b"FX5U-32MT/ES\0\0\0\0").as_deref(),
            Some("FX5U-32MT/ES")
        );
        assert_eq!(fact_text(b"\x00\x01"), None);
        assert_eq!(fact_text(&[b'A'; 100]).map(|s| s.len()), Some(MAX_FACT_LEN));
    }

    #[test]
    fn keys_and_addresses_without_allocation() {
        let mut b = [0u8; 6];
        assert_eq!(hex_key(&mut b, 0x1A2F), "0x1a2f");
        let mut d = [0u8; 5];
        assert_eq!(dec_key(&mut d, 65535), "65535");
        assert_eq!(dec_key(&mut d, 0), "0");
        let mut buf = Vec::new();
        let mut w = JsonWriter::object(&mut buf);
        write_ipv4(&mut w, "ip", [192, 168, 8, 77]);
        w.finish();
        assert_eq!(buf, b"{\"ip\":\"192.168.8.77\"}\n");
    }
}
