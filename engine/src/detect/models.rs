//! The detection models: each has a stable id (`alert.signature_id`), a
//! name (`alert.signature`), a category, a severity and MITRE ATT&CK
//! technique ids (Enterprise `T1xxx`, ICS `T08xx`).

/// One detection model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    /// Stable id, written as `alert.signature_id`.
    pub sid: u32,
    /// Short key, written as `spanwatch.model`.
    pub key: &'static str,
    /// Name, written as `alert.signature`.
    pub name: &'static str,
    /// Category, written as `alert.category`.
    pub category: &'static str,
    /// Severity 1 (high) to 3 (low).
    pub severity: u8,
    /// MITRE ATT&CK technique ids.
    pub mitre: &'static [&'static str],
}

macro_rules! models {
    ($($id:ident = $sid:expr, $key:expr, $name:expr, $cat:expr, $sev:expr, [$($m:expr),*];)*) => {
        $(
            #[doc = $name]
            pub const $id: Model = Model { sid: $sid, key: $key, name: $name, category: $cat, severity: $sev, mitre: &[$($m),*] };
        )*
        /// Every model.
        pub const ALL: &[Model] = &[$($id),*];
    };
}

models! {
    NEW_DEVICE = 9_100_001, "new_device", "New device on network", "Asset Discovery", 2, ["T1200", "T0848"];
    NEW_EXTERNAL = 9_100_002, "new_external_endpoint", "New external source or destination for a device", "Anomalous Communication", 2, ["T1133", "T1071"];
    NEW_SERVICE = 9_100_003, "new_server_service", "New server port or protocol for a device", "Anomalous Communication", 3, ["T1571", "T0869"];
    UNUSUAL_VOLUME = 9_100_004, "unusual_volume", "Unusual connection volume or fan-out", "Anomalous Communication", 2, ["T1046", "T1030"];
    SCAN = 9_100_005, "scan", "Scan-like behaviour", "Reconnaissance", 2, ["T1046", "T0846", "T0888"];
    OT_NEW_CODE = 9_100_006, "ot_new_function_code", "OT new function code for a pair", "OT Command", 2, ["T0855"];
    OT_FIRST_WRITE = 9_100_007, "ot_first_write", "OT first write from a host that only read", "OT Command", 1, ["T0836", "T0855"];
    OT_STATE_CHANGE = 9_100_008, "ot_controller_state_change", "OT controller state change (RUN/STOP/PAUSE/RESET)", "OT Control", 1, ["T0858", "T0816"];
    OT_PROGRAM = 9_100_009, "ot_program_transfer", "OT program download or upload", "OT Control", 1, ["T0843", "T0845"];
    OT_MEMORY_TIME = 9_100_010, "ot_memory_clear_or_set_time", "OT memory clear or set time", "OT Control", 1, ["T0809", "T0831"];
    OT_AUTH = 9_100_011, "ot_auth", "OT password unlock or lock, or failed logons", "OT Credential Access", 1, ["T0859", "T0812", "T1110"];
    OT_FIRMWARE = 9_100_012, "ot_firmware_change", "OT firmware, revision or CPU model change", "OT Asset Change", 1, ["T0839", "T0857"];
    OT_NEW_MASTER = 9_100_013, "ot_new_master_or_producer", "OT new master or producer, or config signature change", "OT Control", 1, ["T0848", "T0856"];
    OT_POLL_SHIFT = 9_100_014, "ot_polling_shift", "OT polling period shift", "OT Command", 3, ["T0806", "T0836"];
    RARE_TLS = 9_100_015, "rare_tls_destination", "Rare TLS destination for a client", "Anomalous Communication", 3, ["T1071.001", "T1573"];
    NEW_JA4 = 9_100_016, "new_ja4", "New TLS client fingerprint (JA4) for a device", "Anomalous Communication", 3, ["T1071.001", "T1573"];
    LOOKALIKE = 9_100_017, "lookalike_domain", "Look-alike domain of a known domain", "Phishing", 1, ["T1566.002", "T1583.001"];
    NEW_SMTP_SENDER = 9_100_018, "new_smtp_sender", "New SMTP sender for a mail server", "Email Anomaly", 3, ["T1534", "T1078"];
    SPAM = 9_100_019, "outbound_spam", "Possible outbound email spam", "Email Anomaly", 1, ["T1566", "T1534"];
    ATTACHMENT = 9_100_020, "unusual_attachment_type", "Unusual attachment type", "Email Anomaly", 2, ["T1566.001"];
    LINK_NEW_DOMAIN = 9_100_021, "link_to_new_domain", "Link to a never-seen domain from a known correspondent", "Phishing", 2, ["T1566.002", "T1199"];
    STREAM_OVERLAP = 9_100_022, "stream_overlap_different_data", "Reassembly overlap with different data", "Evasion", 2, ["T1562", "T1205"];
    TABLE_FULL = 9_100_023, "baseline_table_full", "Baseline table full (flood of new sources)", "Evasion", 2, ["T1499", "T1562"];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_keys_are_unique() {
        let mut sids: Vec<u32> = ALL.iter().map(|m| m.sid).collect();
        sids.sort();
        sids.dedup();
        assert_eq!(sids.len(), ALL.len());
        let mut keys: Vec<&str> = ALL.iter().map(|m| m.key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), ALL.len());
        assert!(ALL
            .iter()
            .all(|m| (1..=3).contains(&m.severity) && !m.mitre.is_empty()));
    }
}
