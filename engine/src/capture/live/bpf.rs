//! The XDP redirect program, generated here as eBPF instructions, and the few
//! `bpf(2)` calls that load it, fill its XSKMAP and attach it to a device.
//!
//! No ELF object, clang or libbpf is needed: the program is five
//! instructions, written out below with the C they come from:
//!
//! ```c
//! struct { __uint(type, BPF_MAP_TYPE_XSKMAP); ... } xsks;
//! SEC("xdp") int redirect(struct xdp_md *ctx) {
//!     return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
//! }
//! ```
//!
//! `bpf_redirect_map` on an XSKMAP returns the low bits of its flags
//! (`XDP_PASS`) when the queue has no socket (Linux ≥ 5.3), so frames of
//! queues we do not read go on to the kernel stack untouched.
//!
//! The program is attached through a **BPF link** (`BPF_LINK_CREATE`, Linux ≥
//! 5.9), not through netlink: a link belongs to its file descriptor, so the
//! kernel detaches the program when the last descriptor closes, whatever the
//! way the process ends (normal exit, panic, signal, even `SIGKILL`). On top
//! of that [`XdpAttachment`]'s `Drop` and the panic hook installed by
//! [`install_panic_hook`] detach it explicitly (`BPF_LINK_DETACH`), so a
//! thread still holding the descriptor does not keep it attached.
//!
//! References: `include/uapi/linux/bpf.h` (Linux 6.x) for the commands,
//! `struct bpf_attr` layouts and helper numbers; the kernel's
//! `Documentation/networking/af_xdp.rst`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

// bpf(2) commands.
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_LINK_DETACH: libc::c_long = 34;

const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `enum bpf_attach_type` value of an XDP attachment.
const BPF_XDP: u32 = 37;
/// `XDP_FLAGS_SKB_MODE`: generic XDP, works on every device.
pub const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
/// `XDP_FLAGS_DRV_MODE`: native (driver) XDP.
pub const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// `enum xdp_action`: hand the frame to the kernel stack.
const XDP_PASS: i32 = 2;
/// `BPF_FUNC_redirect_map`.
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
/// `offsetof(struct xdp_md, rx_queue_index)`.
const XDP_MD_RX_QUEUE_INDEX: i16 = 16;
/// Most queues the XSKMAP can hold (a NIC with more is read on its first 256).
pub const MAX_XSKMAP_ENTRIES: u32 = 256;
/// Verifier log kept when loading fails.
const MAX_VERIFIER_LOG: usize = 16 * 1024;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    /// `dst_reg` in the low nibble, `src_reg` in the high nibble.
    regs: u8,
    off: i16,
    imm: i32,
}

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (src << 4) | (dst & 0x0f),
            off,
            imm,
        }
    }
}

// Opcode parts (`include/uapi/linux/bpf_common.h`, `bpf.h`).
const BPF_LD: u8 = 0x00;
const BPF_LDX: u8 = 0x01;
const BPF_JMP: u8 = 0x05;
const BPF_ALU64: u8 = 0x07;
const BPF_W: u8 = 0x00;
const BPF_DW: u8 = 0x18;
const BPF_IMM: u8 = 0x00;
const BPF_MEM: u8 = 0x60;
const BPF_MOV: u8 = 0xb0;
const BPF_K: u8 = 0x00;
const BPF_CALL: u8 = 0x80;
const BPF_EXIT: u8 = 0x90;
/// `src_reg` of a 64-bit immediate load that names a map by file descriptor.
const BPF_PSEUDO_MAP_FD: u8 = 1;

/// The redirect program with `map_fd` as its XSKMAP.
///
/// ```text
/// r2 = *(u32 *)(r1 + 16)      ; ctx->rx_queue_index
/// r1 = map_fd ll              ; the XSKMAP (two instruction slots)
/// r3 = XDP_PASS               ; returned when the queue has no socket
/// call bpf_redirect_map
/// exit                        ; r0 = XDP_REDIRECT or XDP_PASS
/// ```
pub fn redirect_program(map_fd: RawFd) -> [Insn; 6] {
    [
        Insn::new(BPF_LDX | BPF_MEM | BPF_W, 2, 1, XDP_MD_RX_QUEUE_INDEX, 0),
        Insn::new(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, map_fd),
        Insn::new(0, 0, 0, 0, 0),
        Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, XDP_PASS),
        Insn::new(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),
        Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
    ]
}

/// `union bpf_attr`, as bytes: every command's struct is a prefix of it and
/// the kernel wants the rest zeroed.
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 128])
    }
    fn u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn name(&mut self, off: usize, name: &str) -> &mut Self {
        let n = name.len().min(15);
        self.0[off..off + n].copy_from_slice(&name.as_bytes()[..n]);
        self
    }
}

fn sys_bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a valid, zero-padded `union bpf_attr` for `cmd` that
    // lives for the whole call; pointers written into it (instructions,
    // license, log, key, value) point to memory borrowed by the caller for
    // the duration of this call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut Attr,
            std::mem::size_of::<Attr>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel just returned this new descriptor and nobody else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// What failed while setting up XDP, and how.
#[derive(Debug)]
pub struct BpfError {
    /// The step (`"create XSKMAP"`, `"load program"`, `"attach"` ...).
    pub step: &'static str,
    /// The system error.
    pub err: io::Error,
    /// The verifier's log when loading failed.
    pub log: String,
}

impl std::fmt::Display for BpfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step, self.err)?;
        if self.err.raw_os_error() == Some(libc::EBUSY) && self.step == "attach" {
            write!(f, " (another XDP program is attached to the device)")?;
        }
        if !self.log.is_empty() {
            write!(f, " [verifier: {}]", self.log.trim())?;
        }
        Ok(())
    }
}

fn fail(step: &'static str) -> impl FnOnce(io::Error) -> BpfError {
    move |err| BpfError {
        step,
        err,
        log: String::new(),
    }
}

/// An XSKMAP: queue index → AF_XDP socket.
pub struct XskMap {
    fd: OwnedFd,
    entries: u32,
}

impl XskMap {
    /// Creates a map for queues `0..entries`.
    pub fn create(entries: u32) -> Result<XskMap, BpfError> {
        let entries = entries.clamp(1, MAX_XSKMAP_ENTRIES);
        let mut a = Attr::new();
        a.u32(0, BPF_MAP_TYPE_XSKMAP)
            .u32(4, 4)
            .u32(8, 4)
            .u32(12, entries)
            .name(28, "spanwatch_xsks");
        let fd = sys_bpf(BPF_MAP_CREATE, &mut a).map_err(fail("create XSKMAP"))?;
        Ok(XskMap {
            fd: owned(fd),
            entries,
        })
    }

    /// Points `queue` at the AF_XDP socket `sock`.
    pub fn set(&self, queue: u32, sock: RawFd) -> Result<(), BpfError> {
        if queue >= self.entries {
            return Err(fail("set XSKMAP entry")(io::Error::from_raw_os_error(
                libc::E2BIG,
            )));
        }
        let key = queue;
        let value = sock as u32;
        let mut a = Attr::new();
        a.u32(0, self.fd.as_raw_fd() as u32)
            .u64(8, &key as *const u32 as u64)
            .u64(16, &value as *const u32 as u64)
            .u64(24, 0);
        sys_bpf(BPF_MAP_UPDATE_ELEM, &mut a).map_err(fail("set XSKMAP entry"))?;
        Ok(())
    }

    /// Removes `queue`'s socket (its frames then go to the kernel stack).
    pub fn clear(&self, queue: u32) {
        let key = queue;
        let mut a = Attr::new();
        a.u32(0, self.fd.as_raw_fd() as u32)
            .u64(8, &key as *const u32 as u64);
        let _ = sys_bpf(BPF_MAP_DELETE_ELEM, &mut a);
    }
}

/// A loaded redirect program (not yet attached).
pub struct XdpProgram {
    fd: OwnedFd,
}

impl XdpProgram {
    /// Loads the redirect program over `map`.
    pub fn load(map: &XskMap) -> Result<XdpProgram, BpfError> {
        let insns = redirect_program(map.fd.as_raw_fd());
        let license = c"Apache-2.0";
        let mut log = vec![0u8; MAX_VERIFIER_LOG];
        let mut load = |with_log: bool| {
            let mut a = Attr::new();
            a.u32(0, BPF_PROG_TYPE_XDP)
                .u32(4, insns.len() as u32)
                .u64(8, insns.as_ptr() as u64)
                .u64(16, license.as_ptr() as u64)
                .name(48, "spanwatch_xsk")
                .u32(68, BPF_XDP);
            if with_log {
                a.u32(24, 1)
                    .u32(28, log.len() as u32)
                    .u64(32, log.as_mut_ptr() as u64);
            }
            sys_bpf(BPF_PROG_LOAD, &mut a)
        };
        match load(false) {
            Ok(fd) => Ok(XdpProgram { fd: owned(fd) }),
            Err(err) => {
                // Load again with the verifier log to say why.
                if let Ok(fd) = load(true) {
                    return Ok(XdpProgram { fd: owned(fd) });
                }
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                Err(BpfError {
                    step: "load program",
                    err,
                    log: String::from_utf8_lossy(&log[..end]).into_owned(),
                })
            }
        }
    }

    /// Attaches the program to `ifindex` through a BPF link. `flags` is
    /// [`XDP_FLAGS_SKB_MODE`], [`XDP_FLAGS_DRV_MODE`] or 0 (the driver's
    /// choice). Fails with `EBUSY` when another program is attached.
    pub fn attach(&self, ifindex: u32, flags: u32) -> Result<XdpAttachment, BpfError> {
        let mut a = Attr::new();
        a.u32(0, self.fd.as_raw_fd() as u32)
            .u32(4, ifindex)
            .u32(8, BPF_XDP)
            .u32(12, flags);
        let fd = sys_bpf(BPF_LINK_CREATE, &mut a).map_err(fail("attach"))?;
        let link = owned(fd);
        register(link.as_raw_fd());
        Ok(XdpAttachment {
            link: Some(link),
            ifindex,
        })
    }
}

/// The program attached to a device. Dropping it detaches the program.
pub struct XdpAttachment {
    link: Option<OwnedFd>,
    ifindex: u32,
}

impl XdpAttachment {
    /// The device the program is attached to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Detaches now (also done on drop).
    pub fn detach(&mut self) {
        if let Some(link) = self.link.take() {
            unregister(link.as_raw_fd());
            link_detach(link.as_raw_fd());
            drop(link);
        }
    }
}

impl Drop for XdpAttachment {
    fn drop(&mut self) {
        self.detach();
    }
}

fn link_detach(fd: RawFd) {
    let mut a = Attr::new();
    a.u32(0, fd as u32);
    let _ = sys_bpf(BPF_LINK_DETACH, &mut a);
}

/// Link descriptors attached now, for the panic hook.
static ATTACHED: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

fn register(fd: RawFd) {
    if let Ok(mut v) = ATTACHED.lock() {
        v.push(fd);
    }
}

fn unregister(fd: RawFd) {
    if let Ok(mut v) = ATTACHED.lock() {
        v.retain(|&x| x != fd);
    }
}

/// Detaches every program attached by this process (the links stay open
/// until their owners drop them; a detached link only holds memory).
pub fn detach_all() {
    let fds: Vec<RawFd> = match ATTACHED.try_lock() {
        Ok(v) => v.clone(),
        Err(_) => return,
    };
    for fd in fds {
        link_detach(fd);
    }
}

/// Installs (once) a panic hook that detaches every XDP program before the
/// previous hook runs: a panicking reader must not leave the device
/// redirecting frames into sockets nobody reads.
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            detach_all();
            prev(info);
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The instruction bytes, encoded by hand from the eBPF instruction set
    /// (`Documentation/bpf/standardization/instruction-set.rst`), with the
    /// map given as fd 7. A little-endian host puts `dst_reg` in the low
    /// nibble of byte 1.
    #[test]
    fn redirect_program_encodes_the_documented_instructions() {
        let p = redirect_program(7);
        let bytes: Vec<[u8; 8]> = p
            .iter()
            .map(|i| {
                let mut b = [0u8; 8];
                b[0] = i.code;
                b[1] = i.regs;
                b[2..4].copy_from_slice(&i.off.to_le_bytes());
                b[4..8].copy_from_slice(&i.imm.to_le_bytes());
                b
            })
            .collect();
        assert_eq!(bytes[0], [0x61, 0x12, 0x10, 0, 0, 0, 0, 0]); // r2 = *(u32 *)(r1 + 16)
        assert_eq!(bytes[1], [0x18, 0x11, 0, 0, 7, 0, 0, 0]); // r1 = map fd 7 (src = PSEUDO_MAP_FD)
        assert_eq!(bytes[2], [0; 8]); // upper half of the 64-bit immediate
        assert_eq!(bytes[3], [0xb7, 0x03, 0, 0, 2, 0, 0, 0]); // r3 = XDP_PASS
        assert_eq!(bytes[4], [0x85, 0, 0, 0, 51, 0, 0, 0]); // call bpf_redirect_map
        assert_eq!(bytes[5], [0x95, 0, 0, 0, 0, 0, 0, 0]); // exit
        assert_eq!(std::mem::size_of::<Insn>(), 8);
    }

    /// The kernel's verifier accepts the program (needs CAP_BPF; skipped
    /// without it), and a socket that is not AF_XDP is refused as a map value.
    #[test]
    fn kernel_accepts_the_redirect_program_over_an_xskmap() {
        let map = match XskMap::create(4) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("SKIP: cannot create an XSKMAP here: {e}");
                return;
            }
        };
        if let Err(e) = XdpProgram::load(&map) {
            panic!("the verifier refused the program: {e}");
        }
        assert_eq!(map.entries, 4);
        // A UDP socket is not an AF_XDP socket.
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let e = map
            .set(0, std::os::fd::AsRawFd::as_raw_fd(&udp))
            .unwrap_err();
        assert_eq!(e.step, "set XSKMAP entry");
        assert_eq!(
            map.set(4, 0).unwrap_err().err.raw_os_error(),
            Some(libc::E2BIG)
        );
    }
}
