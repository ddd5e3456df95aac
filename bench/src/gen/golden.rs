//! Whole-run tests: determinism, the committed demo capture, and facts about what each profile
//! writes (the expected numbers were read off the files with tshark).

use super::*;

/// FNV-1a 64 of a buffer: enough to compare two runs.
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// (timestamp µs, frame) of every record of a little-endian µs pcap.
fn records(buf: &[u8]) -> Vec<(u64, &[u8])> {
    let mut out = Vec::new();
    let mut at = pcap::GLOBAL_HEADER_LEN as usize;
    while at + 16 <= buf.len() {
        let word = |o: usize| u32::from_le_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]);
        let ts = u64::from(word(at)) * 1_000_000 + u64::from(word(at + 4));
        let len = word(at + 8) as usize;
        out.push((ts, &buf[at + 16..at + 16 + len]));
        at += 16 + len;
    }
    assert_eq!(at, buf.len(), "no trailing partial record");
    out
}

fn bench_bytes(size: u64, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    write_bench(&mut out, &BenchOptions { size, seed }, &mut |_| {}).unwrap();
    out
}

#[test]
fn bench_same_seed_gives_identical_bytes_and_another_seed_does_not() {
    let a = bench_bytes(1 << 20, 7);
    let b = bench_bytes(1 << 20, 7);
    let c = bench_bytes(1 << 20, 8);
    assert_eq!(a.len(), b.len());
    assert_eq!(fnv1a(&a), fnv1a(&b));
    assert_ne!(fnv1a(&a), fnv1a(&c));
    assert!(a.len() as u64 <= 1 << 20 && a.len() as u64 > (1 << 20) - 1600);
}

#[test]
fn bench_timestamps_never_go_backwards_and_start_at_the_epoch() {
    let buf = bench_bytes(512 << 10, 3);
    let recs = records(&buf);
    assert!(recs.len() > 1000);
    assert!(recs[0].0 >= EPOCH);
    assert!(recs.windows(2).all(|w| w[0].0 <= w[1].0));
}

fn demo_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../pcaps/demo.pcap")
}

#[test]
fn committed_demo_pcap_equals_what_the_generator_writes_now() {
    let mut now = Vec::new();
    write_demo(&mut now, DEMO_SEED).unwrap();
    let committed = std::fs::read(demo_path()).expect("pcaps/demo.pcap is committed");
    assert!(
        committed == now,
        "pcaps/demo.pcap drifted from the generator: if the change is intended, run \
         `cargo run -p spanwatch-bench --bin spanwatch-gen -- demo -o pcaps/demo.pcap` \
         and update the numbers in pcaps/README.md and in these tests"
    );
}

#[test]
fn demo_has_one_of_each_flow_kind_with_the_counts_tshark_reports() {
    let mut buf = Vec::new();
    let stats = write_demo(&mut buf, DEMO_SEED).unwrap();
    let recs = records(&buf);
    // `capinfos -c pcaps/demo.pcap`
    assert_eq!(recs.len(), 186);
    assert_eq!(stats.packets, 186);
    let ethertype = |f: &[u8]| u16::from_be_bytes([f[12], f[13]]);
    let vlan = recs
        .iter()
        .filter(|(_, f)| ethertype(f) == wire::ETHERTYPE_VLAN)
        .count();
    let ipv4: Vec<&[u8]> = recs
        .iter()
        .filter(|(_, f)| ethertype(f) == wire::ETHERTYPE_IPV4)
        .map(|(_, f)| *f)
        .collect();
    let gre = ipv4.iter().filter(|f| f[23] == wire::IPPROTO_GRE).count();
    let vxlan = ipv4
        .iter()
        .filter(|f| f[23] == wire::IPPROTO_UDP && f[36..38] == wire::VXLAN_PORT.to_be_bytes())
        .count();
    let dns = ipv4
        .iter()
        .filter(|f| f[23] == wire::IPPROTO_UDP && (f[34..36] == [0, 53] || f[36..38] == [0, 53]))
        .count();
    // tshark -Y vlan / gre / vxlan / dns | wc -l
    assert_eq!(vlan, 45);
    assert_eq!(gre, 15);
    assert_eq!(vxlan, 11);
    assert_eq!(dns, 6);
}

#[test]
fn flood_connections_each_leave_a_hole_before_their_data() {
    let mut buf = Vec::new();
    let opts = FloodOptions {
        connections: 3,
        hole: 1000,
        payload: 100,
        seed: 1,
    };
    let stats = write_flood(&mut buf, &opts, &mut |_| {}).unwrap();
    assert_eq!(stats.packets, 12);
    let recs = records(&buf);
    for conn in recs.chunks(4) {
        let seq = |f: &[u8]| u32::from_be_bytes([f[38], f[39], f[40], f[41]]);
        let flags = |f: &[u8]| f[47];
        assert_eq!(flags(conn[0].1), wire::tcp_flags::SYN);
        assert_eq!(
            flags(conn[1].1),
            wire::tcp_flags::SYN | wire::tcp_flags::ACK
        );
        assert_eq!(flags(conn[2].1), wire::tcp_flags::ACK);
        let isn = seq(conn[0].1);
        assert_eq!(seq(conn[3].1), isn.wrapping_add(1 + 1000));
        // Linux to Linux: 12 bytes of timestamp option in every segment.
        assert_eq!(conn[3].1.len(), 14 + 20 + 20 + 12 + 100);
    }
    // Every connection has its own 5-tuple.
    let (a, pa) = actors::flood::Flood::client_of(0);
    let (b, pb) = actors::flood::Flood::client_of(actors::flood::CLIENT_HOSTS);
    assert_eq!(a, b);
    assert_ne!(pa, pb);
}
