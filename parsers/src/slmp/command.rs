//! SLMP / MC protocol command and end-code vocabulary.
//!
//! Command numbers come from the SLMP reference (BAP-C2006ENG-003 section 8,
//! as enumerated by rtlabs-com/c-link `src/common/cl_types.h`), the MC protocol
//! reference SH-080008 and fa-yoshinobu/plc-comm-slmp-rust `src/model.rs`.
//! Unknown numbers keep their raw value and map to `"unknown"` /
//! [`OtClass::Other`]: an unexpected command is signal, not an error.

use crate::ot::OtClass;

/// One row of the command table: raw code, name used in EVE output, class.
struct CommandInfo {
    code: u16,
    name: &'static str,
    class: OtClass,
}

const fn c(code: u16, name: &'static str, class: OtClass) -> CommandInfo {
    CommandInfo { code, name, class }
}

/// Known commands, sorted by code for binary search.
const COMMANDS: &[CommandInfo] = &[
    c(0x0101, "read_cpu_model", OtClass::Recon),
    c(0x0201, "file_info_read", OtClass::File),
    c(0x0202, "file_info_detail_read", OtClass::File),
    c(0x0203, "file_search", OtClass::File),
    c(0x0204, "file_info_read_no_usage", OtClass::File),
    c(0x0205, "drive_state_read", OtClass::Recon),
    c(0x0206, "file_read_type_a", OtClass::File),
    c(0x0401, "batch_read", OtClass::Read),
    c(0x0403, "random_read", OtClass::Read),
    c(0x0406, "block_read", OtClass::Read),
    c(0x041A, "label_array_read", OtClass::Read),
    c(0x041C, "label_random_read", OtClass::Read),
    c(0x0601, "extend_unit_read", OtClass::Read),
    c(0x0613, "memory_read", OtClass::Read),
    c(0x0619, "loopback_test", OtClass::Diagnostic),
    c(0x0801, "monitor_register", OtClass::Read),
    c(0x0802, "monitor", OtClass::Read),
    c(0x0808, "file_lock", OtClass::File),
    c(0x0E28, "device_identification_get", OtClass::Recon),
    c(0x0E29, "node_data_monitoring", OtClass::Recon),
    c(0x0E30, "node_search", OtClass::Recon),
    c(0x0E31, "set_ip_address", OtClass::Control),
    c(0x0E32, "device_info_compare", OtClass::Recon),
    c(0x0E33, "parameter_get", OtClass::Recon),
    c(0x0E34, "parameter_set", OtClass::Program),
    c(0x0E35, "parameter_set_start", OtClass::Program),
    c(0x0E36, "parameter_set_end", OtClass::Program),
    c(0x0E3A, "parameter_set_cancel", OtClass::Program),
    c(0x0E44, "node_status_read", OtClass::Recon),
    c(0x0E45, "node_communication_setting_get", OtClass::Recon),
    c(0x0E53, "node_status_read2", OtClass::Recon),
    c(0x0E70, "cciefb_cyclic", OtClass::Cyclic),
    c(0x1001, "remote_run", OtClass::Control),
    c(0x1002, "remote_stop", OtClass::Control),
    c(0x1003, "remote_pause", OtClass::Control),
    c(0x1005, "remote_latch_clear", OtClass::Control),
    c(0x1006, "remote_reset", OtClass::Control),
    c(0x1202, "file_new_type_a", OtClass::File),
    c(0x1203, "file_write_type_a", OtClass::File),
    c(0x1204, "file_info_change", OtClass::File),
    c(0x1205, "file_delete_type_a", OtClass::File),
    c(0x1206, "file_copy_type_a", OtClass::File),
    c(0x1207, "drive_defrag", OtClass::File),
    c(0x1401, "batch_write", OtClass::Write),
    c(0x1402, "random_write", OtClass::Write),
    c(0x1406, "block_write", OtClass::Write),
    c(0x141A, "label_array_write", OtClass::Write),
    c(0x141B, "label_random_write", OtClass::Write),
    c(0x1601, "extend_unit_write", OtClass::Write),
    c(0x1613, "memory_write", OtClass::Write),
    c(0x1617, "clear_error", OtClass::Diagnostic),
    c(0x1619, "clear_error_history", OtClass::Diagnostic),
    c(0x161A, "event_history_clear", OtClass::Diagnostic),
    c(0x1630, "remote_password_unlock", OtClass::Auth),
    c(0x1631, "remote_password_lock", OtClass::Auth),
    c(0x1810, "file_read_directory", OtClass::File),
    c(0x1811, "file_search_directory", OtClass::File),
    c(0x1820, "file_new", OtClass::File),
    c(0x1822, "file_delete", OtClass::File),
    c(0x1824, "file_copy", OtClass::File),
    c(0x1825, "file_change_attribute", OtClass::File),
    c(0x1826, "file_change_date", OtClass::File),
    c(0x1827, "file_open", OtClass::File),
    c(0x1828, "file_read", OtClass::File),
    c(0x1829, "file_write", OtClass::File),
    c(0x182A, "file_close", OtClass::File),
    c(0x3060, "event_history_get_count", OtClass::Diagnostic),
    c(0x3061, "event_history_get", OtClass::Diagnostic),
];

fn lookup(code: u16) -> Option<&'static CommandInfo> {
    COMMANDS
        .binary_search_by_key(&code, |i| i.code)
        .ok()
        .and_then(|i| COMMANDS.get(i))
}

/// The name of an SLMP command code; `"file_command"` for other 0x18xx codes,
/// `"unknown"` otherwise.
pub fn command_name(code: u16) -> &'static str {
    match lookup(code) {
        Some(i) => i.name,
        None if code & 0xFF00 == 0x1800 => "file_command",
        None => "unknown",
    }
}

/// The defender's class of an SLMP command code. Unlisted 0x18xx codes are
/// file commands; anything else unknown is [`OtClass::Other`].
pub fn command_class(code: u16) -> OtClass {
    match lookup(code) {
        Some(i) => i.class,
        None if code & 0xFF00 == 0x1800 => OtClass::File,
        None => OtClass::Other,
    }
}

/// True for the remote-password end codes (0xC200–0xC205, 0xC810–0xC816):
/// wrong password, lockout, password from another device.
pub fn is_remote_password_end_code(code: u16) -> bool {
    matches!(code, 0xC200..=0xC205 | 0xC810..=0xC816)
}

/// A short name for common end codes (SH-080008 error code list, SLMP
/// BAP-C2006ENG-001 section 7.5 as listed by c-link `cl_types.h`).
/// Groups: 0x4000–0x4FFF are CPU-detected errors; remote-password codes are
/// named as one group. `"unknown"` otherwise.
pub fn end_code_name(code: u16) -> &'static str {
    match code {
        0x0000 => "ok",
        0x4000..=0x4FFF => "cpu_detected_error",
        0xC050 => "ascii_not_convertible",
        0xC051..=0xC054 => "points_out_of_range",
        0xC056 => "device_out_of_range",
        0xC058 => "request_length_mismatch",
        0xC059 => "command_not_supported",
        0xC05B => "device_not_accessible",
        0xC05C => "request_content_error",
        0xC05F => "request_not_executable",
        0xC061 => "request_length_mismatch",
        0xC200..=0xC205 | 0xC810..=0xC816 => "remote_password_error",
        0xC61C => "request_data_length_mismatch",
        0xCEE0 => "request_busy",
        0xCEE1 => "request_too_large",
        0xCEE2 => "response_too_large",
        0xCF10 => "server_info_does_not_exist",
        0xCF20 => "cannot_be_set",
        0xCF30 => "parameter_does_not_exist",
        0xCF31 => "parameter_writing_wrong_state",
        0xCF70 => "communication_relay_error",
        0xCF71 => "communication_timeout",
        0xCFE0 => "cciefb_master_duplication",
        0xCFE1 => "cciefb_wrong_number_of_occupied_stations",
        0xCFF0 => "cciefb_slave_error",
        0xCFFF => "cciefb_slave_disconnect_request",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_table_is_sorted_for_binary_search() {
        assert!(COMMANDS.windows(2).all(|w| w[0].code < w[1].code));
    }

    #[test]
    fn file_family_fallback() {
        assert_eq!(command_name(0x1868), "file_command");
        assert_eq!(command_class(0x1868), OtClass::File);
        assert_eq!(command_name(0x7777), "unknown");
        assert_eq!(command_class(0x7777), OtClass::Other);
    }
}
