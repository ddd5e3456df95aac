//! Modbus/TCP dissector: pairs requests with responses by MBAP transaction
//! id and writes one `modbus` event per transaction.
//!
//! Parser: [`spanwatch_parsers::modbus`] (MBAP framing, every public function
//! code, FC 43 device identification, FC 90 Schneider UMAS). A UMAS response
//! does not repeat its UMAS function; it is paired with its request by the
//! MBAP transaction id like any other function, so the request's UMAS
//! function names the transaction.
//!
//! Event shape (after Suricata's Modbus EVE):
//!
//! ```text
//! "modbus": {
//!   "class": "write", "latency_us": 840, "flags": ["..."],
//!   "request":  {"transaction_id": 9, "protocol_id": 0, "unit_id": 1,
//!                "function_raw": 16, "function_code": "write_multiple_registers",
//!                "address": 30, "quantity": 5, "byte_count": 10, "values_count": 5},
//!   "response": {"transaction_id": 9, "unit_id": 1, "function_raw": 16,
//!                "function_code": "write_multiple_registers", "address": 30, "quantity": 5}
//! }
//! ```
//!
//! An exception response carries `exception_code` and `exception` (its
//! name). A response that matches no request (the capture started
//! mid-session) is logged without `request`; requests never answered are
//! logged without `response` when the flow ends, or when more than
//! [`MAX_PENDING`](super::ot_common::MAX_PENDING) wait.
//!
//! Baseline: [`ObsKind::OtWrite`] for each write (table 0 = coils for FC 5
//! and 15, table 4 = holding registers for FC 6, 16, 22 and 23); device facts
//! from FC 43/14 (`vendor`, `product_code`, `firmware`, `product_name`,
//! `model`) and FC 17 (`server_id`); roles `plc` (server) and
//! `hmi_or_engineering` (client); [`ObsKind::OtAuthFailure`] when a UMAS
//! reservation request is refused.

use super::ot_common::OtFlow;
use super::ot_common::{dec_key, write_flags, write_tx_meta, Pending, Side, TcpSide};
use super::{AppProto, Ctx, TcpApp};
use crate::baseline::obs::ObsKind;
use crate::capture::Nanos;
use crate::output::json::JsonWriter;
use spanwatch_parsers::modbus::{
    self as mb, diagnostic_name, exception_name, function_name, mei_name, read_device_id_code_name,
    umas_function_name, umas_status_name, Flags, ModbusMessage, ModbusTcp, Pdu,
};
use spanwatch_parsers::ot::OtClass;
use spanwatch_parsers::stream::Direction;

const APP: AppProto = AppProto::Modbus;

/// Modbus table numbers used as the write `area` (the leading digit of the
/// classic 0xxxx/4xxxx addressing).
pub const AREA_COILS: u16 = 0;
/// Holding registers.
pub const AREA_HOLDING_REGISTERS: u16 = 4;

/// What a request asked for, kept until its response arrives (no borrowed
/// bytes, so that it outlives the segment it came in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    None,
    Read {
        address: u16,
        quantity: u16,
    },
    WriteSingle {
        address: u16,
        value: u16,
    },
    WriteMultiple {
        address: u16,
        quantity: u16,
        byte_count: u8,
        values_count: u16,
    },
    Diagnostics {
        sub_function: u16,
        data: Option<u16>,
    },
    File {
        byte_count: u8,
        sub_requests: u8,
        file_number: Option<u16>,
        record_number: Option<u16>,
        record_length: Option<u16>,
    },
    Mask {
        address: u16,
        and_mask: u16,
        or_mask: u16,
    },
    ReadWrite {
        read_address: u16,
        read_quantity: u16,
        write_address: u16,
        write_quantity: u16,
        byte_count: u8,
    },
    Fifo {
        address: u16,
    },
    DeviceId {
        code: u8,
        object_id: u8,
    },
    Mei {
        mei_type: u8,
    },
    Umas {
        session_key: u8,
        function: u8,
    },
    Raw {
        len: u16,
    },
}

/// A request waiting for its response.
#[derive(Debug, Clone, Copy)]
struct Req {
    ts: Nanos,
    tid: u16,
    protocol_id: u16,
    unit_id: u8,
    /// Function code as sent.
    fc: u8,
    class: OtClass,
    flags: Flags,
    detail: Detail,
}

impl Req {
    fn from_message(m: &ModbusMessage<'_>, ts: Nanos) -> Req {
        let detail = match m.pdu {
            Pdu::ReadRequest { address, quantity } => Detail::Read { address, quantity },
            Pdu::WriteSingle { address, value } => Detail::WriteSingle { address, value },
            Pdu::WriteMultipleRequest {
                address,
                quantity,
                byte_count,
                values,
            } => Detail::WriteMultiple {
                address,
                quantity,
                byte_count,
                values_count: if m.function() == mb::FC_WRITE_MULTIPLE_COILS {
                    quantity.min(u16::try_from(values.len().saturating_mul(8)).unwrap_or(u16::MAX))
                } else {
                    u16::try_from(values.len() / 2).unwrap_or(u16::MAX)
                },
            },
            Pdu::Diagnostics { sub_function, data } => Detail::Diagnostics {
                sub_function,
                data: match data {
                    [a, b] => Some(u16::from_be_bytes([*a, *b])),
                    _ => None,
                },
            },
            Pdu::ReadFileRecordRequest {
                byte_count,
                sub_requests,
            }
            | Pdu::WriteFileRecord {
                byte_count,
                sub_requests,
            } => {
                let first = sub_requests.clone().next();
                Detail::File {
                    byte_count,
                    sub_requests: u8::try_from(sub_requests.take(255).count()).unwrap_or(u8::MAX),
                    file_number: first.map(|s| s.file_number),
                    record_number: first.map(|s| s.record_number),
                    record_length: first.map(|s| s.record_length),
                }
            }
            Pdu::MaskWrite {
                address,
                and_mask,
                or_mask,
            } => Detail::Mask {
                address,
                and_mask,
                or_mask,
            },
            Pdu::ReadWriteMultipleRequest {
                read_address,
                read_quantity,
                write_address,
                write_quantity,
                byte_count,
                ..
            } => Detail::ReadWrite {
                read_address,
                read_quantity,
                write_address,
                write_quantity,
                byte_count,
            },
            Pdu::ReadFifoRequest { address } => Detail::Fifo { address },
            Pdu::ReadDeviceIdRequest {
                read_device_id_code,
                object_id,
            } => Detail::DeviceId {
                code: read_device_id_code,
                object_id,
            },
            Pdu::CanOpen { .. } => Detail::Mei {
                mei_type: mb::MEI_CANOPEN_GENERAL_REFERENCE,
            },
            Pdu::Mei { mei_type, .. } => Detail::Mei { mei_type },
            Pdu::UmasRequest {
                session_key,
                function,
                ..
            } => Detail::Umas {
                session_key,
                function,
            },
            Pdu::NoData => Detail::None,
            _ => Detail::Raw {
                len: u16::try_from(m.data.len()).unwrap_or(u16::MAX),
            },
        };
        Req {
            ts,
            tid: m.transaction_id,
            protocol_id: m.protocol_id,
            unit_id: m.unit_id,
            fc: m.function_code,
            class: m.class(),
            flags: m.flags,
            detail,
        }
    }

    /// The second-level code (diagnostics sub-function, MEI type, UMAS
    /// function), 0 when the function has none.
    fn sub(&self) -> u16 {
        match self.detail {
            Detail::Diagnostics { sub_function, .. } => sub_function,
            Detail::DeviceId { .. } => u16::from(mb::MEI_READ_DEVICE_IDENTIFICATION),
            Detail::Mei { mei_type } => u16::from(mei_type),
            Detail::Umas { function, .. } => u16::from(function),
            _ => 0,
        }
    }

    /// The most specific name: the UMAS function, diagnostics sub-function
    /// or MEI type when known, else the function's name.
    fn op_name(&self) -> &'static str {
        let sub = match self.detail {
            Detail::Diagnostics { sub_function, .. } => diagnostic_name(sub_function),
            Detail::Umas { function, .. } => umas_function_name(function),
            Detail::DeviceId { .. } => mei_name(mb::MEI_READ_DEVICE_IDENTIFICATION),
            Detail::Mei { mei_type } => mei_name(mei_type),
            _ => "unknown",
        };
        if sub == "unknown" {
            function_name(self.fc)
        } else {
            sub
        }
    }
}

/// Modbus/TCP state of one flow.
#[derive(Debug, Default)]
pub struct ModbusState {
    tcp: TcpSide<ModbusTcp>,
    core: Core,
    /// The TCP initiator listens on port 502 and the responder does not:
    /// the Modbus server is the flow's client (decided on the first bytes).
    swapped: Option<bool>,
}

impl ModbusState {
    /// A fresh flow.
    pub fn new() -> ModbusState {
        ModbusState::default()
    }

    /// The Modbus direction of bytes travelling in TCP direction `dir`.
    ///
    /// Requests go to the Modbus server. That is the TCP responder, except
    /// when only the initiator uses port 502 (a device on 502 that opened
    /// the connection, as in the Digital Bond test data): then, as Wireshark
    /// does, the port-502 side is the server.
    fn modbus_dir(&mut self, dir: Direction, ctx: &Ctx<'_>) -> Direction {
        let f = ctx.flow;
        let swapped = *self
            .swapped
            .get_or_insert(f.sport == mb::PORT && f.dport != mb::PORT);
        if swapped {
            dir.reverse()
        } else {
            dir
        }
    }
}

/// Everything but the stream buffers (the feed callback borrows this).
#[derive(Debug, Default)]
struct Core {
    pending: Pending<Req>,
    ot: OtFlow,
    /// Transactions per function code (exception bit masked), in order of
    /// first use: at most 128 entries, usually one to three, so a flow
    /// holds a few bytes instead of a 256-entry table.
    function_counts: Vec<(u8, u32)>,
    exceptions: u32,
}

impl Core {
    /// One ADU; `mdir` is its Modbus direction (towards the Modbus server
    /// or back), `sender` the flow side that sent it.
    fn on_message(
        &mut self,
        mdir: Direction,
        sender: Side,
        m: ModbusMessage<'_>,
        ctx: &mut Ctx<'_>,
    ) {
        match mdir {
            Direction::ToServer => self.on_request(&m, sender, ctx),
            Direction::ToClient => self.on_response(&m, sender, ctx),
        }
    }

    fn on_request(&mut self, m: &ModbusMessage<'_>, sender: Side, ctx: &mut Ctx<'_>) {
        let req = Req::from_message(m, ctx.ts);
        self.count(m.function());
        self.ot.role(ctx, APP, sender, "hmi_or_engineering");
        self.ot.poll(ctx, APP, req.class);
        if ctx.obs.enabled {
            if let Some((area, start, count)) = write_range(m) {
                ctx.observe(ObsKind::OtWrite {
                    app: APP,
                    area,
                    start: u32::from(start),
                    count: u32::from(count),
                });
            }
        }
        if let Some(old) = self.pending.push(req) {
            self.ot.errs.pending_full = self.ot.errs.pending_full.saturating_add(1);
            self.complete(Some(&old), None, ctx);
        }
    }

    fn on_response(&mut self, m: &ModbusMessage<'_>, sender: Side, ctx: &mut Ctx<'_>) {
        if m.is_exception() {
            self.exceptions = self.exceptions.saturating_add(1);
        }
        self.ot.role(ctx, APP, sender, "plc");
        facts(&mut self.ot, m, sender, ctx);
        let req = self.pending.take(|r| r.tid == m.transaction_id);
        if req.is_none() {
            self.ot.errs.orphan_responses = self.ot.errs.orphan_responses.saturating_add(1);
            self.count(m.function());
        }
        self.complete(req.as_ref(), Some(m), ctx);
    }

    fn count(&mut self, fc: u8) {
        match self.function_counts.iter_mut().find(|e| e.0 == fc) {
            Some(e) => e.1 = e.1.saturating_add(1),
            None => self.function_counts.push((fc, 1)),
        }
    }

    /// Transactions counted for function `fc`.
    #[cfg(test)]
    fn function_count(&self, fc: u8) -> u32 {
        self.function_counts
            .iter()
            .find(|e| e.0 == fc)
            .map_or(0, |e| e.1)
    }

    /// One transaction is over: baseline observations and the event.
    fn complete(&mut self, req: Option<&Req>, resp: Option<&ModbusMessage<'_>>, ctx: &mut Ctx<'_>) {
        let ok = resp.map(response_ok);
        let class = match (req, resp) {
            (Some(r), _) => r.class,
            (None, Some(m)) => m.class(),
            (None, None) => return,
        };
        if resp.is_none() {
            self.ot.errs.unanswered = self.ot.errs.unanswered.saturating_add(1);
        }
        if let Some(r) = req {
            self.ot.op(
                ctx,
                APP,
                u16::from(r.fc & !mb::EXCEPTION_BIT),
                r.sub(),
                r.op_name(),
                class,
                ok,
            );
            if class == OtClass::Auth && ok == Some(false) {
                ctx.observe(ObsKind::OtAuthFailure { app: APP });
            }
        } else if let Some(m) = resp {
            let name = m
                .sub_function_name()
                .filter(|n| *n != "unknown" && !matches!(m.pdu, Pdu::UmasResponse { .. }))
                .unwrap_or_else(|| m.function_name());
            self.ot
                .op(ctx, APP, u16::from(m.function()), 0, name, class, ok);
        }
        if !ctx.cfg.ot_events.logs(class) {
            return;
        }
        let resp_ts = resp.map(|_| ctx.ts);
        ctx.event(APP, "modbus", |w| {
            w.begin_object("modbus");
            write_tx_meta(w, class, req.map(|r| r.ts), resp_ts);
            let flags = req
                .map_or(Flags::empty(), |r| r.flags)
                .union(resp.map_or(Flags::empty(), |m| m.flags));
            write_flags(w, flags.names());
            if let Some(r) = req {
                write_request(w, r);
            }
            if let Some(m) = resp {
                write_response(w, m);
            }
            w.end_object();
        });
    }
}

/// The request succeeded: no exception, and no UMAS error status.
fn response_ok(m: &ModbusMessage<'_>) -> bool {
    !m.is_exception()
        && !matches!(
            m.pdu,
            Pdu::UmasResponse {
                status: mb::UMAS_RESPONSE_ERROR,
                ..
            }
        )
}

/// The (table, first address, count) a request writes.
fn write_range(m: &ModbusMessage<'_>) -> Option<(u16, u16, u16)> {
    match (m.function(), m.pdu) {
        (mb::FC_WRITE_SINGLE_COIL, Pdu::WriteSingle { address, .. }) => {
            Some((AREA_COILS, address, 1))
        }
        (mb::FC_WRITE_SINGLE_REGISTER, Pdu::WriteSingle { address, .. }) => {
            Some((AREA_HOLDING_REGISTERS, address, 1))
        }
        (
            mb::FC_WRITE_MULTIPLE_COILS,
            Pdu::WriteMultipleRequest {
                address, quantity, ..
            },
        ) => Some((AREA_COILS, address, quantity)),
        (
            mb::FC_WRITE_MULTIPLE_REGISTERS,
            Pdu::WriteMultipleRequest {
                address, quantity, ..
            },
        ) => Some((AREA_HOLDING_REGISTERS, address, quantity)),
        (_, Pdu::MaskWrite { address, .. }) => Some((AREA_HOLDING_REGISTERS, address, 1)),
        (
            _,
            Pdu::ReadWriteMultipleRequest {
                write_address,
                write_quantity,
                ..
            },
        ) => Some((AREA_HOLDING_REGISTERS, write_address, write_quantity)),
        _ => None,
    }
}

/// Device facts carried by a response.
fn facts(ot: &mut OtFlow, m: &ModbusMessage<'_>, plc: Side, ctx: &mut Ctx<'_>) {
    if !ctx.obs.enabled {
        return;
    }
    match m.pdu {
        Pdu::ReadDeviceIdResponse(id) => {
            for o in id.objects() {
                let key = match o.id {
                    0x00 => "vendor",
                    0x01 => "product_code",
                    0x02 => "firmware",
                    0x04 => "product_name",
                    0x05 => "model",
                    _ => continue,
                };
                ot.fact(ctx, APP, plc, key, o.value);
            }
        }
        Pdu::ServerId { data, .. } => ot.fact(ctx, APP, plc, "server_id", data),
        _ => {}
    }
}

fn write_request(w: &mut JsonWriter<'_>, r: &Req) {
    w.begin_object("request")
        .u64("transaction_id", r.tid.into())
        .u64("protocol_id", r.protocol_id.into())
        .u64("unit_id", r.unit_id.into())
        .u64("function_raw", r.fc.into())
        .str("function_code", function_name(r.fc));
    match r.detail {
        Detail::None => {}
        Detail::Read { address, quantity } => {
            w.u64("address", address.into())
                .u64("quantity", quantity.into());
        }
        Detail::WriteSingle { address, value } => {
            w.u64("address", address.into()).u64("value", value.into());
        }
        Detail::WriteMultiple {
            address,
            quantity,
            byte_count,
            values_count,
        } => {
            w.u64("address", address.into())
                .u64("quantity", quantity.into())
                .u64("byte_count", byte_count.into())
                .u64("values_count", values_count.into());
        }
        Detail::Diagnostics { sub_function, data } => {
            w.u64("sub_function_raw", sub_function.into())
                .str("sub_function", diagnostic_name(sub_function));
            if let Some(d) = data {
                w.u64("data", d.into());
            }
        }
        Detail::File {
            byte_count,
            sub_requests,
            file_number,
            record_number,
            record_length,
        } => {
            w.u64("byte_count", byte_count.into())
                .u64("sub_requests", sub_requests.into());
            if let Some(v) = file_number {
                w.u64("file_number", v.into());
            }
            if let Some(v) = record_number {
                w.u64("record_number", v.into());
            }
            if let Some(v) = record_length {
                w.u64("record_length", v.into());
            }
        }
        Detail::Mask {
            address,
            and_mask,
            or_mask,
        } => {
            w.u64("address", address.into())
                .u64("and_mask", and_mask.into())
                .u64("or_mask", or_mask.into());
        }
        Detail::ReadWrite {
            read_address,
            read_quantity,
            write_address,
            write_quantity,
            byte_count,
        } => {
            w.u64("read_address", read_address.into())
                .u64("read_quantity", read_quantity.into())
                .u64("write_address", write_address.into())
                .u64("write_quantity", write_quantity.into())
                .u64("byte_count", byte_count.into());
        }
        Detail::Fifo { address } => {
            w.u64("address", address.into());
        }
        Detail::DeviceId { code, object_id } => {
            w.u64("mei_type", mb::MEI_READ_DEVICE_IDENTIFICATION.into())
                .str("mei", mei_name(mb::MEI_READ_DEVICE_IDENTIFICATION))
                .u64("read_device_id_code", code.into())
                .str("read_device_id", read_device_id_code_name(code))
                .u64("object_id", object_id.into());
        }
        Detail::Mei { mei_type } => {
            w.u64("mei_type", mei_type.into())
                .str("mei", mei_name(mei_type));
        }
        Detail::Umas {
            session_key,
            function,
        } => {
            w.u64("session_key", session_key.into())
                .u64("umas_function_raw", function.into())
                .str("umas_function", umas_function_name(function));
        }
        Detail::Raw { len } => {
            w.u64("data_length", len.into());
        }
    }
    w.end_object();
}

fn write_response(w: &mut JsonWriter<'_>, m: &ModbusMessage<'_>) {
    w.begin_object("response")
        .u64("transaction_id", m.transaction_id.into())
        .u64("unit_id", m.unit_id.into())
        .u64("function_raw", m.function_code.into())
        .str("function_code", m.function_name());
    match m.pdu {
        Pdu::Exception { code } => {
            w.u64("exception_code", code.into())
                .str("exception", exception_name(code));
        }
        Pdu::ReadResponse { byte_count, .. } => {
            w.u64("byte_count", byte_count.into());
        }
        Pdu::WriteSingle { address, value } => {
            w.u64("address", address.into()).u64("value", value.into());
        }
        Pdu::WriteMultipleResponse { address, quantity } => {
            w.u64("address", address.into())
                .u64("quantity", quantity.into());
        }
        Pdu::ExceptionStatus { status } => {
            w.u64("exception_status", status.into());
        }
        Pdu::Diagnostics { sub_function, data } => {
            w.u64("sub_function_raw", sub_function.into())
                .str("sub_function", diagnostic_name(sub_function))
                .u64("data_length", data.len() as u64);
        }
        Pdu::CommEventCounter {
            status,
            event_count,
        } => {
            w.u64("status", status.into())
                .u64("event_count", event_count.into());
        }
        Pdu::CommEventLog {
            status,
            event_count,
            message_count,
            events,
            ..
        } => {
            w.u64("status", status.into())
                .u64("event_count", event_count.into())
                .u64("message_count", message_count.into())
                .u64("events_length", events.len() as u64);
        }
        Pdu::ServerId { byte_count, data } => {
            w.u64("byte_count", byte_count.into())
                .bytes_str("server_id", data);
        }
        Pdu::ReadFileRecordResponse {
            byte_count,
            sub_responses,
        } => {
            w.u64("byte_count", byte_count.into())
                .u64("sub_responses", sub_responses.take(255).count() as u64);
        }
        Pdu::WriteFileRecord { byte_count, .. } => {
            w.u64("byte_count", byte_count.into());
        }
        Pdu::MaskWrite {
            address,
            and_mask,
            or_mask,
        } => {
            w.u64("address", address.into())
                .u64("and_mask", and_mask.into())
                .u64("or_mask", or_mask.into());
        }
        Pdu::ReadFifoResponse { fifo_count, .. } => {
            w.u64("fifo_count", fifo_count.into());
        }
        Pdu::ReadDeviceIdResponse(id) => {
            w.u64("mei_type", mb::MEI_READ_DEVICE_IDENTIFICATION.into())
                .u64("read_device_id_code", id.read_device_id_code.into())
                .u64("conformity_level", id.conformity_level.into())
                .bool("more_follows", id.more_follows == 0xFF)
                .u64("next_object_id", id.next_object_id.into())
                .u64("object_count", id.object_count.into());
            w.begin_array("objects");
            for o in id.objects() {
                w.begin_element_object()
                    .u64("id", o.id.into())
                    .str("name", o.name())
                    .bytes_str("value", o.value)
                    .end_object();
            }
            w.end_array();
        }
        Pdu::CanOpen { data } => {
            w.u64("mei_type", mb::MEI_CANOPEN_GENERAL_REFERENCE.into())
                .u64("data_length", data.len() as u64);
        }
        Pdu::Mei { mei_type, data } => {
            w.u64("mei_type", mei_type.into())
                .u64("data_length", data.len() as u64);
        }
        Pdu::UmasResponse {
            session_key,
            status,
            data,
        } => {
            w.u64("session_key", session_key.into())
                .u64("umas_status_raw", status.into())
                .str("umas_status", umas_status_name(status))
                .u64("data_length", data.len() as u64);
        }
        Pdu::Raw { data } => {
            w.u64("data_length", data.len() as u64);
        }
        _ => {}
    }
    w.end_object();
}

impl TcpApp for ModbusState {
    fn on_data(&mut self, dir: Direction, data: &[u8], ctx: &mut Ctx<'_>) {
        let mdir = self.modbus_dir(dir, ctx);
        let sender = Side::sender(dir);
        let ModbusState { tcp, core, .. } = self;
        let o = tcp.feed(APP, mdir, data, ctx, |m, ctx| {
            core.on_message(mdir, sender, m, ctx)
        });
        core.ot.errs.account(&o);
    }

    fn on_gap(&mut self, dir: Direction, _len: u64, ctx: &mut Ctx<'_>) {
        let mdir = self.modbus_dir(dir, ctx);
        self.tcp.gap(mdir);
        self.core.ot.errs.gap();
    }

    fn on_close(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(r) = self.core.pending.pop_front() {
            self.core.complete(Some(&r), None, ctx);
        }
    }

    fn write_flow(&self, w: &mut JsonWriter<'_>) {
        let c = &self.core;
        w.begin_object("modbus");
        w.begin_object("function_counts");
        let mut sorted = [(0u8, 0u32); 128];
        let n = c.function_counts.len().min(sorted.len());
        sorted[..n].copy_from_slice(&c.function_counts[..n]);
        sorted[..n].sort_unstable_by_key(|e| e.0);
        for (fc, count) in &sorted[..n] {
            let mut b = [0u8; 5];
            w.u64(dec_key(&mut b, u16::from(*fc)), u64::from(*count));
        }
        w.end_object();
        w.u64("exceptions", c.exceptions.into());
        c.ot.errs.write(w);
        w.end_object();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::ot_common::testutil::Harness;
    use crate::dissect::OtEvents;

    const TCP: u8 = 6;
    const UP: Direction = Direction::ToServer;
    const DOWN: Direction = Direction::ToClient;

    /// MBAP header + PDU.
    fn adu(tid: u16, unit: u8, pdu: &[u8]) -> Vec<u8> {
        let mut v = tid.to_be_bytes().to_vec();
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&(pdu.len() as u16 + 1).to_be_bytes());
        v.push(unit);
        v.extend_from_slice(pdu);
        v
    }

    fn feed(h: &mut Harness, s: &mut ModbusState, dir: Direction, bytes: &[u8]) {
        let mut ctx = h.ctx();
        s.on_data(dir, bytes, &mut ctx);
    }

    #[test]
    fn one_adu_in_two_segments_then_pipelined_pair() {
        let mut h = Harness::new(TCP, 502);
        let mut s = ModbusState::new();
        // tid 1, unit 0x11: read 3 holding registers from 0x006B.
        let req = adu(1, 0x11, &[0x03, 0x00, 0x6B, 0x00, 0x03]);
        feed(&mut h, &mut s, UP, &req[..5]);
        feed(&mut h, &mut s, UP, &req[5..]);
        h.ts += 2_500_000; // 2.5 ms later
        feed(
            &mut h,
            &mut s,
            DOWN,
            &adu(1, 0x11, &[0x03, 0x06, 0, 1, 0, 2, 0, 3]),
        );
        // Two requests in one segment (tid 2: write coil 5 on; tid 3: write
        // register 10 = 0xBEEF), answered in one segment in reverse order.
        let mut two = adu(2, 1, &[0x05, 0x00, 0x05, 0xFF, 0x00]);
        two.extend(adu(3, 1, &[0x06, 0x00, 0x0A, 0xBE, 0xEF]));
        feed(&mut h, &mut s, UP, &two);
        let mut back = adu(3, 1, &[0x06, 0x00, 0x0A, 0xBE, 0xEF]);
        back.extend(adu(2, 1, &[0x05, 0x00, 0x05, 0xFF, 0x00]));
        feed(&mut h, &mut s, DOWN, &back);
        let ev = h.events();
        assert_eq!(ev.len(), 3);
        let m = &ev[0]["modbus"];
        assert_eq!(m["class"], "read");
        assert_eq!(m["latency_us"], 2500);
        assert_eq!(m["request"]["function_raw"], 3);
        assert_eq!(m["request"]["function_code"], "read_holding_registers");
        assert_eq!(
            (
                m["request"]["address"].as_u64(),
                m["request"]["quantity"].as_u64()
            ),
            (Some(0x6B), Some(3))
        );
        assert_eq!(m["response"]["byte_count"], 6);
        // Paired by transaction id, not by order.
        assert_eq!(ev[1]["modbus"]["request"]["transaction_id"], 3);
        assert_eq!(ev[1]["modbus"]["response"]["value"], 0xBEEF);
        assert_eq!(ev[2]["modbus"]["request"]["transaction_id"], 2);
        assert_eq!(ev[2]["modbus"]["class"], "write");
        assert_eq!(h.stats.messages[idx_modbus()], 6);
        let mut flow = Vec::new();
        let mut w = JsonWriter::object(&mut flow);
        s.write_flow(&mut w);
        w.finish();
        let f: serde_json::Value = serde_json::from_slice(&flow).unwrap();
        assert_eq!(
            f["modbus"]["function_counts"],
            serde_json::json!({"3": 1, "5": 1, "6": 1})
        );
        assert_eq!(f["modbus"]["exceptions"], 0);
    }

    fn idx_modbus() -> usize {
        crate::dissect::idx(AppProto::Modbus)
    }

    #[test]
    fn response_without_request_and_request_never_answered() {
        let mut h = Harness::new(TCP, 502);
        let mut s = ModbusState::new();
        // Mid-session: an exception answer to FC 3 (illegal data address).
        feed(&mut h, &mut s, DOWN, &adu(40, 1, &[0x83, 0x02]));
        feed(
            &mut h,
            &mut s,
            UP,
            &adu(41, 1, &[0x10, 0, 30, 0, 2, 4, 0, 1, 0, 2]),
        );
        let mut ctx = h.ctx();
        s.on_close(&mut ctx);
        let ev = h.events();
        assert_eq!(ev.len(), 2);
        let a = &ev[0]["modbus"];
        assert!(a.get("request").is_none());
        assert_eq!(a["response"]["function_raw"], 0x83);
        assert_eq!(a["response"]["exception_code"], 2);
        assert_eq!(a["response"]["exception"], "illegal_data_address");
        let b = &ev[1]["modbus"];
        assert!(b.get("response").is_none() && b.get("latency_us").is_none());
        assert_eq!(b["request"]["values_count"], 2);
        assert_eq!(b["request"]["byte_count"], 4);
        assert_eq!(s.core.ot.errs.unanswered, 1);
        assert_eq!(s.core.ot.errs.orphan_responses, 1);
    }

    #[test]
    fn garbage_is_counted_and_the_next_adu_is_found() {
        let mut h = Harness::new(TCP, 502);
        let mut s = ModbusState::new();
        // An MBAP length of 0xFFFF (broken framing), then a good request.
        let mut bytes = vec![0, 9, 0, 0, 0xFF, 0xFF, 1, 3];
        bytes.extend(adu(5, 1, &[0x01, 0, 0, 0, 8]));
        feed(&mut h, &mut s, UP, &bytes);
        feed(&mut h, &mut s, DOWN, &adu(5, 1, &[0x01, 1, 0xAA]));
        assert_eq!(h.stats.invalid[idx_modbus()], 1);
        assert_eq!(s.core.ot.errs.invalid, 1);
        let ev = h.events();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["modbus"]["request"]["transaction_id"], 5);
    }

    #[test]
    fn gap_then_resync_on_the_next_header() {
        let mut h = Harness::new(TCP, 502);
        let mut s = ModbusState::new();
        let req = adu(7, 1, &[0x04, 0, 0, 0, 2]);
        feed(&mut h, &mut s, UP, &req[..4]);
        let mut ctx = h.ctx();
        s.on_gap(UP, 100, &mut ctx);
        // The tail of a lost ADU, then a whole one.
        let mut bytes = vec![0x00, 0x03];
        bytes.extend(adu(8, 1, &[0x04, 0, 10, 0, 2]));
        feed(&mut h, &mut s, UP, &bytes);
        feed(&mut h, &mut s, DOWN, &adu(8, 1, &[0x04, 4, 0, 1, 0, 2]));
        let ev = h.events();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["modbus"]["request"]["address"], 10);
        assert_eq!(s.core.ot.errs.gaps, 1);
    }

    #[test]
    fn observations_first_use_every_write_ranges_and_device_facts() {
        let mut h = Harness::new(TCP, 502);
        let mut s = ModbusState::new();
        for tid in 0..2u16 {
            feed(&mut h, &mut s, UP, &adu(tid, 1, &[0x03, 0, 0, 0, 1]));
            feed(&mut h, &mut s, DOWN, &adu(tid, 1, &[0x03, 2, 0, 7]));
            feed(
                &mut h,
                &mut s,
                UP,
                &adu(100 + tid, 1, &[0x0F, 0, 20, 0, 9, 2, 0xFF, 0x01]),
            );
            feed(
                &mut h,
                &mut s,
                DOWN,
                &adu(100 + tid, 1, &[0x0F, 0, 20, 0, 9]),
            );
        }
        // FC 43/14 answer: vendor, product code, revision.
        feed(&mut h, &mut s, UP, &adu(9, 1, &[0x2B, 0x0E, 0x01, 0x00]));
        let mut id = vec![0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x03];
        for (oid, v) in [(0u8, &b"Acme"[..]), (1, b"PX-1"), (2, b"v2.1")] {
            id.extend([oid, v.len() as u8]);
            id.extend_from_slice(v);
        }
        feed(&mut h, &mut s, DOWN, &adu(9, 1, &id));
        let obs = h.obs();
        let ops: Vec<(u16, &str, Option<bool>)> = obs
            .iter()
            .filter_map(|o| match o {
                ObsKind::OtOp { code, name, ok, .. } => Some((*code, *name, *ok)),
                _ => None,
            })
            .collect();
        // FC 3 once (first use), FC 15 twice (every write), FC 43 once.
        assert_eq!(
            ops,
            vec![
                (3, "read_holding_registers", Some(true)),
                (15, "write_multiple_coils", Some(true)),
                (15, "write_multiple_coils", Some(true)),
                (43, "read_device_identification", Some(true)),
            ]
        );
        let writes: Vec<(u16, u32, u32)> = obs
            .iter()
            .filter_map(|o| match o {
                ObsKind::OtWrite {
                    area, start, count, ..
                } => Some((*area, *start, *count)),
                _ => None,
            })
            .collect();
        assert_eq!(writes, vec![(AREA_COILS, 20, 9), (AREA_COILS, 20, 9)]);
        let facts: Vec<(&str, &str, String)> = obs
            .iter()
            .filter_map(|o| match o {
                ObsKind::Asset {
                    key, value, device, ..
                } => Some((*key, &**value, device.to_string())),
                _ => None,
            })
            .collect();
        assert_eq!(
            facts,
            vec![
                ("role", "hmi_or_engineering", "10.0.0.1".to_string()),
                ("role", "plc", "10.0.0.2".to_string()),
                ("vendor", "Acme", "10.0.0.2".to_string()),
                ("product_code", "PX-1", "10.0.0.2".to_string()),
                ("firmware", "v2.1", "10.0.0.2".to_string()),
            ]
        );
    }

    #[test]
    fn poll_period_reported_after_16_reads() {
        let mut h = Harness::new(TCP, 502);
        let mut s = ModbusState::new();
        for tid in 0..16u16 {
            feed(&mut h, &mut s, UP, &adu(tid, 1, &[0x04, 0, 0, 0, 1]));
            feed(&mut h, &mut s, DOWN, &adu(tid, 1, &[0x04, 2, 0, 0]));
            h.ts += 250_000_000;
        }
        let polls: Vec<u64> = h
            .obs()
            .iter()
            .filter_map(|o| match o {
                ObsKind::PollPeriod { interval, .. } => Some(*interval),
                _ => None,
            })
            .collect();
        assert_eq!(polls, vec![250_000_000]);
    }

    #[test]
    fn changes_mode_logs_writes_not_reads_and_counters_stay() {
        let mut h = Harness::new(TCP, 502);
        h.cfg.ot_events = OtEvents::Changes;
        let mut s = ModbusState::new();
        feed(&mut h, &mut s, UP, &adu(1, 1, &[0x01, 0, 0, 0, 8]));
        feed(&mut h, &mut s, DOWN, &adu(1, 1, &[0x01, 1, 0]));
        feed(&mut h, &mut s, UP, &adu(2, 1, &[0x06, 0, 1, 0, 2]));
        feed(&mut h, &mut s, DOWN, &adu(2, 1, &[0x06, 0, 1, 0, 2]));
        let ev = h.events();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["modbus"]["class"], "write");
        assert_eq!(s.core.function_count(1), 1);
        h.cfg.ot_events = OtEvents::None;
        feed(&mut h, &mut s, UP, &adu(3, 1, &[0x06, 0, 1, 0, 3]));
        feed(&mut h, &mut s, DOWN, &adu(3, 1, &[0x06, 0, 1, 0, 3]));
        assert_eq!(h.events().len(), 1);
        assert_eq!(s.core.function_count(6), 2);
    }

    #[test]
    fn pending_list_full_logs_the_oldest_unanswered() {
        let mut h = Harness::new(TCP, 502);
        let mut s = ModbusState::new();
        for tid in 0..=crate::dissect::ot_common::MAX_PENDING as u16 {
            feed(&mut h, &mut s, UP, &adu(tid, 1, &[0x03, 0, 0, 0, 1]));
        }
        let ev = h.events();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["modbus"]["request"]["transaction_id"], 0);
        assert_eq!(s.core.ot.errs.pending_full, 1);
        assert_eq!(s.core.pending.len(), crate::dissect::ot_common::MAX_PENDING);
    }

    #[test]
    fn device_on_port_502_that_opened_the_connection_is_the_server() {
        let mut h = Harness::new(TCP, 4446);
        h.flow.sport = 502;
        let mut s = ModbusState::new();
        // The flow's client (port 502) sends exception answers.
        feed(&mut h, &mut s, UP, &adu(1, 10, &[0x81, 0x06]));
        feed(&mut h, &mut s, DOWN, &adu(2, 10, &[0x01, 0, 0, 0, 1]));
        feed(&mut h, &mut s, UP, &adu(2, 10, &[0x01, 1, 1]));
        let ev = h.events();
        assert_eq!(ev.len(), 2);
        assert_eq!(
            ev[0]["modbus"]["response"]["exception"],
            "server_device_busy"
        );
        assert_eq!(ev[1]["modbus"]["request"]["quantity"], 1);
        assert_eq!(ev[1]["modbus"]["response"]["byte_count"], 1);
        let plc = h.obs().iter().find_map(|o| match o {
            ObsKind::Asset {
                key: "role",
                value,
                device,
                ..
            } if &**value == "plc" => Some(device.to_string()),
            _ => None,
        });
        assert_eq!(plc.as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn umas_stop_is_control_and_refused_reservation_is_an_auth_failure() {
        let mut h = Harness::new(TCP, 502);
        let mut s = ModbusState::new();
        // UMAS take reservation (0x10), answered with the error status 0xFD.
        feed(&mut h, &mut s, UP, &adu(1, 0, &[0x5A, 0x00, 0x10, 0x3B]));
        feed(&mut h, &mut s, DOWN, &adu(1, 0, &[0x5A, 0x00, 0xFD]));
        // UMAS stop PLC (0x41), answered ok.
        feed(&mut h, &mut s, UP, &adu(2, 0, &[0x5A, 0x01, 0x41]));
        feed(&mut h, &mut s, DOWN, &adu(2, 0, &[0x5A, 0x01, 0xFE]));
        let ev = h.events();
        assert_eq!(ev[0]["modbus"]["class"], "auth");
        assert_eq!(
            ev[0]["modbus"]["request"]["umas_function"],
            "take_plc_reservation"
        );
        assert_eq!(ev[0]["modbus"]["response"]["umas_status"], "error");
        assert_eq!(ev[1]["modbus"]["class"], "control");
        assert_eq!(ev[1]["modbus"]["request"]["umas_function"], "stop_plc");
        let obs = h.obs();
        assert!(obs
            .iter()
            .any(|o| matches!(o, ObsKind::OtAuthFailure { .. })));
        assert!(obs.iter().any(|o| matches!(
            o,
            ObsKind::OtOp {
                code: 90,
                sub: 0x41,
                name: "stop_plc",
                class: OtClass::Control,
                ok: Some(true),
                ..
            }
        )));
    }
}
