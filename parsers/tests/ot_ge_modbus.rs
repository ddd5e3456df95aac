//! Modbus/TCP: table-driven cases per function code and direction (valid
//! PDUs from the specification's examples and garbage with the flags it
//! must raise), MBAP framing, probe, and stream scenarios (split, pipelined,
//! gap then resync).

use spanwatch_parsers::modbus::{
    self, parse_adu, AduError, DeviceIdObject, FileSubRequest, FileSubResponse, Flags, ModbusTcp,
    Pdu,
};
use spanwatch_parsers::ot::OtClass;
use spanwatch_parsers::stream::{drive, Direction, Parsed, Probe, StreamParser};

const REQ: Direction = Direction::ToServer;
const RSP: Direction = Direction::ToClient;

/// Wraps a PDU in an MBAP header: transaction 0x1234, protocol 0, unit 0x11.
fn adu(pdu: &[u8]) -> Vec<u8> {
    let len = u16::try_from(pdu.len() + 1).expect("short pdu");
    let mut v = vec![0x12, 0x34, 0x00, 0x00];
    v.extend_from_slice(&len.to_be_bytes());
    v.push(0x11);
    v.extend_from_slice(pdu);
    v
}

struct Case {
    name: &'static str,
    dir: Direction,
    pdu: &'static [u8],
    want: fn(&[u8]) -> Pdu<'_>,
    flags: Flags,
}

/// `want` gets the PDU data (after the function code) to borrow slices from.
fn cases() -> Vec<Case> {
    let none = Flags::empty();
    vec![
        // ---- FC 1-4 reads -------------------------------------------------
        Case {
            name: "fc1_read_coils_request",
            dir: REQ,
            pdu: &[0x01, 0x00, 0x13, 0x00, 0x13], // fc, address 19, quantity 19
            want: |_| Pdu::ReadRequest {
                address: 19,
                quantity: 19,
            },
            flags: none,
        },
        Case {
            name: "fc1_read_coils_response",
            dir: RSP,
            pdu: &[0x01, 0x03, 0xCD, 0x6B, 0x05], // fc, byte count 3, coil bytes
            want: |d| Pdu::ReadResponse {
                byte_count: 3,
                data: &d[1..],
            },
            flags: none,
        },
        Case {
            name: "fc1_response_byte_count_larger_than_data",
            dir: RSP,
            pdu: &[0x01, 0x04, 0xCD, 0x6B, 0x05], // byte count 4, only 3 bytes
            want: |d| Pdu::ReadResponse {
                byte_count: 4,
                data: &d[1..],
            },
            flags: Flags::BYTE_COUNT_MISMATCH,
        },
        Case {
            name: "fc2_read_discrete_inputs_quantity_zero",
            dir: REQ,
            pdu: &[0x02, 0x00, 0xC4, 0x00, 0x00], // quantity 0 is out of 1..=2000
            want: |_| Pdu::ReadRequest {
                address: 0xC4,
                quantity: 0,
            },
            flags: Flags::QUANTITY_OUT_OF_RANGE,
        },
        Case {
            name: "fc2_read_discrete_inputs_quantity_2001",
            dir: REQ,
            pdu: &[0x02, 0x00, 0x00, 0x07, 0xD1], // quantity 2001
            want: |_| Pdu::ReadRequest {
                address: 0,
                quantity: 2001,
            },
            flags: Flags::QUANTITY_OUT_OF_RANGE,
        },
        Case {
            name: "fc3_read_holding_registers_request",
            dir: REQ,
            pdu: &[0x03, 0x00, 0x6B, 0x00, 0x03], // address 107, 3 registers
            want: |_| Pdu::ReadRequest {
                address: 107,
                quantity: 3,
            },
            flags: none,
        },
        Case {
            name: "fc3_read_126_registers",
            dir: REQ,
            pdu: &[0x03, 0x00, 0x00, 0x00, 0x7E], // 126 > 125
            want: |_| Pdu::ReadRequest {
                address: 0,
                quantity: 126,
            },
            flags: Flags::QUANTITY_OUT_OF_RANGE,
        },
        Case {
            name: "fc3_read_past_address_ffff",
            dir: REQ,
            pdu: &[0x03, 0xFF, 0xFF, 0x00, 0x02], // 0xFFFF + 2 > 0x10000
            want: |_| Pdu::ReadRequest {
                address: 0xFFFF,
                quantity: 2,
            },
            flags: Flags::ADDRESS_OVERFLOW,
        },
        Case {
            name: "fc3_read_holding_registers_response",
            dir: RSP,
            pdu: &[0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64], // 3 registers
            want: |d| Pdu::ReadResponse {
                byte_count: 6,
                data: &d[1..],
            },
            flags: none,
        },
        Case {
            name: "fc3_response_odd_byte_count",
            dir: RSP,
            pdu: &[0x03, 0x03, 0x02, 0x2B, 0x00], // registers come in pairs
            want: |d| Pdu::ReadResponse {
                byte_count: 3,
                data: &d[1..],
            },
            flags: Flags::BYTE_COUNT_MISMATCH,
        },
        Case {
            name: "fc4_read_input_registers_request",
            dir: REQ,
            pdu: &[0x04, 0x00, 0x08, 0x00, 0x01],
            want: |_| Pdu::ReadRequest {
                address: 8,
                quantity: 1,
            },
            flags: none,
        },
        Case {
            name: "fc4_request_too_short",
            dir: REQ,
            pdu: &[0x04, 0x00, 0x08, 0x00], // quantity cut short
            want: |d| Pdu::Raw { data: d },
            flags: Flags::PDU_TOO_SHORT,
        },
        // ---- FC 5/6 single writes -----------------------------------------
        Case {
            name: "fc5_write_single_coil_on",
            dir: REQ,
            pdu: &[0x05, 0x00, 0xAC, 0xFF, 0x00], // output 172, ON
            want: |_| Pdu::WriteSingle {
                address: 172,
                value: 0xFF00,
            },
            flags: none,
        },
        Case {
            name: "fc5_write_single_coil_bad_value",
            dir: REQ,
            pdu: &[0x05, 0x00, 0xAC, 0x12, 0x34], // neither FF00 nor 0000
            want: |_| Pdu::WriteSingle {
                address: 172,
                value: 0x1234,
            },
            flags: Flags::INVALID_COIL_VALUE,
        },
        Case {
            name: "fc6_write_single_register_echo",
            dir: RSP,
            pdu: &[0x06, 0x00, 0x01, 0x00, 0x03], // register 1 := 3
            want: |_| Pdu::WriteSingle {
                address: 1,
                value: 3,
            },
            flags: none,
        },
        Case {
            name: "fc6_write_with_trailing_byte",
            dir: REQ,
            pdu: &[0x06, 0x00, 0x01, 0x00, 0x03, 0x99],
            want: |_| Pdu::WriteSingle {
                address: 1,
                value: 3,
            },
            flags: Flags::TRAILING_BYTES,
        },
        // ---- FC 7, 11, 12, 17: serial-line status --------------------------
        Case {
            name: "fc7_read_exception_status_request",
            dir: REQ,
            pdu: &[0x07],
            want: |_| Pdu::NoData,
            flags: none,
        },
        Case {
            name: "fc7_read_exception_status_response",
            dir: RSP,
            pdu: &[0x07, 0x6D], // output status byte
            want: |_| Pdu::ExceptionStatus { status: 0x6D },
            flags: none,
        },
        Case {
            name: "fc11_comm_event_counter_response",
            dir: RSP,
            pdu: &[0x0B, 0xFF, 0xFF, 0x01, 0x08], // status busy, 264 events
            want: |_| Pdu::CommEventCounter {
                status: 0xFFFF,
                event_count: 0x0108,
            },
            flags: none,
        },
        Case {
            name: "fc12_comm_event_log_response",
            // byte count 8, status 0, events 0x0108, messages 0x0121, 2 event bytes
            dir: RSP,
            pdu: &[0x0C, 0x08, 0x00, 0x00, 0x01, 0x08, 0x01, 0x21, 0x20, 0x00],
            want: |d| Pdu::CommEventLog {
                byte_count: 8,
                status: 0,
                event_count: 0x0108,
                message_count: 0x0121,
                events: &d[7..],
            },
            flags: none,
        },
        Case {
            name: "fc17_report_server_id_request_with_data",
            dir: REQ,
            pdu: &[0x11, 0x00], // FC 17 requests carry nothing
            want: |_| Pdu::NoData,
            flags: Flags::TRAILING_BYTES,
        },
        Case {
            name: "fc17_report_server_id_response",
            dir: RSP,
            pdu: &[0x11, 0x03, 0x00, 0xFF, 0x41], // id 0, run ON, "A"
            want: |d| Pdu::ServerId {
                byte_count: 3,
                data: &d[1..],
            },
            flags: none,
        },
        // ---- FC 8 diagnostics ---------------------------------------------
        Case {
            name: "fc8_return_query_data",
            dir: REQ,
            pdu: &[0x08, 0x00, 0x00, 0xA5, 0x37], // sub 0, echo A537
            want: |d| Pdu::Diagnostics {
                sub_function: 0,
                data: &d[2..],
            },
            flags: none,
        },
        Case {
            name: "fc8_unknown_sub_function",
            dir: REQ,
            pdu: &[0x08, 0x00, 0x05, 0x00, 0x00], // sub 5 is reserved
            want: |d| Pdu::Diagnostics {
                sub_function: 5,
                data: &d[2..],
            },
            flags: Flags::UNKNOWN_SUB_FUNCTION,
        },
        Case {
            name: "fc8_without_sub_function",
            dir: REQ,
            pdu: &[0x08, 0x00],
            want: |d| Pdu::Raw { data: d },
            flags: Flags::PDU_TOO_SHORT,
        },
        // ---- FC 15/16 multiple writes -------------------------------------
        Case {
            name: "fc15_write_multiple_coils_request",
            // address 19, 10 coils, byte count 2, CD 01
            dir: REQ,
            pdu: &[0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01],
            want: |d| Pdu::WriteMultipleRequest {
                address: 19,
                quantity: 10,
                byte_count: 2,
                values: &d[5..],
            },
            flags: none,
        },
        Case {
            name: "fc15_byte_count_does_not_fit_quantity",
            dir: REQ,
            pdu: &[0x0F, 0x00, 0x13, 0x00, 0x0A, 0x03, 0xCD, 0x01, 0x00], // 10 coils need 2 bytes
            want: |d| Pdu::WriteMultipleRequest {
                address: 19,
                quantity: 10,
                byte_count: 3,
                values: &d[5..],
            },
            flags: Flags::BYTE_COUNT_MISMATCH,
        },
        Case {
            name: "fc15_1969_coils",
            dir: REQ,
            pdu: &[0x0F, 0x00, 0x00, 0x07, 0xB1, 0x00], // 1969 > 1968, byte count 0
            want: |d| Pdu::WriteMultipleRequest {
                address: 0,
                quantity: 1969,
                byte_count: 0,
                values: &d[5..],
            },
            flags: Flags::QUANTITY_OUT_OF_RANGE.union(Flags::BYTE_COUNT_MISMATCH),
        },
        Case {
            name: "fc15_write_multiple_coils_response",
            dir: RSP,
            pdu: &[0x0F, 0x00, 0x13, 0x00, 0x0A],
            want: |_| Pdu::WriteMultipleResponse {
                address: 19,
                quantity: 10,
            },
            flags: none,
        },
        Case {
            name: "fc16_write_multiple_registers_request",
            // address 1, 2 registers, 4 bytes: 000A 0102
            dir: REQ,
            pdu: &[0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02],
            want: |d| Pdu::WriteMultipleRequest {
                address: 1,
                quantity: 2,
                byte_count: 4,
                values: &d[5..],
            },
            flags: none,
        },
        Case {
            name: "fc16_values_cut_short",
            dir: REQ,
            pdu: &[0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A], // 2 of 4 bytes
            want: |d| Pdu::WriteMultipleRequest {
                address: 1,
                quantity: 2,
                byte_count: 4,
                values: &d[5..],
            },
            flags: Flags::BYTE_COUNT_MISMATCH,
        },
        Case {
            name: "fc16_write_multiple_registers_response",
            dir: RSP,
            pdu: &[0x10, 0x00, 0x01, 0x00, 0x02],
            want: |_| Pdu::WriteMultipleResponse {
                address: 1,
                quantity: 2,
            },
            flags: none,
        },
        // ---- FC 20/21 file records ----------------------------------------
        Case {
            name: "fc20_read_file_record_request",
            // byte count 14; {ref 6, file 4, record 1, length 2}; {ref 6, file 3, record 9, length 2}
            dir: REQ,
            pdu: &[
                0x14, 0x0E, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02, 0x06, 0x00, 0x03, 0x00, 0x09,
                0x00, 0x02,
            ],
            want: |d| match modbus::parse_pdu(0x14, d, REQ).0 {
                p @ Pdu::ReadFileRecordRequest { byte_count: 14, .. } => p,
                other => panic!("{other:?}"),
            },
            flags: none,
        },
        Case {
            name: "fc20_byte_count_zero",
            dir: REQ,
            pdu: &[0x14, 0x00], // icsnpp's modbus_example.pcap sends this
            want: |d| modbus::parse_pdu(0x14, d, REQ).0,
            flags: Flags::QUANTITY_OUT_OF_RANGE,
        },
        Case {
            name: "fc20_reference_type_not_6",
            dir: REQ,
            pdu: &[0x14, 0x07, 0x07, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02],
            want: |d| modbus::parse_pdu(0x14, d, REQ).0,
            flags: Flags::INVALID_FIELD_VALUE,
        },
        Case {
            name: "fc20_read_file_record_response",
            // length 12; {len 5, ref 6, 0DFE 0020}; {len 5, ref 6, 33CD 0040}
            dir: RSP,
            pdu: &[
                0x14, 0x0C, 0x05, 0x06, 0x0D, 0xFE, 0x00, 0x20, 0x05, 0x06, 0x33, 0xCD, 0x00, 0x40,
            ],
            want: |d| modbus::parse_pdu(0x14, d, RSP).0,
            flags: none,
        },
        Case {
            name: "fc21_write_file_record_request",
            // byte count 13; {ref 6, file 4, record 7, length 3, 06AF 04BE 100D}
            dir: REQ,
            pdu: &[
                0x15, 0x0D, 0x06, 0x00, 0x04, 0x00, 0x07, 0x00, 0x03, 0x06, 0xAF, 0x04, 0xBE, 0x10,
                0x0D,
            ],
            want: |d| modbus::parse_pdu(0x15, d, REQ).0,
            flags: none,
        },
        Case {
            name: "fc21_record_data_cut_short",
            // record length 3 announces 6 bytes, 4 present, byte count says 11
            dir: REQ,
            pdu: &[
                0x15, 0x0B, 0x06, 0x00, 0x04, 0x00, 0x07, 0x00, 0x03, 0x06, 0xAF, 0x04, 0xBE,
            ],
            want: |d| modbus::parse_pdu(0x15, d, REQ).0,
            flags: Flags::BYTE_COUNT_MISMATCH,
        },
        // ---- FC 22, 23, 24 --------------------------------------------------
        Case {
            name: "fc22_mask_write_register",
            dir: REQ,
            pdu: &[0x16, 0x00, 0x04, 0x00, 0xF2, 0x00, 0x25], // reg 4, AND 00F2, OR 0025
            want: |_| Pdu::MaskWrite {
                address: 4,
                and_mask: 0x00F2,
                or_mask: 0x0025,
            },
            flags: none,
        },
        Case {
            name: "fc22_sweep_request_too_short",
            dir: REQ,
            pdu: &[0x16, 0x00, 0x00, 0x00, 0x00], // arkime FC sweep: tshark "malformed"
            want: |d| Pdu::Raw { data: d },
            flags: Flags::PDU_TOO_SHORT,
        },
        Case {
            name: "fc23_read_write_multiple_request",
            // read 3 from 3, write 3 to 14, byte count 6, 00FF x3
            dir: REQ,
            pdu: &[
                0x17, 0x00, 0x03, 0x00, 0x06, 0x00, 0x0E, 0x00, 0x03, 0x06, 0x00, 0xFF, 0x00, 0xFF,
                0x00, 0xFF,
            ],
            want: |d| Pdu::ReadWriteMultipleRequest {
                read_address: 3,
                read_quantity: 6,
                write_address: 14,
                write_quantity: 3,
                byte_count: 6,
                values: &d[9..],
            },
            flags: none,
        },
        Case {
            name: "fc23_write_quantity_122",
            dir: REQ,
            pdu: &[0x17, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x7A, 0x00], // 122 > 121
            want: |d| Pdu::ReadWriteMultipleRequest {
                read_address: 0,
                read_quantity: 1,
                write_address: 0,
                write_quantity: 122,
                byte_count: 0,
                values: &d[9..],
            },
            flags: Flags::QUANTITY_OUT_OF_RANGE.union(Flags::BYTE_COUNT_MISMATCH),
        },
        Case {
            name: "fc23_read_write_multiple_response",
            dir: RSP,
            pdu: &[0x17, 0x04, 0x00, 0xFE, 0x0A, 0xCD],
            want: |d| Pdu::ReadResponse {
                byte_count: 4,
                data: &d[1..],
            },
            flags: none,
        },
        Case {
            name: "fc24_read_fifo_request",
            dir: REQ,
            pdu: &[0x18, 0x04, 0xDE], // FIFO pointer 0x04DE
            want: |_| Pdu::ReadFifoRequest { address: 0x04DE },
            flags: none,
        },
        Case {
            name: "fc24_read_fifo_response",
            // byte count 6, 2 registers: 01B8 1284
            dir: RSP,
            pdu: &[0x18, 0x00, 0x06, 0x00, 0x02, 0x01, 0xB8, 0x12, 0x84],
            want: |d| Pdu::ReadFifoResponse {
                byte_count: 6,
                fifo_count: 2,
                values: &d[4..],
            },
            flags: none,
        },
        Case {
            name: "fc24_fifo_count_32",
            dir: RSP,
            pdu: &[0x18, 0x00, 0x02, 0x00, 0x20], // 32 > 31 and byte count says 0 registers
            want: |d| Pdu::ReadFifoResponse {
                byte_count: 2,
                fifo_count: 32,
                values: &d[4..],
            },
            flags: Flags::QUANTITY_OUT_OF_RANGE.union(Flags::BYTE_COUNT_MISMATCH),
        },
        // ---- FC 43 MEI ------------------------------------------------------
        Case {
            name: "fc43_read_device_id_basic_request",
            dir: REQ,
            pdu: &[0x2B, 0x0E, 0x01, 0x00], // MEI 14, basic, from object 0
            want: |_| Pdu::ReadDeviceIdRequest {
                read_device_id_code: 1,
                object_id: 0,
            },
            flags: none,
        },
        Case {
            name: "fc43_read_device_id_code_5",
            dir: REQ,
            pdu: &[0x2B, 0x0E, 0x05, 0x00],
            want: |_| Pdu::ReadDeviceIdRequest {
                read_device_id_code: 5,
                object_id: 0,
            },
            flags: Flags::INVALID_FIELD_VALUE,
        },
        Case {
            name: "fc43_canopen_general_reference",
            dir: REQ,
            pdu: &[0x2B, 0x0D, 0x00, 0x01, 0x02],
            want: |d| Pdu::CanOpen { data: &d[1..] },
            flags: none,
        },
        Case {
            name: "fc43_sweep_mei_type_0",
            dir: REQ,
            pdu: &[0x2B, 0x00, 0x00, 0x00, 0x00], // arkime FC sweep
            want: |d| Pdu::Mei {
                mei_type: 0,
                data: &d[1..],
            },
            flags: Flags::UNKNOWN_MEI_TYPE,
        },
        // ---- FC 90 UMAS -----------------------------------------------------
        Case {
            name: "fc90_umas_stop_plc_request",
            dir: REQ,
            pdu: &[0x5A, 0x01, 0x41, 0xFF, 0x00], // key 1, STOP_PLC, data
            want: |d| Pdu::UmasRequest {
                session_key: 1,
                function: 0x41,
                data: &d[2..],
            },
            flags: none,
        },
        Case {
            name: "fc90_umas_ok_response",
            dir: RSP,
            pdu: &[0x5A, 0x01, 0xFE, 0x00],
            want: |d| Pdu::UmasResponse {
                session_key: 1,
                status: 0xFE,
                data: &d[2..],
            },
            flags: none,
        },
        Case {
            name: "fc90_umas_unknown_status",
            dir: RSP,
            pdu: &[0x5A, 0x01, 0x12],
            want: |d| Pdu::UmasResponse {
                session_key: 1,
                status: 0x12,
                data: &d[2..],
            },
            flags: Flags::INVALID_FIELD_VALUE,
        },
        // ---- exceptions and unknown codes ---------------------------------
        Case {
            name: "exception_illegal_data_address",
            dir: RSP,
            pdu: &[0x83, 0x02],
            want: |_| Pdu::Exception { code: 2 },
            flags: none,
        },
        Case {
            name: "exception_memory_parity_on_fc3",
            dir: RSP,
            pdu: &[0x83, 0x08], // memory parity belongs to FC 20/21
            want: |_| Pdu::Exception { code: 8 },
            flags: Flags::EXCEPTION_CODE_NOT_ALLOWED,
        },
        Case {
            name: "exception_memory_parity_on_fc20",
            dir: RSP,
            pdu: &[0x94, 0x08],
            want: |_| Pdu::Exception { code: 8 },
            flags: none,
        },
        Case {
            name: "exception_code_7_is_unknown",
            dir: RSP,
            pdu: &[0x83, 0x07],
            want: |_| Pdu::Exception { code: 7 },
            flags: Flags::UNKNOWN_EXCEPTION_CODE.union(Flags::EXCEPTION_CODE_NOT_ALLOWED),
        },
        Case {
            name: "exception_with_extra_byte",
            dir: RSP,
            pdu: &[0x81, 0x06, 0x00], // arkime's port-4446 server sends this shape
            want: |_| Pdu::Exception { code: 6 },
            flags: Flags::TRAILING_BYTES,
        },
        Case {
            name: "exception_without_code",
            dir: RSP,
            pdu: &[0x81],
            want: |d| Pdu::Raw { data: d },
            flags: Flags::PDU_TOO_SHORT,
        },
        Case {
            name: "exception_bit_in_request",
            dir: REQ,
            pdu: &[0x83, 0x00, 0x00],
            want: |d| Pdu::Raw { data: d },
            flags: Flags::EXCEPTION_BIT_IN_REQUEST,
        },
        Case {
            name: "unassigned_fc_41_kept_raw",
            dir: REQ,
            pdu: &[0x29, 0x01, 0x02],
            want: |d| Pdu::Raw { data: d },
            flags: Flags::UNASSIGNED_FUNCTION,
        },
        Case {
            name: "fc0_kept_raw",
            dir: REQ,
            pdu: &[0x00, 0x00, 0x00, 0x00, 0x00],
            want: |d| Pdu::Raw { data: d },
            flags: Flags::UNASSIGNED_FUNCTION,
        },
        Case {
            name: "user_defined_fc_65",
            dir: REQ,
            pdu: &[0x41, 0x00, 0x00, 0x00, 0x00],
            want: |d| Pdu::Raw { data: d },
            flags: Flags::USER_DEFINED_FUNCTION,
        },
    ]
}

#[test]
fn every_function_code_case_decodes_with_expected_flags() {
    for case in cases() {
        let bytes = adu(case.pdu);
        let (m, consumed) =
            parse_adu(&bytes, case.dir).unwrap_or_else(|e| panic!("{}: {e:?}", case.name));
        assert_eq!(consumed, bytes.len(), "{}", case.name);
        assert_eq!(m.transaction_id, 0x1234, "{}", case.name);
        assert_eq!(m.unit_id, 0x11, "{}", case.name);
        assert_eq!(m.function_code, case.pdu[0], "{}", case.name);
        assert_eq!(m.data, &case.pdu[1..], "{}", case.name);
        assert_eq!(m.pdu, (case.want)(m.data), "{}", case.name);
        assert_eq!(m.flags, case.flags, "{}", case.name);
    }
}

#[test]
fn read_file_record_sub_requests_and_responses_iterate() {
    let req = [
        0x0E, 0x06, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02, 0x06, 0x00, 0x03, 0x00, 0x09, 0x00, 0x02,
    ];
    let Pdu::ReadFileRecordRequest { sub_requests, .. } = modbus::parse_pdu(0x14, &req, REQ).0
    else {
        panic!("fc20 request")
    };
    let subs: Vec<FileSubRequest<'_>> = sub_requests.collect();
    assert_eq!(
        subs,
        vec![
            FileSubRequest {
                reference_type: 6,
                file_number: 4,
                record_number: 1,
                record_length: 2,
                data: &[]
            },
            FileSubRequest {
                reference_type: 6,
                file_number: 3,
                record_number: 9,
                record_length: 2,
                data: &[]
            },
        ]
    );
    let rsp = [
        0x0C, 0x05, 0x06, 0x0D, 0xFE, 0x00, 0x20, 0x05, 0x06, 0x33, 0xCD, 0x00, 0x40,
    ];
    let Pdu::ReadFileRecordResponse { sub_responses, .. } = modbus::parse_pdu(0x14, &rsp, RSP).0
    else {
        panic!("fc20 response")
    };
    let subs: Vec<FileSubResponse<'_>> = sub_responses.collect();
    assert_eq!(
        subs,
        vec![
            FileSubResponse {
                reference_type: 6,
                data: &[0x0D, 0xFE, 0x00, 0x20]
            },
            FileSubResponse {
                reference_type: 6,
                data: &[0x33, 0xCD, 0x00, 0x40]
            },
        ]
    );
    let write = [
        0x0D, 0x06, 0x00, 0x04, 0x00, 0x07, 0x00, 0x03, 0x06, 0xAF, 0x04, 0xBE, 0x10, 0x0D,
    ];
    let Pdu::WriteFileRecord { sub_requests, .. } = modbus::parse_pdu(0x15, &write, RSP).0 else {
        panic!("fc21 echo")
    };
    let only = sub_requests.collect::<Vec<_>>();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].data, &[0x06, 0xAF, 0x04, 0xBE, 0x10, 0x0D]);
}

#[test]
fn device_identification_response_yields_asset_facts() {
    let pdu = [
        0x2B, 0x0E, // fc 43, MEI 14
        0x01, // read device id code: basic
        0x83, // conformity level: extended, individual access
        0x00, // more follows: no
        0x00, // next object id
        0x03, // three objects
        0x00, 0x04, b'A', b'c', b'm', b'e', // vendor name
        0x01, 0x03, b'P', b'L', b'C', // product code
        0x02, 0x04, b'v', b'2', b'.', b'1', // major/minor revision
    ];
    let bytes = adu(&pdu);
    let (m, _) = parse_adu(&bytes, RSP).expect("frames");
    assert!(m.flags.is_empty(), "{:?}", m.flags);
    assert_eq!(m.class(), OtClass::Recon);
    assert_eq!(m.sub_function_name(), Some("read_device_identification"));
    let Pdu::ReadDeviceIdResponse(id) = m.pdu else {
        panic!("mei 14 response")
    };
    assert_eq!(id.conformity_level, 0x83);
    assert_eq!(id.vendor_name(), Some(&b"Acme"[..]));
    assert_eq!(id.product_code(), Some(&b"PLC"[..]));
    assert_eq!(id.revision(), Some(&b"v2.1"[..]));
    assert_eq!(
        id.objects()
            .map(|o: DeviceIdObject<'_>| o.name())
            .collect::<Vec<_>>(),
        ["vendor_name", "product_code", "major_minor_revision"]
    );
}

#[test]
fn device_identification_announcing_more_objects_than_sent() {
    // 3 objects announced, 1 present.
    let pdu = [0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x03, 0x00, 0x01, b'X'];
    let bytes = adu(&pdu);
    let (m, _) = parse_adu(&bytes, RSP).expect("frames");
    assert_eq!(m.flags, Flags::BYTE_COUNT_MISMATCH);
}

#[test]
fn classes_follow_second_level_codes() {
    let class = |pdu: &[u8], dir| parse_adu(&adu(pdu), dir).expect("frames").0.class();
    assert_eq!(
        class(&[0x08, 0x00, 0x04, 0x00, 0x00], REQ),
        OtClass::Control
    ); // force listen only
    assert_eq!(
        class(&[0x08, 0x00, 0x00, 0x12, 0x34], REQ),
        OtClass::Diagnostic
    ); // echo
    assert_eq!(class(&[0x5A, 0x00, 0x41], REQ), OtClass::Control); // UMAS stop
    assert_eq!(class(&[0x5A, 0x00, 0x34, 0x01], REQ), OtClass::Program); // UMAS download block
    assert_eq!(class(&[0x5A, 0x00, 0x02], REQ), OtClass::Recon); // UMAS read id
    assert_eq!(
        class(&[0x10, 0x00, 0x01, 0x00, 0x01, 0x02, 0x00, 0x01], REQ),
        OtClass::Write
    );
    assert_eq!(class(&[0x90, 0x02], RSP), OtClass::Write); // exception to FC 16
    assert_eq!(class(&[0x03, 0x00, 0x00, 0x00, 0x01], REQ), OtClass::Read);
    assert_eq!(class(&[0x15, 0x00], REQ), OtClass::File);
}

#[test]
fn exception_response_names() {
    let bytes = adu(&[0x81, 0x01]);
    let (m, _) = parse_adu(&bytes, RSP).expect("frames");
    assert_eq!(m.function(), 1);
    assert_eq!(m.function_name(), "read_coils");
    assert_eq!(m.exception_code(), Some(1));
    assert_eq!(m.exception_name(), Some("illegal_function"));
}

#[test]
fn mbap_protocol_id_nonzero_is_a_flag_not_an_error() {
    let bytes = [
        0x05, 0x00, // transaction id
        0x0B, 0x03, // protocol id 0x0B03 (a DCERPC bind echoed by a server)
        0x00, 0x03, // length 3
        0x00, // unit id
        0x80, 0x01, // exception to FC 0: illegal function
    ];
    let (m, n) = parse_adu(&bytes, RSP).expect("frames");
    assert_eq!(n, 9);
    assert_eq!(m.protocol_id, 0x0B03);
    assert!(m.flags.contains(Flags::PROTOCOL_ID_NONZERO));
    // ... but the probe will not take such a stream for Modbus.
    assert_eq!(modbus::probe(&bytes), Probe::NoMatch);
}

#[test]
fn mbap_length_out_of_range_is_invalid_framing() {
    let zero = [0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x11, 0x03];
    assert_eq!(
        parse_adu(&zero, REQ),
        Err(AduError::LengthOutOfRange { length: 0 })
    );
    assert_eq!(
        ModbusTcp.parse(&zero, REQ),
        Parsed::Invalid {
            reason: "mbap_length_out_of_range"
        }
    );
    let huge = [0x00, 0x01, 0x00, 0x00, 0x12, 0x34, 0x11, 0x03];
    assert_eq!(
        parse_adu(&huge, REQ),
        Err(AduError::LengthOutOfRange { length: 0x1234 })
    );
}

#[test]
fn mbap_length_255_frames_with_a_flag() {
    let mut pdu = vec![0x5A, 0x00, 0x0A, 0x00];
    pdu.resize(254, 0x54); // UMAS repeat with 250 bytes of 'T', as in ndpi_umas.pcap
    let bytes = adu(&pdu);
    let (m, n) = parse_adu(&bytes, REQ).expect("frames");
    assert_eq!(m.length, 255);
    assert_eq!(n, 261);
    assert_eq!(m.flags, Flags::LENGTH_EXCEEDS_SPEC);
}

// ---- probe ---------------------------------------------------------------

#[test]
fn probe_matches_a_whole_request_and_waits_for_a_partial_one() {
    let req = adu(&[0x03, 0x00, 0x6B, 0x00, 0x03]);
    assert_eq!(modbus::probe(&req), Probe::Match);
    assert_eq!(modbus::probe(&req[..5]), Probe::NeedMore);
    assert_eq!(modbus::probe(&req[..9]), Probe::NeedMore);
    assert_eq!(modbus::probe(&[]), Probe::NeedMore);
    let mut two = req.clone();
    two.extend_from_slice(&req[..3]);
    assert_eq!(modbus::probe(&two), Probe::Match);
    // A whole ADU followed by bytes that cannot start another.
    let mut bad_next = req.clone();
    bad_next.extend_from_slice(b"HTTP/1.1");
    assert_eq!(modbus::probe(&bad_next), Probe::NoMatch);
}

#[test]
fn probe_rejects_non_modbus_sent_to_port_502() {
    // First client bytes of the six non-Modbus connections in Zeek's
    // modbus-and-non-modbus-p502.pcap.
    let dcerpc = [
        0x05, 0x00, 0x0B, 0x03, 0x10, 0x00, 0x00, 0x00, 0x48, 0x00, 0x00, 0x00,
    ];
    let onc_rpc = [
        0x80, 0x00, 0x00, 0x28, 0x7E, 0x86, 0xAB, 0x4A, 0x00, 0x00, 0x00, 0x00,
    ];
    let tls = [
        0x16, 0x03, 0x01, 0x00, 0x85, 0x01, 0x00, 0x00, 0x81, 0x03, 0x03,
    ];
    let http = b"GET / HTTP/1.1\r\nHost: 160.97.70.34\r\n";
    let mglndd = b"MGLNDD_160.97.70.36_502\n";
    let tpkt = [
        0x03, 0x00, 0x00, 0x2B, 0x26, 0xE0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x43,
    ];
    for (name, bytes) in [
        ("dcerpc", &dcerpc[..]),
        ("onc_rpc", &onc_rpc[..]),
        ("tls", &tls[..]),
        ("http", &http[..]),
        ("mglndd", &mglndd[..]),
        ("tpkt", &tpkt[..]),
    ] {
        assert_eq!(modbus::probe(bytes), Probe::NoMatch, "{name}");
    }
}

// ---- stream scenarios ------------------------------------------------------

/// FC 16 request, 17 bytes: MBAP + write 2 registers.
const WRITE_REQ: [u8; 17] = [
    0x00, 0x07, // transaction id 7
    0x00, 0x00, // protocol id
    0x00, 0x0B, // length 11
    0x01, // unit
    0x10, // fc 16
    0x00, 0x01, // address 1
    0x00, 0x02, // quantity 2
    0x04, // byte count
    0x00, 0x0A, 0x01, 0x02, // values
];

#[test]
fn fragmentation_1_adu_in_3_tcp_segments() {
    // The engine keeps the unconsumed tail and calls drive again as the
    // buffer grows: 3 bytes, then 9, then all 17.
    let mut got = Vec::new();
    let o = drive(&mut ModbusTcp, &WRITE_REQ[..3], REQ, |m| {
        got.push(m.transaction_id)
    });
    assert_eq!((o.consumed, o.needed), (0, Some(5))); // lower bound: the 8-byte minimum ADU
    let o = drive(&mut ModbusTcp, &WRITE_REQ[..9], REQ, |m| {
        got.push(m.transaction_id)
    });
    assert_eq!((o.consumed, o.needed), (0, Some(8))); // length known: 17 - 9
    let o = drive(&mut ModbusTcp, &WRITE_REQ, REQ, |m| {
        got.push(m.transaction_id)
    });
    assert_eq!((o.consumed, o.needed, o.messages), (17, None, 1));
    assert_eq!(got, vec![7]);
}

#[test]
fn pipelining_3_adus_in_1_tcp_segment() {
    let mut buf = Vec::new();
    for tid in [1u8, 2, 3] {
        let mut a = WRITE_REQ;
        a[1] = tid;
        buf.extend_from_slice(&a);
    }
    let mut got = Vec::new();
    let o = drive(&mut ModbusTcp, &buf, REQ, |m| {
        assert_eq!(
            m.pdu,
            Pdu::WriteMultipleRequest {
                address: 1,
                quantity: 2,
                byte_count: 4,
                values: &[0, 0x0A, 1, 2]
            }
        );
        got.push(m.transaction_id)
    });
    assert_eq!(got, vec![1, 2, 3]);
    assert_eq!((o.consumed, o.needed, o.invalid), (51, None, 0));
}

#[test]
fn gap_then_resync_finds_the_next_adu() {
    // The tail of a lost ADU (register values), then a whole FC 16 request.
    let mut buf = vec![0x00, 0x0A, 0x01, 0x02, 0xFF, 0x13];
    buf.extend_from_slice(&WRITE_REQ);
    assert_eq!(ModbusTcp.resync(&buf, REQ), Some(6));
    // Broken framing inside a stream: drive counts it and resynchronises.
    let mut buf2 = vec![0x00, 0x09, 0x00, 0x00, 0xFF, 0xFF, 0x01, 0x03]; // length 0xFFFF
    buf2.extend_from_slice(&WRITE_REQ);
    let mut got = Vec::new();
    let o = drive(&mut ModbusTcp, &buf2, REQ, |m| got.push(m.transaction_id));
    assert_eq!(got, vec![7]);
    assert_eq!(
        (o.invalid, o.skipped, o.last_invalid),
        (1, 8, Some("mbap_length_out_of_range"))
    );
}

#[test]
fn resync_rejects_a_candidate_whose_next_header_is_garbage() {
    // Looks like an ADU at 0 (pid 0, length 6), but what follows it has a
    // non-zero protocol id; the real ADU starts at 12.
    let mut buf = vec![
        0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01,
    ];
    buf.extend_from_slice(&[0xAA; 6]);
    buf.extend_from_slice(&WRITE_REQ);
    assert_eq!(modbus::resync(&buf, REQ), Some(18));
    // Only garbage: nothing to resynchronise on.
    assert_eq!(modbus::resync(&[0xAA; 40], REQ), None);
    // An exception-shaped header is not a request.
    let exc = adu(&[0x83, 0x02]);
    assert_eq!(modbus::resync(&exc, REQ), None);
    assert_eq!(modbus::resync(&exc, RSP), Some(0));
}

#[test]
fn resync_keeps_a_header_cut_by_the_end_of_input() {
    let mut buf = vec![0xAA, 0xBB];
    buf.extend_from_slice(&WRITE_REQ[..5]);
    assert_eq!(modbus::resync(&buf, REQ), Some(2));
}
