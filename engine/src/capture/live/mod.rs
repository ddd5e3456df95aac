//! Live capture: frames from a network interface (a SPAN or mirror port).
//!
//! Two sources, both handing frames to the same pipeline as a replay:
//!
//! * [`pcap`]: libpcap (`TPACKET_V3` on Linux), promiscuous, with a BPF
//!   filter, snap length and ring buffer size; read without blocking, with
//!   `poll()` on its descriptor and a timeout, so an idle link never holds up
//!   shutdown.
//! * [`xdp`]: AF_XDP, one socket per NIC queue, fed by the redirect program
//!   of [`bpf`] that is attached for the run and always detached at exit.
//!
//! A source lends each frame to a callback for the time of the call; the
//! live runtime copies it into an owned batch buffer
//! ([`crate::capture::Backing::Owned`]). Every source reports cumulative
//! kernel counters ([`KernelCounters`]) so that each frame the kernel saw is
//! either delivered or counted as dropped with a reason.

pub mod bpf;
pub mod pcap;
pub mod xdp;

use crate::capture::Nanos;

/// `LINKTYPE_ETHERNET`: what AF_XDP always delivers.
pub const LINKTYPE_ETHERNET: u16 = 1;

/// Which capture mechanism to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureMethod {
    /// libpcap.
    Pcap,
    /// AF_XDP, with a fall back to libpcap where it cannot be set up.
    AfXdp,
}

impl CaptureMethod {
    /// The name used on the command line and in stats (`pcap`, `af-xdp`).
    pub fn name(self) -> &'static str {
        match self {
            CaptureMethod::Pcap => "pcap",
            CaptureMethod::AfXdp => "af-xdp",
        }
    }
}

/// Cumulative kernel-side counters of one capture queue since it was opened.
///
/// `delivered` frames reached spanwatch; the drops did not, each kind for its
/// own reason. `received` = delivered + the drops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCounters {
    /// libpcap: frames the socket saw, including those it dropped and those
    /// libpcap skipped afterwards (outgoing frames); AF_XDP: not known (0).
    pub kernel_seen: u64,
    /// Dropped by the kernel before spanwatch could read them: libpcap's
    /// `ps_drop` (the packet ring was full); AF_XDP's `rx_dropped` (no fill
    /// buffer, or the frame did not fit one).
    pub kernel_drops: u64,
    /// AF_XDP: dropped because the RX ring was full (`rx_ring_full`).
    pub ring_full_drops: u64,
    /// libpcap: dropped by the interface or driver (`ps_ifdrop`).
    pub interface_drops: u64,
    /// AF_XDP: times the kernel found the fill ring empty (not a count of
    /// frames; zero-copy drivers may retry).
    pub fill_ring_empty: u64,
    /// AF_XDP: descriptors the kernel refused (`rx_invalid_descs`).
    pub invalid_descs: u64,
}

impl KernelCounters {
    /// Frames dropped before they reached spanwatch, all reasons together.
    pub fn dropped(&self) -> u64 {
        self.kernel_drops
            .saturating_add(self.ring_full_drops)
            .saturating_add(self.interface_drops)
    }
}

/// Wall-clock time now, in nanoseconds since the Unix epoch. The live runtime
/// is the one place that reads the wall clock.
pub fn wall_clock() -> Nanos {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos().min(u64::MAX as u128) as u64)
        .unwrap_or(0)
}

/// One opened capture queue.
pub enum LiveSource {
    /// A libpcap handle.
    Pcap(pcap::PcapSource),
    /// An AF_XDP socket bound to one NIC queue.
    Xdp(Box<xdp::XdpQueue>),
}

impl LiveSource {
    /// Waits up to `timeout_ms` for frames, then lends each available frame,
    /// at most `max`, to `f(timestamp, bytes, length on the wire)`. Returns
    /// how many frames were handed over (0 when the wait timed out).
    #[inline]
    pub fn recv<F: FnMut(Nanos, &[u8], u32)>(
        &mut self,
        timeout_ms: i32,
        max: usize,
        f: F,
    ) -> std::io::Result<usize> {
        match self {
            LiveSource::Pcap(s) => s.recv(timeout_ms, max, f),
            LiveSource::Xdp(s) => s.recv(timeout_ms, max, f),
        }
    }

    /// The kernel counters now (cumulative).
    pub fn counters(&mut self) -> KernelCounters {
        match self {
            LiveSource::Pcap(s) => s.counters(),
            LiveSource::Xdp(s) => s.counters(),
        }
    }

    /// The link type of every frame of this source.
    pub fn linktype(&self) -> u16 {
        match self {
            LiveSource::Pcap(s) => s.linktype(),
            LiveSource::Xdp(_) => LINKTYPE_ETHERNET,
        }
    }

    /// The NIC queue (0 for libpcap, which reads them all).
    pub fn queue(&self) -> u32 {
        match self {
            LiveSource::Pcap(_) => 0,
            LiveSource::Xdp(s) => s.queue(),
        }
    }

    /// Which mechanism this is.
    pub fn method(&self) -> CaptureMethod {
        match self {
            LiveSource::Pcap(_) => CaptureMethod::Pcap,
            LiveSource::Xdp(_) => CaptureMethod::AfXdp,
        }
    }
}

/// Waits up to `timeout_ms` for `fd` to become readable. Interrupted waits
/// (a signal arrived) count as timeouts, so the caller gets to look at its
/// stop flag.
pub(crate) fn poll_readable(fd: std::os::fd::RawFd, timeout_ms: i32) -> std::io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `p` is one valid pollfd that lives for the call.
    let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    if r > 0 && p.revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
        return Err(std::io::Error::other(format!(
            "poll on the capture descriptor reported an error (revents {:#x})",
            p.revents
        )));
    }
    Ok(r > 0)
}
