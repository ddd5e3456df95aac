//! Typed views of the Modbus PDU (function code + data), per function code and
//! direction.
//!
//! [`parse_pdu`] never fails: a body that is too short for its function's
//! layout comes back as [`Pdu::Raw`] with [`Flags::PDU_TOO_SHORT`], and every
//! other violation of the specification is a flag next to a typed view.
//! Every slice in a view borrows from the PDU data given to [`parse_pdu`].
//!
//! Reference: MODBUS Application Protocol Specification V1.1b3, §6 (function
//! code descriptions) and §7 (exception responses).

use super::codes::*;
use super::Flags;
use crate::stream::Direction;

/// Most coils or discrete inputs one read may ask for (FC 1, 2).
pub const MAX_READ_BITS: u16 = 2000;
/// Most registers one read may ask for (FC 3, 4, and the read half of 23).
pub const MAX_READ_REGISTERS: u16 = 125;
/// Most coils one FC 15 request may write.
pub const MAX_WRITE_COILS: u16 = 1968;
/// Most registers one FC 16 request may write.
pub const MAX_WRITE_REGISTERS: u16 = 123;
/// Most registers the write half of one FC 23 request may write.
pub const MAX_READ_WRITE_REGISTERS: u16 = 121;
/// Most registers one FIFO queue answer may hold (FC 24).
pub const MAX_FIFO_COUNT: u16 = 31;
/// Most event bytes in one comm event log answer (FC 12).
pub const MAX_COMM_EVENTS: usize = 64;
/// The only file record reference type the specification defines.
pub const FILE_REFERENCE_TYPE: u8 = 6;
/// Bytes of one read-file-record sub-request (FC 20).
pub const FILE_SUB_REQUEST_LEN: usize = 7;

/// The decoded PDU. Which variant a function code yields depends on the
/// direction; the table in [`parse_pdu`] lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pdu<'a> {
    /// FC 1-4 request: first address and how many items to read.
    ReadRequest {
        /// Starting address (0-based).
        address: u16,
        /// Number of coils, inputs or registers.
        quantity: u16,
    },
    /// FC 1-4 and FC 23 response: the bytes read.
    ReadResponse {
        /// Byte count as sent.
        byte_count: u8,
        /// The data bytes present (at most `byte_count`).
        data: &'a [u8],
    },
    /// FC 5 and 6, request and (echo) response.
    WriteSingle {
        /// Output or register address.
        address: u16,
        /// Value written (FC 5: 0xFF00 on, 0x0000 off).
        value: u16,
    },
    /// FC 15 and 16 request.
    WriteMultipleRequest {
        /// Starting address.
        address: u16,
        /// Number of coils or registers.
        quantity: u16,
        /// Byte count as sent.
        byte_count: u8,
        /// The values present (at most `byte_count` bytes).
        values: &'a [u8],
    },
    /// FC 15 and 16 response.
    WriteMultipleResponse {
        /// Starting address.
        address: u16,
        /// Number of coils or registers written.
        quantity: u16,
    },
    /// Requests that carry no data: FC 7, 11, 12, 17.
    NoData,
    /// FC 7 response.
    ExceptionStatus {
        /// The eight exception status outputs.
        status: u8,
    },
    /// FC 8, both directions.
    Diagnostics {
        /// Sub-function code (see [`diagnostic_name`]).
        sub_function: u16,
        /// Data after the sub-function.
        data: &'a [u8],
    },
    /// FC 11 response.
    CommEventCounter {
        /// Status word (0xFFFF busy).
        status: u16,
        /// Event counter.
        event_count: u16,
    },
    /// FC 12 response.
    CommEventLog {
        /// Byte count as sent.
        byte_count: u8,
        /// Status word.
        status: u16,
        /// Event counter.
        event_count: u16,
        /// Bus message counter.
        message_count: u16,
        /// Event bytes present.
        events: &'a [u8],
    },
    /// FC 17 response: server id, run indicator and additional data, whose
    /// split is device specific.
    ServerId {
        /// Byte count as sent.
        byte_count: u8,
        /// The bytes present (at most `byte_count`).
        data: &'a [u8],
    },
    /// FC 20 request.
    ReadFileRecordRequest {
        /// Byte count as sent.
        byte_count: u8,
        /// The sub-requests (7 bytes each, no record data).
        sub_requests: FileSubRequests<'a>,
    },
    /// FC 20 response.
    ReadFileRecordResponse {
        /// Response data length as sent.
        byte_count: u8,
        /// The sub-responses.
        sub_responses: FileSubResponses<'a>,
    },
    /// FC 21 request and (echo) response.
    WriteFileRecord {
        /// Byte count as sent.
        byte_count: u8,
        /// The sub-requests, each with its record data.
        sub_requests: FileSubRequests<'a>,
    },
    /// FC 22, request and (echo) response.
    MaskWrite {
        /// Register address.
        address: u16,
        /// AND mask.
        and_mask: u16,
        /// OR mask.
        or_mask: u16,
    },
    /// FC 23 request.
    ReadWriteMultipleRequest {
        /// First register to read.
        read_address: u16,
        /// Registers to read.
        read_quantity: u16,
        /// First register to write.
        write_address: u16,
        /// Registers to write.
        write_quantity: u16,
        /// Write byte count as sent.
        byte_count: u8,
        /// The values present (at most `byte_count` bytes).
        values: &'a [u8],
    },
    /// FC 24 request.
    ReadFifoRequest {
        /// FIFO pointer address.
        address: u16,
    },
    /// FC 24 response.
    ReadFifoResponse {
        /// Byte count as sent (bytes after this field).
        byte_count: u16,
        /// Number of registers in the queue.
        fifo_count: u16,
        /// The register bytes present.
        values: &'a [u8],
    },
    /// FC 43 / MEI 14 request.
    ReadDeviceIdRequest {
        /// 1 basic, 2 regular, 3 extended, 4 one object.
        read_device_id_code: u8,
        /// First (or only) object id asked for.
        object_id: u8,
    },
    /// FC 43 / MEI 14 response.
    ReadDeviceIdResponse(DeviceIdentification<'a>),
    /// FC 43 / MEI 13 (CANopen general reference), both directions.
    CanOpen {
        /// Bytes after the MEI type.
        data: &'a [u8],
    },
    /// FC 43 with another MEI type.
    Mei {
        /// The MEI type byte.
        mei_type: u8,
        /// Bytes after the MEI type.
        data: &'a [u8],
    },
    /// FC 90 request (Schneider UMAS).
    UmasRequest {
        /// Session / pairing key.
        session_key: u8,
        /// UMAS function code (see [`umas_function_name`]).
        function: u8,
        /// Bytes after the function code.
        data: &'a [u8],
    },
    /// FC 90 response (Schneider UMAS). The response does not repeat the
    /// UMAS function: pair it with its request.
    UmasResponse {
        /// Session / pairing key.
        session_key: u8,
        /// 0xFE ok, 0xFD error.
        status: u8,
        /// Bytes after the status.
        data: &'a [u8],
    },
    /// Exception response (function code with bit 0x80 set).
    Exception {
        /// Exception code (see [`exception_name`]).
        code: u8,
    },
    /// Unknown function code, or a body too short for its function's layout.
    Raw {
        /// All bytes after the function code.
        data: &'a [u8],
    },
}

/// One file record sub-request (FC 20 request, FC 21 request and response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSubRequest<'a> {
    /// Reference type (must be 6).
    pub reference_type: u8,
    /// File number.
    pub file_number: u16,
    /// Starting record number.
    pub record_number: u16,
    /// Record length in registers.
    pub record_length: u16,
    /// Record data (FC 21 only; empty for FC 20).
    pub data: &'a [u8],
}

/// Iterator over file record sub-requests. Stops at the first one cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSubRequests<'a> {
    bytes: &'a [u8],
    with_data: bool,
}

impl<'a> FileSubRequests<'a> {
    fn new(bytes: &'a [u8], with_data: bool) -> Self {
        FileSubRequests { bytes, with_data }
    }
}

impl<'a> Iterator for FileSubRequests<'a> {
    type Item = FileSubRequest<'a>;
    fn next(&mut self) -> Option<FileSubRequest<'a>> {
        let mut r = Reader::new(self.bytes);
        let reference_type = r.u8()?;
        let file_number = r.u16()?;
        let record_number = r.u16()?;
        let record_length = r.u16()?;
        let data = if self.with_data {
            r.take(usize::from(record_length) * 2)?
        } else {
            &[][..]
        };
        self.bytes = r.rest();
        Some(FileSubRequest {
            reference_type,
            file_number,
            record_number,
            record_length,
            data,
        })
    }
}

/// One FC 20 sub-response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSubResponse<'a> {
    /// Reference type (must be 6).
    pub reference_type: u8,
    /// Record data.
    pub data: &'a [u8],
}

/// Iterator over FC 20 sub-responses. Stops at the first one cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSubResponses<'a> {
    bytes: &'a [u8],
}

impl<'a> Iterator for FileSubResponses<'a> {
    type Item = FileSubResponse<'a>;
    fn next(&mut self) -> Option<FileSubResponse<'a>> {
        let mut r = Reader::new(self.bytes);
        // The length covers the reference type and the data.
        let len = usize::from(r.u8()?);
        let body = r.take(len)?;
        let (&reference_type, data) = body.split_first()?;
        self.bytes = r.rest();
        Some(FileSubResponse {
            reference_type,
            data,
        })
    }
}

/// The answer to a read-device-identification request (FC 43 / MEI 14).
///
/// ```text
///  0: read device id code   1: conformity level   2: more follows (00/FF)
///  3: next object id        4: number of objects
///  5: { object id u8, object length u8, value[length] } * number of objects
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceIdentification<'a> {
    /// Read device id code echoed from the request.
    pub read_device_id_code: u8,
    /// Conformity level (0x01-0x03, 0x81-0x83).
    pub conformity_level: u8,
    /// 0xFF when more objects follow in another transaction.
    pub more_follows: u8,
    /// Object id to ask for next when `more_follows` is 0xFF.
    pub next_object_id: u8,
    /// Number of objects as sent.
    pub object_count: u8,
    /// The object list bytes.
    pub object_bytes: &'a [u8],
}

/// One device identification object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceIdObject<'a> {
    /// Object id (see [`device_id_object_name`]).
    pub id: u8,
    /// Value bytes (usually ASCII).
    pub value: &'a [u8],
}

impl DeviceIdObject<'_> {
    /// The EVE name of the object id.
    pub fn name(&self) -> &'static str {
        device_id_object_name(self.id)
    }
}

/// Iterator over device identification objects; yields at most
/// `object_count` objects and stops at the first one cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceIdObjects<'a> {
    bytes: &'a [u8],
    left: u8,
}

impl<'a> Iterator for DeviceIdObjects<'a> {
    type Item = DeviceIdObject<'a>;
    fn next(&mut self) -> Option<DeviceIdObject<'a>> {
        if self.left == 0 {
            return None;
        }
        let mut r = Reader::new(self.bytes);
        let id = r.u8()?;
        let len = r.u8()?;
        let value = r.take(usize::from(len))?;
        self.bytes = r.rest();
        self.left -= 1;
        Some(DeviceIdObject { id, value })
    }
}

impl<'a> DeviceIdentification<'a> {
    /// The objects in the answer.
    pub fn objects(&self) -> DeviceIdObjects<'a> {
        DeviceIdObjects {
            bytes: self.object_bytes,
            left: self.object_count,
        }
    }

    /// The value of object `id`, if the answer carries it.
    pub fn object(&self, id: u8) -> Option<&'a [u8]> {
        self.objects().find(|o| o.id == id).map(|o| o.value)
    }

    /// Object 0x00, VendorName.
    pub fn vendor_name(&self) -> Option<&'a [u8]> {
        self.object(0x00)
    }

    /// Object 0x01, ProductCode.
    pub fn product_code(&self) -> Option<&'a [u8]> {
        self.object(0x01)
    }

    /// Object 0x02, MajorMinorRevision (the firmware revision).
    pub fn revision(&self) -> Option<&'a [u8]> {
        self.object(0x02)
    }
}

/// A bounds-checked cursor over PDU bytes. Every read returns `None` instead
/// of running past the end.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(b)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Takes every byte left.
    pub(crate) fn take_rest(&mut self) -> &'a [u8] {
        let rest = self.buf;
        self.buf = &[];
        rest
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Splits `bytes` at `count`, flagging a mismatch between the count and the
/// bytes present; returns at most `count` bytes.
fn counted<'a>(bytes: &'a [u8], count: usize, flags: &mut Flags) -> &'a [u8] {
    flags.set_if(Flags::BYTE_COUNT_MISMATCH, bytes.len() != count);
    bytes.get(..count).unwrap_or(bytes)
}

fn check_range(q: u16, max: u16, flags: &mut Flags) {
    flags.set_if(Flags::QUANTITY_OUT_OF_RANGE, q == 0 || q > max);
}

fn check_span(address: u16, quantity: u16, flags: &mut Flags) {
    flags.set_if(
        Flags::ADDRESS_OVERFLOW,
        u32::from(address) + u32::from(quantity) > 0x1_0000,
    );
}

/// Decodes the data of one Modbus PDU.
///
/// `function_code` is the byte as sent (exception bit included); `data` is
/// everything after it. In [`Direction::ToClient`] a code with bit 0x80 is an
/// exception response; in [`Direction::ToServer`] such a code is flagged
/// [`Flags::EXCEPTION_BIT_IN_REQUEST`] and kept raw.
///
/// | FC | request | response |
/// |---|---|---|
/// | 1-4 | `ReadRequest` | `ReadResponse` |
/// | 5, 6 | `WriteSingle` | `WriteSingle` |
/// | 7 | `NoData` | `ExceptionStatus` |
/// | 8 | `Diagnostics` | `Diagnostics` |
/// | 11 | `NoData` | `CommEventCounter` |
/// | 12 | `NoData` | `CommEventLog` |
/// | 15, 16 | `WriteMultipleRequest` | `WriteMultipleResponse` |
/// | 17 | `NoData` | `ServerId` |
/// | 20 | `ReadFileRecordRequest` | `ReadFileRecordResponse` |
/// | 21 | `WriteFileRecord` | `WriteFileRecord` |
/// | 22 | `MaskWrite` | `MaskWrite` |
/// | 23 | `ReadWriteMultipleRequest` | `ReadResponse` |
/// | 24 | `ReadFifoRequest` | `ReadFifoResponse` |
/// | 43/14 | `ReadDeviceIdRequest` | `ReadDeviceIdResponse` |
/// | 43/13 | `CanOpen` | `CanOpen` |
/// | 43/other | `Mei` | `Mei` |
/// | 90 | `UmasRequest` | `UmasResponse` |
/// | any \| 0x80 | `Raw` | `Exception` |
/// | other | `Raw` | `Raw` |
pub fn parse_pdu(function_code: u8, data: &[u8], dir: Direction) -> (Pdu<'_>, Flags) {
    let mut flags = Flags::empty();
    let fc = function_code & !EXCEPTION_BIT;
    match function_kind(fc) {
        FunctionKind::Unassigned => flags.insert(Flags::UNASSIGNED_FUNCTION),
        FunctionKind::UserDefined => flags.insert(Flags::USER_DEFINED_FUNCTION),
        FunctionKind::Public | FunctionKind::Vendor => {}
    }
    if function_code & EXCEPTION_BIT != 0 {
        if dir == Direction::ToServer {
            flags.insert(Flags::EXCEPTION_BIT_IN_REQUEST);
            return (Pdu::Raw { data }, flags);
        }
        let Some((&code, rest)) = data.split_first() else {
            flags.insert(Flags::PDU_TOO_SHORT);
            return (Pdu::Raw { data }, flags);
        };
        flags.set_if(Flags::TRAILING_BYTES, !rest.is_empty());
        flags.set_if(Flags::UNKNOWN_EXCEPTION_CODE, !exception_is_known(code));
        flags.set_if(
            Flags::EXCEPTION_CODE_NOT_ALLOWED,
            !exception_allowed(fc, code),
        );
        return (Pdu::Exception { code }, flags);
    }
    let mut r = Reader::new(data);
    let parsed = match dir {
        Direction::ToServer => request(fc, &mut r, &mut flags),
        Direction::ToClient => response(fc, &mut r, &mut flags),
    };
    match parsed {
        Some(pdu) => {
            flags.set_if(Flags::TRAILING_BYTES, !r.is_empty());
            (pdu, flags)
        }
        None => {
            if function_kind(fc) != FunctionKind::Unassigned
                && function_kind(fc) != FunctionKind::UserDefined
            {
                flags.insert(Flags::PDU_TOO_SHORT);
            }
            (Pdu::Raw { data }, flags)
        }
    }
}

/// Request layouts. `None`: too short for the layout (or an unknown code).
/// Variable parts take the rest of the reader.
fn request<'a>(fc: u8, r: &mut Reader<'a>, flags: &mut Flags) -> Option<Pdu<'a>> {
    Some(match fc {
        FC_READ_COILS
        | FC_READ_DISCRETE_INPUTS
        | FC_READ_HOLDING_REGISTERS
        | FC_READ_INPUT_REGISTERS => {
            let address = r.u16()?;
            let quantity = r.u16()?;
            let max = if fc <= FC_READ_DISCRETE_INPUTS {
                MAX_READ_BITS
            } else {
                MAX_READ_REGISTERS
            };
            check_range(quantity, max, flags);
            check_span(address, quantity, flags);
            Pdu::ReadRequest { address, quantity }
        }
        FC_WRITE_SINGLE_COIL | FC_WRITE_SINGLE_REGISTER => write_single(fc, r, flags)?,
        FC_READ_EXCEPTION_STATUS
        | FC_GET_COMM_EVENT_COUNTER
        | FC_GET_COMM_EVENT_LOG
        | FC_REPORT_SERVER_ID => Pdu::NoData,
        FC_DIAGNOSTICS => diagnostics(r, flags)?,
        FC_WRITE_MULTIPLE_COILS | FC_WRITE_MULTIPLE_REGISTERS => {
            let address = r.u16()?;
            let quantity = r.u16()?;
            let byte_count = r.u8()?;
            let (max, expected) = if fc == FC_WRITE_MULTIPLE_COILS {
                (MAX_WRITE_COILS, usize::from(quantity).div_ceil(8))
            } else {
                (MAX_WRITE_REGISTERS, usize::from(quantity) * 2)
            };
            check_range(quantity, max, flags);
            check_span(address, quantity, flags);
            flags.set_if(
                Flags::BYTE_COUNT_MISMATCH,
                usize::from(byte_count) != expected,
            );
            let values = counted(r.take_rest(), usize::from(byte_count), flags);
            Pdu::WriteMultipleRequest {
                address,
                quantity,
                byte_count,
                values,
            }
        }
        FC_READ_FILE_RECORD => {
            let byte_count = r.u8()?;
            flags.set_if(
                Flags::QUANTITY_OUT_OF_RANGE,
                !(0x07..=0xF5).contains(&byte_count),
            );
            let body = counted(r.take_rest(), usize::from(byte_count), flags);
            let sub_requests = FileSubRequests::new(body, false);
            check_file_sub_requests(sub_requests, flags);
            Pdu::ReadFileRecordRequest {
                byte_count,
                sub_requests,
            }
        }
        FC_WRITE_FILE_RECORD => write_file_record(r, flags)?,
        FC_MASK_WRITE_REGISTER => mask_write(r)?,
        FC_READ_WRITE_MULTIPLE_REGISTERS => {
            let read_address = r.u16()?;
            let read_quantity = r.u16()?;
            let write_address = r.u16()?;
            let write_quantity = r.u16()?;
            let byte_count = r.u8()?;
            check_range(read_quantity, MAX_READ_REGISTERS, flags);
            check_range(write_quantity, MAX_READ_WRITE_REGISTERS, flags);
            check_span(read_address, read_quantity, flags);
            check_span(write_address, write_quantity, flags);
            flags.set_if(
                Flags::BYTE_COUNT_MISMATCH,
                usize::from(byte_count) != usize::from(write_quantity) * 2,
            );
            let values = counted(r.take_rest(), usize::from(byte_count), flags);
            Pdu::ReadWriteMultipleRequest {
                read_address,
                read_quantity,
                write_address,
                write_quantity,
                byte_count,
                values,
            }
        }
        FC_READ_FIFO_QUEUE => Pdu::ReadFifoRequest { address: r.u16()? },
        FC_ENCAPSULATED_INTERFACE => {
            let mei_type = r.u8()?;
            match mei_type {
                MEI_READ_DEVICE_IDENTIFICATION => {
                    let read_device_id_code = r.u8()?;
                    let object_id = r.u8()?;
                    flags.set_if(
                        Flags::INVALID_FIELD_VALUE,
                        !(0x01..=0x04).contains(&read_device_id_code),
                    );
                    Pdu::ReadDeviceIdRequest {
                        read_device_id_code,
                        object_id,
                    }
                }
                _ => mei_other(mei_type, r, flags),
            }
        }
        FC_UMAS => {
            let session_key = r.u8()?;
            let function = r.u8()?;
            Pdu::UmasRequest {
                session_key,
                function,
                data: r.take_rest(),
            }
        }
        _ => return None,
    })
}

/// Response layouts (non-exception). `None`: too short or unknown code.
fn response<'a>(fc: u8, r: &mut Reader<'a>, flags: &mut Flags) -> Option<Pdu<'a>> {
    Some(match fc {
        FC_READ_COILS
        | FC_READ_DISCRETE_INPUTS
        | FC_READ_HOLDING_REGISTERS
        | FC_READ_INPUT_REGISTERS
        | FC_READ_WRITE_MULTIPLE_REGISTERS => {
            let byte_count = r.u8()?;
            let registers = fc > FC_READ_DISCRETE_INPUTS;
            let max_bytes = if registers {
                usize::from(MAX_READ_REGISTERS) * 2
            } else {
                250
            };
            flags.set_if(
                Flags::QUANTITY_OUT_OF_RANGE,
                byte_count == 0 || usize::from(byte_count) > max_bytes,
            );
            flags.set_if(Flags::BYTE_COUNT_MISMATCH, registers && byte_count % 2 != 0);
            let data = counted(r.take_rest(), usize::from(byte_count), flags);
            Pdu::ReadResponse { byte_count, data }
        }
        FC_WRITE_SINGLE_COIL | FC_WRITE_SINGLE_REGISTER => write_single(fc, r, flags)?,
        FC_READ_EXCEPTION_STATUS => Pdu::ExceptionStatus { status: r.u8()? },
        FC_DIAGNOSTICS => diagnostics(r, flags)?,
        FC_GET_COMM_EVENT_COUNTER => Pdu::CommEventCounter {
            status: r.u16()?,
            event_count: r.u16()?,
        },
        FC_GET_COMM_EVENT_LOG => {
            let byte_count = r.u8()?;
            let status = r.u16()?;
            let event_count = r.u16()?;
            let message_count = r.u16()?;
            let events_len = usize::from(byte_count).saturating_sub(6);
            flags.set_if(Flags::BYTE_COUNT_MISMATCH, byte_count < 6);
            flags.set_if(Flags::QUANTITY_OUT_OF_RANGE, events_len > MAX_COMM_EVENTS);
            let events = counted(r.take_rest(), events_len, flags);
            Pdu::CommEventLog {
                byte_count,
                status,
                event_count,
                message_count,
                events,
            }
        }
        FC_WRITE_MULTIPLE_COILS | FC_WRITE_MULTIPLE_REGISTERS => {
            let address = r.u16()?;
            let quantity = r.u16()?;
            let max = if fc == FC_WRITE_MULTIPLE_COILS {
                MAX_WRITE_COILS
            } else {
                MAX_WRITE_REGISTERS
            };
            check_range(quantity, max, flags);
            check_span(address, quantity, flags);
            Pdu::WriteMultipleResponse { address, quantity }
        }
        FC_REPORT_SERVER_ID => {
            let byte_count = r.u8()?;
            let data = counted(r.take_rest(), usize::from(byte_count), flags);
            Pdu::ServerId { byte_count, data }
        }
        FC_READ_FILE_RECORD => {
            let byte_count = r.u8()?;
            flags.set_if(
                Flags::QUANTITY_OUT_OF_RANGE,
                !(0x07..=0xF5).contains(&byte_count),
            );
            let body = counted(r.take_rest(), usize::from(byte_count), flags);
            let sub_responses = FileSubResponses { bytes: body };
            let mut used = 0usize;
            for s in sub_responses {
                used += 2 + s.data.len();
                flags.set_if(
                    Flags::INVALID_FIELD_VALUE,
                    s.reference_type != FILE_REFERENCE_TYPE,
                );
            }
            flags.set_if(Flags::BYTE_COUNT_MISMATCH, used != body.len());
            Pdu::ReadFileRecordResponse {
                byte_count,
                sub_responses,
            }
        }
        FC_WRITE_FILE_RECORD => write_file_record(r, flags)?,
        FC_MASK_WRITE_REGISTER => mask_write(r)?,
        FC_READ_FIFO_QUEUE => {
            let byte_count = r.u16()?;
            let fifo_count = r.u16()?;
            flags.set_if(Flags::QUANTITY_OUT_OF_RANGE, fifo_count > MAX_FIFO_COUNT);
            flags.set_if(
                Flags::BYTE_COUNT_MISMATCH,
                usize::from(byte_count) != 2 + usize::from(fifo_count) * 2,
            );
            let values_len = usize::from(byte_count).saturating_sub(2);
            let values = counted(r.take_rest(), values_len, flags);
            Pdu::ReadFifoResponse {
                byte_count,
                fifo_count,
                values,
            }
        }
        FC_ENCAPSULATED_INTERFACE => {
            let mei_type = r.u8()?;
            match mei_type {
                MEI_READ_DEVICE_IDENTIFICATION => {
                    Pdu::ReadDeviceIdResponse(device_identification(r, flags)?)
                }
                _ => mei_other(mei_type, r, flags),
            }
        }
        FC_UMAS => {
            let session_key = r.u8()?;
            let status = r.u8()?;
            flags.set_if(
                Flags::INVALID_FIELD_VALUE,
                status != UMAS_RESPONSE_OK && status != UMAS_RESPONSE_ERROR,
            );
            Pdu::UmasResponse {
                session_key,
                status,
                data: r.take_rest(),
            }
        }
        _ => return None,
    })
}

fn write_single<'a>(fc: u8, r: &mut Reader<'a>, flags: &mut Flags) -> Option<Pdu<'a>> {
    let address = r.u16()?;
    let value = r.u16()?;
    flags.set_if(
        Flags::INVALID_COIL_VALUE,
        fc == FC_WRITE_SINGLE_COIL && value != 0xFF00 && value != 0x0000,
    );
    Some(Pdu::WriteSingle { address, value })
}

fn diagnostics<'a>(r: &mut Reader<'a>, flags: &mut Flags) -> Option<Pdu<'a>> {
    let sub_function = r.u16()?;
    flags.set_if(
        Flags::UNKNOWN_SUB_FUNCTION,
        !diagnostic_is_known(sub_function),
    );
    Some(Pdu::Diagnostics {
        sub_function,
        data: r.take_rest(),
    })
}

fn mask_write<'a>(r: &mut Reader<'a>) -> Option<Pdu<'a>> {
    Some(Pdu::MaskWrite {
        address: r.u16()?,
        and_mask: r.u16()?,
        or_mask: r.u16()?,
    })
}

fn write_file_record<'a>(r: &mut Reader<'a>, flags: &mut Flags) -> Option<Pdu<'a>> {
    let byte_count = r.u8()?;
    flags.set_if(
        Flags::QUANTITY_OUT_OF_RANGE,
        !(0x09..=0xFB).contains(&byte_count),
    );
    let body = counted(r.take_rest(), usize::from(byte_count), flags);
    let sub_requests = FileSubRequests::new(body, true);
    check_file_sub_requests(sub_requests, flags);
    Some(Pdu::WriteFileRecord {
        byte_count,
        sub_requests,
    })
}

/// Walks the sub-requests: reference types must be 6 and the list must use
/// every byte.
fn check_file_sub_requests(sub_requests: FileSubRequests<'_>, flags: &mut Flags) {
    let total = sub_requests.bytes.len();
    let mut used = 0usize;
    for s in sub_requests {
        used += FILE_SUB_REQUEST_LEN + s.data.len();
        flags.set_if(
            Flags::INVALID_FIELD_VALUE,
            s.reference_type != FILE_REFERENCE_TYPE,
        );
    }
    flags.set_if(Flags::BYTE_COUNT_MISMATCH, used != total);
}

fn mei_other<'a>(mei_type: u8, r: &mut Reader<'a>, flags: &mut Flags) -> Pdu<'a> {
    let data = r.take_rest();
    if mei_type == MEI_CANOPEN_GENERAL_REFERENCE {
        Pdu::CanOpen { data }
    } else {
        flags.insert(Flags::UNKNOWN_MEI_TYPE);
        Pdu::Mei { mei_type, data }
    }
}

fn device_identification<'a>(
    r: &mut Reader<'a>,
    flags: &mut Flags,
) -> Option<DeviceIdentification<'a>> {
    let read_device_id_code = r.u8()?;
    let conformity_level = r.u8()?;
    let more_follows = r.u8()?;
    let next_object_id = r.u8()?;
    let object_count = r.u8()?;
    let object_bytes = r.take_rest();
    flags.set_if(
        Flags::INVALID_FIELD_VALUE,
        !(0x01..=0x04).contains(&read_device_id_code),
    );
    flags.set_if(
        Flags::INVALID_FIELD_VALUE,
        !matches!(conformity_level, 0x01..=0x03 | 0x81..=0x83),
    );
    flags.set_if(
        Flags::INVALID_FIELD_VALUE,
        more_follows != 0x00 && more_follows != 0xFF,
    );
    let id = DeviceIdentification {
        read_device_id_code,
        conformity_level,
        more_follows,
        next_object_id,
        object_count,
        object_bytes,
    };
    let mut seen = 0usize;
    let mut used = 0usize;
    for o in id.objects() {
        seen += 1;
        used += 2 + o.value.len();
    }
    // Fewer objects than announced, or bytes left after the last one.
    flags.set_if(
        Flags::BYTE_COUNT_MISMATCH,
        seen != usize::from(object_count) || used != object_bytes.len(),
    );
    Some(id)
}
