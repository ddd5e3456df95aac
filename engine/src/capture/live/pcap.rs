//! The libpcap source.
//!
//! The handle is promiscuous (unless told otherwise), uses the kernel's
//! `TPACKET_V3` ring of `buffer_size` bytes, nanosecond timestamps where the
//! kernel gives them, captures only frames coming *in* (a mirror port sends
//! nothing that should be analysed) and is **non-blocking**: with `TPACKET_V3`
//! a blocking read does not return while the link is idle (the kernel hands
//! over only non-empty blocks), so [`PcapSource::recv`] polls the selectable
//! descriptor with a timeout and reads what is there with `pcap_dispatch`.
//!
//! libpcap is linked only with the `libpcap` cargo feature (it needs
//! libpcap-dev to build): `cargo build --release --features libpcap`. Without
//! it, [`PcapSource::open`] says how to rebuild, and AF_XDP still works.

#[cfg(not(feature = "libpcap"))]
use super::KernelCounters;
#[cfg(not(feature = "libpcap"))]
use crate::capture::Nanos;

/// Block timeout handed to libpcap (`tp_retire_blk_tov`): a partly filled
/// ring block is handed over after this long, so a quiet link still sees its
/// frames within this delay.
pub const BLOCK_TIMEOUT_MS: i32 = 10;

/// How to open the handle.
#[derive(Debug, Clone)]
pub struct PcapOptions {
    /// Interface name.
    pub iface: String,
    /// Bytes kept of each frame.
    pub snaplen: u32,
    /// Kernel ring size in bytes (`pcap_set_buffer_size`).
    pub buffer_size: u32,
    /// Promiscuous mode.
    pub promisc: bool,
    /// A BPF filter expression (tcpdump syntax).
    pub filter: Option<String>,
}

#[cfg(feature = "libpcap")]
pub use with_libpcap::PcapSource;
#[cfg(not(feature = "libpcap"))]
pub use without_libpcap::PcapSource;

#[cfg(feature = "libpcap")]
mod with_libpcap {
    use super::super::{poll_readable, KernelCounters};
    use super::{PcapOptions, BLOCK_TIMEOUT_MS};
    use crate::capture::Nanos;
    use std::os::fd::AsRawFd;

    /// An open libpcap handle.
    pub struct PcapSource {
        cap: ::pcap::Capture<::pcap::Active>,
        linktype: u16,
        /// The header's sub-second field holds nanoseconds (else microseconds).
        nanos: bool,
        /// Last raw (32-bit, wrapping) libpcap counters and their 64-bit sums.
        raw: [u32; 3],
        sums: [u64; 3],
    }

    extern "C" {
        // Part of libpcap ≥ 1.5, which the `pcap` crate links; the crate does not
        // wrap it.
        fn pcap_get_tstamp_precision(p: *mut libc::c_void) -> libc::c_int;
    }

    /// `PCAP_TSTAMP_PRECISION_NANO`.
    const PCAP_TSTAMP_PRECISION_NANO: libc::c_int = 1;

    impl PcapSource {
        /// Opens and activates the handle, sets the filter and direction, and
        /// switches it to non-blocking mode. The error is one line naming the
        /// interface.
        pub fn open(o: &PcapOptions) -> Result<PcapSource, String> {
            let err = |what: &str, e: ::pcap::Error| format!("{}: {what}: {e}", o.iface);
            let snaplen = o.snaplen.clamp(64, 262_144) as i32;
            let buffer = o.buffer_size.clamp(1 << 16, i32::MAX as u32) as i32;
            let cap = ::pcap::Capture::from_device(o.iface.as_str())
                .map_err(|e| err("cannot use device", e))?
                .promisc(o.promisc)
                .snaplen(snaplen)
                .buffer_size(buffer)
                .timeout(BLOCK_TIMEOUT_MS)
                .precision(::pcap::Precision::Nano)
                .open()
                .map_err(|e| err("cannot open capture", e))?;
            let mut cap = cap
                .setnonblock()
                .map_err(|e| err("cannot make the capture non-blocking", e))?;
            // Only frames coming in: outgoing frames are not mirrored traffic.
            // AF_XDP sees only received frames too.
            let _ = cap.direction(::pcap::Direction::In);
            if let Some(f) = &o.filter {
                cap.filter(f, true)
                    .map_err(|e| err(&format!("bad filter {f:?}"), e))?;
            }
            // SAFETY: the pointer is the live handle owned by `cap`, valid for the call.
            let prec = unsafe { pcap_get_tstamp_precision(cap.as_ptr().cast()) };
            let linktype = cap.get_datalink().0.clamp(0, u16::MAX as i32) as u16;
            Ok(PcapSource {
                cap,
                linktype,
                nanos: prec == PCAP_TSTAMP_PRECISION_NANO,
                raw: [0; 3],
                sums: [0; 3],
            })
        }

        /// The link type libpcap reports (a `LINKTYPE_*` value).
        pub fn linktype(&self) -> u16 {
            self.linktype
        }

        /// True when timestamps carry nanoseconds.
        pub fn nanosecond_timestamps(&self) -> bool {
            self.nanos
        }

        /// See [`super::LiveSource::recv`].
        pub fn recv<F: FnMut(Nanos, &[u8], u32)>(
            &mut self,
            timeout_ms: i32,
            max: usize,
            mut f: F,
        ) -> std::io::Result<usize> {
            let mut done = 0usize;
            let mut waited = false;
            let scale: u64 = if self.nanos { 1 } else { 1_000 };
            while done < max {
                let n = self
                    .cap
                    .dispatch(Some(max - done), |p| {
                        let sec = u64::try_from(p.header.ts.tv_sec).unwrap_or(0);
                        let sub = u64::try_from(p.header.ts.tv_usec).unwrap_or(0);
                        let ts = sec
                            .saturating_mul(1_000_000_000)
                            .saturating_add(sub.saturating_mul(scale));
                        f(ts, p.data, p.header.len);
                    })
                    .map_err(|e| std::io::Error::other(format!("pcap: {e}")))?;
                done += n;
                if n == 0 {
                    if done > 0 || waited {
                        break;
                    }
                    waited = true;
                    if !poll_readable(self.cap.as_raw_fd(), timeout_ms)? {
                        break;
                    }
                }
            }
            Ok(done)
        }

        /// See [`super::LiveSource::counters`]. libpcap's counters are 32 bits and
        /// wrap; they are summed here into 64 bits (called at least once per
        /// stats interval, far more often than a 32-bit counter can wrap twice).
        pub fn counters(&mut self) -> KernelCounters {
            if let Ok(s) = self.cap.stats() {
                let now = [s.received, s.dropped, s.if_dropped];
                for ((sum, raw), now) in self.sums.iter_mut().zip(self.raw.iter_mut()).zip(now) {
                    *sum = sum.saturating_add(now.wrapping_sub(*raw) as u64);
                    *raw = now;
                }
            }
            KernelCounters {
                kernel_seen: self.sums[0],
                kernel_drops: self.sums[1],
                interface_drops: self.sums[2],
                ..Default::default()
            }
        }
    }
}

#[cfg(not(feature = "libpcap"))]
mod without_libpcap {
    use super::{KernelCounters, Nanos, PcapOptions};

    /// Stands in for the libpcap handle in a build without libpcap.
    pub struct PcapSource {
        _never: std::convert::Infallible,
    }

    impl PcapSource {
        /// Always fails: this build has no libpcap.
        pub fn open(o: &PcapOptions) -> Result<PcapSource, String> {
            Err(format!(
                "{}: this spanwatch was built without libpcap; rebuild with `cargo build --release --features libpcap` (needs libpcap-dev), or use --capture af-xdp",
                o.iface
            ))
        }

        /// Never called: no handle exists.
        pub fn linktype(&self) -> u16 {
            match self._never {}
        }

        /// Never called: no handle exists.
        pub fn nanosecond_timestamps(&self) -> bool {
            match self._never {}
        }

        /// Never called: no handle exists.
        pub fn recv<F: FnMut(Nanos, &[u8], u32)>(
            &mut self,
            _timeout_ms: i32,
            _max: usize,
            _f: F,
        ) -> std::io::Result<usize> {
            match self._never {}
        }

        /// Never called: no handle exists.
        pub fn counters(&mut self) -> KernelCounters {
            match self._never {}
        }
    }
}
