//! SMTP mail transfer: greeting, EHLO, MAIL FROM, several RCPT TO, DATA with a MIME message
//! (a text part with a URL and an attachment, sometimes HTML), QUIT, each with the server's
//! reply, in plain text on port 25.
//!
//! References: RFC 5321 (SMTP), RFC 5322 (message format), RFC 2045/2046 (MIME multipart,
//! base64), RFC 2183 (Content-Disposition).

use crate::gen::bytes::base64_lines;
use crate::gen::net::{Envelope, Host};
use crate::gen::rng::Rng;
use crate::gen::tcp::{ConnSpec, Impair, TcpConn, CLIENT, SERVER};
use crate::gen::timeline::{Actor, Ctx, Kind, Script};
use crate::gen::{civil_from_micros, Micros};

/// SMTP port.
pub const PORT: u16 = 25;

/// What is attached to the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attachment {
    /// An HTML page (the phishing-shaped case a detector looks at).
    Html,
    /// A PDF-like binary.
    Pdf,
    /// A spreadsheet-like binary.
    Xlsx,
}

/// One mail transaction.
#[derive(Clone, Debug)]
pub struct SmtpConfig {
    /// Sending MTA.
    pub client: Host,
    /// Receiving MTA.
    pub server: Host,
    /// Wrapping on the capture link.
    pub envelope: Envelope,
    /// Envelope sender.
    pub from: String,
    /// Envelope recipients.
    pub rcpts: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// URL put in the text part.
    pub url: String,
    /// Attachment type.
    pub attachment: Attachment,
    /// Attachment size before base64.
    pub attachment_len: usize,
    /// TCP impairments.
    pub impair: Impair,
}

/// The actor: the whole transaction is emitted in one go, then the connection closes.
pub struct SmtpSession {
    cfg: SmtpConfig,
    conn: TcpConn,
    rng: Rng,
}

impl SmtpSession {
    /// A transaction that starts when first advanced.
    pub fn new(cfg: SmtpConfig, ctx: &mut Ctx, mut rng: Rng) -> Self {
        let port = ctx.net.ephemeral_port(&cfg.client);
        let conn = TcpConn::new(
            ConnSpec {
                client: &cfg.client,
                server: &cfg.server,
                client_port: port,
                server_port: PORT,
                envelope: cfg.envelope,
                kind: Kind::Smtp,
                impair: cfg.impair.clone(),
            },
            &ctx.net,
            rng.fork(),
        );
        SmtpSession { cfg, conn, rng }
    }

    /// Client line, then the server's reply; returns the reply's time.
    fn command(&mut self, s: &mut Script, t: Micros, cmd: &[u8], reply: &[u8]) -> Micros {
        let t = self.conn.send(s, CLIENT, t, cmd, 30);
        let t = t + self.conn.rtt[SERVER] + self.rng.range(100, 3_000);
        self.conn.send(s, SERVER, t, reply, 30)
    }

    fn client_pause(&mut self) -> Micros {
        self.conn.rtt[CLIENT] + self.rng.range(50, 600)
    }
}

/// The message: headers, a text part with `url`, an attachment; CRLF line ends, no line
/// starting with '.', so no dot-stuffing is needed; ends with the `.` terminator line.
pub fn message(cfg: &SmtpConfig, rng: &mut Rng, date: &str) -> Vec<u8> {
    let boundary = format!("----=_Part_{:08x}{:08x}", rng.next_u32(), rng.next_u32());
    let msg_id = format!("<{:016x}@{}>", rng.next_u64(), domain_of(&cfg.from));
    let mut m = String::with_capacity(cfg.attachment_len * 4 / 3 + 2048);
    m.push_str(&format!("From: {}\r\n", cfg.from));
    m.push_str(&format!("To: {}\r\n", cfg.rcpts.join(", ")));
    m.push_str(&format!("Subject: {}\r\n", cfg.subject));
    m.push_str(&format!("Date: {date}\r\n"));
    m.push_str(&format!("Message-ID: {msg_id}\r\n"));
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str(&format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n"
    ));
    m.push_str("This is a multi-part message in MIME format.\r\n\r\n");
    m.push_str(&format!("--{boundary}\r\n"));
    m.push_str(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n",
    );
    m.push_str("Hello,\r\n\r\nplease find the document attached. The latest version is also\r\n");
    m.push_str(&format!(
        "available at {}\r\n\r\nBest regards,\r\nOperations\r\n\r\n",
        cfg.url
    ));
    m.push_str(&format!("--{boundary}\r\n"));
    let n = rng.below(9000) + 1000;
    let (ctype, name, body) = match cfg.attachment {
        Attachment::Html => (
            "text/html; charset=utf-8",
            format!("invoice-{n}.html"),
            html_body(cfg, rng),
        ),
        Attachment::Pdf => (
            "application/pdf",
            format!("report-{n}.pdf"),
            binary_body(b"%PDF-1.7\n", cfg.attachment_len, rng),
        ),
        Attachment::Xlsx => (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            format!("shift-log-{n}.xlsx"),
            binary_body(b"PK\x03\x04", cfg.attachment_len, rng),
        ),
    };
    m.push_str(&format!("Content-Type: {ctype}; name=\"{name}\"\r\n"));
    m.push_str(&format!(
        "Content-Disposition: attachment; filename=\"{name}\"\r\n"
    ));
    m.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
    let mut out = m.into_bytes();
    out.extend_from_slice(&base64_lines(&body, 76));
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n.\r\n").as_bytes());
    out
}

fn html_body(cfg: &SmtpConfig, rng: &mut Rng) -> Vec<u8> {
    let mut h = String::from("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Invoice</title></head>\n<body>\n");
    h.push_str("<h1>Invoice available</h1>\n<p>Your document is ready. Sign in to view it:</p>\n");
    h.push_str(&format!("<form action=\"{}\" method=\"post\">\n", cfg.url));
    h.push_str("<input name=\"user\" type=\"email\"><input name=\"pass\" type=\"password\">\n<button>View</button></form>\n");
    while h.len() < cfg.attachment_len {
        h.push_str(&format!(
            "<p class=\"line\">Item {:05} &mdash; {} units</p>\n",
            rng.below(99_999),
            rng.below(500)
        ));
    }
    h.push_str("</body></html>\n");
    h.into_bytes()
}

fn binary_body(magic: &[u8], len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut v = magic.to_vec();
    v.extend_from_slice(&rng.bytes(len.saturating_sub(magic.len())));
    v
}

fn domain_of(addr: &str) -> &str {
    addr.rsplit('@')
        .next()
        .unwrap_or("example.org")
        .trim_end_matches('>')
}

/// RFC 5322 date for a capture timestamp.
pub fn rfc5322_date(t: Micros) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s) = civil_from_micros(t);
    let weekday = DAYS[((t / 86_400_000_000) % 7) as usize];
    format!(
        "{weekday}, {d:02} {} {y} {h:02}:{mi:02}:{s:02} +0000",
        MONTHS[(mo - 1) as usize]
    )
}

impl Actor for SmtpSession {
    fn advance(&mut self, ctx: &mut Ctx, s: &mut Script) -> bool {
        let server_name = format!("mx.{}", domain_of(&self.cfg.rcpts[0]));
        let client_name = format!("relay.{}", domain_of(&self.cfg.from));
        let t = self.conn.open(s, ctx.now);
        let t = t + self.conn.rtt[SERVER] + self.rng.range(2_000, 40_000);
        let banner = format!("220 {server_name} ESMTP ready\r\n");
        let mut t = self.conn.send(s, SERVER, t, banner.as_bytes(), 30);
        let step = |me: &mut Self, s: &mut Script, t: Micros, cmd: String, reply: String| {
            let t = t + me.client_pause();
            me.command(s, t, cmd.as_bytes(), reply.as_bytes())
        };
        t = step(
            self,
            s,
            t,
            format!("EHLO {client_name}\r\n"),
            format!("250-{server_name} Hello {client_name}\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 HELP\r\n"),
        );
        t = step(
            self,
            s,
            t,
            format!("MAIL FROM:<{}>\r\n", self.cfg.from),
            "250 2.1.0 Ok\r\n".into(),
        );
        for r in self.cfg.rcpts.clone() {
            t = step(
                self,
                s,
                t,
                format!("RCPT TO:<{r}>\r\n"),
                "250 2.1.5 Ok\r\n".into(),
            );
        }
        t = step(
            self,
            s,
            t,
            "DATA\r\n".into(),
            "354 End data with <CR><LF>.<CR><LF>\r\n".into(),
        );
        let body = message(&self.cfg, &mut self.rng, &rfc5322_date(t));
        let t = t + self.client_pause();
        let t = self.conn.send(s, CLIENT, t, &body, self.rng.range(40, 200));
        let t = t + self.conn.rtt[SERVER] + self.rng.range(1_000, 30_000);
        let queued = format!(
            "250 2.0.0 Ok: queued as {:010X}\r\n",
            self.rng.next_u64() >> 24
        );
        let t = self.conn.send(s, SERVER, t, queued.as_bytes(), 30);
        let t = step(self, s, t, "QUIT\r\n".into(), "221 2.0.0 Bye\r\n".into());
        self.conn.close(s, SERVER, t + 100);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::net::Net;
    use crate::gen::EPOCH;

    #[test]
    fn epoch_formats_as_monday_5_january_2026() {
        assert_eq!(rfc5322_date(EPOCH), "Mon, 05 Jan 2026 08:00:00 +0000");
    }

    #[test]
    fn html_attachment_message_has_url_boundaries_and_terminator() {
        let net = Net::new(1);
        let cfg = SmtpConfig {
            client: net.host([10, 0, 0, 25]),
            server: net.host([198, 51, 100, 20]),
            envelope: Envelope::Plain,
            from: "billing@corp.example".into(),
            rcpts: vec!["a@example.org".into()],
            subject: "Invoice".into(),
            url: "https://portal.example.com/doc/42".into(),
            attachment: Attachment::Html,
            attachment_len: 2000,
            impair: Impair::default(),
        };
        let m = message(&cfg, &mut Rng::new(3), "Mon, 05 Jan 2026 08:00:00 +0000");
        let text = String::from_utf8(m).unwrap();
        assert!(text.contains("available at https://portal.example.com/doc/42\r\n"));
        assert!(text.contains("Content-Type: text/html; charset=utf-8; name=\"invoice-"));
        assert!(text.ends_with("--\r\n.\r\n"));
        assert!(
            !text.contains("\r\n.\r\n\r\n"),
            "terminator only at the end"
        );
        assert!(text.lines().all(|l| !l.starts_with('.') || l == "."));
    }
}
