//! Application payloads of the scenario traffic, byte by byte: Modbus/TCP (with FC 43/14 device
//! identification), GE SRTP, GE EGD, Mitsubishi SLMP (binary 3E) and MELSOFT, CC-Link IE Field
//! Basic, DNS, SMTP/MIME and a plain HTTP upload.
//!
//! References: `PROTOCOLS.md` §2.1–2.5 (layouts, codes) and the parsers in `spanwatch-parsers`
//! (`srtp`, `egd`, `slmp`, `melsoft`, `cclink`, `modbus`), which the tests below run over every
//! builder; RFC 1035 (DNS), RFC 5321/5322/2045/2046/2183 (SMTP, MIME).

use crate::gen::bytes::{base64_lines, u16be};
use crate::gen::wire::Ip4;

// --------------------------------------------------------------------------------------------
// Modbus/TCP
// --------------------------------------------------------------------------------------------

/// An ADU: MBAP (transaction id, protocol id 0, length = unit + PDU, unit id) then the PDU.
pub fn modbus_adu(tid: u16, unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(7 + pdu.len());
    out.extend_from_slice(&tid.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(pdu.len() as u16 + 1).to_be_bytes());
    out.push(unit);
    out.extend_from_slice(pdu);
    out
}

/// Read request PDU (FC 1–4): function, start address, quantity.
pub fn modbus_read(fc: u8, address: u16, quantity: u16) -> Vec<u8> {
    let mut p = vec![fc];
    p.extend_from_slice(&address.to_be_bytes());
    p.extend_from_slice(&quantity.to_be_bytes());
    p
}

/// Read response PDU for FC 3/4: byte count then the register values.
pub fn modbus_registers(fc: u8, values: &[u16]) -> Vec<u8> {
    let mut p = vec![fc, (values.len() * 2) as u8];
    for v in values {
        p.extend_from_slice(&v.to_be_bytes());
    }
    p
}

/// Read response PDU for FC 1/2: byte count then the packed bits (LSB first).
pub fn modbus_bits(fc: u8, quantity: u16, pattern: u64) -> Vec<u8> {
    let n = usize::from(quantity).div_ceil(8);
    let mut p = vec![fc, n as u8];
    for i in 0..n {
        let mut b = (pattern >> ((i * 8) % 64)) as u8;
        let last_bits = usize::from(quantity) - i * 8;
        if last_bits < 8 {
            b &= (1u8 << last_bits) - 1;
        }
        p.push(b);
    }
    p
}

/// Write Multiple Registers (FC 16) request and its response PDU.
pub fn modbus_write_multiple(address: u16, values: &[u16]) -> (Vec<u8>, Vec<u8>) {
    let mut req = vec![16];
    req.extend_from_slice(&address.to_be_bytes());
    req.extend_from_slice(&(values.len() as u16).to_be_bytes());
    req.push((values.len() * 2) as u8);
    for v in values {
        req.extend_from_slice(&v.to_be_bytes());
    }
    let mut resp = vec![16];
    resp.extend_from_slice(&address.to_be_bytes());
    resp.extend_from_slice(&(values.len() as u16).to_be_bytes());
    (req, resp)
}

/// Exception response PDU: function | 0x80, exception code.
pub fn modbus_exception(fc: u8, code: u8) -> Vec<u8> {
    vec![fc | 0x80, code]
}

/// FC 43 / MEI 14 Read Device Identification request, basic objects (code 1) from object 0.
pub fn modbus_device_id_request() -> Vec<u8> {
    vec![0x2B, 0x0E, 0x01, 0x00]
}

/// FC 43 / MEI 14 response with the three basic objects: VendorName (0), ProductCode (1),
/// MajorMinorRevision (2).
///
/// ```text
/// 2B 0E | code 01 | conformity 01 | more 00 | next 00 | n 03 | { id, len, value }*
/// ```
pub fn modbus_device_id_response(vendor: &str, product: &str, revision: &str) -> Vec<u8> {
    let mut p = vec![0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x03];
    for (id, v) in [(0u8, vendor), (1, product), (2, revision)] {
        p.push(id);
        p.push(v.len() as u8);
        p.extend_from_slice(v.as_bytes());
    }
    p
}

// --------------------------------------------------------------------------------------------
// GE SRTP
// --------------------------------------------------------------------------------------------

/// SRTP status word for RUN with outputs enabled: state 0 (b12–15), outputs-enable switch (b7),
/// RUN/STOP switch in RUN (b8).
pub const SRTP_STATUS_RUN: u16 = 0x0180;
/// SRTP status word for STOP with outputs enabled: state 6.
pub const SRTP_STATUS_STOP: u16 = 0x6180;

/// The session initialisation: 56 zero bytes from the client.
pub fn srtp_init() -> Vec<u8> {
    vec![0u8; 56]
}

/// The PLC's answer to the initialisation (PDU type 1).
pub fn srtp_init_ack() -> Vec<u8> {
    let mut h = vec![0u8; 56];
    h[0] = 0x01;
    h[8] = 0x0F;
    h
}

fn srtp_header(pdu_type: u8, seq: u16, text_len: u16, mbox_seq: u8, mbox_type: u8) -> Vec<u8> {
    let mut h = vec![0u8; 56];
    h[0] = pdu_type;
    h[2..4].copy_from_slice(&seq.to_le_bytes());
    h[4..6].copy_from_slice(&text_len.to_le_bytes());
    h[9] = 0x01;
    h[17] = 0x01;
    h[30] = mbox_seq;
    h[31] = mbox_type;
    h
}

/// A service request without text buffer (mailbox type 0xC0), to slot 1.
///
/// ```text
/// 0 type 02 | 2 seq LE | 4 text len 0 | 30 mbox seq | 31 C0 | 36 dest 10 0E 00 00 | 40 pkt 1/1
/// | 42 service | 43 segment selector | 44 offset LE | 46 length LE
/// ```
pub fn srtp_request(seq: u16, service: u8, selector: u8, offset: u16, length: u16) -> Vec<u8> {
    let mut h = srtp_header(0x02, seq, 0, seq as u8, 0xC0);
    h[36] = 0x10;
    h[37] = 0x0E;
    h[40] = 1;
    h[41] = 1;
    h[42] = service;
    h[43] = selector;
    h[44..46].copy_from_slice(&offset.to_le_bytes());
    h[46..48].copy_from_slice(&length.to_le_bytes());
    h
}

/// A service request carrying a text buffer (mailbox type 0x80): program block, time of day,
/// password.
///
/// ```text
/// 42 service | 43 text length u32 LE | 48 pkt 1 | 49 total 1 | 51 selector | 52 offset | 54 length
/// ```
pub fn srtp_request_text(seq: u16, service: u8, selector: u8, text: &[u8]) -> Vec<u8> {
    let mut h = srtp_header(0x02, seq, text.len() as u16, seq as u8, 0x80);
    h[36] = 0x10;
    h[37] = 0x0E;
    h[42] = service;
    h[43..47].copy_from_slice(&(text.len() as u32).to_le_bytes());
    h[48] = 1;
    h[49] = 1;
    h[51] = selector;
    h[54..56].copy_from_slice(&((text.len() / 2) as u16).to_le_bytes());
    h.extend_from_slice(text);
    h
}

fn srtp_piggyback(h: &mut [u8], status: u16) {
    h[50] = 0x01; // control program number
    h[51] = 0x02; // privilege level
    h[52..54].copy_from_slice(&12u16.to_le_bytes()); // last sweep, ms
    h[54..56].copy_from_slice(&status.to_le_bytes());
}

/// Completion ACK (0xD4) with up to 6 bytes of inline data and the status word.
pub fn srtp_ack(seq: u16, inline: &[u8], status: u16) -> Vec<u8> {
    let mut h = srtp_header(0x03, seq, 0, seq as u8, 0xD4);
    h[32] = 0x10;
    h[33] = 0x0E;
    h[40] = 1;
    h[41] = 1;
    let n = inline.len().min(6);
    h[44..44 + n].copy_from_slice(&inline[..n]);
    srtp_piggyback(&mut h, status);
    h
}

/// ACK with a text buffer (0x94): the data of a memory read or an identification reply.
pub fn srtp_ack_text(seq: u16, data: &[u8], status: u16) -> Vec<u8> {
    let mut h = srtp_header(0x03, seq, data.len() as u16, seq as u8, 0x94);
    h[32] = 0x10;
    h[33] = 0x0E;
    h[42..44].copy_from_slice(&(data.len() as u16).to_le_bytes());
    h[48] = 1;
    h[49] = 1;
    srtp_piggyback(&mut h, status);
    h.extend_from_slice(data);
    h
}

/// Return controller type and ID (0x43) reply text: controller name, CPU model, firmware,
/// each NUL-padded to 16 bytes.
pub fn srtp_controller_id(name: &str, model: &str, firmware: &str) -> Vec<u8> {
    let mut t = Vec::with_capacity(48);
    for f in [name, model, firmware] {
        let mut b = [0u8; 16];
        let n = f.len().min(16);
        b[..n].copy_from_slice(&f.as_bytes()[..n]);
        t.extend_from_slice(&b);
    }
    t
}

// --------------------------------------------------------------------------------------------
// GE EGD
// --------------------------------------------------------------------------------------------

/// One EGD data production (UDP 18246).
///
/// ```text
/// 0D 01 | request id LE16 | producer IPv4 | exchange LE32 | sec LE32 | nsec LE32
/// | status LE32 | config signature LE32 | reserved 0 | data
/// ```
#[allow(clippy::too_many_arguments)]
pub fn egd_production(
    request_id: u16,
    producer: Ip4,
    exchange: u32,
    sec: u32,
    nsec: u32,
    signature: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut p = Vec::with_capacity(32 + data.len());
    p.extend_from_slice(&[0x0D, 0x01]);
    p.extend_from_slice(&request_id.to_le_bytes());
    p.extend_from_slice(&producer);
    p.extend_from_slice(&exchange.to_le_bytes());
    p.extend_from_slice(&sec.to_le_bytes());
    p.extend_from_slice(&nsec.to_le_bytes());
    p.extend_from_slice(&1u32.to_le_bytes()); // status: no error
    p.extend_from_slice(&signature.to_le_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]);
    p.extend_from_slice(data);
    p
}

// --------------------------------------------------------------------------------------------
// Mitsubishi SLMP, binary 3E
// --------------------------------------------------------------------------------------------

/// SLMP command: batch read.
pub const SLMP_BATCH_READ: u16 = 0x0401;
/// SLMP command: read CPU model name.
pub const SLMP_READ_CPU_MODEL: u16 = 0x0101;
/// SLMP command: remote RUN.
pub const SLMP_REMOTE_RUN: u16 = 0x1001;
/// SLMP command: remote STOP.
pub const SLMP_REMOTE_STOP: u16 = 0x1002;
/// SLMP command: remote password unlock.
pub const SLMP_PASSWORD_UNLOCK: u16 = 0x1630;
/// SLMP device code of data registers (D).
pub const SLMP_DEVICE_D: u8 = 0xA8;

/// A binary 3E request to the own station (NW 0, PC FF, I/O 03FF, multidrop 0), monitoring
/// timer 4 s.
///
/// ```text
/// 50 00 | 00 | FF | FF 03 | 00 | len LE (timer..end) | 10 00 | command LE | subcommand LE | data
/// ```
pub fn slmp_request(command: u16, subcommand: u16, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x50, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00];
    f.extend_from_slice(&(6 + data.len() as u16).to_le_bytes());
    f.extend_from_slice(&[0x10, 0x00]);
    f.extend_from_slice(&command.to_le_bytes());
    f.extend_from_slice(&subcommand.to_le_bytes());
    f.extend_from_slice(data);
    f
}

/// A binary 3E response: `D0 00 | route | len LE (end code..end) | end code LE | data`.
pub fn slmp_response(end_code: u16, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0xD0, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00];
    f.extend_from_slice(&(2 + data.len() as u16).to_le_bytes());
    f.extend_from_slice(&end_code.to_le_bytes());
    f.extend_from_slice(data);
    f
}

/// Batch read request data (Q/L word units): head device number (3 bytes LE), device code,
/// points.
pub fn slmp_batch_read(device: u8, head: u32, points: u16) -> Vec<u8> {
    let mut d = head.to_le_bytes()[..3].to_vec();
    d.push(device);
    d.extend_from_slice(&points.to_le_bytes());
    slmp_request(SLMP_BATCH_READ, 0x0000, &d)
}

/// Read-CPU-model response data: 16 characters space padded, model code LE.
pub fn slmp_cpu_model(name: &str, code: u16) -> Vec<u8> {
    let mut d = vec![b' '; 16];
    let n = name.len().min(16);
    d[..n].copy_from_slice(&name.as_bytes()[..n]);
    d.extend_from_slice(&code.to_le_bytes());
    slmp_response(0, &d)
}

/// Remote password unlock request: length then the password in clear.
pub fn slmp_password_unlock(password: &str) -> Vec<u8> {
    let mut d = (password.len() as u16).to_le_bytes().to_vec();
    d.extend_from_slice(password.as_bytes());
    slmp_request(SLMP_PASSWORD_UNLOCK, 0x0000, &d)
}

// --------------------------------------------------------------------------------------------
// Mitsubishi MELSOFT (GX Works ↔ CPU, TCP 5007)
// --------------------------------------------------------------------------------------------

/// MELSOFT: open initial / read CPU model.
pub const MELSOFT_OPEN_INITIAL: u16 = 0x0121;
/// MELSOFT: memory read (monitor).
pub const MELSOFT_MEMORY_READ: u16 = 0x0410;
/// MELSOFT: remote RUN.
pub const MELSOFT_REMOTE_RUN: u16 = 0x1001;
/// MELSOFT: program transfer begin.
pub const MELSOFT_PROGRAM_BEGIN: u16 = 0x1730;
/// MELSOFT: program transfer end.
pub const MELSOFT_PROGRAM_END: u16 = 0x1731;
/// MELSOFT: file open.
pub const MELSOFT_FILE_OPEN: u16 = 0x1867;
/// MELSOFT: file write.
pub const MELSOFT_FILE_WRITE: u16 = 0x1869;
/// MELSOFT: file close.
pub const MELSOFT_FILE_CLOSE: u16 = 0x186A;

/// A MELSOFT request frame: the 0x15-byte Ethernet header, a command header whose remaining
/// length (0x16) puts the command at 0x2D, then command BE16, packet reference LE16, data size
/// LE16 and the data (no footer).
///
/// ```text
/// 57 01 | seq LE | 00 11 11 | 07 | 00 | NW 00 | unit FF | I/O FF 03 | 00 00 FE 03 00 00 | size LE
/// @15: 1C 08 16 | 22 bytes | @2D command BE | ref LE | data size LE | data
/// ```
pub fn melsoft_request(seq: u16, command: u16, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x57, 0x01];
    f.extend_from_slice(&seq.to_le_bytes());
    f.extend_from_slice(&[
        0x00, 0x11, 0x11, 0x07, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0x00, 0xFE, 0x03, 0x00, 0x00,
    ]);
    f.extend_from_slice(&[0, 0]); // size, patched below
                                  // Command header: type, ?, remaining length (counted from its own byte), then the rest.
    f.extend_from_slice(&[0x1C, 0x08, 0x16]);
    f.extend_from_slice(&[0u8; 0x16 - 1]);
    u16be(&mut f, command);
    f.extend_from_slice(&seq.to_le_bytes());
    f.extend_from_slice(&(data.len() as u16).to_le_bytes());
    f.extend_from_slice(data);
    let size = (f.len() - 0x15) as u16;
    f[0x13..0x15].copy_from_slice(&size.to_le_bytes());
    f
}

/// A MELSOFT response frame: the command header's remaining length is 0x18 (command at 0x2F)
/// and carries the status LE16 at 0x19.
pub fn melsoft_response(seq: u16, command: u16, status: u16, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0xD7, 0x01];
    f.extend_from_slice(&seq.to_le_bytes());
    f.extend_from_slice(&[
        0x00, 0x11, 0x11, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0x00,
    ]);
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&[0x1C, 0x08, 0x18, 0x00]);
    f.extend_from_slice(&status.to_le_bytes());
    f.extend_from_slice(&[0u8; 0x18 - 4]);
    u16be(&mut f, command);
    f.extend_from_slice(&seq.to_le_bytes());
    f.extend_from_slice(&(data.len() as u16).to_le_bytes());
    f.extend_from_slice(data);
    let size = (f.len() - 0x15) as u16;
    f[0x13..0x15].copy_from_slice(&size.to_le_bytes());
    f
}

// --------------------------------------------------------------------------------------------
// CC-Link IE Field Basic
// --------------------------------------------------------------------------------------------

/// CCIEFB end code: master station duplication.
pub const CCIEFB_MASTER_DUPLICATION: u16 = 0xCFE0;

fn ipv4_le(ip: Ip4) -> [u8; 4] {
    u32::from_be_bytes(ip).to_le_bytes()
}

/// A cyclic request (command 0x0E70) from `master` to its slaves, one station each.
///
/// ```text
/// SLMP 3E header (cmd 0E70) | ver 2 | 0 | offset 36 | 14 × 0 | unit info (1 run) | 0
/// | clock ms LE64 | master IPv4 LE32 | group | 0 | frame seq | timeout ms | count | parameter no
/// | occupied n | cyclic state | 0 | slave ids | RWw 64n | RY 8n
/// ```
pub fn cciefb_request(
    master: Ip4,
    clock_ms: u64,
    frame_seq: u16,
    parameter_no: u16,
    slaves: &[Ip4],
    rww_seed: u16,
) -> Vec<u8> {
    let n = slaves.len();
    let mut f = vec![
        0x50, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0, 0, 0x00, 0x00, 0x70, 0x0E, 0, 0,
    ];
    f.extend_from_slice(&2u16.to_le_bytes()); // protocol version
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&36u16.to_le_bytes());
    f.extend_from_slice(&[0u8; 14]);
    f.extend_from_slice(&1u16.to_le_bytes()); // master running
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&clock_ms.to_le_bytes());
    f.extend_from_slice(&ipv4_le(master));
    f.extend_from_slice(&[1, 0]); // group 1
    f.extend_from_slice(&frame_seq.to_le_bytes());
    f.extend_from_slice(&500u16.to_le_bytes()); // timeout ms
    f.extend_from_slice(&3u16.to_le_bytes()); // parallel-off timeout count
    f.extend_from_slice(&parameter_no.to_le_bytes());
    f.extend_from_slice(&(n as u16).to_le_bytes());
    f.extend_from_slice(&((1u16 << n) - 1).to_le_bytes()); // every slave in cyclic transmission
    f.extend_from_slice(&[0, 0]);
    for s in slaves {
        f.extend_from_slice(&ipv4_le(*s));
    }
    for i in 0..n * 32 {
        f.extend_from_slice(&rww_seed.wrapping_add(i as u16).to_le_bytes());
    }
    f.extend(std::iter::repeat_n(0x00u8, 8 * n));
    let len = (f.len() - 9) as u16;
    f[7..9].copy_from_slice(&len.to_le_bytes());
    f
}

/// A slave's cyclic response (one station) with `end_code` (0 or 0xCFE0).
///
/// ```text
/// D0 00 | route | len | 0000 | ver 2 | end code | offset 40 | 14 × 0 | vendor 0x0001 | 0 0
/// | model LE32 | version LE16 | 0 0 | unit info (1 run) | error 0 | mgmt LE32 | slave IPv4 LE32
/// | group | 0 | frame seq | RWr 64 | RX 8
/// ```
pub fn cciefb_response(slave: Ip4, end_code: u16, frame_seq: u16, rwr_seed: u16) -> Vec<u8> {
    let mut f = vec![0xD0, 0x00, 0x00, 0xFF, 0xFF, 0x03, 0x00, 0, 0, 0x00, 0x00];
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&end_code.to_le_bytes());
    f.extend_from_slice(&40u16.to_le_bytes());
    f.extend_from_slice(&[0u8; 14]);
    f.extend_from_slice(&0x0001u16.to_le_bytes()); // vendor code
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&0x0000_4A21u32.to_le_bytes()); // model code
    f.extend_from_slice(&0x0003u16.to_le_bytes()); // equipment version
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&1u16.to_le_bytes()); // slave running
    f.extend_from_slice(&0u16.to_le_bytes()); // no error
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&ipv4_le(slave));
    f.extend_from_slice(&[1, 0]);
    f.extend_from_slice(&frame_seq.to_le_bytes());
    for i in 0..32u16 {
        f.extend_from_slice(&rwr_seed.wrapping_add(i * 3).to_le_bytes());
    }
    f.extend_from_slice(&[0u8; 8]);
    let len = (f.len() - 9) as u16;
    f[7..9].copy_from_slice(&len.to_le_bytes());
    f
}

// --------------------------------------------------------------------------------------------
// DNS
// --------------------------------------------------------------------------------------------

fn dns_name(out: &mut Vec<u8>, name: &str) {
    for l in name.split('.').filter(|l| !l.is_empty()) {
        let b = &l.as_bytes()[..l.len().min(63)];
        out.push(b.len() as u8);
        out.extend_from_slice(b);
    }
    out.push(0);
}

/// A stub resolver's A query (RD set, no EDNS).
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + name.len());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    dns_name(&mut m, name);
    m.extend_from_slice(&[0, 1, 0, 1]);
    m
}

/// The resolver's answer: one A record (owner compressed to the question), or NXDOMAIN when
/// `addr` is `None`.
pub fn dns_answer(id: u16, name: &str, addr: Option<Ip4>, ttl: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(48 + name.len());
    m.extend_from_slice(&id.to_be_bytes());
    let (flags, an) = match addr {
        Some(_) => (0x8180u16, 1u16),
        None => (0x8183, 0),
    };
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m.extend_from_slice(&an.to_be_bytes());
    m.extend_from_slice(&[0, 0, 0, 0]);
    dns_name(&mut m, name);
    m.extend_from_slice(&[0, 1, 0, 1]);
    if let Some(a) = addr {
        m.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&[0, 4]);
        m.extend_from_slice(&a);
    }
    m
}

// --------------------------------------------------------------------------------------------
// SMTP message
// --------------------------------------------------------------------------------------------

/// One attachment of a mail.
#[derive(Clone, Debug)]
pub struct Attachment {
    /// File name.
    pub name: String,
    /// Content type.
    pub content_type: String,
    /// Body before base64.
    pub body: Vec<u8>,
}

/// What a message says: headers, text, attachments.
#[derive(Clone, Debug)]
pub struct Message {
    /// Header From.
    pub from: String,
    /// Header To (empty: `undisclosed-recipients:;`).
    pub to: Vec<String>,
    /// Header Cc.
    pub cc: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Plain-text body (CRLF line ends added per line).
    pub text: Vec<String>,
    /// Attachments.
    pub attachments: Vec<Attachment>,
}

/// The RFC 5322 message with a multipart/mixed MIME body, CRLF line ends, ending with the
/// `.` terminator line (no line starts with a dot, so no dot-stuffing is needed).
pub fn mime_message(m: &Message, date: &str, message_id: &str, boundary: &str) -> Vec<u8> {
    let mut s = String::with_capacity(4096);
    s.push_str(&format!("From: {}\r\n", m.from));
    if m.to.is_empty() {
        s.push_str("To: undisclosed-recipients:;\r\n");
    } else {
        s.push_str(&format!("To: {}\r\n", m.to.join(", ")));
    }
    if !m.cc.is_empty() {
        s.push_str(&format!("Cc: {}\r\n", m.cc.join(", ")));
    }
    s.push_str(&format!("Subject: {}\r\n", m.subject));
    s.push_str(&format!("Date: {date}\r\n"));
    s.push_str(&format!("Message-ID: {message_id}\r\n"));
    s.push_str("MIME-Version: 1.0\r\n");
    if m.attachments.is_empty() {
        s.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
        for l in &m.text {
            s.push_str(l);
            s.push_str("\r\n");
        }
        s.push_str(".\r\n");
        return s.into_bytes();
    }
    s.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
    ));
    s.push_str("This is a multi-part message in MIME format.\r\n\r\n");
    s.push_str(&format!("--{boundary}\r\n"));
    s.push_str(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
    );
    for l in &m.text {
        s.push_str(l);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    let mut out = s.into_bytes();
    for a in &m.attachments {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: {}; name=\"{}\"\r\nContent-Disposition: attachment; filename=\"{}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
                a.content_type, a.name, a.name
            )
            .as_bytes(),
        );
        out.extend_from_slice(&base64_lines(&a.body, 76));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n.\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use spanwatch_parsers::stream::{Direction, Parsed, StreamParser};
    use spanwatch_parsers::{cclink, egd, melsoft, modbus, slmp, srtp};

    #[test]
    fn srtp_program_load_request_parses_with_its_text_buffer() {
        let req = srtp_request_text(7, 0x40, 0x00, &[0xAA; 64]);
        let Parsed::Message { consumed, message } = srtp::Srtp.parse(&req, Direction::ToServer)
        else {
            panic!("one PDU")
        };
        assert_eq!(consumed, 56 + 64);
        assert_eq!(message.service_code(), Some(0x40));
        assert!(message.flags.is_empty(), "{:?}", message.flags);
        let ack = srtp_ack(7, &[], SRTP_STATUS_STOP);
        let (pdu, _) = srtp::parse_pdu(&ack, Direction::ToClient).unwrap();
        assert_eq!(pdu.plc_status().unwrap().state_name(), "stop_io_enabled");
        assert!(pdu.flags.is_empty(), "{:?}", pdu.flags);
    }

    #[test]
    fn srtp_stop_request_and_read_reply_carry_service_and_run_status() {
        let req = srtp_request(3, 0x23, 0x00, 0, 1);
        let (pdu, n) = srtp::parse_pdu(&req, Direction::ToServer).unwrap();
        assert_eq!((n, pdu.service_code()), (56, Some(0x23)));
        assert!(pdu.flags.is_empty(), "{:?}", pdu.flags);
        let reply = srtp_ack_text(3, &[1, 2, 3, 4, 5, 6, 7, 8], SRTP_STATUS_RUN);
        let (pdu, n) = srtp::parse_pdu(&reply, Direction::ToClient).unwrap();
        assert_eq!(n, 64);
        assert_eq!(pdu.plc_status().unwrap().state_name(), "run_io_enabled");
        assert!(pdu.flags.is_empty(), "{:?}", pdu.flags);
        assert_eq!(
            srtp::probe(&srtp_init()),
            spanwatch_parsers::stream::Probe::Match
        );
    }

    #[test]
    fn egd_production_header_fields() {
        let p = egd_production(5, [10, 0, 20, 11], 1, 100, 0, 0x5A3C_0001, &[0; 16]);
        let pdu = egd::parse_pdu(&p).unwrap();
        assert_eq!(pdu.producer_id, [10, 0, 20, 11]);
        assert_eq!(pdu.config_signature, 0x5A3C_0001);
        assert!(pdu.flags.is_empty());
        assert_eq!(egd::probe(&p), spanwatch_parsers::stream::Probe::Match);
    }

    #[test]
    fn slmp_requests_name_their_commands() {
        let cases = [
            (slmp_batch_read(SLMP_DEVICE_D, 100, 10), "batch_read"),
            (slmp_request(SLMP_READ_CPU_MODEL, 0, &[]), "read_cpu_model"),
            (slmp_request(SLMP_REMOTE_STOP, 0, &[1, 0]), "remote_stop"),
            (
                slmp_request(SLMP_REMOTE_RUN, 0, &[1, 0, 0, 0]),
                "remote_run",
            ),
            (slmp_password_unlock("m3l5"), "remote_password_unlock"),
        ];
        for (bytes, name) in cases {
            let Ok(slmp::Frame::Request(r)) = slmp::parse_frame(&bytes) else {
                panic!("{name}")
            };
            assert_eq!(r.command_name(), name);
            assert!(
                r.flags.is_empty() || r.flags == slmp::Flags::CLEARTEXT_PASSWORD,
                "{name}: {:?}",
                r.flags
            );
        }
        let model = slmp_cpu_model("Q03UDECPU", 0x0268);
        let Ok(slmp::Frame::Response(r)) = slmp::parse_frame(&model) else {
            panic!()
        };
        assert_eq!(slmp::parse_cpu_model(&r).unwrap().name, "Q03UDECPU");
    }

    #[test]
    fn melsoft_frames_carry_the_command_at_0x2d_and_0x2f() {
        let req = melsoft_request(9, MELSOFT_FILE_WRITE, &[1, 2, 3, 4]);
        assert_eq!(&req[0x2D..0x2F], &[0x18, 0x69]);
        let Ok(melsoft::Message::Frame(f)) = melsoft::parse_datagram(&req) else {
            panic!()
        };
        assert_eq!(f.command, Some(MELSOFT_FILE_WRITE));
        assert_eq!(f.data, &[1, 2, 3, 4]);
        assert!(f.flags.is_empty(), "{:?}", f.flags);
        let resp = melsoft_response(9, MELSOFT_FILE_WRITE, 0, &[]);
        assert_eq!(&resp[0x2F..0x31], &[0x18, 0x69]);
        let Ok(melsoft::Message::Frame(f)) = melsoft::parse_datagram(&resp) else {
            panic!()
        };
        assert_eq!((f.command, f.status), (Some(MELSOFT_FILE_WRITE), Some(0)));
        assert_eq!(
            melsoft::probe(&req),
            spanwatch_parsers::stream::Probe::Match
        );
    }

    #[test]
    fn cciefb_request_and_duplication_response() {
        let q = cciefb_request([10, 0, 21, 1], 1234, 7, 3, &[[10, 0, 21, 11]], 100);
        let Ok(cclink::Datagram::CyclicRequest(r)) = cclink::parse_datagram(&q) else {
            panic!()
        };
        assert_eq!(r.master_ip, [10, 0, 21, 1]);
        assert_eq!(r.slave_ips().collect::<Vec<_>>(), vec![[10, 0, 21, 11]]);
        assert!(r.flags.is_empty(), "{:?}", r.flags);
        let a = cciefb_response([10, 0, 21, 11], CCIEFB_MASTER_DUPLICATION, 7, 9);
        let Ok(cclink::Datagram::CyclicResponse(r)) = cclink::parse_datagram(&a) else {
            panic!()
        };
        assert!(r.master_duplication());
        assert_eq!(r.slave_ip, [10, 0, 21, 11]);
        assert!(r.flags.is_empty(), "{:?}", r.flags);
    }

    #[test]
    fn modbus_device_identification_round_trip() {
        let adu = modbus_adu(
            1,
            1,
            &modbus_device_id_response("Schneider Electric", "BMX P34 2020", "V3.10"),
        );
        let (m, n) = modbus::parse_adu(&adu, Direction::ToClient).unwrap();
        assert_eq!(n, adu.len());
        assert_eq!(m.function(), 43);
        let bits = modbus_adu(2, 1, &modbus_bits(1, 12, 0xABC));
        let (m, _) = modbus::parse_adu(&bits, Direction::ToClient).unwrap();
        assert_eq!(m.function(), 1);
    }

    #[test]
    fn dns_answer_points_back_to_the_question() {
        let a = dns_answer(0x1234, "www.secureonline.com", Some([192, 0, 2, 88]), 300);
        let q = dns_query(0x1234, "www.secureonline.com");
        assert_eq!(&a[12..12 + q.len() - 12], &q[12..]);
        assert_eq!(&a[a.len() - 4..], &[192, 0, 2, 88]);
        assert_eq!(&a[2..4], &[0x81, 0x80]);
    }
}
