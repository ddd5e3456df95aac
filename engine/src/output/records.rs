//! Builders for the engine's own EVE records: `flow`, `anomaly`, `stats`.

use super::eve::{rfc3339_quoted, write_header, FlowHeader};
use super::json::JsonWriter;
use crate::capture::Nanos;
use crate::decode::{ipproto, TunnelKind};
use crate::flow::{EndReason, Flow};

/// The EVE header fields of a flow, oriented client → server.
pub fn flow_header(f: &Flow) -> FlowHeader {
    let (src, sport, dst, dport) = f.endpoints();
    let (sport, dport) = match f.key.proto {
        ipproto::ICMP | ipproto::ICMPV6 => (f.icmp_type as u16, f.icmp_code as u16),
        _ => (sport, dport),
    };
    FlowHeader {
        flow_id: f.id,
        src,
        dst,
        sport,
        dport,
        proto: f.key.proto,
        is_v6: f.key.is_v6,
        vlan: f.key.vlan,
        tunnel: match f.key.tunnel.kind {
            TunnelKind::None => None,
            k => Some((k.name(), f.key.tunnel.id)),
        },
    }
}

fn tcp_flags_hex(w: &mut JsonWriter<'_>, k: &str, v: u8) {
    w.fmt(k, format_args!("{v:02x}"));
}

/// Appends a `flow` record for a flow that ended for `reason`; `h` is the
/// flow's header ([`flow_header`]).
pub fn write_flow(buf: &mut Vec<u8>, f: &Flow, h: &FlowHeader, reason: EndReason) {
    let mut w = JsonWriter::object(buf);
    write_header(&mut w, f.start, "flow", h, f.app.app_proto());
    w.begin_object("flow")
        .u64("pkts_toserver", f.pkts[0])
        .u64("pkts_toclient", f.pkts[1])
        .u64("bytes_toserver", f.bytes[0])
        .u64("bytes_toclient", f.bytes[1])
        .raw("start", &rfc3339_quoted(f.start))
        .raw("end", &rfc3339_quoted(f.last))
        .u64("age", (f.last.saturating_sub(f.start)) / 1_000_000_000)
        .str("state", f.state_name())
        .str("reason", reason.name())
        .bool("alerted", false)
        .end_object();
    if f.key.proto == ipproto::TCP {
        use crate::decode::tcp_flags::*;
        let all = f.tcp_flags[0] | f.tcp_flags[1];
        w.begin_object("tcp");
        tcp_flags_hex(&mut w, "tcp_flags", all);
        tcp_flags_hex(&mut w, "tcp_flags_ts", f.tcp_flags[0]);
        tcp_flags_hex(&mut w, "tcp_flags_tc", f.tcp_flags[1]);
        if all & SYN != 0 {
            w.bool("syn", true);
        }
        if all & FIN != 0 {
            w.bool("fin", true);
        }
        if all & RST != 0 {
            w.bool("rst", true);
        }
        if all & PSH != 0 {
            w.bool("psh", true);
        }
        if all & ACK != 0 {
            w.bool("ack", true);
        }
        if !f.syn_seen {
            w.bool("midstream", true);
        }
        w.str("state", f.tcp_state.name());
        w.end_object();
    }
    f.app.write_flow(&mut w);
    w.finish();
}

/// Appends an engine-level `anomaly` record that is not tied to a flow
/// (a table or memcap bound was hit).
pub fn write_engine_anomaly(buf: &mut Vec<u8>, ts: Nanos, event: &str, detail: &str) {
    let mut w = JsonWriter::object(buf);
    w.raw("timestamp", &rfc3339_quoted(ts));
    w.str("event_type", "anomaly");
    w.begin_object("anomaly")
        .str("type", "engine")
        .str("event", event)
        .str("detail", detail)
        .end_object();
    w.finish();
}
