//! The learned state: devices, client/server pairs and network-wide facts,
//! each bounded, and its versioned on-disk snapshot.

use super::capped::{Capped, Ewma};
use super::obs::DeviceId;
use crate::capture::Nanos;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Bounds of the baseline (`[baseline]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BaselineConfig {
    /// Seconds of capture time learned before alerts start, when no state
    /// was loaded (`--learn-for` overrides it).
    pub learn_for: u64,
    /// Most devices tracked; more are counted and raise one alert.
    pub max_devices: usize,
    /// Most client/server/protocol pairs tracked.
    pub max_pairs: usize,
    /// Per-device cap on peers (each direction).
    pub max_peers: usize,
    /// Per-device cap on server ports.
    pub max_ports: usize,
    /// Per-device cap on TLS names and fingerprints, SMTP senders, attachment types.
    pub max_names: usize,
    /// Per-pair cap on OT codes.
    pub max_codes: usize,
    /// Network-wide cap on known domains.
    pub max_domains: usize,
    /// Seconds of wall time between snapshots with `--state-dir`.
    pub snapshot_interval: u64,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            learn_for: 3600,
            max_devices: 65_536,
            max_pairs: 262_144,
            max_peers: 256,
            max_ports: 64,
            max_names: 256,
            max_codes: 256,
            max_domains: 200_000,
            snapshot_interval: 60,
        }
    }
}

/// What the baseline knows about one device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Device {
    /// First packet time.
    pub first_seen: Nanos,
    /// Last packet time.
    pub last_seen: Nanos,
    /// Servers this device connected to.
    pub servers: Capped<DeviceId>,
    /// Clients that connected to this device.
    pub clients: Capped<DeviceId>,
    /// (IP protocol, port) this device served.
    pub server_ports: Capped<(u8, u16)>,
    /// Application protocols used as a client / served.
    pub apps: Capped<(bool, String)>,
    /// External peers (for internal devices).
    pub external: Capped<DeviceId>,
    /// TLS server names this device asked for.
    pub sni: Capped<String>,
    /// JA4 fingerprints of this device's ClientHellos.
    pub ja4: Capped<String>,
    /// Envelope senders this device relayed or received (as an SMTP server)
    /// or sent as (as a client).
    pub smtp_senders: Capped<String>,
    /// Attachment extensions this device sent.
    pub attachment_types: Capped<String>,
    /// SMTP recipients per transaction.
    pub smtp_rcpt: Ewma,
    /// SMTP transactions per hour (EWMA over hours with traffic).
    pub smtp_per_hour: Ewma,
    /// The hour being counted and its count.
    pub smtp_hour: (u64, u64),
    /// Flows started per hour of day (EWMA per hour).
    pub flows_per_hour: Vec<Ewma>,
    /// Flows started in the current hour (hour index, count, distinct peers).
    pub cur_hour: (u64, u64, u64),
    /// Asset facts (key → value), e.g. `cpu_model`, `firmware`.
    pub facts: BTreeMap<String, String>,
    /// Last controller state reported.
    pub ot_state: Option<String>,
    /// OT command classes any client sent to this device (bit per
    /// `OtClass`), so "has anyone sent this to it" is one lookup.
    #[serde(default)]
    pub ot_classes_served: u16,
    /// Alerts raised about this device.
    pub alerts: u64,
}

impl Device {
    /// A device first seen at `ts`.
    pub fn new(ts: Nanos, c: &BaselineConfig) -> Device {
        Device {
            first_seen: ts,
            last_seen: ts,
            servers: Capped::new(c.max_peers),
            clients: Capped::new(c.max_peers),
            server_ports: Capped::new(c.max_ports),
            apps: Capped::new(32),
            external: Capped::new(c.max_peers),
            sni: Capped::new(c.max_names),
            ja4: Capped::new(32),
            smtp_senders: Capped::new(c.max_names),
            attachment_types: Capped::new(64),
            smtp_rcpt: Ewma::default(),
            smtp_per_hour: Ewma::default(),
            smtp_hour: (0, 0),
            flows_per_hour: vec![Ewma::default(); 24],
            cur_hour: (0, 0, 0),
            facts: BTreeMap::new(),
            ot_state: None,
            ot_classes_served: 0,
            alerts: 0,
        }
    }

    /// Approximate bytes held in memory (the struct, its tables and the
    /// text they own).
    pub fn approx_bytes(&self) -> usize {
        let text = |k: &String| k.len();
        std::mem::size_of::<Device>()
            + self.servers.approx_bytes()
            + self.clients.approx_bytes()
            + self.server_ports.approx_bytes()
            + self.apps.approx_bytes_by(|k| k.1.len())
            + self.external.approx_bytes()
            + self.sni.approx_bytes_by(text)
            + self.ja4.approx_bytes_by(text)
            + self.smtp_senders.approx_bytes_by(text)
            + self.attachment_types.approx_bytes_by(text)
            + self.flows_per_hour.capacity() * std::mem::size_of::<Ewma>()
            + self
                .facts
                .iter()
                .map(|(k, v)| k.len() + v.len() + 64)
                .sum::<usize>()
            + self.ot_state.as_ref().map_or(0, |s| s.len())
    }
}

/// A client/server pair on one application protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PairKey {
    /// Client.
    pub client: DeviceId,
    /// Server.
    pub server: DeviceId,
    /// Application protocol index (`AppProto as u8`), 255 for none.
    pub app: u8,
}

/// What the baseline knows about one pair.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pair {
    /// First time seen.
    pub first_seen: Nanos,
    /// OT codes used: (code, sub-code).
    pub codes: Capped<(u16, u16)>,
    /// OT classes used (bit per class).
    pub classes: u16,
    /// Write ranges: (area, first address / 256).
    pub write_ranges: Capped<(u16, u32)>,
    /// Polling period in milliseconds.
    pub poll_ms: Ewma,
    /// Failed logons.
    pub auth_failures: u64,
    /// Failed logons in one hour of capture time: (hour, count).
    #[serde(default)]
    pub recent_failures: (u64, u64),
}

impl Pair {
    /// A pair first seen at `ts`.
    pub fn new(ts: Nanos, c: &BaselineConfig) -> Pair {
        Pair {
            first_seen: ts,
            codes: Capped::new(c.max_codes),
            classes: 0,
            write_ranges: Capped::new(c.max_codes),
            poll_ms: Ewma::default(),
            auth_failures: 0,
            recent_failures: (0, 0),
        }
    }
}

/// Network-wide facts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    /// Domains seen (DNS, TLS SNI, URLs in mail) with first-seen time.
    pub domains: Capped<String>,
    /// (sender address, recipient-side server) correspondents seen over SMTP.
    pub correspondents: Capped<String>,
    /// EGD exchanges: (producer, exchange) → config signature, at most
    /// [`MAX_EGD_EXCHANGES`].
    pub egd: BTreeMap<String, u32>,
    /// EGD exchanges refused because `egd` was full.
    #[serde(default)]
    pub egd_refused: u64,
    /// (sender, producer id) where an EGD producer id is not the sender's
    /// address and that was seen (so learned as normal).
    #[serde(default = "egd_senders")]
    pub egd_foreign_producers: Capped<(DeviceId, u32)>,
    /// CC-Link IE Field Basic masters seen.
    pub cclink_masters: Capped<DeviceId>,
    /// Devices refused because the device table was full.
    pub devices_refused: u64,
    /// Pairs refused because the pair table was full.
    pub pairs_refused: u64,
}

/// Most EGD exchanges remembered network-wide.
pub const MAX_EGD_EXCHANGES: usize = 4096;
/// Most (sender, foreign producer id) combinations remembered.
pub const MAX_EGD_FOREIGN: usize = 1024;

fn egd_senders() -> Capped<(DeviceId, u32)> {
    Capped::new(MAX_EGD_FOREIGN)
}

/// The whole learned state.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// Bounds.
    pub cfg: BaselineConfig,
    /// Devices.
    pub devices: HashMap<DeviceId, Device>,
    /// Pairs.
    pub pairs: HashMap<PairKey, Pair>,
    /// Network-wide facts.
    pub net: Network,
    /// Capture time learning started.
    pub learn_start: Option<Nanos>,
    /// Capture time at which learning ends (alerts start); `None`: never.
    pub learn_until: Option<Nanos>,
    /// Latest capture time seen.
    pub now: Nanos,
    /// Observations processed.
    pub observations: u64,
}

/// The snapshot file format version. Bump it when the layout changes; an
/// older or newer file is refused with a message, never silently discarded.
pub const STATE_VERSION: u32 = 1;
const STATE_FORMAT: &str = "spanwatch-baseline";
/// File name inside `--state-dir`.
pub const STATE_FILE: &str = "baseline.json";

/// The snapshot as written: borrows the state (no copy of it while saving).
#[derive(Serialize)]
struct SnapshotRef<'a> {
    format: &'static str,
    version: u32,
    cfg: &'a BaselineConfig,
    learn_start: Option<Nanos>,
    learn_until: Option<Nanos>,
    now: Nanos,
    observations: u64,
    devices: Vec<(&'a DeviceId, &'a Device)>,
    pairs: Vec<(&'a PairKey, &'a Pair)>,
    net: &'a Network,
}

/// The snapshot as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    // Checked through `Header` before the whole file is read.
    #[serde(rename = "format")]
    _format: String,
    #[serde(rename = "version")]
    _version: u32,
    cfg: BaselineConfig,
    learn_start: Option<Nanos>,
    learn_until: Option<Nanos>,
    now: Nanos,
    observations: u64,
    devices: Vec<(DeviceId, Device)>,
    pairs: Vec<(PairKey, Pair)>,
    net: Network,
}

#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u32>,
}

impl Baseline {
    /// An empty baseline.
    pub fn new(cfg: BaselineConfig) -> Baseline {
        Baseline {
            net: Network {
                domains: Capped::new(cfg.max_domains),
                correspondents: Capped::new(cfg.max_domains),
                egd: BTreeMap::new(),
                egd_refused: 0,
                egd_foreign_producers: egd_senders(),
                cclink_masters: Capped::new(64),
                devices_refused: 0,
                pairs_refused: 0,
            },
            cfg,
            devices: HashMap::new(),
            pairs: HashMap::new(),
            learn_start: None,
            learn_until: None,
            now: 0,
            observations: 0,
        }
    }

    /// True while learning (no alerts).
    pub fn learning(&self, ts: Nanos) -> bool {
        match self.learn_until {
            None => true,
            Some(u) => ts < u,
        }
    }

    /// Approximate bytes of all state in memory: devices and pairs with
    /// their hash-table slots, and the network-wide tables.
    pub fn approx_bytes(&self) -> usize {
        let text = |k: &String| k.len();
        let slot = |k: usize| k + 8;
        self.devices
            .values()
            .map(|d| d.approx_bytes() + slot(std::mem::size_of::<DeviceId>()))
            .sum::<usize>()
            + self
                .pairs
                .values()
                .map(|p| {
                    std::mem::size_of::<Pair>()
                        + slot(std::mem::size_of::<PairKey>())
                        + p.codes.approx_bytes()
                        + p.write_ranges.approx_bytes()
                })
                .sum::<usize>()
            + self.net.domains.approx_bytes_by(text)
            + self.net.correspondents.approx_bytes_by(text)
            + self.net.egd.keys().map(|k| k.len() + 64).sum::<usize>()
            + self.net.cclink_masters.approx_bytes()
            + self.net.egd_foreign_producers.approx_bytes()
    }

    /// The snapshot path inside a state directory.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// The snapshot as JSON bytes (devices and pairs sorted, so equal states
    /// give equal files).
    pub fn to_snapshot(&self) -> serde_json::Result<Vec<u8>> {
        let mut devices: Vec<(&DeviceId, &Device)> = self.devices.iter().collect();
        devices.sort_by_key(|(k, _)| **k);
        let mut pairs: Vec<(&PairKey, &Pair)> = self.pairs.iter().collect();
        pairs.sort_by_key(|(k, _)| **k);
        serde_json::to_vec(&SnapshotRef {
            format: STATE_FORMAT,
            version: STATE_VERSION,
            cfg: &self.cfg,
            learn_start: self.learn_start,
            learn_until: self.learn_until,
            now: self.now,
            observations: self.observations,
            devices,
            pairs,
            net: &self.net,
        })
    }

    /// Writes the snapshot atomically: a temporary file in the same
    /// directory, fsync, rename over `baseline.json`, fsync of the
    /// directory. A failure at any step leaves the previous snapshot as it
    /// was (and removes the temporary file). Returns the bytes written.
    pub fn save(&self, dir: &Path) -> std::io::Result<u64> {
        self.save_with(dir, std::io::Write::write_all)
    }

    /// [`Baseline::save`] with the write of the temporary file supplied by
    /// the caller (tests make it fail half way).
    fn save_with(
        &self,
        dir: &Path,
        write: impl FnOnce(&mut std::fs::File, &[u8]) -> std::io::Result<()>,
    ) -> std::io::Result<u64> {
        std::fs::create_dir_all(dir)?;
        let bytes = self.to_snapshot().map_err(std::io::Error::other)?;
        let tmp = dir.join(format!(".{STATE_FILE}.tmp-{}", std::process::id()));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            write(&mut f, &bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, Self::path_in(dir))
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(bytes.len() as u64)
    }

    /// Loads the snapshot in `dir`. `Ok(None)` when there is none yet. A
    /// corrupt file, another format or another version is an error whose
    /// message names the file and says what to do.
    pub fn load(dir: &Path) -> Result<Option<Baseline>, String> {
        let path = Self::path_in(dir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(format!(
                    "{}: cannot read baseline state: {e}",
                    path.display()
                ))
            }
        };
        let p = path.display();
        let h: Header = serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "{p}: corrupt baseline state ({e}); move it away to start learning from scratch"
            )
        })?;
        if h.format.as_deref() != Some(STATE_FORMAT) {
            return Err(format!("{p}: not a spanwatch baseline state file"));
        }
        match h.version {
            Some(STATE_VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "{p}: baseline state version {v} is not supported by this spanwatch (it reads version {STATE_VERSION}); \
                     keep the file and use the matching spanwatch, or move it away to learn again"
                ))
            }
            None => return Err(format!("{p}: baseline state has no version")),
        }
        let s: Snapshot = serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "{p}: corrupt baseline state ({e}); move it away to start learning from scratch"
            )
        })?;
        Ok(Some(Baseline {
            cfg: s.cfg,
            devices: s.devices.into_iter().collect(),
            pairs: s.pairs.into_iter().collect(),
            net: s.net,
            learn_start: s.learn_start,
            learn_until: s.learn_until,
            now: s.now,
            observations: s.observations,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Addr;

    const T0: Nanos = 1_429_914_166_353_752_000;

    fn dev(a: [u8; 4]) -> DeviceId {
        DeviceId::new(Addr::v4(a), false)
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("spanwatch-state-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    /// A small learned state: an HMI polling a PLC over Modbus, a web
    /// client, DNS names, an EGD exchange; learning ended 10 min in.
    fn learned() -> Baseline {
        let cfg = BaselineConfig {
            learn_for: 600,
            ..BaselineConfig::default()
        };
        let mut b = Baseline::new(cfg.clone());
        let (hmi, plc, web) = (
            dev([10, 0, 0, 10]),
            dev([10, 0, 0, 20]),
            dev([93, 184, 216, 34]),
        );
        let mut h = Device::new(T0, &cfg);
        h.servers.see(plc, T0);
        h.servers.see(web, T0 + 5);
        h.external.see(web, T0 + 5);
        h.sni.see("www.example.com".into(), T0 + 6);
        h.ja4
            .see("t13d1516h2_8daaf6152771_e5627efa2ab1".into(), T0 + 6);
        h.flows_per_hour[3].add(42.0, 0.3);
        h.cur_hour = (397_198, 7, 2);
        h.smtp_rcpt.add(1.5, 0.2);
        let mut p = Device::new(T0, &cfg);
        p.clients.see(hmi, T0);
        p.server_ports.see((6, 502), T0);
        p.apps.see((false, "modbus".into()), T0 + 1);
        p.facts.insert("vendor".into(), "Schneider Electric".into());
        p.facts.insert("firmware".into(), "v2.10".into());
        p.ot_state = Some("run".into());
        p.ot_classes_served = 0b101;
        b.devices.insert(hmi, h);
        b.devices.insert(plc, p);
        b.devices.insert(web, Device::new(T0 + 5, &cfg));
        let mut pair = Pair::new(T0, &cfg);
        pair.codes.see((3, 0), T0);
        pair.codes.see((16, 0), T0 + 9);
        pair.classes = 0b11;
        pair.write_ranges.see((4, 0), T0 + 9);
        pair.poll_ms.add(100.0, 0.2);
        pair.poll_ms.add(101.5, 0.2);
        pair.auth_failures = 2;
        pair.recent_failures = (397_198, 2);
        b.pairs.insert(
            PairKey {
                client: hmi,
                server: plc,
                app: 0,
            },
            pair,
        );
        b.net.domains.see("www.example.com".into(), T0 + 6);
        b.net
            .correspondents
            .see("alice@partner.example".into(), T0 + 7);
        b.net.egd.insert("192.168.8.77:123".into(), 0x100);
        b.net.cclink_masters.see(dev([172, 16, 134, 128]), T0);
        b.net
            .egd_foreign_producers
            .see((dev([192, 168, 9, 5]), 0x0a01_0105), T0);
        b.net.devices_refused = 3;
        b.net.pairs_refused = 1;
        b.learn_start = Some(T0);
        b.learn_until = Some(T0 + 600 * 1_000_000_000);
        b.now = T0 + 1_520_678_260_000;
        b.observations = 143_809;
        b
    }

    fn json(v: &impl Serialize) -> serde_json::Value {
        serde_json::to_value(v).expect("serializable")
    }

    #[test]
    fn saved_state_round_trips_devices_pairs_network_and_learn_times() {
        let dir = tmpdir("roundtrip");
        let b = learned();
        let n = b.save(&dir).expect("save");
        let path = Baseline::path_in(&dir);
        assert_eq!(std::fs::metadata(&path).expect("file").len(), n);
        let back = Baseline::load(&dir).expect("loads").expect("present");
        assert_eq!(back.cfg, b.cfg);
        assert_eq!(back.learn_start, Some(T0));
        assert_eq!(back.learn_until, Some(T0 + 600_000_000_000));
        assert_eq!(back.now, b.now);
        assert_eq!(back.observations, 143_809);
        assert_eq!(back.devices.len(), 3);
        for (k, d) in &b.devices {
            assert_eq!(json(&back.devices[k]), json(d), "device {k}");
        }
        let plc = &back.devices[&dev([10, 0, 0, 20])];
        assert_eq!(plc.facts["firmware"], "v2.10");
        assert_eq!(plc.ot_state.as_deref(), Some("run"));
        assert!(plc.server_ports.contains(&(6, 502)));
        assert_eq!(back.pairs.len(), 1);
        let (k, p) = back.pairs.iter().next().expect("pair");
        assert_eq!(json(p), json(&b.pairs[k]));
        assert_eq!(p.poll_ms, b.pairs[k].poll_ms, "floats survive exactly");
        assert_eq!(json(&back.net), json(&b.net));
        assert_eq!(back.net.egd["192.168.8.77:123"], 0x100);
        assert_eq!((back.net.devices_refused, back.net.pairs_refused), (3, 1));
        // Saving the loaded state gives the same bytes.
        assert_eq!(
            back.to_snapshot().expect("json"),
            std::fs::read(&path).expect("read")
        );
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![STATE_FILE.to_string()]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn no_state_file_is_a_fresh_start() {
        let dir = tmpdir("fresh");
        assert!(Baseline::load(&dir).expect("no error").is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Writes `bytes` as the state file, loads it, and checks that it is
    /// refused with one line that names the file, and that the file is left
    /// as it was.
    fn refused(name: &str, bytes: &[u8], needle: &str) -> String {
        let dir = tmpdir(name);
        let path = Baseline::path_in(&dir);
        std::fs::write(&path, bytes).expect("write");
        let e = match Baseline::load(&dir) {
            Err(e) => e,
            Ok(_) => panic!("{name}: a bad state file was accepted"),
        };
        assert!(!e.contains('\n'), "{name}: not one line: {e:?}");
        assert!(
            e.starts_with(&path.display().to_string()),
            "{name}: does not name the file: {e}"
        );
        assert!(e.contains(needle), "{name}: {e:?} lacks {needle:?}");
        assert_eq!(
            std::fs::read(&path).expect("still there"),
            bytes,
            "{name}: file changed"
        );
        let _ = std::fs::remove_dir_all(&dir);
        e
    }

    #[test]
    fn truncated_state_is_refused_not_discarded() {
        let good = learned().to_snapshot().expect("json");
        let e = refused(
            "truncated",
            &good[..good.len() / 2],
            "corrupt baseline state (EOF",
        );
        assert!(
            e.contains("move it away to start learning from scratch"),
            "{e}"
        );
        refused("empty", b"", "corrupt baseline state");
        refused(
            "one-byte-short",
            &good[..good.len() - 1],
            "corrupt baseline state",
        );
    }

    #[test]
    fn random_bytes_are_refused() {
        // A fixed xorshift sequence: binary garbage, not UTF-8.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let bytes: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        refused("random", &bytes, "corrupt baseline state");
        refused("zeros", &[0u8; 512], "corrupt baseline state");
    }

    #[test]
    fn json_of_another_format_is_refused() {
        refused(
            "other-format",
            br#"{"format":"suricata-stats","version":1}"#,
            "not a spanwatch baseline state file",
        );
        refused(
            "no-format",
            br#"{"devices":[],"pairs":[]}"#,
            "not a spanwatch baseline state file",
        );
        refused("array", b"[1,2,3]", "corrupt baseline state");
        refused("null", b"null", "corrupt baseline state");
        refused("string", br#""baseline""#, "corrupt baseline state");
        refused(
            "no-version",
            br#"{"format":"spanwatch-baseline"}"#,
            "baseline state has no version",
        );
        // The right header over a body of another shape.
        refused(
            "header-only",
            br#"{"format":"spanwatch-baseline","version":1}"#,
            "corrupt baseline state (missing field",
        );
        // A field this version does not know is not silently dropped.
        let mut v: serde_json::Value =
            serde_json::from_slice(&learned().to_snapshot().expect("json")).expect("parse");
        v["extra"] = serde_json::json!(1);
        refused(
            "unknown-field",
            &serde_json::to_vec(&v).expect("json"),
            "unknown field `extra`",
        );
    }

    #[test]
    fn older_and_newer_versions_are_refused_with_what_to_do() {
        let good = learned().to_snapshot().expect("json");
        for version in [0u32, STATE_VERSION + 1, 77] {
            let mut v: serde_json::Value = serde_json::from_slice(&good).expect("parse");
            v["version"] = serde_json::json!(version);
            let e = refused(
                &format!("version-{version}"),
                &serde_json::to_vec(&v).expect("json"),
                &format!("baseline state version {version} is not supported"),
            );
            assert!(e.contains("it reads version 1"), "{e}");
            assert!(
                e.contains("keep the file and use the matching spanwatch"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_state_path_that_is_a_directory_is_an_error_naming_it() {
        let dir = tmpdir("isdir");
        std::fs::create_dir_all(Baseline::path_in(&dir)).expect("mkdir");
        let e = match Baseline::load(&dir) {
            Err(e) => e,
            Ok(_) => panic!("a directory was read as state"),
        };
        assert!(
            e.contains("baseline.json: cannot read baseline state"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_leaves_the_previous_snapshot_intact() {
        let dir = tmpdir("failed-write");
        let path = Baseline::path_in(&dir);
        let old = learned();
        old.save(&dir).expect("first save");
        let before = std::fs::read(&path).expect("read");
        let mut newer = learned();
        newer.observations += 1_000;
        newer.devices.clear();
        // The disk fills half way through the temporary file.
        let e = newer
            .save_with(&dir, |f, b| {
                std::io::Write::write_all(f, &b[..b.len() / 2])?;
                Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "no space left on device",
                ))
            })
            .expect_err("the write failed");
        assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
        assert_eq!(std::fs::read(&path).expect("still there"), before);
        let back = Baseline::load(&dir).expect("loads").expect("present");
        assert_eq!(back.devices.len(), 3);
        assert_eq!(back.observations, 143_809);
        // And the partial temporary file is gone.
        let names: Vec<String> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![STATE_FILE.to_string()]);
        // A successful save then replaces it whole.
        newer.save(&dir).expect("second save");
        let back = Baseline::load(&dir).expect("loads").expect("present");
        assert_eq!((back.devices.len(), back.observations), (0, 144_809));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_state_dir_that_cannot_be_created_is_an_error() {
        let dir = tmpdir("not-a-dir");
        let file = dir.join("plain-file");
        std::fs::write(&file, b"x").expect("write");
        assert!(learned().save(&file.join("state")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn state_size_is_bounded_per_device() {
        let cfg = BaselineConfig::default();
        let mut d = Device::new(T0, &cfg);
        let empty = d.approx_bytes();
        // Fill every per-device table far beyond its cap.
        for i in 0..10_000u32 {
            let peer = dev((0x0b00_0000 + i).to_be_bytes());
            d.servers.see(peer, T0);
            d.clients.see(peer, T0);
            d.external.see(peer, T0);
            d.server_ports.see((6, i as u16), T0);
            d.sni.see(format!("host{i}.example.com"), T0);
            d.ja4.see(format!("t13d1516h2_{i:012}_e5627efa2ab1"), T0);
            d.smtp_senders.see(format!("user{i}@example.com"), T0);
            d.attachment_types.see(format!("x{i}"), T0);
            d.apps.see((i % 2 == 0, format!("app{i}")), T0);
        }
        assert_eq!(d.servers.len(), cfg.max_peers);
        assert_eq!(d.server_ports.len(), cfg.max_ports);
        assert_eq!(d.sni.len(), cfg.max_names);
        assert_eq!(d.ja4.len(), 32);
        assert_eq!(d.attachment_types.len(), 64);
        assert_eq!(d.apps.len(), 32);
        let full = d.approx_bytes();
        eprintln!("device state: {empty} bytes empty, {full} bytes with every table full");
        assert!(full < 200 * 1024, "{full}");
    }
}
