//! The AF_XDP source: one socket per NIC queue.
//!
//! Setup, in this order:
//!
//! 1. an XSKMAP and the redirect program of [`super::bpf`];
//! 2. per queue: a UMEM (`umem_frames` chunks of `frame_size` bytes), its
//!    fill and completion rings, an RX ring, bound to `(iface, queue)` in
//!    copy, zero-copy or the kernel's choice of mode, with or without
//!    `XDP_USE_NEED_WAKEUP`; the fill ring is filled; the socket goes into
//!    the XSKMAP at its queue index;
//! 3. the program is attached (SKB/generic, native/driver, or the kernel's
//!    choice) through a BPF link, so that frames reach sockets only once all
//!    are ready.
//!
//! The attachment ([`XdpCapture`]) detaches on drop; the kernel also detaches
//! it when the process ends however it ends (see [`super::bpf`]).
//!
//! AF_XDP frames carry no timestamp: each received burst is stamped with the
//! wall clock when it is taken from the RX ring.
//!
//! Reference: the kernel's `Documentation/networking/af_xdp.rst`.

use super::bpf::{self, XdpAttachment, XdpProgram, XskMap};
use super::{poll_readable, wall_clock, KernelCounters};
use crate::capture::Nanos;
use std::os::fd::RawFd;
use xdp::slab::{HeapSlab, Slab};

/// Frames taken from the RX ring in one go.
pub const MAX_RX_BURST: usize = 256;

/// Where the program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// Native if the driver supports it, else generic (the kernel decides).
    Auto,
    /// Generic XDP on the socket buffer: every driver, slower, copy only.
    Skb,
    /// Native (driver) XDP.
    Native,
}

/// How the socket is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// Zero-copy where the driver supports it, else copy (the kernel decides).
    Auto,
    /// Copy mode: frames are copied into the UMEM; works everywhere.
    Copy,
    /// Zero-copy: the NIC writes into the UMEM; needs driver support.
    ZeroCopy,
}

/// AF_XDP settings.
#[derive(Debug, Clone)]
pub struct XdpOptions {
    /// Interface name.
    pub iface: String,
    /// Queues to bind, `0..n`; `None` binds every RX queue of the device.
    pub queues: Option<u32>,
    /// Program attach mode.
    pub attach: AttachMode,
    /// Socket bind mode.
    pub bind: BindMode,
    /// UMEM chunk size: 2048 or 4096 bytes (the largest frame is this less
    /// 256 bytes of kernel headroom).
    pub frame_size: u32,
    /// UMEM chunks per queue.
    pub umem_frames: u32,
    /// Entries of the fill and RX rings (a power of two).
    pub ring_size: u32,
    /// Bind with `XDP_USE_NEED_WAKEUP` (fewer syscalls when busy).
    pub need_wakeup: bool,
    /// Microseconds to wait after a wake-up on an empty RX ring before
    /// reading it (0: read at once). Fewer wake-ups per frame on a lightly
    /// loaded link, at the price of this much latency; a busy queue never
    /// waits. At most [`MAX_WAKE_DELAY_US`].
    pub wake_delay_us: u32,
}

/// Upper bound of [`XdpOptions::wake_delay_us`].
pub const MAX_WAKE_DELAY_US: u32 = 10_000;

impl Default for XdpOptions {
    fn default() -> Self {
        XdpOptions {
            iface: String::new(),
            queues: None,
            attach: AttachMode::Auto,
            bind: BindMode::Auto,
            frame_size: 4096,
            umem_frames: 4096,
            ring_size: 2048,
            need_wakeup: true,
            wake_delay_us: 200,
        }
    }
}

impl XdpOptions {
    /// Rejects settings the kernel would refuse.
    pub fn validate(&self) -> Result<(), String> {
        if self.frame_size != 2048 && self.frame_size != 4096 {
            return Err("--xdp-frame-size must be 2048 or 4096".into());
        }
        if !self.ring_size.is_power_of_two() || self.ring_size < 64 || self.ring_size > 65_536 {
            return Err("--xdp-ring-size must be a power of two between 64 and 65536".into());
        }
        if self.umem_frames < self.ring_size || self.umem_frames > 1 << 22 {
            return Err(
                "--umem-frames must be at least --xdp-ring-size and at most 4194304".into(),
            );
        }
        if self.wake_delay_us > MAX_WAKE_DELAY_US {
            return Err(format!(
                "--xdp-wake-delay-us must be at most {MAX_WAKE_DELAY_US}"
            ));
        }
        if let Some(q) = self.queues {
            if q == 0 || q > bpf::MAX_XSKMAP_ENTRIES {
                return Err(format!(
                    "--queues must be between 1 and {}",
                    bpf::MAX_XSKMAP_ENTRIES
                ));
            }
        }
        Ok(())
    }
}

enum Fill {
    Plain(xdp::FillRing),
    Wakable(xdp::WakableFillRing),
}

/// One AF_XDP socket bound to one NIC queue, with its own UMEM.
///
/// Fields drop in order: rings, socket, then the UMEM the socket uses.
pub struct XdpQueue {
    queue: u32,
    rx: xdp::RxRing,
    fill: Fill,
    _completion: xdp::CompletionRing,
    socket: xdp::socket::XdpSocket,
    umem: xdp::Umem,
    slab: Burst,
    zero_copy: bool,
    wake_delay_us: u32,
}

/// The frames of one RX burst.
struct Burst(HeapSlab);

// SAFETY: the slab holds `xdp::Packet`s (raw pointers into this queue's own
// UMEM) only within `XdpQueue::take`, which hands every one back to the UMEM
// before it returns; between calls it is empty, so moving the queue (with
// its UMEM) to another thread moves no pointer that anything else uses.
unsafe impl Send for Burst {}

// `XDP_OPTIONS` (getsockopt) and its zero-copy flag, `include/uapi/linux/if_xdp.h`.
const SOL_XDP: libc::c_int = 283;
const XDP_OPTIONS: libc::c_int = 8;
const XDP_OPTIONS_ZEROCOPY: u32 = 1;

fn zero_copy_in_use(fd: RawFd) -> bool {
    let mut flags: u32 = 0;
    let mut len = std::mem::size_of::<u32>() as libc::socklen_t;
    // SAFETY: `flags` and `len` are valid for writes for the call.
    let r = unsafe {
        libc::getsockopt(
            fd,
            SOL_XDP,
            XDP_OPTIONS,
            (&mut flags as *mut u32).cast(),
            &mut len,
        )
    };
    r == 0 && flags & XDP_OPTIONS_ZEROCOPY != 0
}

impl XdpQueue {
    fn open(o: &XdpOptions, ifindex: u32, queue: u32) -> Result<XdpQueue, String> {
        let e = |what: &str, err: &dyn std::fmt::Display| format!("queue {queue}: {what}: {err}");
        let umem_cfg = xdp::umem::UmemCfgBuilder {
            frame_size: if o.frame_size == 2048 {
                xdp::umem::FrameSize::TwoK
            } else {
                xdp::umem::FrameSize::FourK
            },
            frame_count: o.umem_frames,
            ..Default::default()
        }
        .build()
        .map_err(|x| e("UMEM settings", &x))?;
        let mut umem = xdp::Umem::map(umem_cfg).map_err(|x| e("cannot map the UMEM", &x))?;
        let mut builder =
            xdp::socket::XdpSocketBuilder::new().map_err(|x| e("cannot create the socket", &x))?;
        let rings = xdp::RingConfigBuilder {
            rx_count: o.ring_size,
            tx_count: 0,
            fill_count: o.ring_size,
            completion_count: 64,
        }
        .build()
        .map_err(|x| e("ring settings", &x))?;
        let (rx, fill, completion, mut flags) = if o.need_wakeup {
            let (r, f) = builder
                .build_wakable_rings(&umem, rings)
                .map_err(|x| e("cannot set up the rings", &x))?;
            let rx = r.rx_ring.ok_or_else(|| e("rings", &"no RX ring"))?;
            (rx, Fill::Wakable(r.fill_ring), r.completion_ring, f)
        } else {
            let (r, f) = builder
                .build_rings(&umem, rings)
                .map_err(|x| e("cannot set up the rings", &x))?;
            let rx = r.rx_ring.ok_or_else(|| e("rings", &"no RX ring"))?;
            (rx, Fill::Plain(r.fill_ring), r.completion_ring, f)
        };
        match o.bind {
            BindMode::Auto => {}
            BindMode::Copy => flags.force_copy(),
            BindMode::ZeroCopy => flags.force_zerocopy(),
        }
        let socket = builder
            .bind(xdp::nic::NicIndex::new(ifindex), queue, flags)
            .map_err(|x| e("cannot bind", &x))?;
        let mut fill = fill;
        let n = o.ring_size as usize;
        // SAFETY: the UMEM is a field of the returned queue and outlives the
        // socket (fields drop in declaration order: socket first).
        let queued = unsafe {
            match &mut fill {
                Fill::Plain(f) => f.enqueue(&mut umem, n),
                Fill::Wakable(f) => f
                    .enqueue(&mut umem, n, true)
                    .map_err(|x| e("cannot fill the fill ring", &x))?,
            }
        };
        if queued == 0 {
            return Err(e("fill ring", &"no buffer could be queued"));
        }
        let zero_copy = zero_copy_in_use(socket.raw_fd());
        Ok(XdpQueue {
            queue,
            rx,
            fill,
            _completion: completion,
            socket,
            umem,
            slab: Burst(HeapSlab::with_capacity(MAX_RX_BURST)),
            zero_copy,
            wake_delay_us: o.wake_delay_us,
        })
    }

    /// The NIC queue this socket reads.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// True when the kernel bound the socket in zero-copy mode.
    pub fn zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// See [`super::LiveSource::recv`]. At most [`MAX_RX_BURST`] frames are
    /// handed over per call.
    pub fn recv<F: FnMut(Nanos, &[u8], u32)>(
        &mut self,
        timeout_ms: i32,
        _max: usize,
        mut f: F,
    ) -> std::io::Result<usize> {
        let mut n = self.take(&mut f)?;
        if n == 0 {
            // Waiting in poll() also kicks the driver when it asked for a
            // wakeup (XDP_USE_NEED_WAKEUP).
            if !poll_readable(self.socket.raw_fd(), timeout_ms)? {
                return Ok(0);
            }
            // The queue was empty: let frames gather for a moment, so that
            // a quiet link is read in bursts rather than one wake-up per frame.
            if self.wake_delay_us > 0 {
                std::thread::sleep(std::time::Duration::from_micros(self.wake_delay_us as u64));
            }
            n = self.take(&mut f)?;
        }
        Ok(n)
    }

    fn take<F: FnMut(Nanos, &[u8], u32)>(&mut self, f: &mut F) -> std::io::Result<usize> {
        // SAFETY: the packets are handed back to the UMEM below, before this
        // function returns; the UMEM outlives them.
        let got = unsafe { self.rx.recv(&self.umem, &mut self.slab.0) };
        if got == 0 {
            return Ok(0);
        }
        let ts = wall_clock();
        while let Some(p) = self.slab.0.pop_back() {
            let len = p.len();
            f(ts, &p[..], len.min(u32::MAX as usize) as u32);
            self.umem.free_packet(p);
        }
        // Give the kernel as many buffers as it filled. A fill ring takes a
        // request whole or not at all, and it has room for at least the
        // `got` entries the kernel consumed; halve in case it has less.
        let mut want = got.min(self.umem.allocatable());
        while want > 0 {
            // SAFETY: as in `open`, the UMEM outlives the socket.
            let queued = unsafe {
                match &mut self.fill {
                    Fill::Plain(r) => r.enqueue(&mut self.umem, want),
                    Fill::Wakable(r) => r.enqueue(&mut self.umem, want, false)?,
                }
            };
            if queued > 0 {
                break;
            }
            want /= 2;
        }
        Ok(got)
    }

    /// See [`super::LiveSource::counters`].
    pub fn counters(&mut self) -> KernelCounters {
        match self.socket.statistics() {
            Ok(s) => KernelCounters {
                kernel_seen: 0,
                kernel_drops: s.rx_dropped,
                ring_full_drops: s.rx_ring_full,
                interface_drops: 0,
                fill_ring_empty: s.rx_fill_ring_empty_descs,
                invalid_descs: s.rx_invalid_descs,
            },
            Err(_) => KernelCounters::default(),
        }
    }
}

/// The AF_XDP capture of one interface: its sockets (taken by the reader
/// threads) and the attached program, detached when this is dropped.
pub struct XdpCapture {
    queues: Vec<XdpQueue>,
    attachment: Option<XdpAttachment>,
    map: XskMap,
    /// What was set up, for the start-up message.
    pub description: String,
    /// RX queues the device has.
    pub device_queues: u32,
}

/// The number of RX queues of `iface` (`/sys/class/net/IF/queues/rx-*`).
pub fn device_rx_queues(iface: &str) -> u32 {
    let dir = std::path::Path::new("/sys/class/net")
        .join(iface)
        .join("queues");
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count() as u32
        })
        .unwrap_or(1)
        .max(1)
}

fn ifindex(iface: &str) -> Result<u32, String> {
    let name =
        std::ffi::CString::new(iface).map_err(|_| format!("{iface:?}: bad interface name"))?;
    // SAFETY: `name` is a valid NUL-terminated string for the call.
    let i = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if i == 0 {
        Err(format!(
            "{iface}: no such interface ({})",
            std::io::Error::last_os_error()
        ))
    } else {
        Ok(i)
    }
}

/// Raises RLIMIT_MEMLOCK as far as allowed: UMEM pages are charged to it.
fn raise_memlock() {
    let lim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `lim` is a valid rlimit for the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) } != 0 {
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `cur` is valid for writes for the call.
        if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut cur) } == 0 {
            cur.rlim_cur = cur.rlim_max;
            // SAFETY: as above.
            unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &cur) };
        }
    }
}

impl XdpCapture {
    /// Sets everything up (see the module docs). The error is one line that
    /// says which step failed and why.
    pub fn open(o: &XdpOptions) -> Result<XdpCapture, String> {
        o.validate()?;
        let ifindex = ifindex(&o.iface)?;
        let device_queues = device_rx_queues(&o.iface);
        let n = o
            .queues
            .unwrap_or(device_queues)
            .min(bpf::MAX_XSKMAP_ENTRIES);
        raise_memlock();
        bpf::install_panic_hook();
        let map = XskMap::create(n.max(device_queues)).map_err(|e| e.to_string())?;
        let prog = XdpProgram::load(&map).map_err(|e| e.to_string())?;
        let mut queues = Vec::with_capacity(n as usize);
        for q in 0..n {
            let s = XdpQueue::open(o, ifindex, q)?;
            map.set(q, s.socket.raw_fd()).map_err(|e| e.to_string())?;
            queues.push(s);
        }
        let flags = match o.attach {
            AttachMode::Auto => 0,
            AttachMode::Skb => bpf::XDP_FLAGS_SKB_MODE,
            AttachMode::Native => bpf::XDP_FLAGS_DRV_MODE,
        };
        let attachment = prog.attach(ifindex, flags).map_err(|e| e.to_string())?;
        let zc = queues.iter().filter(|q| q.zero_copy).count();
        let description = format!(
            "af-xdp, {n} of {device_queues} queue(s), {} mode, {}, need_wakeup {}, UMEM {} x {} B per queue, rings {}, wake delay {} µs",
            match o.attach {
                AttachMode::Auto => "driver-chosen",
                AttachMode::Skb => "skb",
                AttachMode::Native => "native",
            },
            if zc == queues.len() {
                "zero-copy"
            } else if zc == 0 {
                "copy"
            } else {
                "mixed copy/zero-copy"
            },
            if o.need_wakeup { "on" } else { "off" },
            o.umem_frames,
            o.frame_size,
            o.ring_size,
            o.wake_delay_us,
        );
        Ok(XdpCapture {
            queues,
            attachment: Some(attachment),
            map,
            description,
            device_queues,
        })
    }

    /// Hands the sockets over to the reader threads.
    pub fn take_queues(&mut self) -> Vec<XdpQueue> {
        std::mem::take(&mut self.queues)
    }

    /// Detaches the program now (also done on drop): frames go to the
    /// kernel stack again.
    pub fn detach(&mut self) {
        if let Some(mut a) = self.attachment.take() {
            a.detach();
        }
        for q in 0..bpf::MAX_XSKMAP_ENTRIES.min(self.device_queues.max(1)) {
            self.map.clear(q);
        }
    }
}

impl Drop for XdpCapture {
    fn drop(&mut self) {
        self.detach();
    }
}
