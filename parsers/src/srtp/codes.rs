//! GE SRTP code tables: service request codes (name and [`OtClass`]),
//! segment selectors, NACK major/minor status codes and PLC states.
//!
//! Unknown codes are data: every lookup answers for any `u8`, with the name
//! `"unknown"` and class [`OtClass::Other`] for codes not in a table.
//!
//! Sources: `/work/shared/PROTOCOLS.md` §2.1 (service table and security
//! classes), from the divergentdave Wireshark SRTP plugin (service names),
//! GE GFK-0529 "Series 90 PLC SNP Communications" tables 3-8 (status word),
//! 3-12 and 3-13 (major/minor error status) as carried by icsnpp-ge-srtp, and
//! the DFRWS 2017 SRTP paper (segment selectors).

use crate::ot::OtClass;

/// The EVE name of a service request code.
pub fn service_name(code: u8) -> &'static str {
    match code {
        0x00 => "plc_short_status",
        0x01 => "plc_long_status",
        0x02 => "plc_memory_usage",
        0x03 => "return_control_program_names",
        0x04 => "read_system_memory",
        0x05 => "read_task_memory",
        0x06 => "read_program_block_memory",
        0x07 => "write_system_memory",
        0x08 => "write_task_memory",
        0x09 => "write_program_block_memory",
        0x0A => "define_symbol",
        0x0B => "delete_symbol",
        0x0C => "read_system_memory_symbolic",
        0x0D => "read_task_memory_symbolic",
        0x0E => "read_program_block_memory_symbolic",
        0x0F => "write_system_memory_symbolic",
        0x10 => "write_task_memory_symbolic",
        0x11 => "write_program_block_memory_symbolic",
        0x12 => "resolve_system_memory_name",
        0x13 => "resolve_task_memory_name",
        0x14 => "resolve_program_block_memory_name",
        0x15 => "establish_datagram",
        0x16 => "update_datagram",
        0x17 => "cancel_datagram",
        0x18 => "format_disk",
        0x19 => "open_file",
        0x1A => "close_file",
        0x1B => "create_file",
        0x1C => "unlink_file",
        0x1D => "read_file",
        0x1E => "write_file",
        0x1F => "seek_file",
        0x20 => "programmer_logon",
        0x21 => "change_privilege_level",
        0x22 => "set_controller_id",
        0x23 => "set_plc_state",
        0x24 => "set_plc_time_date",
        0x25 => "return_plc_time_date",
        0x26 => "return_program_block_sizes",
        0x27 => "return_program_block_list",
        0x28 => "store_program_block",
        0x29 => "sequence_control",
        0x2A => "program_block_program_store",
        0x2B => "program_block_load",
        0x2C => "program_block_program_load",
        0x2D => "verify_program_block",
        0x2E => "delete_program_block",
        0x2F => "change_program_block_size",
        0x30 => "declare_interrupt",
        0x31 => "clear_configuration",
        0x32 => "autoconfigure_io",
        0x33 => "replace_io_module",
        0x34 => "verify_configuration",
        0x35 => "clear_all_plc_memory",
        0x36 => "clear_reference_memory",
        0x37 => "clear_logic_memory",
        0x38 => "return_fault_table",
        0x39 => "clear_fault_table",
        0x3A => "create_configuration_parameter_task",
        0x3B => "delete_configuration_parameter_task",
        0x3C => "return_configuration_sizes",
        0x3D => "store_block",
        0x3E => "load_block",
        0x3F => "program_store",
        0x40 => "program_load",
        0x41 => "program_change",
        0x42 => "verify_program",
        0x43 => "return_controller_type_and_id",
        0x44 => "toggle_force_system_memory",
        0x45 => "access_eeprom",
        0x46 => "manage_block",
        0x47 => "lock_unlock_oem",
        0x48 => "write_datagram",
        0x49 => "access_fa_card",
        0x4A => "read_configuration_parameter",
        0x4B => "write_slot_configuration",
        0x4C => "rename_task",
        0x4D => "return_function_supported",
        0x4E => "store_subrequest",
        0x4F => "session_control",
        0x50 => "return_subrequest_list",
        0x51 => "extra_piggyback_data",
        0x52 => "store_os_extension",
        0x53 => "load_os_extension",
        0x54 => "delete_os_extension",
        0x55 => "delete_subrequest",
        0x56 => "share_plc_data",
        0x57 => "toggle_force_program_block_memory",
        0x58 => "sfc_event_queue_service",
        0x59 => "interrogate_io",
        0x5A => "program_store_extended",
        0x5B => "program_load_extended",
        0x5C => "program_verify_extended",
        0x5D => "activate_debugger",
        0x5E => "configuration_change_control",
        0x5F => "remote_server_register",
        0x60 => "clear_selected_fault",
        0x61 => "return_plc_features_supported",
        _ => "unknown",
    }
}

/// The class of a service request code (the security classes of
/// PROTOCOLS.md §2.1 mapped onto [`OtClass`]).
///
/// Configuration changes (set controller id, clear configuration, replace
/// I/O) and memory clears change controller state: `Control`. Program,
/// block, OS-extension, EEPROM/flash and debugger services are `Program`.
/// Forcing I/O is a process `Write`; fault-table services are `Diagnostic`.
pub fn service_class(code: u8) -> OtClass {
    match code {
        0x00..=0x03 => OtClass::Recon,
        0x04..=0x06 => OtClass::Read,
        0x07..=0x09 => OtClass::Write,
        0x0A | 0x0B => OtClass::Write,
        0x0C..=0x0E => OtClass::Read,
        0x0F..=0x11 => OtClass::Write,
        0x12..=0x14 => OtClass::Read,
        0x15..=0x17 => OtClass::Cyclic,
        0x18..=0x1F => OtClass::File,
        0x20 | 0x21 => OtClass::Auth,
        0x22..=0x24 => OtClass::Control,
        0x25..=0x27 => OtClass::Recon,
        0x28..=0x2F => OtClass::Program,
        0x31..=0x33 => OtClass::Control,
        0x34 => OtClass::Recon,
        0x35..=0x37 => OtClass::Control,
        0x38 | 0x39 => OtClass::Diagnostic,
        0x3C => OtClass::Recon,
        0x3D..=0x42 => OtClass::Program,
        0x43 => OtClass::Recon,
        0x44 | 0x57 => OtClass::Write,
        0x45 | 0x46 | 0x49 => OtClass::Program,
        0x47 => OtClass::Auth,
        0x48 => OtClass::Write,
        0x4A | 0x4D | 0x50 | 0x51 | 0x59 | 0x61 => OtClass::Recon,
        0x4B | 0x4C => OtClass::Program,
        0x52..=0x54 => OtClass::Program,
        0x5A..=0x5E => OtClass::Program,
        0x60 => OtClass::Diagnostic,
        _ => OtClass::Other,
    }
}

/// The EVE name of a segment selector (memory type and access unit).
pub fn segment_selector_name(selector: u8) -> &'static str {
    match selector {
        0x08 => "registers_word",
        0x0A => "analog_inputs_word",
        0x0C => "analog_outputs_word",
        0x10 => "discrete_inputs_byte",
        0x12 => "discrete_outputs_byte",
        0x14 => "discrete_temporaries_byte",
        0x16 => "discrete_internals_byte",
        0x18 => "system_a_byte",
        0x1A => "system_b_byte",
        0x1C => "system_c_byte",
        0x1E => "system_s_byte",
        0x38 => "genius_global_byte",
        0x46 => "discrete_inputs_bit",
        0x48 => "discrete_outputs_bit",
        0x4A => "discrete_temporaries_bit",
        0x4C => "discrete_internals_bit",
        0x4E => "system_a_bit",
        0x50 => "system_b_bit",
        0x52 => "system_c_bit",
        0x54 => "system_s_bit",
        0x56 => "genius_global_bit",
        _ => "unknown",
    }
}

/// The EVE name of a reply's major status (0 on success).
pub fn major_status_name(status: u8) -> &'static str {
    match status {
        0x00 => "success",
        0x01 => "illegal_service_request",
        0x02 => "insufficient_privilege",
        0x04 => "protocol_sequence_error",
        0x05 => "service_request_error",
        0x06 => "illegal_mailbox_type",
        0x07 => "request_queue_full",
        _ => "unknown",
    }
}

/// The EVE name of a reply's minor status.
pub fn minor_status_name(status: u8) -> &'static str {
    match status {
        0x00 => "none",
        0xFF => "service_request_aborted",
        0xFE => "no_privilege",
        0xFD => "autoconfigure_failed",
        0xFC => "io_configuration_invalid",
        0xFB => "cannot_clear_io_configuration",
        0xFA => "cannot_replace_io_module",
        0xF9 => "task_address_out_of_range",
        0xF8 => "invalid_task_name",
        0xF7 => "task_login_required",
        0xF6 => "invalid_sweep_state",
        0xF5 => "invalid_password",
        0xF4 => "invalid_input_parameter",
        0xF3 => "io_configuration_mismatch",
        0xF2 => "invalid_program_cannot_log_in",
        0xF1 => "only_valid_from_programmer",
        0xF0 => "only_valid_in_stop_mode",
        0xEF => "programmer_already_attached",
        0xEE => "cannot_return_block_sizes",
        0xED => "vme_bus_error",
        0xEC => "cannot_create_task",
        0xEB => "cannot_delete_task",
        0xEA => "not_logged_in",
        0xE9 => "segment_selector_not_valid",
        0xE8 => "no_user_memory",
        0xE7 => "configuration_not_valid",
        0xE6 => "cpu_model_mismatch",
        0xE5 => "file_area_not_formatted",
        0xE4 => "segment_does_not_exist",
        0xE3 => "cpu_revision_mismatch",
        0xE2 => "cannot_delete_io_configuration",
        0xE1 => "no_io_configuration",
        0xE0 => "service_in_process_cannot_log_in",
        0xC8 => "password_already_enabled",
        0xC7 => "password_inactive",
        0xC6 => "not_logged_into_main_program",
        _ => "unknown",
    }
}

/// The EVE name of a PLC state (bits 12-15 of the status word).
pub fn plc_state_name(state: u8) -> &'static str {
    match state {
        0 => "run_io_enabled",
        1 => "run_io_disabled",
        2 => "stop_io_disabled",
        3 => "stop_faulted",
        4 => "halted",
        5 => "suspended",
        6 => "stop_io_enabled",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destructive_services_are_changes() {
        for code in [
            0x07, 0x21, 0x23, 0x24, 0x31, 0x35, 0x36, 0x37, 0x39, 0x40, 0x44, 0x52, 0x5B,
        ] {
            assert!(service_class(code).is_change(), "{code:#x}");
            assert_ne!(service_name(code), "unknown", "{code:#x}");
        }
        for code in [0x00, 0x01, 0x03, 0x04, 0x25, 0x43] {
            assert!(!service_class(code).is_change(), "{code:#x}");
        }
        assert_eq!(service_class(0x23), OtClass::Control);
        assert_eq!(service_class(0x40), OtClass::Program);
        assert_eq!(service_class(0x20), OtClass::Auth);
        assert_eq!(service_name(0x62), "unknown");
        assert_eq!(service_class(0x62), OtClass::Other);
    }

    #[test]
    fn nack_and_state_names() {
        assert_eq!(minor_status_name(0xF5), "invalid_password");
        assert_eq!(major_status_name(0x02), "insufficient_privilege");
        assert_eq!(plc_state_name(3), "stop_faulted");
        assert_eq!(segment_selector_name(0x08), "registers_word");
    }
}
