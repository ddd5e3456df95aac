//! End-to-end tests of `spanwatch replay`: real public captures, worker-count
//! invariance, and every bad-input case of the CLI.

mod common;
use common::{bin, pcap, repo, shared_pcaps, tcp, tmpdir};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Runs a replay to stdout and returns (output, parsed EVE records).
fn replay(files: &[&Path], extra: &[&str]) -> (Output, Vec<serde_json::Value>) {
    let out = bin()
        .arg("replay")
        .args(files)
        .args(["--eve", "-", "-q"])
        .args(extra)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout.clone()).expect("EVE is UTF-8");
    let recs = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap_or_else(|e| panic!("invalid JSON line {l:?}: {e}"))
        })
        .collect();
    (out, recs)
}

fn tcp_flows(recs: &[serde_json::Value]) -> usize {
    recs.iter()
        .filter(|r| r["event_type"] == "flow" && r["proto"] == "TCP")
        .count()
}

/// TCP flow counts per shared capture. The `tshark` column is what
/// `tshark -q -z conv,tcp` (tshark 4.0.17) reports; where spanwatch differs
/// on purpose the reason is given.
const EXPECTED_TCP_FLOWS: &[(&str, usize, usize, &str)] = &[
    // (file, tshark conv,tcp, spanwatch, why they differ)
    ("ge-egd/ndpi_egd.pcapng", 0, 0, ""),
    ("ge-srtp/booozie_kepware_cap.pcapng", 163, 163, ""),
    ("ge-srtp/booozie_kepware_cap3.pcapng", 51, 51, ""),
    ("mitsubishi-melsec/iti_melsoft_129_clean.pcap", 1, 1, ""),
    ("mitsubishi-melsec/iti_melsoft_UDP_clean_2.pcap", 0, 0, ""),
    ("mitsubishi-melsec/nozomi_legitimate_user_addition_plc_stop_test.pcapng", 45, 45, ""),
    ("mitsubishi-melsec/nttcom_cclink_ief_basic_only.pcap", 0, 0, ""),
    ("mixed/lemay_channel_4d_9s.pcap", 5245, 5245, ""),
    ("mixed/lemay_channel_5d_3s.pcap", 12504, 12504, ""),
    ("mixed/malcolm_Tunnels.pcap", 17, 17, ""),
    ("mixed/suricata-verify_decode-sll2-02.pcap", 1, 1, ""),
    ("modbus/arkime_modbus.pcap", 8, 8, ""),
    ("modbus/icsnpp_modbus_example.pcap", 2, 2, ""),
    ("modbus/iti_ModbusTCP.pcap", 14, 14, ""),
    ("modbus/iti_modbus_test_data_part1.pcap", 6, 6, ""),
    ("modbus/ndpi_umas.pcap", 1, 1, ""),
    ("modbus/zeek_modbus-and-non-modbus-p502.pcap", 7, 7, ""),
    ("modbus/zeek_modbusSmall.pcap", 16, 16, ""),
    ("modbus/zeek_modbus_fuzz-72.pcap", 1, 1, ""),
    ("smtp/suricata-verify_smtp-attachment-md5.pcap", 1, 1, ""),
    ("smtp/suricata-verify_smtp-bug-5981.pcap", 1, 1, ""),
    ("smtp/zeek_rfc3030-bdat-multipart-chunked.pcap", 1, 1, ""),
    ("smtp/zeek_smtp-attachment-msg.pcap", 1, 1, ""),
    ("smtp/zeek_smtp-starttls.pcap", 1, 1, ""),
    ("smtp/zeek_smtp.pcap", 6, 6, ""),
    ("tls/retina_tls_ciphers.pcap", 73, 73, ""),
    ("tls/suricata-verify_tls-client-hello-frag-01_dump_mtu300.pcap", 1, 1, ""),
    (
        "tls/suricata-verify_tls-subjectaltname.pcap",
        68,
        69,
        "192.168.100.206:59819 <-> 93.184.221.240:80 is reset at 08:39:07; a lone RST arrives 77 s later, \
         past the 60 s closed-connection timeout, so it opens a second flow (Suricata does the same; tshark \
         keys conversations on the 4-tuple alone)",
    ),
    ("tls/zeek_chrome-1250-tls-x25519-kyber.pcap", 1, 1, ""),
    ("tls/zeek_hrr.pcap", 1, 1, ""),
    ("tls/zeek_tls-conn-with-extensions.pcap", 1, 1, ""),
    ("tls/zeek_tls1.2.pcap", 1, 1, ""),
    ("tls/zeek_tls13-ech.pcap", 3, 3, ""),
    ("tls/zeek_tls13_wolfssl.pcap", 1, 1, ""),
];

#[test]
fn every_shared_capture_replays_with_expected_tcp_flow_counts() {
    let Some(dir) = shared_pcaps() else { return };
    let mut failures = Vec::new();
    for (file, tshark, expected, why) in EXPECTED_TCP_FLOWS {
        let path = dir.join(file);
        let (out, recs) = replay(&[&path], &["--workers", "1"]);
        assert!(
            out.status.success(),
            "{file}: exit {:?}, stderr {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let last = recs.last().unwrap_or_else(|| panic!("{file}: no output"));
        assert_eq!(
            last["event_type"], "stats",
            "{file}: the last record is the stats record"
        );
        for r in &recs {
            assert!(
                r["timestamp"].is_string() && r["event_type"].is_string(),
                "{file}: {r}"
            );
        }
        let n = tcp_flows(&recs);
        if n != *expected {
            failures.push(format!(
                "{file}: {n} TCP flows, expected {expected} (tshark {tshark}) {why}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every listed file exists: the table covers the whole shared set.
    let listed: Vec<&str> = EXPECTED_TCP_FLOWS.iter().map(|e| e.0).collect();
    for sub in std::fs::read_dir(&dir).unwrap() {
        let sub = sub.unwrap().path();
        if sub.is_dir() {
            for f in std::fs::read_dir(&sub).unwrap() {
                let f = f.unwrap().path();
                let rel = format!(
                    "{}/{}",
                    sub.file_name().unwrap().to_str().unwrap(),
                    f.file_name().unwrap().to_str().unwrap()
                );
                assert!(
                    listed.contains(&rel.as_str()),
                    "capture {rel} has no expected count"
                );
            }
        }
    }
}

/// Sorted EVE lines with the stats record's high-water marks (`peak_flows`,
/// `memcap_peak`: sums of per-worker peaks, so upper bounds that depend on
/// how flows were spread) removed: the multiset that must not depend on the
/// number of workers.
fn canonical_events(recs: &[serde_json::Value]) -> Vec<String> {
    let mut v: Vec<String> = recs
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if r["event_type"] == "stats" {
                if let Some(f) = r.pointer_mut("/stats/flow").and_then(|f| f.as_object_mut()) {
                    f.remove("peak_flows");
                }
                if let Some(f) = r
                    .pointer_mut("/stats/reassembly")
                    .and_then(|f| f.as_object_mut())
                {
                    f.remove("memcap_peak");
                }
            }
            r.to_string()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn one_worker_and_four_workers_give_the_same_events() {
    let Some(dir) = shared_pcaps() else { return };
    // Several link types, tunnels, IPv6 and out-of-order timestamps in one input.
    let files: Vec<PathBuf> = [
        "mixed/malcolm_Tunnels.pcap",
        "tls/suricata-verify_tls-subjectaltname.pcap",
        "smtp/zeek_smtp.pcap",
        "smtp/zeek_smtp-attachment-msg.pcap",
        "ge-srtp/booozie_kepware_cap.pcapng",
        "mixed/suricata-verify_decode-sll2-02.pcap",
        "modbus/iti_ModbusTCP.pcap",
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let (o1, r1) = replay(&refs, &["--workers", "1"]);
    let (o4, r4) = replay(&refs, &["--workers", "4"]);
    assert!(o1.status.success() && o4.status.success());
    assert!(
        r1.len() > 100,
        "a meaningful number of events: {}",
        r1.len()
    );
    assert_eq!(canonical_events(&r1), canonical_events(&r4));
}

#[test]
fn demo_capture_same_events_with_one_and_three_workers() {
    let demo = repo().join("pcaps/demo.pcap");
    if !demo.exists() {
        eprintln!("SKIP: pcaps/demo.pcap not generated yet");
        return;
    }
    let (o1, r1) = replay(&[&demo], &["--workers", "1"]);
    let (o3, r3) = replay(&[&demo], &["--workers", "3"]);
    assert!(o1.status.success() && o3.status.success());
    assert_eq!(canonical_events(&r1), canonical_events(&r3));
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_one_line_error(o: &Output, needle: &str, file: &Path) {
    assert_eq!(o.status.code(), Some(2), "exit code 2: {}", stderr(o));
    let e = stderr(o);
    assert_eq!(e.trim_end().lines().count(), 1, "exactly one line: {e:?}");
    assert!(e.contains(needle), "{e:?} should say {needle:?}");
    assert!(
        e.contains(&file.display().to_string()),
        "{e:?} should name {}",
        file.display()
    );
}

#[test]
fn missing_file_is_one_line_and_exit_2() {
    let d = tmpdir("missing");
    let f = d.join("nope.pcap");
    let o = bin()
        .args(["replay", "--eve", "-"])
        .arg(&f)
        .output()
        .unwrap();
    assert_one_line_error(&o, "no such file", &f);
    assert!(
        o.stdout.is_empty(),
        "nothing is written for a run that cannot start"
    );
}

#[test]
fn directory_is_unreadable_one_line_and_exit_2() {
    let d = tmpdir("dir");
    let o = bin()
        .args(["replay", "--eve", "-"])
        .arg(&d)
        .output()
        .unwrap();
    assert_one_line_error(&o, "cannot read", &d);
}

#[test]
fn empty_file_is_one_line_and_exit_2() {
    let d = tmpdir("empty");
    let f = d.join("empty.pcap");
    std::fs::write(&f, b"").unwrap();
    let o = bin()
        .args(["replay", "--eve", "-"])
        .arg(&f)
        .output()
        .unwrap();
    assert_one_line_error(&o, "empty", &f);
}

#[test]
fn non_capture_file_is_one_line_and_exit_2() {
    let d = tmpdir("text");
    let f = d.join("notes.txt");
    std::fs::write(&f, b"this is a text file, not a capture\n").unwrap();
    let o = bin()
        .args(["replay", "--eve", "-"])
        .arg(&f)
        .output()
        .unwrap();
    assert_one_line_error(&o, "not a pcap or pcapng", &f);
}

#[test]
fn a_bad_second_file_fails_before_any_output() {
    let d = tmpdir("second");
    let good = d.join("good.pcap");
    std::fs::write(
        &good,
        pcap(&[frame_tcp([10, 0, 0, 1], 1000, [10, 0, 0, 2], 80, 0x02, b"")]),
    )
    .unwrap();
    let bad = d.join("bad.pcap");
    std::fs::write(&bad, b"garbage!").unwrap();
    let eve = d.join("eve.json");
    let o = bin()
        .arg("replay")
        .arg(&good)
        .arg(&bad)
        .arg("--eve")
        .arg(&eve)
        .output()
        .unwrap();
    assert_one_line_error(&o, "not a pcap or pcapng", &bad);
}

#[test]
fn unreadable_config_and_bad_config_are_one_line_and_exit_2() {
    let d = tmpdir("config");
    let good = d.join("good.pcap");
    std::fs::write(&good, pcap(&[])).unwrap();
    let cfg = d.join("bad.toml");
    std::fs::write(&cfg, "[flow]\nmax_flowz = 1\n").unwrap();
    let o = bin()
        .arg("replay")
        .arg(&good)
        .args(["--eve", "-", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_one_line_error(&o, "max_flowz", &cfg);
    let missing = d.join("missing.toml");
    let o = bin()
        .arg("replay")
        .arg(&good)
        .args(["--eve", "-", "--config"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_one_line_error(&o, "cannot read", &missing);
}

// --- hand-built captures -----------------------------------------------------

fn frame_tcp(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    tcp(src, sport, dst, dport, 1000, 0, flags, payload)
}

#[test]
fn truncated_capture_is_processed_up_to_the_cut_and_exits_0() {
    let d = tmpdir("trunc");
    let frames: Vec<Vec<u8>> = (0..5)
        .map(|i| frame_tcp([10, 0, 0, 1], 1000 + i, [10, 0, 0, 2], 80, 0x02, b""))
        .collect();
    let mut bytes = pcap(&frames);
    let full = bytes.len();
    bytes.truncate(full - 10); // the fifth record loses its tail
    let f = d.join("cut.pcap");
    std::fs::write(&f, &bytes).unwrap();
    let (o, recs) = replay(&[&f], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("truncated") && e.contains(&f.display().to_string()),
        "{e}"
    );
    assert_eq!(
        tcp_flows(&recs),
        4,
        "the four whole records became four flows"
    );
    let stats = recs.last().unwrap();
    assert_eq!(stats["stats"]["capture"]["frames"], 4);
    assert_eq!(stats["stats"]["capture"]["truncated_files"], 1);
}

#[test]
fn garbage_frames_are_counted_never_fatal() {
    let d = tmpdir("garbage");
    let mut frames = vec![frame_tcp([10, 0, 0, 1], 1000, [10, 0, 0, 2], 80, 0x02, b"")];
    // Deterministic pseudo-random junk of many lengths, plus cut-off headers.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..200usize {
        let mut f = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            f.push(x as u8);
        }
        frames.push(f);
    }
    let good = frame_tcp([10, 0, 0, 3], 2000, [10, 0, 0, 4], 443, 0x02, b"");
    for cut in [13, 20, 33, 40, 53] {
        frames.push(good[..cut].to_vec());
    }
    let f = d.join("junk.pcap");
    std::fs::write(&f, pcap(&frames)).unwrap();
    let (o, recs) = replay(&[&f], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = &recs.last().unwrap()["stats"];
    let frames_read = s["capture"]["frames"].as_u64().unwrap();
    assert_eq!(frames_read, 206);
    let p = &s["pipeline"];
    let accounted = ["packets_tracked", "fragments_held", "not_ip", "invalid"]
        .iter()
        .map(|k| p[k].as_u64().unwrap())
        .sum::<u64>()
        + s["flow"]["memcap_drops"].as_u64().unwrap();
    assert_eq!(accounted, frames_read, "every frame is accounted for: {p}");
    assert!(
        p["invalid"].as_u64().unwrap() >= 5,
        "the cut-off headers are invalid: {p}"
    );
}

#[test]
fn several_files_are_one_input_in_order() {
    let d = tmpdir("multi");
    let a = d.join("a.pcap");
    let b = d.join("b.pcap");
    // The same connection's SYN in the first file and its SYN-ACK in the second.
    std::fs::write(
        &a,
        pcap(&[frame_tcp([10, 0, 0, 1], 1000, [10, 0, 0, 2], 80, 0x02, b"")]),
    )
    .unwrap();
    std::fs::write(
        &b,
        pcap(&[frame_tcp([10, 0, 0, 2], 80, [10, 0, 0, 1], 1000, 0x12, b"")]),
    )
    .unwrap();
    let (o, recs) = replay(&[&a, &b], &[]);
    assert!(o.status.success());
    let flows: Vec<_> = recs.iter().filter(|r| r["event_type"] == "flow").collect();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0]["flow"]["pkts_toserver"], 1);
    assert_eq!(flows[0]["flow"]["pkts_toclient"], 1);
    assert_eq!(flows[0]["src_ip"], "10.0.0.1");
    assert_eq!(flows[0]["dest_port"], 80);
    assert_eq!(recs.last().unwrap()["stats"]["capture"]["files"], 2);
}

#[test]
fn eve_defaults_to_eve_json_in_the_current_directory() {
    let d = tmpdir("cwd");
    let a = d.join("a.pcap");
    std::fs::write(
        &a,
        pcap(&[frame_tcp([10, 0, 0, 1], 1000, [10, 0, 0, 2], 80, 0x02, b"")]),
    )
    .unwrap();
    let o = bin()
        .current_dir(&d)
        .arg("replay")
        .arg(&a)
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = std::fs::read_to_string(d.join("eve.json")).unwrap();
    let kinds: BTreeMap<String, usize> = text.lines().fold(BTreeMap::new(), |mut m, l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        *m.entry(v["event_type"].as_str().unwrap().to_string())
            .or_default() += 1;
        m
    });
    assert_eq!(kinds.get("flow"), Some(&1));
    assert_eq!(kinds.get("stats"), Some(&1));
    // The summary line names packets, flows, events and rates.
    let e = stderr(&o);
    assert!(
        e.contains("1 packets") && e.contains("1 flows") && e.contains("Mpps"),
        "{e}"
    );
}

#[test]
fn overlapping_segments_with_different_data_raise_a_stream_anomaly() {
    // A client sends the second Modbus request ahead of the first, then
    // "retransmits" it with different bytes (a write instead of a read): what
    // the sensor keeps and what the PLC executes may differ.
    let (c, s) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let read1 = [0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1];
    let read2 = [0, 2, 0, 0, 0, 6, 1, 3, 0, 0x10, 0, 1];
    let write2 = [0, 2, 0, 0, 0, 6, 1, 6, 0, 0x10, 0, 0xff];
    let frames = vec![
        tcp(c, 40000, s, 502, 1000, 0, 0x02, b""),
        tcp(s, 502, c, 40000, 5000, 1001, 0x12, b""),
        tcp(c, 40000, s, 502, 1001, 5001, 0x10, b""),
        tcp(c, 40000, s, 502, 1013, 5001, 0x18, &read2),
        tcp(c, 40000, s, 502, 1013, 5001, 0x18, &write2),
        tcp(c, 40000, s, 502, 1001, 5001, 0x18, &read1),
    ];
    let d = tmpdir("overlap");
    let f = d.join("overlap.pcap");
    std::fs::write(&f, pcap(&frames)).unwrap();
    let (o, recs) = replay(&[&f], &["--ot-events", "all"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let anomalies: Vec<_> = recs
        .iter()
        .filter(|r| {
            r["event_type"] == "anomaly"
                && r["anomaly"]["event"] == "reassembly_overlap_different_data"
        })
        .collect();
    assert_eq!(anomalies.len(), 1, "{recs:#?}");
    let a = anomalies[0];
    assert_eq!(a["anomaly"]["type"], "stream");
    assert_eq!(a["anomaly"]["direction"], "to_server");
    assert_eq!(a["src_ip"], "10.0.0.1");
    assert_eq!(a["dest_port"], 502);
    // Under the default (bsd) policy the first copy stays: two reads.
    let fcs: Vec<_> = recs
        .iter()
        .filter(|r| r["event_type"] == "modbus")
        .map(|r| r["modbus"]["request"]["function_raw"].as_u64().unwrap())
        .collect();
    assert_eq!(fcs, vec![3, 3], "{recs:#?}");
    let stats = &recs.last().unwrap()["stats"];
    assert_eq!(stats["reassembly"]["overlaps_different_data"], 1);
}

#[test]
fn assets_prints_the_inventory_as_a_table_and_as_json() {
    let Some(dir) = shared_pcaps() else { return };
    let f = dir.join("mitsubishi-melsec/iti_melsoft_UDP_clean_2.pcap");
    let o = bin().arg("assets").arg(&f).arg("--json").output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let plc = v
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["facts"]["cpu_model"] == "FX5U-32MT/ES")
        .unwrap_or_else(|| panic!("no device with the FX5U CPU model: {v:#}"));
    let ip = plc["ip"].as_str().unwrap().to_string();
    let o = bin().arg("assets").arg(&f).output().unwrap();
    assert!(o.status.success());
    let table = String::from_utf8(o.stdout).unwrap();
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("ip") && header.contains("cpu_model"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&ip) && l.contains("FX5U-32MT/ES")),
        "{table}"
    );
}

#[test]
fn unwritable_eve_path_is_one_line_and_exit_1() {
    let d = tmpdir("noeve");
    let a = d.join("a.pcap");
    std::fs::write(
        &a,
        pcap(&[frame_tcp([10, 0, 0, 1], 1000, [10, 0, 0, 2], 80, 0x02, b"")]),
    )
    .unwrap();
    let eve = d.join("missing-dir/eve.json");
    let o = bin()
        .arg("replay")
        .arg(&a)
        .arg("--eve")
        .arg(&eve)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert_eq!(e.trim_end().lines().count(), 1, "{e:?}");
    assert!(e.contains(&eve.display().to_string()), "{e:?}");
}
