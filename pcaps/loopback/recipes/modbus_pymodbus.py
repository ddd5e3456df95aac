#!/usr/bin/env python3
"""pymodbus server and client for the loopback Modbus/TCP capture (127.0.0.1 only).

  modbus_pymodbus.py server --port 5020     # pymodbus ModbusTcpServer, runs until killed
  modbus_pymodbus.py client --port 5020     # pymodbus ModbusTcpClient, one connection per
                                            # phase, prints one line per request

Every byte on the wire is encoded by pymodbus (client requests and server responses). The only
request class defined here is UserFunction65, which pymodbus encodes like any other PDU; it is
there to make the server answer "illegal function".

The server has device (unit) id 1 only; pymodbus 3.16 answers unit 7 with exception 4 (server device
failure), not 0x0B.
An unknown function code (65) is answered by pymodbus' server with function code 0x80 (sic) and
exception code 1.
The identity (vendor name, product code, revision, ...) is set on the server, so FC 43/14 and FC 17
responses carry asset facts.
"""

import argparse
import asyncio
import logging
import struct
import sys
import time

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.device import ModbusDeviceIdentification
from pymodbus.pdu.file_message import FileRecord
from pymodbus.server import ModbusTcpServer

HOST = "127.0.0.1"
UNIT = 1

IDENTITY = {
    "VendorName": "Spanwatch Test Automation",
    "ProductCode": "SW-PLC-5020",
    "MajorMinorRevision": "3.16.1",
    "VendorUrl": "http://plc.example.test/",
    "ProductName": "Loopback Modbus Responder",
    "ModelName": "LB-MB-1",
    "UserApplicationName": "pump station 4",
}


class UserFunction65(ModbusPDU):
    """A request with user-defined function code 65 (0x41) and 2 data bytes.

    The server does not know the code and answers with exception 1 (illegal function)."""

    function_code = 0x41
    rtu_frame_size = 6

    def encode(self) -> bytes:
        return struct.pack(">H", 0x1234)

    def decode(self, data: bytes) -> None:
        pass


def run_server(port: int) -> None:
    # Coils/discrete inputs/holding/input registers at addresses 0..99 (pymodbus blocks start
    # at 1 because the request address is offset by one inside the deprecated datastore).
    device = ModbusDeviceContext(
        co=ModbusSequentialDataBlock(1, [i % 3 == 0 for i in range(100)]),
        di=ModbusSequentialDataBlock(1, [i % 2 == 0 for i in range(100)]),
        hr=ModbusSequentialDataBlock(1, [1000 + i for i in range(100)]),
        ir=ModbusSequentialDataBlock(1, [2000 + i for i in range(100)]),
    )
    context = ModbusServerContext(devices={UNIT: device})
    identity = ModbusDeviceIdentification(info_name=IDENTITY)

    async def serve():
        server = ModbusTcpServer(context, identity=identity, address=(HOST, port))
        await server.serve_forever()

    asyncio.run(serve())


def run_client(port: int) -> int:
    steps = []

    def step(name, fn, expect_error=None):
        rr = fn()
        err = rr.isError()
        fc = getattr(rr, "function_code", None)
        code = getattr(rr, "exception_code", None) if err else None
        steps.append((name, fc, code))
        print(f"{name:40s} fc=0x{fc:02x} {'exception ' + str(code) if err else 'ok'}")
        if expect_error is None and err:
            raise SystemExit(f"{name}: unexpected exception response {rr}")
        if expect_error is not None and (not err or code != expect_error):
            raise SystemExit(f"{name}: expected exception {expect_error}, got {rr}")
        return rr

    c = ModbusTcpClient(HOST, port=port, timeout=3, retries=0)
    if not c.connect():
        raise SystemExit("connect failed")
    d = {"device_id": UNIT}

    # Data access (FC 1-6, 15, 16, 22, 23, 24)
    step("read_coils 0x01", lambda: c.read_coils(0, count=16, **d))
    step("read_discrete_inputs 0x02", lambda: c.read_discrete_inputs(0, count=16, **d))
    step("read_holding_registers 0x03", lambda: c.read_holding_registers(0, count=10, **d))
    step("read_input_registers 0x04", lambda: c.read_input_registers(0, count=10, **d))
    step("write_coil 0x05 (on)", lambda: c.write_coil(5, True, **d))
    step("write_coil 0x05 (off)", lambda: c.write_coil(6, False, **d))
    step("write_register 0x06", lambda: c.write_register(10, 0xBEEF, **d))
    step("write_coils 0x0f", lambda: c.write_coils(20, [True, False, True, True, False, False, True, False, True], **d))
    step("write_registers 0x10", lambda: c.write_registers(30, [1, 2, 3, 4, 5], **d))
    step("mask_write_register 0x16", lambda: c.mask_write_register(address=10, and_mask=0xF0F2, or_mask=0x0025, **d))
    step("readwrite_registers 0x17", lambda: c.readwrite_registers(read_address=0, read_count=4, write_address=40, values=[7, 8, 9], **d))
    step("read_fifo_queue 0x18", lambda: c.read_fifo_queue(address=50, **d))
    step("read_holding_registers 0x03 (after writes)", lambda: c.read_holding_registers(10, count=1, **d))

    # File records (FC 20, 21)
    step("read_file_record 0x14", lambda: c.read_file_record([FileRecord(file_number=4, record_number=1, record_length=8), FileRecord(file_number=3, record_number=9, record_length=4)], **d))
    step("write_file_record 0x15", lambda: c.write_file_record([FileRecord(file_number=4, record_number=7, record_data=b"\x06\xaf\x04\xbe\x10\x0d")], **d))

    # Serial-line / diagnostics family (FC 7, 8, 11, 12, 17)
    step("read_exception_status 0x07", lambda: c.read_exception_status(**d))
    step("diag_query_data 0x08/0x00", lambda: c.diag_query_data(b"\xa5\x37", **d))
    step("diag_restart_communication 0x08/0x01", lambda: c.diag_restart_communication(False, **d))
    step("diag_read_diagnostic_register 0x08/0x02", lambda: c.diag_read_diagnostic_register(**d))
    step("diag_change_ascii_input_delimeter 0x08/0x03", lambda: c.diag_change_ascii_input_delimeter(**d))
    step("diag_clear_counters 0x08/0x0a", lambda: c.diag_clear_counters(**d))
    step("diag_read_bus_message_count 0x08/0x0b", lambda: c.diag_read_bus_message_count(**d))
    step("diag_read_bus_comm_error_count 0x08/0x0c", lambda: c.diag_read_bus_comm_error_count(**d))
    step("diag_read_bus_exception_error_count 0x08/0x0d", lambda: c.diag_read_bus_exception_error_count(**d))
    step("diag_read_device_message_count 0x08/0x0e", lambda: c.diag_read_device_message_count(**d))
    step("diag_read_device_no_response_count 0x08/0x0f", lambda: c.diag_read_device_no_response_count(**d))
    step("diag_read_device_nak_count 0x08/0x10", lambda: c.diag_read_device_nak_count(**d))
    step("diag_read_device_busy_count 0x08/0x11", lambda: c.diag_read_device_busy_count(**d))
    step("diag_read_bus_char_overrun_count 0x08/0x12", lambda: c.diag_read_bus_char_overrun_count(**d))
    step("diag_read_iop_overrun_count 0x08/0x13", lambda: c.diag_read_iop_overrun_count(**d))
    step("diag_clear_overrun_counter 0x08/0x14", lambda: c.diag_clear_overrun_counter(**d))
    step("diag_getclear_modbus_response 0x08/0x15", lambda: c.diag_getclear_modbus_response(**d))
    step("diag_get_comm_event_counter 0x0b", lambda: c.diag_get_comm_event_counter(**d))
    step("diag_get_comm_event_log 0x0c", lambda: c.diag_get_comm_event_log(**d))
    step("report_device_id 0x11", lambda: c.report_device_id(**d))

    # Read device identification (FC 43 / MEI 14): basic, regular, extended, one object
    step("read_device_information 0x2b/0x0e basic", lambda: c.read_device_information(read_code=1, object_id=0, **d))
    step("read_device_information 0x2b/0x0e regular", lambda: c.read_device_information(read_code=2, object_id=0, **d))
    step("read_device_information 0x2b/0x0e extended", lambda: c.read_device_information(read_code=3, object_id=0, **d))
    step("read_device_information 0x2b/0x0e individual", lambda: c.read_device_information(read_code=4, object_id=4, **d))

    # Exception responses
    step("read_holding_registers beyond end (exc 2)", lambda: c.read_holding_registers(500, count=4, **d), expect_error=2)
    step("write_register beyond end (exc 2)", lambda: c.write_register(9000, 1, **d), expect_error=2)
    # pymodbus 3.16 answers an unknown unit id with exception 4 (server device failure).
    step("read_coils to unit 7 (exc 4)", lambda: c.read_coils(0, count=8, device_id=7), expect_error=4)
    # pymodbus' server answers an unknown function code with function code 0x80 (not 0xC1) and
    # exception 1, which pymodbus' own client cannot decode; so this is the connection's last
    # request, and the client reconnects for the rest.
    try:
        c.execute(False, UserFunction65(dev_id=UNIT))
        raise SystemExit("user function 65: expected an undecodable 0x80 answer")
    except ModbusIOException as e:
        steps.append(("user function 65", 0x80, 1))
        print(f"{'user function 65 (answer fc 0x80 exc 1)':40s} client: {e}")
    c.close()

    # Second connection: one read, then "force listen only mode" (sent without waiting for an
    # answer: a device in listen-only mode does not answer).
    if not c.connect():
        raise SystemExit("reconnect failed")
    step("read_holding_registers 0x03 (conn 2)", lambda: c.read_holding_registers(0, count=2, **d))
    c.diag_force_listen_only(no_response_expected=True, **d)
    steps.append(("diag_force_listen_only", 0x08, None))
    print(f"{'diag_force_listen_only 0x08/0x04':40s} (no answer expected)")
    time.sleep(0.3)
    c.close()
    print(len(steps), "requests")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["server", "client"])
    ap.add_argument("--port", type=int, default=5020)
    a = ap.parse_args()
    # pymodbus logs deprecation warnings for the datastore classes used here.
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    if a.role == "server":
        run_server(a.port)
        return 0
    return run_client(a.port)


if __name__ == "__main__":
    sys.exit(main())
