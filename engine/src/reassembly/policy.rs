//! Target-based overlap policies: which copy of an overlapped byte a
//! receiving TCP stack keeps.
//!
//! References: Judy Novak and Steve Sturges, "Target-Based TCP Stream
//! Reassembly" (Sourcefire, 2007); the per-policy expected outputs recorded
//! in Suricata's stream list unit tests (facts only; see `tests.rs`).

/// How overlapping out-of-order data is resolved, named after the stack
/// whose behaviour it models.
///
/// A policy decides, for one overlap between a newly arrived segment `N`
/// (covering stream offsets `[ns, ne)`) and a segment `O` already buffered
/// (`[os, oe)`), whether the new bytes replace the old ones inside the
/// overlap. Bytes of `N` outside every overlap always fill holes. "Segment"
/// here means the whole original segment as it was received, even after
/// parts of it were replaced, so the decision does not depend on how the
/// buffer happens to be split.
///
/// The policy applies only to data still buffered. Bytes already handed to
/// the [`StreamSink`](super::StreamSink) are never revised: a receiver has
/// consumed them too, so every stack keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OverlapPolicy {
    /// The first copy received wins: old bytes are never replaced.
    First,
    /// The last copy received wins: new bytes always replace old ones.
    Last,
    /// BSD (also macOS): new wins only if it starts strictly before the old
    /// segment (`ns < os`). The default, as in Suricata.
    #[default]
    Bsd,
    /// Linux (2.6 and later): new wins if it starts before the old segment,
    /// or starts at the same offset and ends after it
    /// (`ns < os || (ns == os && ne > oe)`).
    Linux,
    /// Linux before 2.6: like [`Linux`](Self::Linux) but a same-start
    /// segment also wins when it ends at the same offset
    /// (`ns < os || (ns == os && ne >= oe)`).
    OldLinux,
    /// Solaris: new wins if it ends after the old segment, or ends at the
    /// same offset and does not start after it
    /// (`ne > oe || (ne == oe && ns <= os)`).
    Solaris,
    /// Windows (XP, Vista, Server 2003 and later): old bytes are kept, like
    /// [`First`](Self::First).
    Windows,
}

impl OverlapPolicy {
    /// Every policy, in declaration order.
    pub const ALL: [OverlapPolicy; 7] = [
        OverlapPolicy::First,
        OverlapPolicy::Last,
        OverlapPolicy::Bsd,
        OverlapPolicy::Linux,
        OverlapPolicy::OldLinux,
        OverlapPolicy::Solaris,
        OverlapPolicy::Windows,
    ];

    /// Whether the new segment `[ns, ne)` replaces the buffered segment
    /// `[os, oe)` inside their overlap. Both are half-open stream offsets.
    #[inline]
    pub fn new_wins(self, (ns, ne): (u64, u64), (os, oe): (u64, u64)) -> bool {
        match self {
            OverlapPolicy::First | OverlapPolicy::Windows => false,
            OverlapPolicy::Last => true,
            OverlapPolicy::Bsd => ns < os,
            OverlapPolicy::Linux => ns < os || (ns == os && ne > oe),
            OverlapPolicy::OldLinux => ns < os || (ns == os && ne >= oe),
            OverlapPolicy::Solaris => ne > oe || (ne == oe && ns <= os),
        }
    }

    /// Lower-case name, as used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            OverlapPolicy::First => "first",
            OverlapPolicy::Last => "last",
            OverlapPolicy::Bsd => "bsd",
            OverlapPolicy::Linux => "linux",
            OverlapPolicy::OldLinux => "old-linux",
            OverlapPolicy::Solaris => "solaris",
            OverlapPolicy::Windows => "windows",
        }
    }

    /// Parses a configuration name. Accepts the names from [`name`](Self::name)
    /// plus the aliases `macos`, `vista`, `windows2k3` and `win2003`.
    pub fn from_name(s: &str) -> Option<OverlapPolicy> {
        Some(match s {
            "first" => OverlapPolicy::First,
            "last" => OverlapPolicy::Last,
            "bsd" | "macos" => OverlapPolicy::Bsd,
            "linux" => OverlapPolicy::Linux,
            "old-linux" | "old_linux" => OverlapPolicy::OldLinux,
            "solaris" => OverlapPolicy::Solaris,
            "windows" | "vista" | "windows2k3" | "win2003" => OverlapPolicy::Windows,
            _ => return None,
        })
    }
}
