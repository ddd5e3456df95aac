//! Prometheus metrics: the text exposition format and a tiny HTTP server.
//!
//! `--metrics-listen ADDR` starts one thread that answers `GET /metrics`
//! with the counters of the live runtime in the Prometheus text format
//! (version 0.0.4: `# HELP`, `# TYPE`, then `name{label="value"} number`
//! lines, every sample of a family together). Everything else gets a 404
//! (or 405 for a method other than GET/HEAD). One request per connection,
//! requests bounded by [`MAX_REQUEST_BYTES`] and [`REQUEST_TIMEOUT`]; no
//! keep-alive, no TLS: put it on a management address or behind a proxy.
//!
//! The server never touches the packet path: it calls a render function that
//! reads counters the runtime publishes (atomics and once-a-second worker
//! snapshots).

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Bytes of request head read at most.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// How long a client may take to send its request or read the answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the accept loop looks at its stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(100);

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (name ends in `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
}

/// Builds an exposition text, family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// The samples of one family (see [`Exposition::family`]).
pub struct Family<'a> {
    out: &'a mut String,
    name: &'a str,
}

impl Family<'_> {
    /// One sample with labels `(name, value)`.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_label(self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
            let _ = write!(self.out, "{}", value as i64);
        } else if value.is_nan() {
            self.out.push_str("NaN");
        } else {
            let _ = write!(self.out, "{value}");
        }
        self.out.push('\n');
        self
    }

    /// One sample of an integer counter or gauge.
    pub fn u64(&mut self, labels: &[(&str, &str)], value: u64) -> &mut Self {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_label(self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
        self
    }
}

fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

impl Exposition {
    /// An empty text.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Writes the `# HELP` and `# TYPE` lines of `name`, then lets `f` add
    /// its samples.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str, f: impl FnOnce(&mut Family<'_>)) {
        let _ = writeln!(self.out, "# HELP {name} {}", help.replace('\n', " "));
        let _ = writeln!(
            self.out,
            "# TYPE {name} {}",
            match kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
            }
        );
        let mut fam = Family {
            out: &mut self.out,
            name,
        };
        f(&mut fam);
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Renders the current metrics text.
pub type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// The running server; [`MetricsServer::stop`] (or drop) ends its thread.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr`. Done before privileges are dropped, so that a port
    /// below 1024 works.
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let l = TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        Ok(l)
    }

    /// Serves `render()` on `/metrics` from a thread of its own.
    pub fn spawn(listener: TcpListener, render: Render) -> io::Result<MetricsServer> {
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let handle = std::thread::Builder::new()
            .name("sw-metrics".into())
            .spawn(move || accept_loop(listener, render, st))?;
        Ok(MetricsServer {
            addr,
            stop,
            handle: Some(handle),
        })
    }

    /// The address it listens on (with the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the thread and waits for it.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, render: Render, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((s, _)) => {
                let _ = handle(s, &render);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(_) => std::thread::sleep(ACCEPT_POLL),
        }
    }
}

fn handle(mut s: TcpStream, render: &Render) -> io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    s.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        if buf.len() >= MAX_REQUEST_BYTES {
            return respond(&mut s, "431 Request Header Fields Too Large", "", false);
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = buf.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("");
    let path = target.split('?').next().unwrap_or("");
    let head = method == "HEAD";
    if method != "GET" && !head {
        return respond(&mut s, "405 Method Not Allowed", "", false);
    }
    match path {
        "/metrics" => respond(&mut s, "200 OK", &render(), head),
        "/" => respond(
            &mut s,
            "200 OK",
            "spanwatch: metrics are at /metrics\n",
            head,
        ),
        _ => respond(&mut s, "404 Not Found", "not found\n", head),
    }
}

fn respond(s: &mut TcpStream, status: &str, body: &str, head: bool) -> io::Result<()> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head {
        r.push_str(body);
    }
    s.write_all(r.as_bytes())?;
    s.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, req: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn exposition_groups_samples_under_help_and_type_and_escapes_labels() {
        let mut e = Exposition::new();
        e.family(
            "spanwatch_packets_received_total",
            Kind::Counter,
            "Frames delivered to spanwatch.",
            |f| {
                f.u64(&[("source", "af-xdp"), ("queue", "0")], 12);
                f.u64(&[("source", "af-xdp"), ("queue", "1")], 7);
            },
        );
        e.family("spanwatch_up", Kind::Gauge, "1 while running.", |f| {
            f.sample(&[("iface", "a\"b\\c")], 1.0);
            f.sample(&[], 0.5);
        });
        assert_eq!(
            e.finish(),
            "# HELP spanwatch_packets_received_total Frames delivered to spanwatch.\n\
             # TYPE spanwatch_packets_received_total counter\n\
             spanwatch_packets_received_total{source=\"af-xdp\",queue=\"0\"} 12\n\
             spanwatch_packets_received_total{source=\"af-xdp\",queue=\"1\"} 7\n\
             # HELP spanwatch_up 1 while running.\n\
             # TYPE spanwatch_up gauge\n\
             spanwatch_up{iface=\"a\\\"b\\\\c\"} 1\n\
             spanwatch_up 0.5\n"
        );
    }

    #[test]
    fn server_answers_metrics_404_and_405_then_stops() {
        let l = MetricsServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let render: Render = Arc::new(|| "spanwatch_up 1\n".to_string());
        let mut srv = MetricsServer::spawn(l, render).unwrap();
        let addr = srv.local_addr();
        let ok = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Length: 15\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\nspanwatch_up 1\n"), "{ok}");
        let head = get(addr, "HEAD /metrics HTTP/1.0\r\n\r\n");
        assert!(head.ends_with("\r\n\r\n"), "{head}");
        assert!(get(addr, "GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get(addr, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        srv.stop();
        assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err());
    }
}
