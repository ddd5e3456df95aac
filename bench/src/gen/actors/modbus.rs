//! Modbus/TCP polling: an HMI reads a PLC's process image on a fixed period over one long-lived
//! connection, and now and then writes a set-point.
//!
//! Reference: Modbus Application Protocol v1.1b3 and Modbus Messaging on TCP/IP Implementation
//! Guide v1.0b (MBAP header, function codes 1, 2, 3, 4, 6, 16, exception responses).
//!
//! ```text
//! MBAP (7 bytes)                                  PDU
//! +----------+----------+--------+------+        +----+------------------+
//! | trans id | proto id | length | unit |        | fc | data             |
//! |   u16    |  u16 = 0 |  u16   |  u8  |        | u8 |                  |
//! +----------+----------+--------+------+        +----+------------------+
//! length = 1 (unit) + PDU length
//! ```
//!
//! Each poll cycle: request → PLC response (after its scan/turnaround time) → next request
//! (which carries the ACK) … and, when the next cycle is further away than the HMI's delayed-ACK
//! timer, a pure ACK after the last response.

use crate::gen::net::{Envelope, Host};
use crate::gen::rng::Rng;
use crate::gen::tcp::{ConnSpec, Impair, TcpConn, CLIENT, SERVER};
use crate::gen::timeline::{Actor, Ctx, Kind, Script};
use crate::gen::Micros;

/// Modbus/TCP port.
pub const PORT: u16 = 502;
/// Read Coils.
pub const FC_READ_COILS: u8 = 1;
/// Read Discrete Inputs.
pub const FC_READ_DISCRETE_INPUTS: u8 = 2;
/// Read Holding Registers.
pub const FC_READ_HOLDING_REGISTERS: u8 = 3;
/// Read Input Registers.
pub const FC_READ_INPUT_REGISTERS: u8 = 4;
/// Write Single Register.
pub const FC_WRITE_SINGLE_REGISTER: u8 = 6;
/// Write Multiple Registers.
pub const FC_WRITE_MULTIPLE_REGISTERS: u8 = 16;
/// Exception code ILLEGAL DATA ADDRESS.
pub const EXC_ILLEGAL_DATA_ADDRESS: u8 = 2;
/// Most registers one read may ask for (spec limit for FC 3/4).
pub const MAX_READ_REGISTERS: u16 = 125;
/// Size of the simulated register bank.
const BANK: usize = 1024;

/// One entry of the poll list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Read {
    /// Function code (1, 2, 3 or 4).
    pub function: u8,
    /// Starting address.
    pub address: u16,
    /// Number of coils/inputs/registers.
    pub quantity: u16,
}

/// A write the HMI issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// FC 6 to this register.
    Single(u16),
    /// FC 16 of `n` registers from this address.
    Multiple(u16, u16),
}

/// One HMI↔PLC connection.
#[derive(Clone, Debug)]
pub struct ModbusConfig {
    /// The polling master.
    pub hmi: Host,
    /// The PLC.
    pub plc: Host,
    /// Wrapping on the capture link.
    pub envelope: Envelope,
    /// MBAP unit identifier.
    pub unit_id: u8,
    /// Poll period, µs.
    pub period: Micros,
    /// What is read every cycle.
    pub reads: Vec<Read>,
    /// Chance per cycle of a random write.
    pub write_chance: f64,
    /// Cycles (0-based) that always end with this write.
    pub writes_at: Vec<(u32, Write)>,
    /// Chance per read that the PLC answers with exception 2.
    pub exception_chance: f64,
    /// Close with FIN after this many cycles; `None` polls until the capture ends.
    pub cycles: Option<u32>,
    /// TCP impairments.
    pub impair: Impair,
}

impl ModbusConfig {
    /// A typical poll list: 1–4 block reads of the PLC's process image.
    pub fn random_reads(rng: &mut Rng) -> Vec<Read> {
        let n = rng.range(1, 4) as usize;
        (0..n)
            .map(|_| {
                let function = *rng.pick(&[
                    FC_READ_HOLDING_REGISTERS,
                    FC_READ_HOLDING_REGISTERS,
                    FC_READ_INPUT_REGISTERS,
                    FC_READ_COILS,
                    FC_READ_DISCRETE_INPUTS,
                ]);
                let (address, quantity) = match function {
                    FC_READ_COILS | FC_READ_DISCRETE_INPUTS => {
                        (rng.below(64) as u16 * 16, rng.range(8, 64) as u16)
                    }
                    _ => {
                        let q = if rng.chance(0.15) {
                            rng.range(100, u64::from(MAX_READ_REGISTERS))
                        } else {
                            rng.range(2, 40)
                        };
                        (rng.below(100) as u16 * 10, q as u16)
                    }
                };
                Read {
                    function,
                    address,
                    quantity,
                }
            })
            .collect()
    }
}

enum Phase {
    Connect,
    Poll,
}

/// The actor.
pub struct ModbusPoller {
    cfg: ModbusConfig,
    conn: TcpConn,
    rng: Rng,
    phase: Phase,
    transaction: u16,
    cycle: u32,
    next_cycle: Micros,
    registers: Vec<u16>,
    bits: Vec<u8>,
}

impl ModbusPoller {
    /// A poller that connects when first advanced.
    pub fn new(cfg: ModbusConfig, ctx: &mut Ctx, mut rng: Rng) -> Self {
        let port = ctx.net.ephemeral_port(&cfg.hmi);
        let conn = TcpConn::new(
            ConnSpec {
                client: &cfg.hmi,
                server: &cfg.plc,
                client_port: port,
                server_port: PORT,
                envelope: cfg.envelope,
                kind: Kind::Modbus,
                impair: cfg.impair.clone(),
            },
            &ctx.net,
            rng.fork(),
        );
        let registers = (0..BANK).map(|_| rng.range(0, 4000) as u16).collect();
        let bits = rng.bytes(BANK / 8);
        ModbusPoller {
            transaction: rng.next_u16(),
            cfg,
            conn,
            rng,
            phase: Phase::Connect,
            cycle: 0,
            next_cycle: 0,
            registers,
            bits,
        }
    }

    /// MBAP header + PDU, with the next transaction id.
    fn adu(&mut self, pdu: &[u8], tid: u16) -> Vec<u8> {
        let mut out = Vec::with_capacity(7 + pdu.len());
        out.extend_from_slice(&tid.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&(pdu.len() as u16 + 1).to_be_bytes());
        out.push(self.cfg.unit_id);
        out.extend_from_slice(pdu);
        out
    }

    fn reg(&self, addr: u16) -> u16 {
        self.registers[usize::from(addr) % BANK]
    }

    fn bit(&self, addr: u16) -> bool {
        let a = usize::from(addr) % (BANK);
        self.bits[a / 8] & (1 << (a % 8)) != 0
    }

    /// Request and response PDUs of one read.
    fn read_pdus(&mut self, r: Read) -> (Vec<u8>, Vec<u8>) {
        let mut req = vec![r.function];
        req.extend_from_slice(&r.address.to_be_bytes());
        req.extend_from_slice(&r.quantity.to_be_bytes());
        if self.rng.chance(self.cfg.exception_chance) {
            return (req, vec![r.function | 0x80, EXC_ILLEGAL_DATA_ADDRESS]);
        }
        let mut resp = vec![r.function];
        match r.function {
            FC_READ_COILS | FC_READ_DISCRETE_INPUTS => {
                let n = usize::from(r.quantity).div_ceil(8);
                resp.push(n as u8);
                let mut bytes = vec![0u8; n];
                for i in 0..r.quantity {
                    if self.bit(r.address.wrapping_add(i)) {
                        bytes[usize::from(i) / 8] |= 1 << (i % 8);
                    }
                }
                resp.extend_from_slice(&bytes);
            }
            _ => {
                resp.push((r.quantity * 2) as u8);
                for i in 0..r.quantity {
                    resp.extend_from_slice(&self.reg(r.address.wrapping_add(i)).to_be_bytes());
                }
            }
        }
        (req, resp)
    }

    fn write_pdus(&mut self, w: Write) -> (Vec<u8>, Vec<u8>) {
        match w {
            Write::Single(addr) => {
                let value = self.rng.range(0, 1000) as u16;
                self.registers[usize::from(addr) % BANK] = value;
                let mut req = vec![FC_WRITE_SINGLE_REGISTER];
                req.extend_from_slice(&addr.to_be_bytes());
                req.extend_from_slice(&value.to_be_bytes());
                let resp = req.clone();
                (req, resp)
            }
            Write::Multiple(addr, n) => {
                let n = n.clamp(1, 123);
                let mut req = vec![FC_WRITE_MULTIPLE_REGISTERS];
                req.extend_from_slice(&addr.to_be_bytes());
                req.extend_from_slice(&n.to_be_bytes());
                req.push((n * 2) as u8);
                for i in 0..n {
                    let value = self.rng.range(0, 1000) as u16;
                    self.registers[usize::from(addr.wrapping_add(i)) % BANK] = value;
                    req.extend_from_slice(&value.to_be_bytes());
                }
                let mut resp = vec![FC_WRITE_MULTIPLE_REGISTERS];
                resp.extend_from_slice(&addr.to_be_bytes());
                resp.extend_from_slice(&n.to_be_bytes());
                (req, resp)
            }
        }
    }

    /// The process drifts: a few registers and bits change between cycles.
    fn drift(&mut self) {
        for _ in 0..8 {
            let i = self.rng.below(BANK as u64) as usize;
            let step = self.rng.range(0, 20) as u16;
            self.registers[i] = if self.rng.chance(0.5) {
                self.registers[i].wrapping_add(step)
            } else {
                self.registers[i].wrapping_sub(step)
            };
        }
        if self.rng.chance(0.3) {
            let i = self.rng.below(BANK as u64) as usize;
            self.bits[i / 8] ^= 1 << (i % 8);
        }
    }

    /// One request/response exchange starting at `t`; returns the response time.
    fn exchange(&mut self, s: &mut Script, t: Micros, req: &[u8], resp: &[u8]) -> Micros {
        let tid = self.transaction;
        self.transaction = tid.wrapping_add(1);
        let req = self.adu(req, tid);
        let resp = self.adu(resp, tid);
        let t = self.conn.send(s, CLIENT, t, &req, 200);
        // PLC turnaround: network + scan-cycle wait.
        let t = t + self.conn.rtt[SERVER] + self.rng.range(800, 6_000);
        self.conn.send(s, SERVER, t, &resp, 200)
    }

    fn poll_cycle(&mut self, s: &mut Script) -> Micros {
        let start = self.next_cycle;
        let mut t = start;
        let reads = self.cfg.reads.clone();
        for (i, r) in reads.into_iter().enumerate() {
            if i > 0 {
                t += self.rng.range(150, 900);
            }
            let (req, resp) = self.read_pdus(r);
            t = self.exchange(s, t, &req, &resp);
        }
        let scripted = self
            .cfg
            .writes_at
            .iter()
            .find(|(c, _)| *c == self.cycle)
            .map(|(_, w)| *w);
        let write = scripted.or_else(|| {
            self.rng.chance(self.cfg.write_chance).then(|| {
                if self.rng.chance(0.6) {
                    Write::Single(self.rng.range(100, 199) as u16)
                } else {
                    Write::Multiple(self.rng.range(200, 299) as u16, self.rng.range(2, 8) as u16)
                }
            })
        });
        if let Some(w) = write {
            t += self.rng.range(1_000, 20_000);
            let (req, resp) = self.write_pdus(w);
            t = self.exchange(s, t, &req, &resp);
        }
        self.drift();
        self.cycle += 1;
        self.next_cycle = start + self.rng.jitter(self.cfg.period, 1);
        t
    }
}

impl Actor for ModbusPoller {
    fn advance(&mut self, ctx: &mut Ctx, s: &mut Script) -> bool {
        match self.phase {
            Phase::Connect => {
                let t = self.conn.open(s, ctx.now);
                self.next_cycle = t + self.rng.range(1_000, 30_000);
                self.phase = Phase::Poll;
                s.wake(self.next_cycle);
                true
            }
            Phase::Poll => {
                let last = self.poll_cycle(s);
                let done = self.cfg.cycles.is_some_and(|n| self.cycle >= n);
                if done {
                    let t = last + self.rng.range(5_000, 50_000);
                    self.conn.close(s, CLIENT, t);
                    return false;
                }
                self.conn
                    .delayed_ack(s, CLIENT, last, Some(self.next_cycle));
                s.wake(self.next_cycle);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::net::Net;

    fn poller(unit_id: u8) -> ModbusPoller {
        let net = Net::new(1);
        let cfg = ModbusConfig {
            hmi: net.hmi(0),
            plc: net.plc(0),
            envelope: Envelope::Plain,
            unit_id,
            period: 500_000,
            reads: vec![],
            write_chance: 0.0,
            writes_at: vec![],
            exception_chance: 0.0,
            cycles: Some(1),
            impair: Impair::default(),
        };
        let mut ctx = Ctx::new(net);
        ModbusPoller::new(cfg, &mut ctx, Rng::new(5))
    }

    #[test]
    fn read_holding_registers_request_has_mbap_and_pdu_fields() {
        let mut p = poller(1);
        p.registers[10] = 0x1234;
        p.registers[11] = 0xABCD;
        let r = Read {
            function: FC_READ_HOLDING_REGISTERS,
            address: 10,
            quantity: 2,
        };
        let (req, resp) = p.read_pdus(r);
        let adu = p.adu(&req, 0x0007);
        assert_eq!(
            adu,
            vec![
                0x00, 0x07, // transaction id
                0x00, 0x00, // protocol id
                0x00, 0x06, // length: unit + 5 PDU bytes
                0x01, // unit id
                0x03, // FC 3
                0x00, 0x0A, // address 10
                0x00, 0x02, // quantity 2
            ]
        );
        assert_eq!(resp, vec![0x03, 0x04, 0x12, 0x34, 0xAB, 0xCD]);
    }

    #[test]
    fn write_multiple_registers_response_echoes_address_and_quantity() {
        let mut p = poller(255);
        let (req, resp) = p.write_pdus(Write::Multiple(0x00C8, 3));
        assert_eq!(&req[..6], &[0x10, 0x00, 0xC8, 0x00, 0x03, 0x06]);
        assert_eq!(req.len(), 6 + 6);
        assert_eq!(resp, vec![0x10, 0x00, 0xC8, 0x00, 0x03]);
    }

    /// Modbus ADUs (client→PLC or back) carried in the frames, in order.
    fn adus(frames: &[(Micros, crate::gen::timeline::Frame)]) -> Vec<(bool, Vec<u8>)> {
        frames
            .iter()
            .filter_map(|(_, f)| {
                let b = &f.bytes;
                let ip_len = usize::from(u16::from_be_bytes([b[16], b[17]]));
                let tcp_hdr = usize::from(b[46] >> 4) * 4;
                let payload = &b[34 + tcp_hdr..14 + ip_len];
                let to_plc = u16::from_be_bytes([b[36], b[37]]) == PORT;
                (!payload.is_empty()).then(|| (to_plc, payload.to_vec()))
            })
            .collect()
    }

    #[test]
    fn two_poll_cycles_increment_transaction_ids_and_answer_each_request() {
        let net = Net::new(1);
        let cfg = ModbusConfig {
            hmi: net.hmi(0),
            plc: net.plc(0),
            envelope: Envelope::Plain,
            unit_id: 1,
            period: 500_000,
            reads: vec![
                Read {
                    function: FC_READ_HOLDING_REGISTERS,
                    address: 0,
                    quantity: 3,
                },
                Read {
                    function: FC_READ_COILS,
                    address: 8,
                    quantity: 12,
                },
            ],
            write_chance: 0.0,
            writes_at: vec![(1, Write::Single(150))],
            exception_chance: 0.0,
            cycles: Some(2),
            impair: Impair::default(),
        };
        let mut ctx = Ctx::new(net);
        let mut p = ModbusPoller::new(cfg, &mut ctx, Rng::new(8));
        let first_tid = p.transaction;
        let mut script = Script::default();
        while p.advance(&mut ctx, &mut script) {
            ctx.now = script.last();
        }
        let adus = adus(&script.take_frames());
        // cycle 1: 2 reads; cycle 2: 2 reads + FC 6 — each a request and a response
        assert_eq!(adus.len(), 10);
        for (i, pair) in adus.chunks(2).enumerate() {
            let (req, resp) = (&pair[0], &pair[1]);
            assert!(req.0 && !resp.0, "request then response");
            let tid = first_tid.wrapping_add(i as u16).to_be_bytes();
            assert_eq!(&req.1[..2], &tid);
            assert_eq!(&resp.1[..2], &tid, "response echoes the transaction id");
            for adu in [&req.1, &resp.1] {
                let len = usize::from(u16::from_be_bytes([adu[4], adu[5]]));
                assert_eq!(len, adu.len() - 6, "MBAP length counts unit id + PDU");
            }
            assert_eq!(req.1[7], resp.1[7], "same function code");
        }
        assert_eq!(adus[8].1[7], FC_WRITE_SINGLE_REGISTER);
        assert_eq!(&adus[8].1[8..10], &150u16.to_be_bytes());
    }

    #[test]
    fn coil_response_packs_bits_lsb_first() {
        let mut p = poller(1);
        p.bits.iter_mut().for_each(|b| *b = 0);
        p.bits[0] = 0b0000_0101; // coils 0 and 2 on
        let (_, resp) = p.read_pdus(Read {
            function: FC_READ_COILS,
            address: 0,
            quantity: 10,
        });
        assert_eq!(resp, vec![0x01, 0x02, 0b0000_0101, 0x00]);
    }
}
