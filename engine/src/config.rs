//! Configuration: a TOML file, every key optional with a documented default.
//!
//! No configuration file is needed to run; `spanwatch config` prints the
//! defaults as a commented TOML file. `docs/configuration.md` documents each key.

use crate::baseline::state::BaselineConfig;
use crate::decode::DecodeConfig;
use crate::detect::DetectConfig;
use crate::dissect::DissectConfig;
use crate::flow::FlowConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Threads and batching (`[runtime]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Worker threads; 0 means one per CPU core. `--workers` overrides it.
    pub workers: usize,
    /// Frames per batch handed from the reader to a worker.
    pub batch_size: usize,
    /// Batches that may wait in each worker's queue (bounded channel).
    pub queue_depth: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            workers: 0,
            batch_size: 256,
            queue_depth: 64,
        }
    }
}

/// IP fragment reassembly (`[decode]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecodeSection {
    /// Most IP datagrams under reassembly at once, over all workers.
    pub max_fragment_trackers: usize,
    /// Seconds of packet time after which an incomplete datagram is dropped.
    pub fragment_timeout: u64,
    /// Most bytes held in fragment reassembly buffers, over all workers.
    pub max_fragment_bytes: usize,
}

impl Default for DecodeSection {
    fn default() -> Self {
        let d = DecodeConfig::default();
        DecodeSection {
            max_fragment_trackers: d.max_fragment_trackers,
            fragment_timeout: d.fragment_timeout_secs,
            max_fragment_bytes: d.max_fragment_bytes,
        }
    }
}

impl DecodeSection {
    /// The decoder settings for one of `workers` workers.
    pub fn for_worker(&self, workers: usize) -> DecodeConfig {
        DecodeConfig {
            max_fragment_trackers: (self.max_fragment_trackers / workers.max(1)).max(64),
            fragment_timeout_secs: self.fragment_timeout,
            max_fragment_bytes: (self.max_fragment_bytes / workers.max(1)).max(1 << 20),
        }
    }
}

/// TCP reassembly (`[reassembly]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReassemblySection {
    /// Overlap policy: `first`, `last`, `bsd` (default, as Suricata), `linux`,
    /// `old-linux`, `solaris` or `windows`.
    pub policy: String,
    /// Bytes of out-of-order data held, over all workers (the reassembly memcap).
    pub memcap: u64,
    /// Out-of-order bytes one stream may hold.
    pub max_buffered_bytes_per_stream: u32,
    /// Holes one stream may have.
    pub max_holes_per_stream: u16,
    /// Buffered segments one stream may hold.
    pub max_segments_per_stream: u16,
    /// Bytes per direction reassembled for IT protocols (TLS, SMTP, DNS);
    /// OT protocols keep their whole session.
    pub it_depth: u64,
    /// Milliseconds of packet time data may wait behind a hole before it is
    /// declared lost.
    pub gap_timeout_ms: u64,
    /// Milliseconds an ACKed hole may stay open (SPAN reordering) before it is a gap.
    pub ack_grace_ms: u64,
}

impl Default for ReassemblySection {
    fn default() -> Self {
        let d = crate::reassembly::ReassemblyConfig::default();
        ReassemblySection {
            policy: d.policy.name().to_string(),
            memcap: 256 << 20,
            max_buffered_bytes_per_stream: d.max_buffered_bytes_per_stream,
            max_holes_per_stream: d.max_holes_per_stream,
            max_segments_per_stream: d.max_segments_per_stream,
            it_depth: d.depth.unwrap_or(1 << 20),
            gap_timeout_ms: d.gap_timeout_ns / 1_000_000,
            ack_grace_ms: d.ack_grace_ns / 1_000_000,
        }
    }
}

impl ReassemblySection {
    /// The stream settings.
    pub fn to_config(&self) -> crate::reassembly::ReassemblyConfig {
        crate::reassembly::ReassemblyConfig {
            policy: crate::reassembly::OverlapPolicy::from_name(&self.policy).unwrap_or_default(),
            max_buffered_bytes_per_stream: self.max_buffered_bytes_per_stream,
            max_holes_per_stream: self.max_holes_per_stream,
            max_segments_per_stream: self.max_segments_per_stream,
            depth: Some(self.it_depth),
            gap_timeout_ns: self.gap_timeout_ms * 1_000_000,
            ack_grace_ns: self.ack_grace_ms * 1_000_000,
            recent_window_bytes: 0,
        }
    }
}

/// EVE output (`[output]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputConfig {
    /// Default EVE path when `--eve` is not given; `-` is stdout.
    pub eve: String,
    /// Write `flow` records.
    pub flow_records: bool,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            eve: "eve.json".into(),
            flow_records: true,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[runtime]`
    pub runtime: RuntimeConfig,
    /// `[decode]`
    pub decode: DecodeSection,
    /// `[flow]`
    pub flow: FlowConfig,
    /// `[reassembly]`
    pub reassembly: ReassemblySection,
    /// `[dissect]`
    pub dissect: DissectConfig,
    /// `[baseline]`
    pub baseline: BaselineConfig,
    /// `[detect]`
    pub detect: DetectConfig,
    /// `[output]`
    pub output: OutputConfig,
}

impl Config {
    /// Reads and checks a TOML file. The error is one line naming the file.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Config::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(text).map_err(|e| e.message().replace('\n', " "))?;
        c.validate()?;
        Ok(c)
    }

    /// Rejects values that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if self.runtime.batch_size == 0 || self.runtime.batch_size > 65_536 {
            return Err("runtime.batch_size must be between 1 and 65536".into());
        }
        if self.runtime.queue_depth == 0 {
            return Err("runtime.queue_depth must be at least 1".into());
        }
        if crate::reassembly::OverlapPolicy::from_name(&self.reassembly.policy).is_none() {
            return Err(format!(
                "reassembly.policy {:?} is not one of first, last, bsd, linux, old-linux, solaris, windows",
                self.reassembly.policy
            ));
        }
        if self.flow.max_flows < 16 {
            return Err("flow.max_flows must be at least 16".into());
        }
        Ok(())
    }

    /// The defaults as TOML.
    pub fn default_toml() -> String {
        toml::to_string_pretty(&Config::default()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn defaults_round_trip() {
        assert_eq!(
            Config::parse(&Config::default_toml()).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn unknown_key_is_refused_with_its_name() {
        let e = Config::parse("[flow]\nmax_flowz = 3\n").unwrap_err();
        assert!(e.contains("max_flowz"), "{e}");
    }

    #[test]
    fn partial_section_keeps_other_defaults() {
        let c = Config::parse("[flow.timeouts]\ntcp_established = 5\n").unwrap();
        assert_eq!(c.flow.timeouts.tcp_established, 5);
        assert_eq!(c.flow.timeouts.udp_new, 30);
        assert_eq!(c.flow.max_flows, 1_000_000);
    }
}
