//! Labelled attack scenarios: a plant's routine traffic learned for two hours of capture time,
//! then one attack chain whose every step is written to a ground-truth file, then an hour of
//! benign traffic with legitimate novelties.
//!
//! `spanwatch-gen scenario NAME -o pcaps/scenarios/NAME.pcap` writes the capture and
//! `NAME.truth.json` next to it; the same seed gives the same bytes. `spanwatch-eval` replays
//! each capture through `spanwatch` and matches its alerts to the steps (see
//! [`crate::eval`]).
//!
//! | scenario | chain |
//! |---|---|
//! | `account_takeover` | a workstation talks TLS to VPS hosts with a new client, then mass-mails an HTML attachment to BCC lists |
//! | `vendor_email_compromise` | a known supplier's account mails a link to a new file-sharing domain and to a look-alike of a known domain; a user follows it |
//! | `ot_intrusion_ge_modbus` | a laptop joins the control network: scan, Modbus function-code sweep, SRTP logon/STOP/clear/program load/set time, EGD signature change, firmware change, HMI writes and polling shift |
//! | `ot_intrusion_mitsubishi` | the engineering workstation is used to unlock, stop and reprogram a MELSEC CPU; a rogue CC-Link master; the CPU model changes |
//! | `benign_day` | learning, then two hours of routine traffic and legitimate novelty only |
//!
//! The plant and its routine traffic are in [`site`], the chains in [`chains`].

pub mod actors;
pub mod chains;
pub mod proto;
pub mod site;
pub mod truth;

use std::io::{self, Write};

use super::net::Net;
use super::pcap::PcapWriter;
use super::rng::{mix64, Rng};
use super::timeline::{Limits, Stats, Timeline};
use super::EPOCH;
use truth::Truth;

/// Seed of the committed scenario captures.
pub const DEFAULT_SEED: u64 = 1;

/// Every scenario: name and one-line description.
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "account_takeover",
        "account takeover of a finance workstation: VPS endpoints, new TLS client, mass mailing with an HTML attachment",
    ),
    (
        "vendor_email_compromise",
        "a known supplier account mails a link to a new file-sharing domain and to a look-alike domain",
    ),
    (
        "ot_intrusion_ge_modbus",
        "OT intrusion: new laptop, scan, Modbus sweep and writes, SRTP STOP/clear/program/time, EGD and firmware changes, polling shift",
    ),
    (
        "ot_intrusion_mitsubishi",
        "OT intrusion through the engineering workstation: SLMP unlock/STOP/RUN, MELSOFT program download, rogue CC-Link master, CPU model change",
    ),
    (
        "benign_day",
        "routine traffic and legitimate novelty only: the false-alert baseline",
    ),
];

/// A built scenario: the timeline to run and its ground truth.
pub struct Scenario {
    /// Every actor, scheduled.
    pub timeline: Timeline,
    /// What happens when.
    pub truth: Truth,
}

/// Builds scenario `name` with `seed`; `None` for an unknown name.
pub fn build(name: &str, seed: u64) -> Option<Scenario> {
    let (_, description) = SCENARIOS.iter().find(|(n, _)| *n == name)?;
    let salt = name.bytes().fold(0u64, |h, b| mix64(h ^ u64::from(b)));
    let mut rng = Rng::new(seed ^ salt);
    let mut tl = Timeline::new(Net::new(rng.next_u64()));
    let mut truth = Truth {
        scenario: name.into(),
        seed,
        description: (*description).into(),
        capture_start: String::new(),
        capture_end: String::new(),
        learn_for: String::new(),
        learn_for_secs: 0,
        learning_end: String::new(),
        learning_end_us: 0,
        benign_start: String::new(),
        benign_start_us: 0,
        devices: Vec::new(),
        attack_hosts: Vec::new(),
        steps: Vec::new(),
        novelties: Vec::new(),
    };
    chains::build(name, EPOCH, &mut tl, &mut truth, &mut rng)?;
    Some(Scenario {
        timeline: tl,
        truth,
    })
}

/// Writes scenario `name` as a pcap to `out` and returns what was written with the truth.
pub fn write<W: Write>(name: &str, seed: u64, out: W) -> io::Result<(Stats, Truth)> {
    let Some(mut sc) = build(name, seed) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "unknown scenario {name:?}; known: {}",
                SCENARIOS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    let mut w = PcapWriter::new(out)?;
    let stats = sc.timeline.run(&mut w, Limits::default(), &mut |_| {})?;
    w.finish()?;
    Ok((stats, sc.truth))
}
