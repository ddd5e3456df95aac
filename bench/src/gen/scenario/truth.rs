//! The ground truth written next to each scenario capture (`NAME.truth.json`): when learning
//! ends, every labelled attack step (time window, attacker and victim addresses, the detection
//! models expected to fire), and the benign novelties that should stay quiet or low.

use serde::{Deserialize, Serialize};

use crate::gen::{civil_from_micros, Micros};

/// One labelled attack step.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Step {
    /// Short id, unique in the scenario (`a1`, `c4`...).
    pub id: String,
    /// The attack chain it belongs to.
    pub chain: String,
    /// What happens, in words.
    pub description: String,
    /// First packet of the step (RFC 3339, UTC).
    pub start: String,
    /// Last packet of the step.
    pub end: String,
    /// `start` in µs since the Unix epoch.
    pub start_us: u64,
    /// `end` in µs since the Unix epoch.
    pub end_us: u64,
    /// Addresses of the attacking side (the host that acts).
    pub attacker: Vec<String>,
    /// Addresses of the victims (the hosts acted upon).
    pub victims: Vec<String>,
    /// Model keys (`spanwatch.model`) that must each raise at least one alert on an attacker
    /// or victim within the window.
    pub models: Vec<String>,
    /// Model keys that may also alert on this step without counting as false alerts.
    #[serde(default)]
    pub may_fire: Vec<String>,
}

/// Something new but legitimate in the benign period.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Novelty {
    /// Short id (`n1`...).
    pub id: String,
    /// What happens.
    pub description: String,
    /// First packet.
    pub start: String,
    /// `start` in µs.
    pub start_us: u64,
    /// The hosts involved.
    pub devices: Vec<String>,
    /// Models that may alert on it, at a score below 50.
    #[serde(default)]
    pub low_score_models: Vec<String>,
}

/// A scenario's ground truth.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Truth {
    /// Scenario name.
    pub scenario: String,
    /// Seed it was generated with.
    pub seed: u64,
    /// What the capture shows.
    pub description: String,
    /// First packet time.
    pub capture_start: String,
    /// Planned end of the capture.
    pub capture_end: String,
    /// `--learn-for` value to replay with (`2h`).
    pub learn_for: String,
    /// The same, in seconds.
    pub learn_for_secs: u64,
    /// When learning ends (capture start + learn_for).
    pub learning_end: String,
    /// `learning_end` in µs.
    pub learning_end_us: u64,
    /// Where the benign period (after the attacks) starts.
    pub benign_start: String,
    /// `benign_start` in µs.
    pub benign_start_us: u64,
    /// Roles of the hosts: address → description.
    pub devices: Vec<(String, String)>,
    /// Hosts that exist only for the attack (their flows are never benign).
    #[serde(default)]
    pub attack_hosts: Vec<String>,
    /// Attack steps in time order.
    pub steps: Vec<Step>,
    /// Legitimate novelties of the benign period.
    pub novelties: Vec<Novelty>,
}

/// `2026-01-05T10:00:00.000000+00:00`: the form spanwatch writes in EVE.
pub fn rfc3339(t: Micros) -> String {
    let (y, mo, d, h, mi, s) = civil_from_micros(t);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}+00:00",
        t % 1_000_000
    )
}

/// Parses the RFC 3339 timestamps spanwatch writes (`…T…[.ffffff](Z|±hh:mm)`) into µs since
/// the Unix epoch. `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<Micros> {
    let b = s.as_bytes();
    let num = |a: usize, n: usize| -> Option<i64> {
        let t = s.get(a..a + n)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if b.get(4) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut digits = 0;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if digits < 6 {
                frac = frac * 10 + i64::from(c - b'0');
                digits += 1;
            }
            i += 1;
        }
        while digits < 6 {
            frac *= 10;
            digits += 1;
        }
    }
    let offset = match b.get(i) {
        Some(b'Z') => 0,
        Some(&c @ (b'+' | b'-')) => {
            let o = num(i + 1, 2)? * 3600 + num(i + 4, 2)? * 60;
            if c == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    // Days from civil (proleptic Gregorian), era-based.
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    u64::try_from(secs * 1_000_000 + frac).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::EPOCH;

    #[test]
    fn timestamps_round_trip_in_eve_form() {
        let t = EPOCH + 3_723_000_042;
        assert_eq!(rfc3339(t), "2026-01-05T09:02:03.000042+00:00");
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        assert_eq!(parse_rfc3339("2026-01-05T08:00:00Z"), Some(EPOCH));
        assert_eq!(
            parse_rfc3339("2026-01-05T10:00:00.5+02:00"),
            Some(EPOCH + 500_000)
        );
        assert_eq!(
            parse_rfc3339("2015-04-24T21:42:46.353752+00:00"),
            Some(1_429_911_766_353_752)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
