//! TLS sessions: TCP handshake, a realistic ClientHello (SNI, ALPN, supported_versions,
//! key_share, GREASE for browser-like clients), the server's flight, then application data
//! records and a close.
//!
//! References: RFC 8446 (TLS 1.3), RFC 5246 (TLS 1.2), RFC 6066 (server_name, status_request),
//! RFC 7301 (ALPN), RFC 8701 (GREASE), RFC 7627 (extended master secret), RFC 7685 (padding),
//! RFC 5746 (renegotiation_info), RFC 8422 (ECC groups and point formats).
//!
//! ```text
//! record:    type u8 | legacy_version u16 | length u16 | fragment
//! handshake: msg_type u8 | length u24 | body
//! ClientHello body: client_version u16 | random[32] | session_id<0..32> |
//!                   cipher_suites<2..2^16-2> | compression_methods<1..2^8-1> |
//!                   extensions<0..2^16-1>   (each: type u16 | length u16 | data)
//! ```
//!
//! Everything after the hellos is encrypted on the wire, so it is random bytes of the right
//! framing and size. The TLS 1.2 server sends a real X.509 certificate ([`CERT_DER`]).

use crate::gen::bytes::{prefixed, u16be};
use crate::gen::net::{Envelope, Host};
use crate::gen::rng::{mix64, Rng};
use crate::gen::tcp::{ConnSpec, Impair, TcpConn, CLIENT, SERVER};
use crate::gen::timeline::{Actor, Ctx, Kind, Script};
use crate::gen::Micros;

/// A self-signed ECDSA P-256 certificate for portal.example.com (SAN *.example.com/org/net),
/// valid 2025-06-01 to 2027-06-01, made once with `openssl ca -selfsign` (see pcaps/README.md).
pub const CERT_DER: &[u8] = include_bytes!("../cert.der");

/// Content types.
pub const CT_CHANGE_CIPHER_SPEC: u8 = 20;
/// Alert.
pub const CT_ALERT: u8 = 21;
/// Handshake.
pub const CT_HANDSHAKE: u8 = 22;
/// Application data.
pub const CT_APPLICATION_DATA: u8 = 23;
/// Handshake types.
pub const HS_CLIENT_HELLO: u8 = 1;
/// ServerHello.
pub const HS_SERVER_HELLO: u8 = 2;
/// Certificate.
pub const HS_CERTIFICATE: u8 = 11;
/// ServerKeyExchange.
pub const HS_SERVER_KEY_EXCHANGE: u8 = 12;
/// ServerHelloDone.
pub const HS_SERVER_HELLO_DONE: u8 = 14;
/// ClientKeyExchange.
pub const HS_CLIENT_KEY_EXCHANGE: u8 = 16;
/// Largest plaintext per record.
pub const MAX_RECORD_PLAINTEXT: usize = 16_384;

/// Extension types used.
mod ext {
    pub const SERVER_NAME: u16 = 0;
    pub const STATUS_REQUEST: u16 = 5;
    pub const SUPPORTED_GROUPS: u16 = 10;
    pub const EC_POINT_FORMATS: u16 = 11;
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    pub const ALPN: u16 = 16;
    pub const SCT: u16 = 18;
    pub const PADDING: u16 = 21;
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    pub const SESSION_TICKET: u16 = 35;
    pub const SUPPORTED_VERSIONS: u16 = 43;
    pub const PSK_KEY_EXCHANGE_MODES: u16 = 45;
    pub const KEY_SHARE: u16 = 51;
    pub const RENEGOTIATION_INFO: u16 = 0xFF01;
}

/// x25519 group.
pub const GROUP_X25519: u16 = 0x001D;
/// TLS_AES_128_GCM_SHA256.
pub const TLS_AES_128_GCM_SHA256: u16 = 0x1301;
/// TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (the certificate is ECDSA).
pub const TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: u16 = 0xC02B;

/// Which client implementation the hello imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientProfile {
    /// Browser-like: TLS 1.3 + 1.2, GREASE, ALPN h2 and http/1.1, padding to 512 bytes.
    Browser,
    /// Library-like (curl, Go, Python): TLS 1.3 + 1.2, no GREASE, ALPN h2 and http/1.1.
    Library,
    /// Legacy agent: TLS 1.2 only, no supported_versions or key_share, ALPN http/1.1.
    Legacy12,
}

impl ClientProfile {
    fn offers_tls13(self) -> bool {
        self != ClientProfile::Legacy12
    }
}

fn grease(rng: &mut Rng) -> u16 {
    // 0x0A0A, 0x1A1A, ..., 0xFAFA
    (rng.below(16) as u16) * 0x1010 + 0x0A0A
}

fn ext_block(out: &mut Vec<u8>, ty: u16, f: impl FnOnce(&mut Vec<u8>)) {
    u16be(out, ty);
    prefixed(out, 2, f);
}

/// A record of `ctype` around `body` (TLS 1.0 legacy version for a ClientHello, 1.2 otherwise).
pub fn record(out: &mut Vec<u8>, ctype: u8, version: u16, body: &[u8]) {
    out.push(ctype);
    u16be(out, version);
    u16be(out, body.len() as u16);
    out.extend_from_slice(body);
}

fn handshake(out: &mut Vec<u8>, msg_type: u8, f: impl FnOnce(&mut Vec<u8>)) {
    out.push(msg_type);
    prefixed(out, 3, f);
}

/// A complete ClientHello record.
pub fn client_hello(rng: &mut Rng, profile: ClientProfile, sni: &str) -> Vec<u8> {
    let greasy = profile == ClientProfile::Browser;
    let g_cipher = grease(rng);
    let g_ext1 = grease(rng);
    let mut g_ext2 = grease(rng);
    if g_ext2 == g_ext1 {
        g_ext2 ^= 0x1010;
    }
    let g_group = grease(rng);
    let g_version = grease(rng);
    let random = rng.bytes(32);
    let session_id = rng.bytes(32);
    let key = rng.bytes(32);
    let mut body = Vec::with_capacity(600);
    u16be(&mut body, 0x0303);
    body.extend_from_slice(&random);
    prefixed(&mut body, 1, |o| {
        if profile.offers_tls13() {
            o.extend_from_slice(&session_id); // middlebox-compatibility session id
        }
    });
    prefixed(&mut body, 2, |o| {
        if greasy {
            u16be(o, g_cipher);
        }
        if profile.offers_tls13() {
            for cs in [0x1301, 0x1302, 0x1303] {
                u16be(o, cs);
            }
        }
        for cs in [
            0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014, 0x009C, 0x009D, 0x002F,
            0x0035,
        ] {
            u16be(o, cs);
        }
    });
    body.extend_from_slice(&[1, 0]); // compression methods: null
    prefixed(&mut body, 2, |o| {
        if greasy {
            ext_block(o, g_ext1, |_| {});
        }
        ext_block(o, ext::SERVER_NAME, |o| {
            prefixed(o, 2, |o| {
                o.push(0); // host_name
                prefixed(o, 2, |o| o.extend_from_slice(sni.as_bytes()));
            })
        });
        ext_block(o, ext::EXTENDED_MASTER_SECRET, |_| {});
        ext_block(o, ext::RENEGOTIATION_INFO, |o| o.push(0));
        ext_block(o, ext::SUPPORTED_GROUPS, |o| {
            prefixed(o, 2, |o| {
                if greasy {
                    u16be(o, g_group);
                }
                for g in [GROUP_X25519, 0x0017, 0x0018] {
                    u16be(o, g);
                }
            })
        });
        ext_block(o, ext::EC_POINT_FORMATS, |o| prefixed(o, 1, |o| o.push(0)));
        ext_block(o, ext::SESSION_TICKET, |_| {});
        ext_block(o, ext::ALPN, |o| {
            prefixed(o, 2, |o| {
                if profile.offers_tls13() {
                    prefixed(o, 1, |o| o.extend_from_slice(b"h2"));
                }
                prefixed(o, 1, |o| o.extend_from_slice(b"http/1.1"));
            })
        });
        ext_block(o, ext::STATUS_REQUEST, |o| {
            o.extend_from_slice(&[1, 0, 0, 0, 0])
        });
        ext_block(o, ext::SIGNATURE_ALGORITHMS, |o| {
            prefixed(o, 2, |o| {
                for s in [
                    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
                ] {
                    u16be(o, s);
                }
            })
        });
        if greasy {
            ext_block(o, ext::SCT, |_| {});
        }
        if profile.offers_tls13() {
            ext_block(o, ext::KEY_SHARE, |o| {
                prefixed(o, 2, |o| {
                    if greasy {
                        u16be(o, g_group);
                        prefixed(o, 2, |o| o.push(0));
                    }
                    u16be(o, GROUP_X25519);
                    prefixed(o, 2, |o| o.extend_from_slice(&key));
                })
            });
            ext_block(o, ext::PSK_KEY_EXCHANGE_MODES, |o| {
                prefixed(o, 1, |o| o.push(1))
            });
            ext_block(o, ext::SUPPORTED_VERSIONS, |o| {
                prefixed(o, 1, |o| {
                    if greasy {
                        u16be(o, g_version);
                    }
                    u16be(o, 0x0304);
                    u16be(o, 0x0303);
                })
            });
        }
        if greasy {
            ext_block(o, g_ext2, |o| o.push(0));
            // Pad the handshake message to 512 bytes (the RFC 7685 use case).
            // `o` is the whole hello body so far; +4 for the handshake header.
            let hs_len = 4 + o.len();
            if hs_len + 4 <= 512 {
                let pad = 512 - 4 - hs_len;
                ext_block(o, ext::PADDING, |o| o.extend(std::iter::repeat_n(0u8, pad)));
            }
        }
    });
    let mut hs = Vec::with_capacity(body.len() + 4);
    handshake(&mut hs, HS_CLIENT_HELLO, |o| o.extend_from_slice(&body));
    let mut out = Vec::with_capacity(hs.len() + 5);
    record(&mut out, CT_HANDSHAKE, 0x0301, &hs);
    out
}

/// The server's first flight for TLS 1.2: ServerHello, Certificate, ServerKeyExchange,
/// ServerHelloDone in one handshake record.
pub fn server_flight_12(rng: &mut Rng, alpn: Option<&str>) -> Vec<u8> {
    let mut hs = Vec::with_capacity(1200);
    handshake(&mut hs, HS_SERVER_HELLO, |o| {
        u16be(o, 0x0303);
        o.extend_from_slice(&rng.bytes(32));
        prefixed(o, 1, |o| o.extend_from_slice(&rng.bytes(32)));
        u16be(o, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
        o.push(0);
        prefixed(o, 2, |o| {
            ext_block(o, ext::RENEGOTIATION_INFO, |o| o.push(0));
            ext_block(o, ext::EC_POINT_FORMATS, |o| prefixed(o, 1, |o| o.push(0)));
            ext_block(o, ext::EXTENDED_MASTER_SECRET, |_| {});
            if let Some(p) = alpn {
                ext_block(o, ext::ALPN, |o| {
                    prefixed(o, 2, |o| {
                        prefixed(o, 1, |o| o.extend_from_slice(p.as_bytes()))
                    })
                });
            }
        });
    });
    handshake(&mut hs, HS_CERTIFICATE, |o| {
        prefixed(o, 3, |o| prefixed(o, 3, |o| o.extend_from_slice(CERT_DER)));
    });
    handshake(&mut hs, HS_SERVER_KEY_EXCHANGE, |o| {
        o.push(3); // named_curve
        u16be(o, GROUP_X25519);
        prefixed(o, 1, |o| o.extend_from_slice(&rng.bytes(32)));
        u16be(o, 0x0403); // ecdsa_secp256r1_sha256
        prefixed(o, 2, |o| o.extend_from_slice(&ecdsa_signature(rng)));
    });
    handshake(&mut hs, HS_SERVER_HELLO_DONE, |_| {});
    let mut out = Vec::with_capacity(hs.len() + 5);
    record(&mut out, CT_HANDSHAKE, 0x0303, &hs);
    out
}

/// A DER-shaped ECDSA signature: SEQUENCE { INTEGER r, INTEGER s } with random 32-byte values.
fn ecdsa_signature(rng: &mut Rng) -> Vec<u8> {
    let int = |rng: &mut Rng| {
        let mut v = rng.bytes(32);
        v[0] &= 0x7F; // positive without a leading zero byte
        v[0] |= 0x01;
        v
    };
    let r = int(rng);
    let s = int(rng);
    let mut out = vec![0x30, 68, 0x02, 32];
    out.extend_from_slice(&r);
    out.extend_from_slice(&[0x02, 32]);
    out.extend_from_slice(&s);
    out
}

/// Client's second flight for TLS 1.2: ClientKeyExchange, ChangeCipherSpec, encrypted Finished.
pub fn client_finish_12(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::with_capacity(140);
    let mut hs = Vec::new();
    handshake(&mut hs, HS_CLIENT_KEY_EXCHANGE, |o| {
        prefixed(o, 1, |o| o.extend_from_slice(&rng.bytes(32)))
    });
    record(&mut out, CT_HANDSHAKE, 0x0303, &hs);
    record(&mut out, CT_CHANGE_CIPHER_SPEC, 0x0303, &[1]);
    record(&mut out, CT_HANDSHAKE, 0x0303, &rng.bytes(40));
    out
}

/// Server's ChangeCipherSpec + encrypted Finished (TLS 1.2).
pub fn server_finish_12(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::with_capacity(60);
    record(&mut out, CT_CHANGE_CIPHER_SPEC, 0x0303, &[1]);
    record(&mut out, CT_HANDSHAKE, 0x0303, &rng.bytes(40));
    out
}

/// TLS 1.3 server flight: ServerHello (supported_versions, key_share), ChangeCipherSpec, then
/// the encrypted EncryptedExtensions..Finished as application-data records.
pub fn server_flight_13(rng: &mut Rng, session_id: &[u8], encrypted_len: usize) -> Vec<u8> {
    let mut hs = Vec::with_capacity(128);
    handshake(&mut hs, HS_SERVER_HELLO, |o| {
        u16be(o, 0x0303);
        o.extend_from_slice(&rng.bytes(32));
        prefixed(o, 1, |o| o.extend_from_slice(session_id));
        u16be(o, TLS_AES_128_GCM_SHA256);
        o.push(0);
        prefixed(o, 2, |o| {
            ext_block(o, ext::SUPPORTED_VERSIONS, |o| u16be(o, 0x0304));
            ext_block(o, ext::KEY_SHARE, |o| {
                u16be(o, GROUP_X25519);
                prefixed(o, 2, |o| o.extend_from_slice(&rng.bytes(32)));
            });
        });
    });
    let mut out = Vec::with_capacity(encrypted_len + 160);
    record(&mut out, CT_HANDSHAKE, 0x0303, &hs);
    record(&mut out, CT_CHANGE_CIPHER_SPEC, 0x0303, &[1]);
    app_data(rng, &mut out, encrypted_len, true);
    out
}

/// Client's ChangeCipherSpec + encrypted Finished (TLS 1.3).
pub fn client_finish_13(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    record(&mut out, CT_CHANGE_CIPHER_SPEC, 0x0303, &[1]);
    record(&mut out, CT_APPLICATION_DATA, 0x0303, &rng.bytes(53));
    out
}

/// Appends `plaintext_len` bytes of application data as encrypted records (AES-GCM overhead:
/// 8-byte explicit nonce + 16-byte tag for 1.2; content-type byte + tag for 1.3).
pub fn app_data(rng: &mut Rng, out: &mut Vec<u8>, plaintext_len: usize, tls13: bool) {
    let mut left = plaintext_len.max(1);
    while left > 0 {
        let n = left.min(MAX_RECORD_PLAINTEXT);
        left -= n;
        let overhead = if tls13 { 17 } else { 24 };
        out.push(CT_APPLICATION_DATA);
        u16be(out, 0x0303);
        u16be(out, (n + overhead) as u16);
        let at = out.len();
        out.resize(at + n + overhead, 0);
        rng.fill(&mut out[at..]);
    }
}

/// An encrypted close_notify alert.
pub fn close_notify(rng: &mut Rng, tls13: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    let len = if tls13 { 19 } else { 26 };
    record(&mut out, CT_ALERT, 0x0303, &rng.bytes(len));
    out
}

/// One TLS session.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    /// Client.
    pub client: Host,
    /// Server.
    pub server: Host,
    /// Server port (443).
    pub server_port: u16,
    /// Server name sent in SNI.
    pub sni: String,
    /// Client implementation.
    pub profile: ClientProfile,
    /// Whether the server speaks TLS 1.3 (else the session is TLS 1.2 with a Certificate).
    pub server_tls13: bool,
    /// Wrapping on the capture link.
    pub envelope: Envelope,
    /// Exchanges (bursts of request/response pairs) after the handshake.
    pub exchanges: u32,
    /// Request/response pairs per exchange, back to back (the next request carries the ACK).
    pub burst: (u64, u64),
    /// Mean think time between exchanges, µs.
    pub think: Micros,
    /// Request plaintext size range.
    pub request: (u64, u64),
    /// Response plaintext size range (log-uniform).
    pub response: (u64, u64),
    /// Chance that a response is a large one (a page or a file) instead.
    pub large_chance: f64,
    /// Large response size range (log-uniform).
    pub large_response: (u64, u64),
    /// End with an RST from the client instead of close_notify + FIN.
    pub reset: bool,
    /// TCP impairments.
    pub impair: Impair,
}

enum Phase {
    Handshake,
    Exchange(u32),
    Close,
}

/// The actor.
pub struct TlsSession {
    cfg: TlsConfig,
    conn: TcpConn,
    rng: Rng,
    phase: Phase,
    tls13: bool,
    next: Micros,
}

impl TlsSession {
    /// A session that connects when first advanced.
    pub fn new(cfg: TlsConfig, ctx: &mut Ctx, mut rng: Rng) -> Self {
        let port = ctx.net.ephemeral_port(&cfg.client);
        let conn = TcpConn::new(
            ConnSpec {
                client: &cfg.client,
                server: &cfg.server,
                client_port: port,
                server_port: cfg.server_port,
                envelope: cfg.envelope,
                kind: Kind::Tls,
                impair: cfg.impair.clone(),
            },
            &ctx.net,
            rng.fork(),
        );
        let tls13 = cfg.server_tls13 && cfg.profile.offers_tls13();
        TlsSession {
            cfg,
            conn,
            rng,
            phase: Phase::Handshake,
            tls13,
            next: 0,
        }
    }

    /// Server processing time before a reply.
    fn server_think(&mut self) -> Micros {
        self.conn.rtt[SERVER] + self.rng.range(300, 4_000)
    }

    fn handshake(&mut self, s: &mut Script, now: Micros) -> Micros {
        let t = self.conn.open(s, now);
        let t = t + self.rng.range(100, 2_000);
        let hello = client_hello(&mut self.rng, self.cfg.profile, &self.cfg.sni);
        let session_id = hello.get(44..76).map(<[u8]>::to_vec).unwrap_or_default();
        let t = self.conn.send(s, CLIENT, t, &hello, 20);
        let t = t + self.server_think();
        if self.tls13 {
            let enc = self.rng.range(2_000, 4_500) as usize;
            let flight = server_flight_13(&mut self.rng, &session_id, enc);
            let t = self.conn.send(s, SERVER, t, &flight, 15);
            let t = t + self.conn.rtt[CLIENT] + self.rng.range(200, 3_000);
            let fin = client_finish_13(&mut self.rng);
            self.conn.send(s, CLIENT, t, &fin, 20)
        } else {
            let alpn = match self.cfg.profile {
                ClientProfile::Legacy12 => "http/1.1",
                _ => "h2",
            };
            let flight = server_flight_12(&mut self.rng, Some(alpn));
            let t = self.conn.send(s, SERVER, t, &flight, 15);
            let t = t + self.conn.rtt[CLIENT] + self.rng.range(200, 3_000);
            let fin = client_finish_12(&mut self.rng);
            let t = self.conn.send(s, CLIENT, t, &fin, 20);
            let t = t + self.server_think();
            let sfin = server_finish_12(&mut self.rng);
            self.conn.send(s, SERVER, t, &sfin, 20)
        }
    }

    fn exchange(&mut self, s: &mut Script, t: Micros) -> Micros {
        let pairs = self.rng.range(self.cfg.burst.0, self.cfg.burst.1);
        let mut t = t;
        for i in 0..pairs {
            if i > 0 {
                t += self.conn.rtt[CLIENT] + self.rng.range(200, 5_000);
            }
            let req_len = self.rng.range(self.cfg.request.0, self.cfg.request.1) as usize;
            let (lo, hi) = if self.rng.chance(self.cfg.large_chance) {
                self.cfg.large_response
            } else {
                self.cfg.response
            };
            let resp_len = self.rng.log_uniform(lo, hi) as usize;
            let mut req = Vec::with_capacity(req_len + 32);
            app_data(&mut self.rng, &mut req, req_len, self.tls13);
            let mut resp = Vec::with_capacity(resp_len + 64);
            app_data(&mut self.rng, &mut resp, resp_len, self.tls13);
            t = self.conn.send(s, CLIENT, t, &req, 20);
            t += self.server_think();
            let pace = self.rng.range(15, 120);
            t = self.conn.send(s, SERVER, t, &resp, pace);
        }
        t
    }
}

impl Actor for TlsSession {
    fn advance(&mut self, ctx: &mut Ctx, s: &mut Script) -> bool {
        match self.phase {
            Phase::Handshake => {
                let t = self.handshake(s, ctx.now);
                self.next = t + self.rng.range(100, 5_000);
                self.phase = if self.cfg.exchanges > 0 {
                    Phase::Exchange(self.cfg.exchanges)
                } else {
                    Phase::Close
                };
                s.wake(self.next);
                true
            }
            Phase::Exchange(left) => {
                let t = self.exchange(s, self.next);
                let think = self.rng.exp(self.cfg.think as f64) as Micros + 1_000;
                self.next = t + think;
                self.conn.delayed_ack(s, CLIENT, t, Some(self.next));
                self.phase = if left > 1 {
                    Phase::Exchange(left - 1)
                } else {
                    Phase::Close
                };
                s.wake(self.next);
                true
            }
            Phase::Close => {
                let t = self.next;
                if self.cfg.reset {
                    self.conn.reset(s, CLIENT, t);
                } else {
                    let alert = close_notify(&mut self.rng, self.tls13);
                    let t = self.conn.send(s, CLIENT, t, &alert, 20);
                    self.conn.close(s, CLIENT, t + 50);
                }
                false
            }
        }
    }
}

/// Server names used by the traffic (all under the RFC 2606 example domains).
pub const DOMAINS: &[&str] = &[
    "portal.example.com",
    "www.example.com",
    "api.example.net",
    "login.example.org",
    "cdn.example.net",
    "updates.example.com",
    "telemetry.example.org",
    "mail.example.org",
    "storage.example.net",
    "docs.example.com",
    "chat.example.net",
    "vendor-support.example.com",
    "licensing.example.org",
    "time.example.net",
    "maps.example.com",
    "video.example.net",
];

/// Whether the server behind `name` speaks TLS 1.3 (stable per name; about 80% do).
pub fn server_speaks_tls13(name: &str) -> bool {
    let h = name.bytes().fold(0u64, |h, b| mix64(h ^ u64::from(b)));
    h % 10 < 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_client_hello_carries_sni_alpn_versions_and_is_padded_to_512() {
        let mut rng = Rng::new(11);
        let rec = client_hello(&mut rng, ClientProfile::Browser, "portal.example.com");
        assert_eq!(&rec[..3], &[CT_HANDSHAKE, 0x03, 0x01]);
        let rec_len = usize::from(u16::from_be_bytes([rec[3], rec[4]]));
        assert_eq!(rec_len, rec.len() - 5);
        assert_eq!(rec[5], HS_CLIENT_HELLO);
        assert_eq!(rec_len, 512, "handshake message padded to 512 bytes");
        let find = |needle: &[u8]| rec.windows(needle.len()).any(|w| w == needle);
        assert!(find(
            b"\x00\x00\x00\x17\x00\x15\x00\x00\x12portal.example.com"
        ));
        assert!(find(b"\x00\x10\x00\x0e\x00\x0c\x02h2\x08http/1.1"));
        assert!(
            find(&[0x03, 0x04, 0x03, 0x03]),
            "supported_versions lists 1.3 then 1.2"
        );
    }

    #[test]
    fn legacy_client_hello_offers_no_tls13_extensions() {
        let mut rng = Rng::new(11);
        let rec = client_hello(&mut rng, ClientProfile::Legacy12, "time.example.net");
        assert_eq!(rec[43], 0, "empty session id");
        let find = |needle: &[u8]| rec.windows(needle.len()).any(|w| w == needle);
        assert!(!find(&[0x00, 0x2B, 0x00]), "no supported_versions");
        assert!(!find(&[0x13, 0x01]), "no TLS 1.3 suites");
    }

    #[test]
    fn tls12_server_flight_embeds_the_certificate_with_u24_lengths() {
        let mut rng = Rng::new(2);
        let flight = server_flight_12(&mut rng, Some("h2"));
        let pos = flight
            .windows(CERT_DER.len())
            .position(|w| w == CERT_DER)
            .expect("certificate present");
        let n = CERT_DER.len();
        assert_eq!(&flight[pos - 3..pos], &[0, (n >> 8) as u8, n as u8]);
        assert_eq!(
            &flight[pos - 6..pos - 3],
            &[0, ((n + 3) >> 8) as u8, (n + 3) as u8]
        );
        assert_eq!(flight[pos - 10], HS_CERTIFICATE);
    }

    #[test]
    fn app_data_splits_at_the_record_size_limit() {
        let mut rng = Rng::new(2);
        let mut out = Vec::new();
        app_data(&mut rng, &mut out, 20_000, true);
        assert_eq!(&out[..5], &[23, 3, 3, 0x40, 0x11]); // 16384 + 17
        assert_eq!(out.len(), 5 + 16_384 + 17 + 5 + 3_616 + 17);
    }
}
