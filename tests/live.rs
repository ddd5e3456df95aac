//! End-to-end tests of `spanwatch live` on a test bed of two network
//! namespaces joined by a veth pair: a capture is replayed with `tcpreplay`
//! from one side and captured on the other, with libpcap and with AF_XDP
//! (SKB mode), and the events are compared with those of `spanwatch replay`
//! on the same capture.
//!
//! Only traffic inside the two namespaces: nothing reaches any other address.
//! The namespaces (and with them the veth pair and any XDP program) are
//! removed by a drop guard, also when a test fails.
//!
//! Needs root, `ip` (iproute2) and `tcpreplay`; each test prints `SKIP:` and
//! passes where one of them, network namespaces, veth or AF_XDP is missing.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_spanwatch");
/// Frames in [`synthetic_pcap`].
const SYNTHETIC_FRAMES: u64 = 17;
/// Frames in `modbus/zeek_modbusSmall.pcap` (capinfos 3.6: 166 packets).
const MODBUS_SMALL_FRAMES: u64 = 166;

static SEQ: AtomicUsize = AtomicUsize::new(0);

fn ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn ip(args: &[&str]) -> bool {
    ok(Command::new("ip").args(args))
}

/// Two namespaces `a` and `b` with `vethA` in `a` and `vethB` in `b`.
struct Bed {
    a: String,
    b: String,
    dir: PathBuf,
}

impl Bed {
    /// Sets the bed up, or prints why not and returns `None`.
    fn new(tag: &str) -> Option<Bed> {
        Bed::with_queues(tag, 1)
    }

    /// A bed whose veth ends have `queues` RX and TX queues.
    fn with_queues(tag: &str, queues: u32) -> Option<Bed> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!(
                "SKIP: {tag}: not root; the live-capture tests need root (network namespaces)"
            );
            return None;
        }
        if !ok(Command::new("tcpreplay").arg("-V")) {
            eprintln!("SKIP: {tag}: tcpreplay is not installed");
            return None;
        }
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}{n}", std::process::id());
        let bed = Bed {
            a: format!("swA{id}"),
            b: format!("swB{id}"),
            dir: std::env::temp_dir().join(format!("spanwatch-live-{id}-{tag}")),
        };
        let _ = std::fs::remove_dir_all(&bed.dir);
        std::fs::create_dir_all(&bed.dir).unwrap();
        if !ip(&["netns", "add", &bed.a]) || !ip(&["netns", "add", &bed.b]) {
            eprintln!("SKIP: {tag}: cannot create network namespaces");
            return None;
        }
        for ns in [&bed.a, &bed.b] {
            // No IPv6: no router solicitations or MLD reports on the link.
            ip(&[
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ]);
        }
        let q = queues.to_string();
        if !ip(&[
            "link",
            "add",
            "vethA",
            "netns",
            &bed.a,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
            "type",
            "veth",
            "peer",
            "name",
            "vethB",
            "netns",
            &bed.b,
            "numtxqueues",
            &q,
            "numrxqueues",
            &q,
        ]) {
            eprintln!("SKIP: {tag}: cannot create a veth pair");
            return None;
        }
        assert!(ip(&["-n", &bed.a, "link", "set", "vethA", "up"]));
        assert!(ip(&["-n", &bed.b, "link", "set", "vethB", "up"]));
        assert!(ip(&["-n", &bed.b, "link", "set", "lo", "up"]));
        Some(bed)
    }

    /// `ip -n b link show dev vethB` mentions an XDP program.
    fn xdp_attached(&self) -> bool {
        let out = Command::new("ip")
            .args(["-n", &self.b, "link", "show", "dev", "vethB"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("xdp")
    }

    /// Starts `spanwatch live` on vethB and waits until it captures.
    /// `None` (after a SKIP line) when AF_XDP was asked for but fell back.
    fn start(&self, method: &str, eve: &Path, extra: &[&str]) -> Option<Live> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.b, BIN, "live", "--iface", "vethB"])
            .args(["--capture", method, "--xdp-mode", "skb", "--workers", "2"])
            .args(["--stats-interval", "1", "--eve"])
            .arg(eve)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("  [spanwatch] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => {
                    let ready = l.contains("capturing on");
                    lines.push(l);
                    if ready {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let st = child.wait();
                    panic!("spanwatch live did not start ({st:?}): {lines:#?}");
                }
            }
        }
        if method == "af-xdp" && lines.iter().any(|l| l.contains("falling back to libpcap")) {
            eprintln!("SKIP: AF_XDP is not available here: {lines:?}");
            signal(&child, libc::SIGTERM);
            let _ = child.wait();
            return None;
        }
        Some(Live {
            child,
            lines,
            _stderr: rx,
        })
    }

    /// Replays `pcap` from vethA as fast as possible.
    fn replay(&self, pcap: &Path) {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.a,
                "tcpreplay",
                "-q",
                "-K",
                "--topspeed",
            ])
            .args(["-i", "vethA"])
            .arg(pcap)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tcpreplay failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth end (and the peer with it),
        // which also removes any XDP program.
        ip(&["netns", "del", &self.a]);
        ip(&["netns", "del", &self.b]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Live {
    child: Child,
    /// stderr up to the "capturing on" line.
    lines: Vec<String>,
    _stderr: mpsc::Receiver<String>,
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // `ip netns exec` execs spanwatch, so the child's pid is spanwatch's.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
}

impl Live {
    fn stop(mut self, sig: libc::c_int) -> ExitStatus {
        signal(&self.child, sig);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "spanwatch did not exit after the signal"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Live {
    /// The metrics address printed at start-up.
    fn metrics_port(&self) -> u16 {
        let l = self
            .lines
            .iter()
            .find(|l| l.contains("metrics on http://"))
            .expect("a metrics line");
        let tail = &l[l.find("http://").unwrap() + 7..];
        let hostport = tail.split('/').next().unwrap();
        hostport.rsplit(':').next().unwrap().parse().unwrap()
    }
}

impl Bed {
    /// `GET /metrics` from inside namespace b (bash's /dev/tcp).
    fn scrape(&self, port: u16) -> String {
        let script = format!(
            "exec 3<>/dev/tcp/127.0.0.1/{port}; printf 'GET /metrics HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3"
        );
        let out = Command::new("ip")
            .args(["netns", "exec", &self.b, "bash", "-c", &script])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .unwrap_or_else(|e| panic!("incomplete or invalid EVE line {l:?}: {e}"))
        })
        .collect()
}

/// Waits until a stats record says `n` frames were processed (with `n` = 0:
/// until there is a stats record).
fn wait_processed(eve: &Path, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done = std::fs::read_to_string(eve)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["event_type"] == "stats")
            .filter_map(|r| r["live"]["accounting"]["processed"].as_u64())
            .max();
        if done.is_some_and(|d| d >= n) {
            return;
        }
        let done = done.unwrap_or(0);
        assert!(
            Instant::now() < deadline,
            "only {done} of {n} frames processed after 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The event records without the fields that depend on when the traffic
/// was seen: `timestamp`, `flow_id` (hashes the start time), `flow.start`,
/// `flow.end`, `flow.age`, `asset.first_seen`, `asset.last_seen`, and the
/// transactions' `latency_us`. Sorted, as
/// JSON text.
fn comparable(recs: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = recs
        .iter()
        .filter(|r| r["event_type"] != "stats")
        .map(|r| {
            let mut r = r.clone();
            let o = r.as_object_mut().unwrap();
            o.remove("timestamp");
            o.remove("flow_id");
            if let Some(f) = o.get_mut("flow").and_then(|f| f.as_object_mut()) {
                f.remove("start");
                f.remove("end");
                f.remove("age");
            }
            if let Some(a) = o.get_mut("asset").and_then(|a| a.as_object_mut()) {
                a.remove("first_seen");
                a.remove("last_seen");
            }
            // Transaction latency is measured between packet timestamps.
            for v in o.values_mut() {
                if let Some(inner) = v.as_object_mut() {
                    inner.remove("latency_us");
                }
            }
            serde_json::to_string(&r).unwrap()
        })
        .collect();
    v.sort();
    v
}

fn replay_records(pcap: &Path) -> Vec<Value> {
    let out = Command::new(BIN)
        .args(["replay", "--eve", "-", "-q", "--workers", "1"])
        .arg(pcap)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

// ---- a small capture built here -------------------------------------------

fn csum(data: &[u8], init: u32) -> u16 {
    let mut s = init;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        s += w as u32;
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// An Ethernet/IPv4 frame between documentation addresses (RFC 5737), to a
/// MAC address that is not the receiver's: it arrives as a mirror port's
/// traffic does (PACKET_OTHERHOST) and the receiving stack drops it.
fn ipv4_frame(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02]); // dst MAC (locally administered)
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]); // src MAC
    f.extend_from_slice(&[0x08, 0x00]); // IPv4
    let total = (20 + l4.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = csum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    // L4 checksum over the pseudo-header.
    let mut l4 = l4.to_vec();
    let ck_at = match proto {
        6 => Some(16),
        17 => Some(6),
        _ => None,
    };
    if let Some(at) = ck_at {
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&src);
        pseudo.extend_from_slice(&dst);
        pseudo.extend_from_slice(&[0, proto]);
        pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(&l4);
        let c = csum(&pseudo, 0);
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    } else if proto == 1 {
        let c = csum(&l4, 0);
        l4[2..4].copy_from_slice(&c.to_be_bytes());
    }
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
    f
}

fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// 17 frames: a Modbus/TCP read with handshake and close (10), a refused
/// TCP connection (2), a UDP query and answer (2), an ICMP echo and reply
/// (2), one ARP request (1). 1 ms apart.
fn synthetic_pcap(path: &Path) {
    synthetic_pcap_from(path, 10);
}

/// [`synthetic_pcap`] with the clients at 192.0.2.`first`..`first`+2.
fn synthetic_pcap_from(path: &Path, first: u8) {
    const SYN: u8 = 0x02;
    const RST: u8 = 0x04;
    const PSH: u8 = 0x08;
    const ACK: u8 = 0x10;
    const FIN: u8 = 0x01;
    let c = [192, 0, 2, first];
    let c2 = [192, 0, 2, first + 1];
    let c3 = [192, 0, 2, first + 2];
    let s = [198, 51, 100, 20];
    // Modbus read holding registers, unit 1, address 0, 2 registers.
    let req = [0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 2];
    let resp = [0, 1, 0, 0, 0, 7, 1, 3, 4, 0, 0x2a, 0, 0x2b];
    let mut frames = vec![
        ipv4_frame(c, s, 6, &tcp(40000, 502, 100, 0, SYN, &[])),
        ipv4_frame(s, c, 6, &tcp(502, 40000, 900, 101, SYN | ACK, &[])),
        ipv4_frame(c, s, 6, &tcp(40000, 502, 101, 901, ACK, &[])),
        ipv4_frame(c, s, 6, &tcp(40000, 502, 101, 901, PSH | ACK, &req)),
        ipv4_frame(s, c, 6, &tcp(502, 40000, 901, 113, ACK, &[])),
        ipv4_frame(s, c, 6, &tcp(502, 40000, 901, 113, PSH | ACK, &resp)),
        ipv4_frame(c, s, 6, &tcp(40000, 502, 113, 914, ACK, &[])),
        ipv4_frame(c, s, 6, &tcp(40000, 502, 113, 914, FIN | ACK, &[])),
        ipv4_frame(s, c, 6, &tcp(502, 40000, 914, 114, FIN | ACK, &[])),
        ipv4_frame(c, s, 6, &tcp(40000, 502, 114, 915, ACK, &[])),
        ipv4_frame(c2, s, 6, &tcp(40001, 80, 7, 0, SYN, &[])),
        ipv4_frame(s, c2, 6, &tcp(80, 40001, 0, 8, RST | ACK, &[])),
        ipv4_frame(
            c3,
            [198, 51, 100, 53],
            17,
            &udp(
                5353,
                53,
                b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01",
            ),
        ),
        ipv4_frame(
            [198, 51, 100, 53],
            c3,
            17,
            &udp(
                53,
                5353,
                b"\x12\x34\x81\x80\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01",
            ),
        ),
        ipv4_frame(
            c,
            [198, 51, 100, 1],
            1,
            &[8, 0, 0, 0, 0, 7, 0, 1, b'p', b'i'],
        ),
        ipv4_frame(
            [198, 51, 100, 1],
            c,
            1,
            &[0, 0, 0, 0, 0, 7, 0, 1, b'p', b'i'],
        ),
    ];
    // ARP who-has 198.51.100.20 tell 192.0.2.10 (broadcast).
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06]);
    arp.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 0x02, 0, 0, 0, 0, 0x01]);
    arp.extend_from_slice(&c);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&s);
    frames.push(arp);
    assert_eq!(frames.len() as u64, SYNTHETIC_FRAMES);
    // Classic pcap, microseconds, LINKTYPE_ETHERNET.
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        out.extend_from_slice(&((i as u32) * 1000).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

/// The captures to compare: the one built here, and a real one from the
/// shared set when it is there.
fn captures(dir: &Path) -> Vec<(PathBuf, u64)> {
    let syn = dir.join("synthetic.pcap");
    synthetic_pcap(&syn);
    let mut v = vec![(syn, SYNTHETIC_FRAMES)];
    let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/pcaps/modbus/zeek_modbusSmall.pcap");
    if shared.exists() {
        v.push((shared, MODBUS_SMALL_FRAMES));
    } else {
        eprintln!(
            "SKIP: ../shared/pcaps is absent; live capture compared on the built capture only"
        );
    }
    v
}

/// Captures each capture live with `method` on a veth with `queues` queues
/// (all read) and compares with the replay.
fn live_equals_replay(method: &str, queues: u32) {
    let tag = format!("equal-{method}-{queues}");
    let Some(bed) = Bed::with_queues(&tag, queues) else {
        return;
    };
    let q = queues.to_string();
    for (pcap, frames) in captures(&bed.dir) {
        let eve = bed.dir.join(format!("{method}.json"));
        let _ = std::fs::remove_file(&eve);
        let args = ["--metrics-listen", "127.0.0.1:0", "--queues", &q];
        let Some(live) = bed.start(method, &eve, &args) else {
            return;
        };
        bed.replay(&pcap);
        wait_processed(&eve, frames);
        let m = bed.scrape(live.metrics_port());
        assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
        assert!(
            m.contains("# TYPE spanwatch_packets_received_total counter\n"),
            "{m}"
        );
        let received: u64 = m
            .lines()
            .filter(|l| l.starts_with("spanwatch_packets_received_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(received, frames, "{m}");
        if queues == 1 {
            assert!(
                m.contains(&format!(
                    "spanwatch_packets_received_total{{source=\"{method}\",queue=\"0\"}} {frames}\n"
                )),
                "{m}"
            );
        }
        assert!(
            m.contains(&format!(
                "spanwatch_packets_dropped_total{{source=\"{method}\",queue=\"0\",reason=\"kernel\"}} 0\n"
            )),
            "{m}"
        );
        let st = live.stop(libc::SIGTERM);
        assert!(st.success(), "{method}: exit {st:?}");
        let got = records(&eve);
        let last = got.last().expect("EVE output");
        assert_eq!(last["event_type"], "stats");
        assert_eq!(last["live"]["final"], true);
        assert_eq!(last["live"]["source"], method);
        if method == "af-xdp" {
            assert_eq!(
                last["live"]["queues"].as_array().unwrap().len(),
                queues as usize
            );
        }
        let acc = &last["live"]["accounting"];
        assert_eq!(acc["delivered"], frames, "{}: {acc}", pcap.display());
        assert_eq!(acc["dropped"], 0, "{acc}");
        assert_eq!(acc["received"], frames, "{acc}");
        assert_eq!(acc["processed"], frames, "{acc}");
        assert_eq!(acc["in_flight"], 0, "{acc}");
        let want = comparable(&replay_records(&pcap));
        let have = comparable(&got);
        assert!(!want.is_empty());
        assert_eq!(
            have,
            want,
            "{method} capture of {} differs from its replay",
            pcap.display()
        );
    }
}

#[test]
fn pcap_capture_of_replayed_traffic_gives_the_replay_events() {
    live_equals_replay("pcap", 1);
}

#[test]
fn af_xdp_capture_of_replayed_traffic_gives_the_replay_events() {
    live_equals_replay("af-xdp", 1);
}

#[test]
fn af_xdp_on_four_queues_gives_the_replay_events_of_both_senders() {
    // A veth end with several queues picks one by the kernel's flow hash
    // (symmetric: both directions of a flow on one queue), so the flows of
    // two concurrent senders spread over the queues, each read by its own
    // socket and thread and handed to workers by dispatch hash. The events
    // are the union of the two replays.
    let Some(bed) = Bed::with_queues("queues", 4) else {
        return;
    };
    let p1 = bed.dir.join("one.pcap");
    let p2 = bed.dir.join("two.pcap");
    synthetic_pcap_from(&p1, 10);
    synthetic_pcap_from(&p2, 20);
    let eve = bed.dir.join("eve.json");
    let Some(live) = bed.start("af-xdp", &eve, &["--queues", "4"]) else {
        return;
    };
    let senders: Vec<Child> = [&p1, &p2]
        .iter()
        .map(|p| {
            Command::new("ip")
                .args(["netns", "exec", &bed.a])
                .args(["tcpreplay", "-q", "-K", "--topspeed", "-i", "vethA"])
                .arg(p)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut s in senders {
        assert!(s.wait().unwrap().success());
    }
    wait_processed(&eve, 2 * SYNTHETIC_FRAMES);
    assert!(live.stop(libc::SIGTERM).success());
    let got = records(&eve);
    let last = got.last().unwrap();
    let queues: Vec<u64> = last["live"]["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["packets"].as_u64().unwrap())
        .collect();
    eprintln!("frames per queue: {queues:?}");
    assert_eq!(queues.len(), 4);
    assert_eq!(queues.iter().sum::<u64>(), 2 * SYNTHETIC_FRAMES);
    // Asset records describe devices, not traffic: the two senders share
    // devices, so one live run reports each device once where two separate
    // replays report it twice. Compare the traffic records.
    let not_asset = |v: &Vec<Value>| {
        v.iter()
            .filter(|r| r["event_type"] != "asset")
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut want = comparable(&not_asset(&replay_records(&p1)));
    want.extend(comparable(&not_asset(&replay_records(&p2))));
    want.sort();
    assert_eq!(comparable(&not_asset(&got)), want);
}

#[test]
fn synthetic_capture_replays_to_four_flows() {
    // The built capture itself, through `spanwatch replay` (no root needed):
    // the Modbus connection, the refused connection, the UDP exchange and the
    // ICMP echo are four flows; the ARP frame is counted as not IP.
    let dir = std::env::temp_dir().join(format!("spanwatch-live-syn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("synthetic.pcap");
    synthetic_pcap(&p);
    let recs = replay_records(&p);
    let flows: Vec<&Value> = recs.iter().filter(|r| r["event_type"] == "flow").collect();
    assert_eq!(flows.len(), 4, "{recs:#?}");
    let modbus = flows
        .iter()
        .find(|r| r["dest_port"] == 502)
        .expect("the Modbus flow");
    assert_eq!(modbus["flow"]["pkts_toserver"], 6);
    assert_eq!(modbus["flow"]["pkts_toclient"], 4);
    let stats = recs.last().unwrap();
    assert_eq!(stats["stats"]["pipeline"]["not_ip"], 1);
    assert_eq!(stats["stats"]["capture"]["frames"], SYNTHETIC_FRAMES);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_during_capture_leaves_complete_lines_state_dir_and_exit_0() {
    let Some(bed) = Bed::new("sigterm") else {
        return;
    };
    let pcap = bed.dir.join("synthetic.pcap");
    synthetic_pcap(&pcap);
    let eve = bed.dir.join("eve.json");
    let state = bed.dir.join("state");
    let Some(live) = bed.start("pcap", &eve, &["--state-dir", state.to_str().unwrap()]) else {
        return;
    };
    // Keep traffic flowing while the signal arrives.
    let mut sender = Command::new("ip")
        .args([
            "netns",
            "exec",
            &bed.a,
            "tcpreplay",
            "-q",
            "-K",
            "--pps",
            "5000",
        ])
        .args(["--loop", "100000", "-i", "vethA"])
        .arg(&pcap)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let st = live.stop(libc::SIGTERM);
    let _ = sender.kill();
    let _ = sender.wait();
    assert!(st.success(), "exit {st:?}");
    assert!(state.is_dir(), "the state directory was not created");
    let recs = records(&eve); // every line parses
    assert!(recs.len() > 1);
    let last = recs.last().unwrap();
    assert_eq!(last["live"]["final"], true);
    let acc = &last["live"]["accounting"];
    let delivered = acc["delivered"].as_u64().unwrap();
    assert!(delivered > 0, "{acc}");
    assert_eq!(acc["processed"].as_u64(), Some(delivered), "{acc}");
    assert_eq!(
        acc["received"].as_u64(),
        Some(delivered + acc["dropped"].as_u64().unwrap()),
        "{acc}"
    );
    let p = &last["stats"]["pipeline"];
    let outcomes = ["packets_tracked", "fragments_held", "not_ip", "invalid"]
        .iter()
        .map(|k| p[*k].as_u64().unwrap())
        .sum::<u64>()
        + last["stats"]["flow"]["memcap_drops"].as_u64().unwrap();
    assert_eq!(outcomes, delivered, "every frame ends in one outcome: {p}");
}

#[test]
fn sighup_reopens_the_eve_file_for_logrotate() {
    let Some(bed) = Bed::new("sighup") else {
        return;
    };
    let pcap = bed.dir.join("synthetic.pcap");
    synthetic_pcap(&pcap);
    let eve = bed.dir.join("eve.json");
    let rotated = bed.dir.join("eve.json.1");
    let Some(live) = bed.start("pcap", &eve, &[]) else {
        return;
    };
    wait_processed(&eve, 0);
    std::fs::rename(&eve, &rotated).unwrap();
    signal(&live.child, libc::SIGHUP);
    bed.replay(&pcap);
    wait_processed(&eve, SYNTHETIC_FRAMES);
    let st = live.stop(libc::SIGTERM);
    assert!(st.success());
    let old = records(&rotated);
    let new = records(&eve);
    assert!(!old.is_empty() && old.iter().all(|r| r["event_type"] == "stats"));
    assert_eq!(
        new.iter().filter(|r| r["event_type"] == "flow").count(),
        4,
        "the flows go to the reopened file"
    );
}

#[test]
fn af_xdp_program_is_detached_after_sigterm_and_after_sigkill() {
    let Some(bed) = Bed::new("detach") else {
        return;
    };
    for sig in [libc::SIGTERM, libc::SIGKILL] {
        let eve = bed.dir.join("eve.json");
        let Some(live) = bed.start("af-xdp", &eve, &[]) else {
            return;
        };
        assert!(bed.xdp_attached(), "no XDP program while capturing");
        let st = live.stop(sig);
        if sig == libc::SIGTERM {
            assert!(st.success(), "exit {st:?}");
        }
        // The BPF link is released when the process's descriptors close.
        let deadline = Instant::now() + Duration::from_secs(5);
        while bed.xdp_attached() {
            assert!(
                Instant::now() < deadline,
                "an XDP program is still attached after signal {sig}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn unknown_interface_fails_with_one_line_and_exit_2() {
    let out = Command::new(BIN)
        .args(["live", "--iface", "sw-no-such-if0", "--eve", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sw-no-such-if0"), "{err}");
}

#[test]
fn af_xdp_on_a_busy_interface_falls_back_to_libpcap_with_one_line() {
    let Some(bed) = Bed::new("fallback") else {
        return;
    };
    let first_eve = bed.dir.join("first.json");
    let Some(first) = bed.start("af-xdp", &first_eve, &[]) else {
        return;
    };
    // The first run's program holds the device: the second cannot attach.
    let eve = bed.dir.join("second.json");
    let mut child = Command::new("ip")
        .args(["netns", "exec", &bed.b, BIN, "live", "--iface", "vethB"])
        .args(["--capture", "af-xdp", "--xdp-mode", "skb", "--eve"])
        .arg(&eve)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut lines = Vec::new();
    let mut l = String::new();
    while err.read_line(&mut l).unwrap_or(0) > 0 {
        let ready = l.contains("capturing on");
        lines.push(std::mem::take(&mut l));
        if ready {
            break;
        }
    }
    signal(&child, libc::SIGTERM);
    // Read stderr to its end, so that the exit summary finds it open.
    for l in err.lines().map_while(Result::ok) {
        lines.push(l);
    }
    let st = child.wait().unwrap();
    assert!(st.success(), "{lines:?}");
    let fallback: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("falling back to libpcap"))
        .collect();
    assert_eq!(fallback.len(), 1, "{lines:?}");
    assert!(
        fallback[0].contains("AF_XDP is not available on vethB"),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.contains("vethB: pcap")), "{lines:?}");
    // The first capture still owns the device, and detaches at its exit.
    assert!(bed.xdp_attached());
    assert!(first.stop(libc::SIGTERM).success());
    assert!(!bed.xdp_attached());
}

fn uid_of(pid: u32) -> Option<u32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let l = s.lines().find(|l| l.starts_with("Uid:"))?;
    l.split_whitespace().nth(2)?.parse().ok() // effective uid
}

#[test]
fn user_switch_drops_root_and_keeps_capturing() {
    let Some(bed) = Bed::new("user") else { return };
    let Some(out) = Command::new("id")
        .args(["-u", "nobody"])
        .output()
        .ok()
        .filter(|o| o.status.success())
    else {
        eprintln!("SKIP: no user 'nobody'");
        return;
    };
    let nobody: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    // A directory the unprivileged user can write the EVE file into.
    let outdir = bed.dir.join("out");
    std::fs::create_dir_all(&outdir).unwrap();
    std::os::unix::fs::chown(&outdir, Some(nobody), None).unwrap();
    let eve = outdir.join("eve.json");
    let state = bed.dir.join("state");
    let pcap = bed.dir.join("synthetic.pcap");
    synthetic_pcap(&pcap);
    for method in ["af-xdp", "pcap"] {
        let _ = std::fs::remove_file(&eve);
        let args = ["--user", "nobody", "--state-dir", state.to_str().unwrap()];
        let Some(live) = bed.start(method, &eve, &args) else {
            continue;
        };
        assert_eq!(
            uid_of(live.child.id()),
            Some(nobody),
            "{method}: still root"
        );
        bed.replay(&pcap);
        wait_processed(&eve, SYNTHETIC_FRAMES);
        let st = live.stop(libc::SIGTERM);
        assert!(st.success(), "{method}: exit {st:?}");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&state).unwrap().uid(), nobody);
        assert_eq!(std::fs::metadata(&eve).unwrap().uid(), nobody);
        // Detaching needs no privilege: the BPF link goes with its descriptor.
        assert!(!bed.xdp_attached(), "{method}: XDP program left attached");
    }
}

#[test]
fn af_xdp_refills_its_ring_and_accounts_for_every_frame() {
    let Some(bed) = Bed::new("refill") else {
        return;
    };
    let pcap = bed.dir.join("synthetic.pcap");
    synthetic_pcap(&pcap);
    let eve = bed.dir.join("eve.json");
    // A 256-entry ring: 120 passes of the 17 frames need it refilled 7 times.
    let small = ["--xdp-ring-size", "256", "--umem-frames", "512"];
    let Some(live) = bed.start("af-xdp", &eve, &small) else {
        return;
    };
    let loops = 120;
    let sent = SYNTHETIC_FRAMES * loops;
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &bed.a,
            "tcpreplay",
            "-q",
            "-K",
            "--pps",
            "5000",
        ])
        .args(["--loop", &loops.to_string(), "-i", "vethA"])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(out.status.success());
    // Wait for the last stats record to account for every frame sent.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let accounted = records(&eve)
            .iter()
            .filter(|r| r["event_type"] == "stats")
            .filter_map(|r| {
                let a = &r["live"]["accounting"];
                Some(a["processed"].as_u64()? + a["dropped"].as_u64()?)
            })
            .max()
            .unwrap_or(0);
        if accounted >= sent || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(live.stop(libc::SIGTERM).success());
    let last = records(&eve).pop().unwrap();
    let acc = &last["live"]["accounting"];
    assert_eq!(acc["received"], sent, "{acc}");
    assert!(
        acc["delivered"].as_u64().unwrap() > 4 * 256,
        "the fill ring was not refilled: {acc}"
    );
    assert_eq!(acc["processed"], acc["delivered"], "{acc}");
}
