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

    /// Approximate bytes held.
    pub fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Device>()
            + self.servers.approx_bytes()
            + self.clients.approx_bytes()
            + self.server_ports.approx_bytes()
            + self.apps.approx_bytes()
            + self.external.approx_bytes()
            + self.sni.iter().map(|(k, _)| k.len() + 48).sum::<usize>()
            + self.ja4.iter().map(|(k, _)| k.len() + 48).sum::<usize>()
            + self
                .smtp_senders
                .iter()
                .map(|(k, _)| k.len() + 48)
                .sum::<usize>()
            + self
                .facts
                .iter()
                .map(|(k, v)| k.len() + v.len() + 48)
                .sum::<usize>()
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

    /// Approximate bytes of all state.
    pub fn approx_bytes(&self) -> usize {
        self.devices
            .values()
            .map(|d| d.approx_bytes() + 32)
            .sum::<usize>()
            + self.pairs.len() * (std::mem::size_of::<Pair>() + 64)
            + self
                .pairs
                .values()
                .map(|p| p.codes.approx_bytes() + p.write_ranges.approx_bytes())
                .sum::<usize>()
            + self
                .net
                .domains
                .iter()
                .map(|(k, _)| k.len() + 48)
                .sum::<usize>()
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
