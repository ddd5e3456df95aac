//! End-to-end tests of the baseline: `spanwatch learn` then `replay
//! --state-dir`, `--learn-for`, worker-count invariance of alerts and of the
//! learned state, refused state files, and a SIGKILL during `learn`.

mod common;
use common::{bin, shared_pcaps, tmpdir};

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn records(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(o.stdout.clone())
        .expect("EVE is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
        .collect()
}

/// `spanwatch learn FILES --state-dir DIR` (quiet), checked to succeed.
fn learn(files: &[PathBuf], dir: &Path, extra: &[&str]) {
    let o = bin()
        .arg("learn")
        .args(files)
        .arg("--state-dir")
        .arg(dir)
        .arg("-q")
        .args(extra)
        .output()
        .expect("run spanwatch");
    assert!(o.status.success(), "learn failed: {}", stderr(&o));
}

/// `spanwatch replay FILES --eve - -q EXTRA`, checked to succeed.
fn replay(files: &[PathBuf], extra: &[&str]) -> Vec<serde_json::Value> {
    let o = bin()
        .arg("replay")
        .args(files)
        .args(["--eve", "-", "-q"])
        .args(extra)
        .output()
        .expect("run spanwatch");
    assert!(o.status.success(), "replay failed: {}", stderr(&o));
    records(&o)
}

fn alerts(recs: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    recs.iter().filter(|r| r["event_type"] == "alert").collect()
}

fn stats(recs: &[serde_json::Value]) -> &serde_json::Value {
    let s = recs.last().expect("records");
    assert_eq!(s["event_type"], "stats");
    &s["stats"]
}

fn summary(a: &serde_json::Value) -> String {
    format!(
        "{} {} {}: {}",
        a["timestamp"].as_str().unwrap_or(""),
        a["spanwatch"]["score"],
        a["spanwatch"]["model"],
        a["spanwatch"]["evidence"].as_str().unwrap_or("")
    )
}

fn dir_str(d: &Path) -> &str {
    d.to_str().expect("UTF-8 temp path")
}

#[test]
fn learn_then_replay_the_same_testbed_alerts_little_or_nothing() {
    let Some(p) = shared_pcaps() else { return };
    let state = tmpdir("lemay");
    learn(&[p.join("mixed/lemay_channel_4d_9s.pcap")], &state, &[]);
    let recs = replay(
        &[p.join("mixed/lemay_channel_5d_3s.pcap")],
        &["--state-dir", dir_str(&state)],
    );
    let a = alerts(&recs);
    let high: Vec<String> = a
        .iter()
        .filter(|a| a["spanwatch"]["score"].as_u64().unwrap_or(0) >= 50)
        .map(|a| summary(a))
        .collect();
    eprintln!(
        "lemay 4d_9s learned, 5d_3s replayed: {} alerts, {} with score >= 50",
        a.len(),
        high.len()
    );
    for h in &high {
        eprintln!("  {h}");
    }
    // Same two hosts, same Modbus function codes: nothing is new.
    assert!(high.len() <= 3, "{high:#?}");
    let b = &stats(&recs)["baseline"];
    assert_eq!(b["devices"], 2, "192.168.43.148 and .149");
    assert_eq!(b["devices_refused"], 0);
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn replaying_the_learned_capture_itself_raises_nothing() {
    let Some(p) = shared_pcaps() else { return };
    let state = tmpdir("same");
    let files = [
        p.join("smtp/zeek_smtp.pcap"),
        p.join("tls/suricata-verify_tls-subjectaltname.pcap"),
    ];
    learn(&files, &state, &[]);
    let recs = replay(&files, &["--state-dir", dir_str(&state)]);
    let a: Vec<String> = alerts(&recs).iter().map(|a| summary(a)).collect();
    assert!(a.is_empty(), "{a:#?}");
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn learn_modbus_then_replay_smtp_new_devices_alert() {
    let Some(p) = shared_pcaps() else { return };
    let state = tmpdir("modbus-smtp");
    learn(&[p.join("modbus/iti_ModbusTCP.pcap")], &state, &[]);
    let recs = replay(
        &[p.join("smtp/suricata-verify_smtp-attachment-md5.pcap")],
        &["--state-dir", dir_str(&state)],
    );
    let a = alerts(&recs);
    let new_dev: Vec<(String, u64)> = a
        .iter()
        .filter(|a| a["spanwatch"]["model"] == "new_device")
        .map(|a| {
            (
                a["spanwatch"]["device"].as_str().unwrap_or("").to_string(),
                a["spanwatch"]["score"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    // tshark: the SMTP client 192.168.92.1 talks to server 172.16.92.2:25;
    // 0.0.0.0 and 224.0.0.22 (IGMP) are not devices.
    assert_eq!(
        new_dev,
        vec![
            ("192.168.92.1".to_string(), 60),
            ("172.16.92.2".to_string(), 50)
        ]
    );
    let ev = a[0]["spanwatch"]["evidence"].as_str().unwrap_or("");
    assert!(ev.contains("talking to 172.16.92.2 port 25"), "{ev}");
    // Learned by `spanwatch learn` over the whole 85 s capture.
    assert!(ev.contains("1 min of learning"), "{ev}");
    assert_eq!(a[0]["alert"]["signature_id"], 9_100_001);
    // One incident per device, written at the end.
    let inc: Vec<&serde_json::Value> = recs
        .iter()
        .filter(|r| r["event_type"] == "incident")
        .collect();
    assert_eq!(inc.len(), 2);
    assert_ne!(inc[0]["incident"]["id"], inc[1]["incident"]["id"]);
    let d = &stats(&recs)["detect"];
    assert_eq!(d["by_model"]["new_device"]["alerts"], 2);
    assert_eq!(d["incidents"], 2);
    // The replay added what it saw to the state: a second replay is quiet.
    let again = replay(
        &[p.join("smtp/suricata-verify_smtp-attachment-md5.pcap")],
        &["--state-dir", dir_str(&state)],
    );
    assert!(alerts(&again).is_empty());
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn learn_for_ten_minutes_no_alert_before_ten_minutes_of_capture_time() {
    let Some(p) = shared_pcaps() else { return };
    // A merged trace: 2009 traffic first, then 2015 traffic with new hosts.
    let recs = replay(
        &[p.join("smtp/zeek_smtp.pcap")],
        &["--learn-for", "10m", "--workers", "1"],
    );
    let first = "2009-10-05T06:06:07.492060+00:00";
    let until = "2009-10-05T06:16:07.492060+00:00";
    let a = alerts(&recs);
    assert!(
        !a.is_empty(),
        "the 2015 hosts are new after ten minutes of 2009"
    );
    for x in &a {
        let ts = x["timestamp"].as_str().unwrap_or("");
        assert!(
            ts >= until,
            "alert at {ts}, before {until} (first packet {first}): {}",
            summary(x)
        );
    }
    assert!(a
        .iter()
        .any(|x| x["spanwatch"]["device"] == "192.168.133.100"
            && x["spanwatch"]["model"] == "new_device"));
    // Learning for longer than the trace spans: nothing.
    let recs = replay(&[p.join("smtp/zeek_smtp.pcap")], &["--learn-for", "3000d"]);
    assert!(alerts(&recs).is_empty());
    // The 25-minute Modbus testbed learned for its first 10 minutes.
    let recs = replay(
        &[p.join("mixed/lemay_channel_5d_3s.pcap")],
        &["--learn-for", "10m"],
    );
    for x in alerts(&recs) {
        let ts = x["timestamp"].as_str().unwrap_or("");
        assert!(ts >= "2015-04-24T00:32:07.356717+00:00", "{}", summary(x));
    }
}

/// Alerts, incidents and assets, sorted: what must not depend on workers.
fn detections(recs: &[serde_json::Value]) -> Vec<String> {
    let mut v: Vec<String> = recs
        .iter()
        .filter(|r| {
            matches!(
                r["event_type"].as_str(),
                Some("alert" | "incident" | "asset")
            )
        })
        .map(|r| r.to_string())
        .collect();
    v.sort();
    v
}

fn multi_capture(p: &Path) -> Vec<PathBuf> {
    [
        "modbus/iti_ModbusTCP.pcap",
        "smtp/zeek_smtp.pcap",
        "smtp/suricata-verify_smtp-attachment-md5.pcap",
        "tls/suricata-verify_tls-subjectaltname.pcap",
        "mixed/malcolm_Tunnels.pcap",
        "modbus/arkime_modbus.pcap",
    ]
    .iter()
    .map(|f| p.join(f))
    .collect()
}

#[test]
fn alerts_and_learned_state_do_not_depend_on_the_worker_count() {
    let Some(p) = shared_pcaps() else { return };
    let files = multi_capture(&p);
    let r1 = replay(&files, &["--learn-for", "1m", "--workers", "1"]);
    let r4 = replay(&files, &["--learn-for", "1m", "--workers", "4"]);
    let (d1, d4) = (detections(&r1), detections(&r4));
    assert!(
        alerts(&r1).len() >= 20,
        "a meaningful number of alerts: {}",
        alerts(&r1).len()
    );
    assert_eq!(d1, d4);
    // The snapshot `learn` writes is the same file too.
    let (s1, s4) = (tmpdir("w1"), tmpdir("w4"));
    learn(&files, &s1, &["--workers", "1"]);
    learn(&files, &s4, &["--workers", "4"]);
    let b1 = std::fs::read(s1.join("baseline.json")).expect("state");
    let b4 = std::fs::read(s4.join("baseline.json")).expect("state");
    assert!(
        b1 == b4,
        "the learned state differs between 1 and 4 workers"
    );
    // And replaying against it alerts the same.
    let more = [
        p.join("mixed/suricata-verify_decode-sll2-02.pcap"),
        p.join("tls/zeek_tls13-ech.pcap"),
    ];
    let a1 = replay(&more, &["--state-dir", dir_str(&s1), "--workers", "1"]);
    let a4 = replay(&more, &["--state-dir", dir_str(&s4), "--workers", "4"]);
    assert_eq!(detections(&a1), detections(&a4));
    let _ = std::fs::remove_dir_all(&s1);
    let _ = std::fs::remove_dir_all(&s4);
}

/// A tiny valid capture: one Ethernet/IPv4/TCP SYN.
fn tiny_pcap(path: &Path) {
    let mut v = Vec::new();
    v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&4u16.to_le_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&65535u32.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes());
    let mut f = Vec::new();
    f.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    // IPv4: 10.0.0.1 → 10.0.0.2, TCP, checksum not checked here.
    f.extend_from_slice(&[
        0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    // TCP 40000 → 502, SYN.
    f.extend_from_slice(&[
        0x9c, 0x40, 0x01, 0xf6, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    ]);
    v.extend_from_slice(&1_700_000_000u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&(f.len() as u32).to_le_bytes());
    v.extend_from_slice(&(f.len() as u32).to_le_bytes());
    v.extend_from_slice(&f);
    std::fs::write(path, v).expect("write pcap");
}

/// Runs `args` with `--state-dir DIR` over a bad state file: exit 2, one
/// line on stderr naming the file, and the file left as it was.
fn assert_state_refused(cmd: &str, dir: &Path, input: &Path, bytes: &[u8], needle: &str) {
    let state = dir.join("baseline.json");
    std::fs::write(&state, bytes).expect("write state");
    let o = bin()
        .arg(cmd)
        .arg(input)
        .arg("--state-dir")
        .arg(dir)
        .args(if cmd == "replay" {
            &["--eve", "-"][..]
        } else {
            &[][..]
        })
        .output()
        .expect("run spanwatch");
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{cmd}: exit code 2: {e}");
    assert_eq!(
        e.trim_end().lines().count(),
        1,
        "{cmd}: exactly one line: {e:?}"
    );
    assert!(e.starts_with("spanwatch: error: "), "{e}");
    assert!(
        e.contains(&state.display().to_string()),
        "{e:?} should name {}",
        state.display()
    );
    assert!(e.contains(needle), "{e:?} should say {needle:?}");
    assert!(o.stdout.is_empty(), "{cmd}: no EVE output before the error");
    assert_eq!(
        std::fs::read(&state).expect("kept"),
        bytes,
        "{cmd}: the state file was changed"
    );
}

#[test]
fn a_bad_state_file_is_refused_with_one_line_and_exit_2() {
    let dir = tmpdir("bad-state");
    let pcap = dir.join("tiny.pcap");
    tiny_pcap(&pcap);
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("mkdir");
    // A good snapshot to corrupt.
    let o = bin()
        .arg("learn")
        .arg(&pcap)
        .arg("--state-dir")
        .arg(&state)
        .arg("-q")
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    let good = std::fs::read(state.join("baseline.json")).expect("snapshot");
    let v: serde_json::Value = serde_json::from_slice(&good).expect("JSON");
    assert_eq!(v["format"], "spanwatch-baseline");
    assert_eq!(v["version"], 1);
    // The client only: the server never answered the SYN, so it is not
    // learned as a device.
    assert_eq!(v["devices"].as_array().map(Vec::len), Some(1));
    for cmd in ["replay", "learn"] {
        assert_state_refused(
            cmd,
            &state,
            &pcap,
            &good[..good.len() / 2],
            "corrupt baseline state",
        );
        assert_state_refused(
            cmd,
            &state,
            &pcap,
            b"\x00\xff\x13garbage\x88",
            "corrupt baseline state",
        );
        assert_state_refused(
            cmd,
            &state,
            &pcap,
            br#"{"format":"other-tool","version":1}"#,
            "not a spanwatch baseline state file",
        );
        for version in [0, 2] {
            let mut w = v.clone();
            w["version"] = serde_json::json!(version);
            assert_state_refused(
                cmd,
                &state,
                &pcap,
                &serde_json::to_vec(&w).expect("JSON"),
                &format!("baseline state version {version} is not supported"),
            );
        }
    }
    // The good file is accepted again.
    std::fs::write(state.join("baseline.json"), &good).expect("restore");
    let o = bin()
        .arg("replay")
        .arg(&pcap)
        .arg("--state-dir")
        .arg(&state)
        .args(["--eve", "-", "-q"])
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_snapshot_is_written_at_normal_exit() {
    let Some(p) = shared_pcaps() else { return };
    let state = tmpdir("exit-snapshot");
    let o = bin()
        .arg("learn")
        .arg(p.join("modbus/iti_ModbusTCP.pcap"))
        .arg("--state-dir")
        .arg(&state)
        .args(["--eve", "-", "-q"])
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    let recs = records(&o);
    let b = &stats(&recs)["baseline"];
    assert!(b["snapshots"].as_u64().unwrap_or(0) >= 1, "{b}");
    let bytes = std::fs::read(state.join("baseline.json")).expect("snapshot at exit");
    assert_eq!(b["snapshot_bytes"], bytes.len() as u64);
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    // tshark: 14 IPv4 endpoints in iti_ModbusTCP.pcap.
    assert_eq!(v["devices"].as_array().map(Vec::len), Some(14));
    assert_eq!(b["devices"], 14);
    // `learn` never alerts.
    assert!(alerts(&recs).is_empty());
    let _ = std::fs::remove_dir_all(&state);
}

#[test]
fn sigkill_during_learn_loses_at_most_the_last_snapshot_interval() {
    let Some(p) = shared_pcaps() else { return };
    let dir = tmpdir("sigkill");
    let state = dir.join("state");
    let config = dir.join("spanwatch.toml");
    std::fs::write(&config, "[baseline]\nsnapshot_interval = 1\n").expect("config");
    // A large input: one shared capture given 400 times (one input, read
    // in order; 57.5 M frames, far more than the test lets it read).
    let inputs = vec![p.join("mixed/lemay_channel_5d_3s.pcap"); 400];
    let mut child = bin()
        .arg("learn")
        .args(&inputs)
        .arg("--state-dir")
        .arg(&state)
        .arg("--config")
        .arg(&config)
        // One worker: with more, the one worker that gets this capture's
        // only host pair holds the merge (the idle one never reports a
        // watermark during a replay), so the baseline would see nothing
        // until the end. See the report to the lead.
        .args(["-q", "--workers", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let snap = state.join("baseline.json");
    let started = Instant::now();
    while !snap.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no snapshot within 60 s"
        );
        assert!(
            child.try_wait().expect("wait").is_none(),
            "learn ended before its first snapshot"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(2));
    let running = child.try_wait().expect("wait").is_none();
    assert!(
        running,
        "learn finished before it could be killed; give it a larger input"
    );
    // `Child::kill` is SIGKILL on Unix.
    child.kill().expect("SIGKILL");
    let killed_at = std::time::SystemTime::now();
    let status = child.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "ended by SIGKILL"
    );
    // The snapshot on disk is whole and recent: at most one interval (1 s)
    // old when the process died, plus scheduling slack.
    let age = killed_at
        .duration_since(
            std::fs::metadata(&snap)
                .expect("snapshot")
                .modified()
                .expect("mtime"),
        )
        .unwrap_or_default();
    assert!(
        age < Duration::from_secs(4),
        "the last snapshot was {age:?} old at the kill"
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&snap).expect("read"))
        .expect("a whole JSON snapshot");
    eprintln!(
        "SIGKILL after {:?}: snapshot {:?} old, {} observations, {} bytes",
        started.elapsed(),
        age,
        v["observations"],
        std::fs::metadata(&snap).map(|m| m.len()).unwrap_or(0)
    );
    assert_eq!(v["devices"].as_array().map(Vec::len), Some(2));
    assert!(
        v["observations"].as_u64().unwrap_or(0) > 50_000,
        "{}",
        v["observations"]
    );
    // It loads: a replay against it exits 0 and knows the two devices.
    let small = p.join("modbus/iti_modbus_test_data_part1.pcap");
    let o = bin()
        .arg("replay")
        .arg(&small)
        .arg("--state-dir")
        .arg(&state)
        .args(["--eve", "-", "-q"])
        .output()
        .expect("run");
    assert!(o.status.success(), "replay after SIGKILL: {}", stderr(&o));
    let recs = records(&o);
    // 2 learned + the 4 hosts of the small capture.
    assert_eq!(stats(&recs)["baseline"]["devices"], 6);
    let _ = std::fs::remove_dir_all(&dir);
}
