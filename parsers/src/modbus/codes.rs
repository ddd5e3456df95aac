//! Modbus code tables: function codes, exception codes, diagnostic
//! sub-functions, MEI types, device identification objects and Schneider UMAS
//! functions, each with its EVE name and, where it applies, its [`OtClass`].
//!
//! Unknown codes are data: every lookup answers for any `u8`/`u16`, with the
//! name `"unknown"` and class [`OtClass::Other`] for codes not in a table.
//!
//! Sources: MODBUS Application Protocol Specification V1.1b3 (function,
//! exception, diagnostic and MEI tables; device identification objects);
//! Wireshark `packet-mbtcp.h` and the Kaspersky ICS-CERT UMAS write-up for the
//! UMAS function numbers (see `/work/shared/PROTOCOLS.md` §2.5).

use crate::ot::OtClass;

/// FC 1: read coils.
pub const FC_READ_COILS: u8 = 0x01;
/// FC 2: read discrete inputs.
pub const FC_READ_DISCRETE_INPUTS: u8 = 0x02;
/// FC 3: read holding registers.
pub const FC_READ_HOLDING_REGISTERS: u8 = 0x03;
/// FC 4: read input registers.
pub const FC_READ_INPUT_REGISTERS: u8 = 0x04;
/// FC 5: write single coil.
pub const FC_WRITE_SINGLE_COIL: u8 = 0x05;
/// FC 6: write single register.
pub const FC_WRITE_SINGLE_REGISTER: u8 = 0x06;
/// FC 7: read exception status (serial line).
pub const FC_READ_EXCEPTION_STATUS: u8 = 0x07;
/// FC 8: diagnostics (serial line).
pub const FC_DIAGNOSTICS: u8 = 0x08;
/// FC 11: get comm event counter (serial line).
pub const FC_GET_COMM_EVENT_COUNTER: u8 = 0x0B;
/// FC 12: get comm event log (serial line).
pub const FC_GET_COMM_EVENT_LOG: u8 = 0x0C;
/// FC 15: write multiple coils.
pub const FC_WRITE_MULTIPLE_COILS: u8 = 0x0F;
/// FC 16: write multiple registers.
pub const FC_WRITE_MULTIPLE_REGISTERS: u8 = 0x10;
/// FC 17: report server ID (serial line).
pub const FC_REPORT_SERVER_ID: u8 = 0x11;
/// FC 20: read file record.
pub const FC_READ_FILE_RECORD: u8 = 0x14;
/// FC 21: write file record.
pub const FC_WRITE_FILE_RECORD: u8 = 0x15;
/// FC 22: mask write register.
pub const FC_MASK_WRITE_REGISTER: u8 = 0x16;
/// FC 23: read/write multiple registers.
pub const FC_READ_WRITE_MULTIPLE_REGISTERS: u8 = 0x17;
/// FC 24: read FIFO queue.
pub const FC_READ_FIFO_QUEUE: u8 = 0x18;
/// FC 43: encapsulated interface transport (MEI).
pub const FC_ENCAPSULATED_INTERFACE: u8 = 0x2B;
/// FC 90 (0x5A): Schneider Electric UMAS.
pub const FC_UMAS: u8 = 0x5A;

/// Bit set in a response function code when the response is an exception.
pub const EXCEPTION_BIT: u8 = 0x80;

/// MEI type 13: CANopen general reference.
pub const MEI_CANOPEN_GENERAL_REFERENCE: u8 = 0x0D;
/// MEI type 14: read device identification.
pub const MEI_READ_DEVICE_IDENTIFICATION: u8 = 0x0E;

/// UMAS response status: request succeeded.
pub const UMAS_RESPONSE_OK: u8 = 0xFE;
/// UMAS response status: request failed.
pub const UMAS_RESPONSE_ERROR: u8 = 0xFD;

/// How the specification places a function code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FunctionKind {
    /// A public function code defined by the specification.
    Public,
    /// In a user-defined range (65-72, 100-110).
    UserDefined,
    /// A vendor extension this crate decodes (FC 90, Schneider UMAS).
    Vendor,
    /// Neither public nor user-defined nor a known vendor code.
    Unassigned,
}

/// Where `fc` (without the exception bit) sits in the specification.
pub fn function_kind(fc: u8) -> FunctionKind {
    match fc & !EXCEPTION_BIT {
        1..=8 | 11 | 12 | 15..=17 | 20..=24 | 43 => FunctionKind::Public,
        65..=72 | 100..=110 => FunctionKind::UserDefined,
        FC_UMAS => FunctionKind::Vendor,
        _ => FunctionKind::Unassigned,
    }
}

/// The EVE name of a function code (exception bit ignored).
pub fn function_name(fc: u8) -> &'static str {
    match fc & !EXCEPTION_BIT {
        FC_READ_COILS => "read_coils",
        FC_READ_DISCRETE_INPUTS => "read_discrete_inputs",
        FC_READ_HOLDING_REGISTERS => "read_holding_registers",
        FC_READ_INPUT_REGISTERS => "read_input_registers",
        FC_WRITE_SINGLE_COIL => "write_single_coil",
        FC_WRITE_SINGLE_REGISTER => "write_single_register",
        FC_READ_EXCEPTION_STATUS => "read_exception_status",
        FC_DIAGNOSTICS => "diagnostics",
        FC_GET_COMM_EVENT_COUNTER => "get_comm_event_counter",
        FC_GET_COMM_EVENT_LOG => "get_comm_event_log",
        FC_WRITE_MULTIPLE_COILS => "write_multiple_coils",
        FC_WRITE_MULTIPLE_REGISTERS => "write_multiple_registers",
        FC_REPORT_SERVER_ID => "report_server_id",
        FC_READ_FILE_RECORD => "read_file_record",
        FC_WRITE_FILE_RECORD => "write_file_record",
        FC_MASK_WRITE_REGISTER => "mask_write_register",
        FC_READ_WRITE_MULTIPLE_REGISTERS => "read_write_multiple_registers",
        FC_READ_FIFO_QUEUE => "read_fifo_queue",
        FC_ENCAPSULATED_INTERFACE => "encapsulated_interface_transport",
        FC_UMAS => "umas",
        65..=72 | 100..=110 => "user_defined",
        _ => "unknown",
    }
}

/// The class of a function code (exception bit ignored), before any
/// refinement by sub-function, MEI type or UMAS function (see
/// [`super::ModbusMessage::class`]).
pub fn function_class(fc: u8) -> OtClass {
    match fc & !EXCEPTION_BIT {
        FC_READ_COILS
        | FC_READ_DISCRETE_INPUTS
        | FC_READ_HOLDING_REGISTERS
        | FC_READ_INPUT_REGISTERS => OtClass::Read,
        FC_READ_FIFO_QUEUE => OtClass::Read,
        FC_WRITE_SINGLE_COIL
        | FC_WRITE_SINGLE_REGISTER
        | FC_WRITE_MULTIPLE_COILS
        | FC_WRITE_MULTIPLE_REGISTERS
        | FC_MASK_WRITE_REGISTER
        | FC_READ_WRITE_MULTIPLE_REGISTERS => OtClass::Write,
        FC_READ_EXCEPTION_STATUS | FC_DIAGNOSTICS => OtClass::Diagnostic,
        FC_GET_COMM_EVENT_COUNTER | FC_GET_COMM_EVENT_LOG | FC_REPORT_SERVER_ID => OtClass::Recon,
        FC_READ_FILE_RECORD | FC_WRITE_FILE_RECORD => OtClass::File,
        FC_ENCAPSULATED_INTERFACE => OtClass::Recon,
        _ => OtClass::Other,
    }
}

/// The EVE name of an exception code.
pub fn exception_name(code: u8) -> &'static str {
    match code {
        0x01 => "illegal_function",
        0x02 => "illegal_data_address",
        0x03 => "illegal_data_value",
        0x04 => "server_device_failure",
        0x05 => "acknowledge",
        0x06 => "server_device_busy",
        0x08 => "memory_parity_error",
        0x0A => "gateway_path_unavailable",
        0x0B => "gateway_target_failed_to_respond",
        _ => "unknown",
    }
}

/// True for the exception codes the specification defines.
pub fn exception_is_known(code: u8) -> bool {
    matches!(code, 0x01..=0x06 | 0x08 | 0x0A | 0x0B)
}

/// True when the specification allows exception `code` in answer to function
/// `fc`: memory parity error (8) belongs to the file-record functions only.
/// Unknown codes are never allowed.
pub fn exception_allowed(fc: u8, code: u8) -> bool {
    match code {
        0x08 => matches!(
            fc & !EXCEPTION_BIT,
            FC_READ_FILE_RECORD | FC_WRITE_FILE_RECORD
        ),
        _ => exception_is_known(code),
    }
}

/// The EVE name of a diagnostics (FC 8) sub-function.
pub fn diagnostic_name(sub_function: u16) -> &'static str {
    match sub_function {
        0x0000 => "return_query_data",
        0x0001 => "restart_communications_option",
        0x0002 => "return_diagnostic_register",
        0x0003 => "change_ascii_input_delimiter",
        0x0004 => "force_listen_only_mode",
        0x000A => "clear_counters_and_diagnostic_register",
        0x000B => "return_bus_message_count",
        0x000C => "return_bus_communication_error_count",
        0x000D => "return_bus_exception_error_count",
        0x000E => "return_server_message_count",
        0x000F => "return_server_no_response_count",
        0x0010 => "return_server_nak_count",
        0x0011 => "return_server_busy_count",
        0x0012 => "return_bus_character_overrun_count",
        0x0013 => "return_iop_overrun_count",
        0x0014 => "clear_overrun_counter_and_flag",
        _ => "unknown",
    }
}

/// True for the sub-functions in the [`diagnostic_name`] table.
pub fn diagnostic_is_known(sub_function: u16) -> bool {
    matches!(sub_function, 0x0000..=0x0004 | 0x000A..=0x0014)
}

/// The class of a diagnostics sub-function: restarting communications and
/// forcing listen-only mode change the device's state (the latter silences
/// it), everything else is diagnostics.
pub fn diagnostic_class(sub_function: u16) -> OtClass {
    match sub_function {
        0x0001 | 0x0004 => OtClass::Control,
        _ => OtClass::Diagnostic,
    }
}

/// The EVE name of an MEI type (FC 43).
pub fn mei_name(mei_type: u8) -> &'static str {
    match mei_type {
        MEI_CANOPEN_GENERAL_REFERENCE => "canopen_general_reference",
        MEI_READ_DEVICE_IDENTIFICATION => "read_device_identification",
        _ => "unknown",
    }
}

/// The EVE name of a read-device-identification code (FC 43 / MEI 14).
pub fn read_device_id_code_name(code: u8) -> &'static str {
    match code {
        0x01 => "basic",
        0x02 => "regular",
        0x03 => "extended",
        0x04 => "individual",
        _ => "unknown",
    }
}

/// The EVE name of a device identification object id.
pub fn device_id_object_name(id: u8) -> &'static str {
    match id {
        0x00 => "vendor_name",
        0x01 => "product_code",
        0x02 => "major_minor_revision",
        0x03 => "vendor_url",
        0x04 => "product_name",
        0x05 => "model_name",
        0x06 => "user_application_name",
        0x07..=0x7F => "reserved",
        _ => "private",
    }
}

/// The EVE name of a Schneider UMAS function code (request side).
pub fn umas_function_name(code: u8) -> &'static str {
    match code {
        0x01 => "init_comm",
        0x02 => "read_id",
        0x03 => "read_project_info",
        0x04 => "read_plc_info",
        0x06 => "read_card_info",
        0x0A => "repeat",
        0x10 => "take_plc_reservation",
        0x11 => "release_plc_reservation",
        0x12 => "keep_alive",
        0x20 => "read_memory_block",
        0x22 => "read_variables",
        0x23 => "write_variables",
        0x24 => "read_coils_registers",
        0x25 => "write_coils_registers",
        0x30 => "initialize_upload",
        0x31 => "upload_block",
        0x32 => "end_strategy_upload",
        0x33 => "initialize_download",
        0x34 => "download_block",
        0x35 => "end_download",
        0x39 => "read_eth_master_data",
        0x40 => "start_plc",
        0x41 => "stop_plc",
        0x50 => "monitor_plc",
        0x58 => "check_plc",
        0x70 => "read_io_object",
        0x71 => "write_io_object",
        0x73 => "get_status_module",
        _ => "unknown",
    }
}

/// The class of a Schneider UMAS function code.
///
/// Reservation take/release is what an engineering station does before it
/// changes anything, so it is `Auth`; the keep-alive that holds a reservation
/// is periodic and changes nothing, so it is `Cyclic`.
pub fn umas_function_class(code: u8) -> OtClass {
    match code {
        0x01..=0x04 | 0x06 | 0x39 | 0x58 | 0x73 => OtClass::Recon,
        0x10 | 0x11 => OtClass::Auth,
        0x12 => OtClass::Cyclic,
        0x20 | 0x22 | 0x24 | 0x50 | 0x70 => OtClass::Read,
        0x23 | 0x25 | 0x71 => OtClass::Write,
        0x30..=0x35 => OtClass::Program,
        0x40 | 0x41 => OtClass::Control,
        _ => OtClass::Other,
    }
}

/// The EVE name of a UMAS response status byte.
pub fn umas_status_name(status: u8) -> &'static str {
    match status {
        UMAS_RESPONSE_OK => "ok",
        UMAS_RESPONSE_ERROR => "error",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_table_covers_every_public_code_and_ranges() {
        for fc in 0u8..=0x7F {
            let kind = function_kind(fc);
            let name = function_name(fc);
            match kind {
                FunctionKind::Public | FunctionKind::Vendor => {
                    assert_ne!(name, "unknown", "fc {fc}")
                }
                FunctionKind::UserDefined => assert_eq!(name, "user_defined"),
                FunctionKind::Unassigned => assert_eq!(name, "unknown", "fc {fc}"),
            }
            // The exception bit does not change the answer.
            assert_eq!(function_name(fc | EXCEPTION_BIT), name);
        }
        assert_eq!(function_class(FC_WRITE_MULTIPLE_COILS), OtClass::Write);
        assert_eq!(function_class(FC_READ_FILE_RECORD), OtClass::File);
        assert_eq!(function_class(0x29), OtClass::Other);
    }

    #[test]
    fn memory_parity_exception_only_for_file_records() {
        assert!(exception_allowed(FC_READ_FILE_RECORD, 0x08));
        assert!(exception_allowed(
            FC_WRITE_FILE_RECORD | EXCEPTION_BIT,
            0x08
        ));
        assert!(!exception_allowed(FC_READ_HOLDING_REGISTERS, 0x08));
        assert!(exception_allowed(FC_READ_HOLDING_REGISTERS, 0x02));
        assert!(!exception_allowed(FC_READ_HOLDING_REGISTERS, 0x07));
        assert!(!exception_allowed(FC_READ_HOLDING_REGISTERS, 0x00));
    }

    #[test]
    fn diagnostics_listen_only_and_restart_are_control() {
        assert_eq!(diagnostic_class(0x0004), OtClass::Control);
        assert_eq!(diagnostic_class(0x0001), OtClass::Control);
        assert_eq!(diagnostic_class(0x000A), OtClass::Diagnostic);
        assert_eq!(diagnostic_name(0x0004), "force_listen_only_mode");
        assert!(!diagnostic_is_known(0x0005));
    }

    #[test]
    fn umas_stop_and_download_are_changes() {
        assert_eq!(umas_function_class(0x41), OtClass::Control);
        assert_eq!(umas_function_class(0x34), OtClass::Program);
        assert!(umas_function_class(0x25).is_change());
        assert!(!umas_function_class(0x12).is_change());
        assert_eq!(umas_function_name(0x41), "stop_plc");
    }
}
