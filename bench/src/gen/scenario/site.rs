//! The simulated plant every scenario runs in, and its routine traffic.
//!
//! Halvorsen Industries (`halvorsen.example`): twelve office workstations, a mail server and a
//! DNS resolver on the core network; a control network with three HMIs, an engineering
//! workstation, two Modbus PLCs, two GE PACSystems controllers exchanging EGD, a Mitsubishi
//! MELSEC CPU, and a CC-Link IE Field Basic cell. The SPAN port mirrors the core switch.
//!
//! | address | role |
//! |---|---|
//! | 10.0.0.25 | mail server `mail.halvorsen.example` (inbound MX and internal submission) |
//! | 10.0.0.53 | DNS resolver |
//! | 10.0.100.11–22 | office workstations (one user each, see [`USERS`]) |
//! | 10.0.10.1 | HMI-1: polls PLC-1 over one long Modbus/TCP connection |
//! | 10.0.10.2 | HMI-2: polls PLC-2 with one short Modbus/TCP connection per poll |
//! | 10.0.10.3 | HMI-3: polls the MELSEC CPU over SLMP (TCP 5000) |
//! | 10.0.10.50 | engineering workstation (EWS): SRTP, SLMP, MELSOFT, Modbus device identification |
//! | 10.0.20.1, .2 | PLC-1, PLC-2: Modbus/TCP |
//! | 10.0.20.11 | GE RX3i: SRTP server, EGD producer (exchange 1 to 10.0.20.12) |
//! | 10.0.20.12 | GE RX3i: EGD consumer |
//! | 10.0.20.21 | MELSEC Q03UDE: SLMP (TCP 5000), MELSOFT (TCP 5007) |
//! | 10.0.21.1 | CC-Link IE Field Basic master (cyclic to 10.0.21.255) |
//! | 10.0.21.11 | CC-Link IE Field Basic slave (remote I/O) |
//! | 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 | the Internet (see [`WEB`], [`CORRESPONDENTS`]) |
//!
//! Rates are low (a poll every few seconds, a DNS lookup every few seconds across the site)
//! and the captures long (hours), because baselines learn in capture time and the committed
//! files must stay small.

use crate::gen::actors::tls::{server_speaks_tls13, ClientProfile, TlsConfig, TlsSession};
use crate::gen::net::{Envelope, Host, Stack};
use crate::gen::rng::Rng;
use crate::gen::tcp::Impair;
use crate::gen::timeline::{Ctx, Kind, Script, Timeline};
use crate::gen::wire::Ip4;
use crate::gen::Micros;

use super::actors::{
    dns_lookup, udp_frame, ConvConfig, Conversation, Mail, MailConfig, Msg, Periodic, PollLoop,
};
use super::proto::*;

/// One second.
pub const SEC: Micros = 1_000_000;
/// One minute.
pub const MIN: Micros = 60 * SEC;
/// One hour.
pub const HOUR: Micros = 60 * MIN;

/// Mail server.
pub const MAIL: Ip4 = [10, 0, 0, 25];
/// DNS resolver.
pub const RESOLVER: Ip4 = [10, 0, 0, 53];
/// HMI-1 (long Modbus connection to PLC-1).
pub const HMI1: Ip4 = [10, 0, 10, 1];
/// HMI-2 (one short Modbus connection per poll to PLC-2).
pub const HMI2: Ip4 = [10, 0, 10, 2];
/// HMI-3 (SLMP poll of the MELSEC CPU).
pub const HMI3: Ip4 = [10, 0, 10, 3];
/// Engineering workstation.
pub const EWS: Ip4 = [10, 0, 10, 50];
/// PLC-1 (Modbus).
pub const PLC1: Ip4 = [10, 0, 20, 1];
/// PLC-2 (Modbus).
pub const PLC2: Ip4 = [10, 0, 20, 2];
/// GE RX3i, SRTP server and EGD producer.
pub const GE1: Ip4 = [10, 0, 20, 11];
/// GE RX3i, EGD consumer.
pub const GE2: Ip4 = [10, 0, 20, 12];
/// Mitsubishi MELSEC Q CPU.
pub const MELSEC: Ip4 = [10, 0, 20, 21];
/// CC-Link IE Field Basic master.
pub const CCL_MASTER: Ip4 = [10, 0, 21, 1];
/// CC-Link IE Field Basic slave.
pub const CCL_SLAVE: Ip4 = [10, 0, 21, 11];
/// Directed broadcast of the CC-Link subnet.
pub const CCL_BROADCAST: Ip4 = [10, 0, 21, 255];

/// SLMP port of the MELSEC CPU (an open setting of its built-in Ethernet port).
pub const SLMP_PORT: u16 = 5000;
/// MELSOFT port.
pub const MELSOFT_PORT: u16 = 5007;
/// SRTP port.
pub const SRTP_PORT: u16 = 18245;
/// EGD port.
pub const EGD_PORT: u16 = 18246;
/// CC-Link IE Field Basic cyclic port.
pub const CCIEFB_PORT: u16 = 61450;

/// EGD exchange produced by GE1.
pub const EGD_EXCHANGE: u32 = 1;
/// Its configuration signature during normal operation.
pub const EGD_SIGNATURE: u32 = 0x5A3C_0001;
/// The MELSEC CPU's model, as SLMP 0x0101 and MELSOFT 0x0121 report it.
pub const MELSEC_MODEL: (&str, u16) = ("Q03UDECPU", 0x0268);
/// PLC-1's identity (FC 43/14 basic objects).
pub const PLC1_ID: (&str, &str, &str) = ("Schneider Electric", "BMX P34 2020", "V3.10");
/// PLC-2's identity.
pub const PLC2_ID: (&str, &str, &str) = ("Schneider Electric", "BMX P34 1000", "V2.90");
/// GE1's identity (SRTP 0x43).
pub const GE1_ID: (&str, &str, &str) = ("LINE2-PAC", "IC695CPE330", "10.85");

/// The site's Internet services users browse: name and address.
pub const WEB: &[(&str, Ip4)] = &[
    ("www.secureonline.com", [192, 0, 2, 88]),
    ("mail.cloudmail.example", [198, 51, 100, 10]),
    ("teams.collab.example", [198, 51, 100, 11]),
    ("www.newsdaily.example", [203, 0, 113, 20]),
    ("weather.meteo.example", [203, 0, 113, 21]),
    ("erp.halvorsen-cloud.example", [192, 0, 2, 30]),
    ("cdn.staticfiles.example", [198, 51, 100, 40]),
    ("update.osvendor.example", [192, 0, 2, 50]),
    ("search.findit.example", [203, 0, 113, 60]),
    ("docs.officesuite.example", [198, 51, 100, 61]),
    ("www.northwind-supply.example", [198, 51, 100, 23]),
    ("support.plcvendor.example", [192, 0, 2, 77]),
    ("maps.geoview.example", [203, 0, 113, 70]),
    ("login.identity.example", [198, 51, 100, 80]),
];

/// Index of `maps.geoview.example` in [`WEB`].
pub const WEB_MAPS: usize = 12;

/// Internal names the resolver answers.
pub const INTERNAL_NAMES: &[(&str, Ip4)] = &[
    ("intranet.halvorsen.example", [10, 0, 0, 80]),
    ("fileserver.halvorsen.example", [10, 0, 0, 81]),
    ("print.halvorsen.example", [10, 0, 0, 82]),
    ("mail.halvorsen.example", MAIL),
];

/// An office user and their workstation.
#[derive(Clone, Copy, Debug)]
pub struct User {
    /// Workstation address.
    pub ip: Ip4,
    /// Mailbox (local part at `halvorsen.example`).
    pub name: &'static str,
    /// Indices into [`WEB`] of the sites they use.
    pub sites: &'static [usize],
    /// External addresses they mail (with a PDF) now and then; empty: they do not send mail.
    pub mails_to: &'static [&'static str],
}

/// The office users. `j.meyer` (10.0.100.17, finance) is the account taken over in the
/// account-takeover scenario.
pub const USERS: &[User] = &[
    User {
        ip: [10, 0, 100, 11],
        name: "k.larsen",
        sites: &[1, 2, 8, 13, 3],
        mails_to: &["orders@northwind-supply.example"],
    },
    User {
        ip: [10, 0, 100, 12],
        name: "m.olsen",
        sites: &[1, 2, 9, 13, 4],
        mails_to: &[],
    },
    User {
        ip: [10, 0, 100, 13],
        name: "t.nilsen",
        sites: &[1, 5, 8, 13, 12],
        mails_to: &[],
    },
    User {
        ip: [10, 0, 100, 14],
        name: "e.hansen",
        sites: &[1, 2, 3, 13, 6],
        mails_to: &[],
    },
    User {
        ip: [10, 0, 100, 15],
        name: "p.berg",
        sites: &[1, 9, 8, 13, 12],
        mails_to: &[],
    },
    User {
        ip: [10, 0, 100, 16],
        name: "s.dahl",
        sites: &[1, 5, 2, 13, 12],
        mails_to: &[
            "invoices@ostfold-logistics.example",
            "anna.berg@northwind-supply.example",
        ],
    },
    User {
        ip: [10, 0, 100, 17],
        name: "j.meyer",
        sites: &[0, 1, 5, 13, 9],
        mails_to: &[
            "invoices@ostfold-logistics.example",
            "anna.berg@northwind-supply.example",
            "accounts@baltic-freight.example",
        ],
    },
    User {
        ip: [10, 0, 100, 18],
        name: "r.lund",
        sites: &[0, 1, 5, 13, 3],
        mails_to: &["anna.berg@northwind-supply.example"],
    },
    User {
        ip: [10, 0, 100, 19],
        name: "h.strand",
        sites: &[1, 2, 7, 13, 12],
        mails_to: &[],
    },
    User {
        ip: [10, 0, 100, 20],
        name: "i.moe",
        sites: &[0, 1, 8, 13, 4],
        mails_to: &["support@plcvendor.example"],
    },
    User {
        ip: [10, 0, 100, 21],
        name: "a.vik",
        sites: &[1, 11, 7, 13, 6],
        mails_to: &[],
    },
    User {
        ip: [10, 0, 100, 22],
        name: "o.holm",
        sites: &[1, 2, 3, 13, 8],
        mails_to: &[],
    },
];

/// Index of `j.meyer` in [`USERS`].
pub const FINANCE_USER: usize = 6;

/// An external correspondent whose mail reaches the site: sender, sending MTA, the site they
/// link to.
#[derive(Clone, Copy, Debug)]
pub struct Correspondent {
    /// Envelope and header sender.
    pub sender: &'static str,
    /// Their MTA's address.
    pub mta: Ip4,
    /// Their MTA's name.
    pub mta_name: &'static str,
    /// A URL their mails carry.
    pub url: &'static str,
}

/// The known correspondents (inbound mail).
pub const CORRESPONDENTS: &[Correspondent] = &[
    Correspondent {
        sender: "anna.berg@northwind-supply.example",
        mta: [198, 51, 100, 24],
        mta_name: "mx.northwind-supply.example",
        url: "https://www.northwind-supply.example/orders",
    },
    Correspondent {
        sender: "orders@northwind-supply.example",
        mta: [198, 51, 100, 24],
        mta_name: "mx.northwind-supply.example",
        url: "https://www.northwind-supply.example/status",
    },
    Correspondent {
        sender: "invoices@ostfold-logistics.example",
        mta: [203, 0, 113, 41],
        mta_name: "smtp.ostfold-logistics.example",
        url: "https://erp.halvorsen-cloud.example/ap/inbox",
    },
    Correspondent {
        sender: "news@plcvendor.example",
        mta: [192, 0, 2, 78],
        mta_name: "out.plcvendor.example",
        url: "https://support.plcvendor.example/news",
    },
    Correspondent {
        sender: "support@plcvendor.example",
        mta: [192, 0, 2, 78],
        mta_name: "out.plcvendor.example",
        url: "https://support.plcvendor.example/tickets",
    },
    Correspondent {
        sender: "alerts@secureonline.com",
        mta: [192, 0, 2, 89],
        mta_name: "mta.secureonline.com",
        url: "https://www.secureonline.com/notices",
    },
];

/// Index of `anna.berg@northwind-supply.example` in [`CORRESPONDENTS`].
pub const VENDOR: usize = 0;

/// A host of the site by address, with the stack the address plan gives it.
pub fn host(ip: Ip4) -> Host {
    crate::gen::net::host(ip)
}

/// A host with a Linux stack (attacker laptops, CC-Link devices).
pub fn linux_host(ip: Ip4) -> Host {
    Host {
        stack: Stack::Linux,
        ttl: 64,
        ..host(ip)
    }
}

/// The broadcast "host" of the CC-Link subnet (all-ones MAC).
pub fn broadcast_host(ip: Ip4) -> Host {
    Host {
        mac: [0xFF; 6],
        ..host(ip)
    }
}

/// An email address at the site.
pub fn address(user: &User) -> String {
    format!("{}@halvorsen.example", user.name)
}

/// How much routine traffic a scenario carries and which special events the routine traffic
/// itself shows (a changed signature, a new CPU model...).
#[derive(Clone, Debug)]
pub struct Plan {
    /// First packet.
    pub start: Micros,
    /// Every routine actor stops here.
    pub end: Micros,
    /// Mean gap between web visits (a DNS lookup each) across the site; `None`: no users.
    pub visit_gap: Option<Micros>,
    /// How many of [`USERS`] are at work (the first ones).
    pub users: usize,
    /// Each user's TLS session period.
    pub tls_period: Micros,
    /// Mean gap between mails of each mailing user.
    pub user_mail_gap: Micros,
    /// Mean gap between inbound mails.
    pub inbound_mail_gap: Option<Micros>,
    /// HMI-1's poll of PLC-1: (from, until, period) per connection.
    pub hmi1: Vec<(Micros, Micros, Micros)>,
    /// HMI-2's short-connection poll period.
    pub hmi2_period: Option<Micros>,
    /// The engineering workstation's routine sessions.
    pub ews: bool,
    /// EGD production period.
    pub egd_period: Option<Micros>,
    /// From then on GE1 produces with this configuration signature.
    pub egd_signature_change: Option<(Micros, u32)>,
    /// HMI-3's SLMP poll period.
    pub melsec_poll: Option<Micros>,
    /// CC-Link cycle period.
    pub cciefb_period: Option<Micros>,
    /// From then on PLC-1 reports this revision.
    pub plc1_revision_change: Option<(Micros, &'static str)>,
    /// From then on the MELSEC CPU reports this model.
    pub melsec_model_change: Option<(Micros, &'static str, u16)>,
    /// GE1 is in STOP between these times.
    pub ge1_stopped: Option<(Micros, Micros)>,
}

impl Plan {
    /// An empty plan (nothing runs) over `[start, end)`.
    pub fn new(start: Micros, end: Micros) -> Plan {
        Plan {
            start,
            end,
            visit_gap: None,
            users: USERS.len(),
            tls_period: 20 * MIN,
            user_mail_gap: 30 * MIN,
            inbound_mail_gap: None,
            hmi1: Vec::new(),
            hmi2_period: None,
            ews: false,
            egd_period: None,
            egd_signature_change: None,
            melsec_poll: None,
            cciefb_period: None,
            plc1_revision_change: None,
            melsec_model_change: None,
            ge1_stopped: None,
        }
    }

    fn ge1_status(&self, t: Micros) -> u16 {
        match self.ge1_stopped {
            Some((a, b)) if t >= a && t < b => SRTP_STATUS_STOP,
            _ => SRTP_STATUS_RUN,
        }
    }
}

/// A TLS session from `client` to the web site `name` at `ip` with `profile`.
pub fn tls_config(client: &Host, name: &str, ip: Ip4, profile: ClientProfile) -> TlsConfig {
    TlsConfig {
        client: client.clone(),
        server: host(ip),
        server_port: 443,
        sni: name.into(),
        profile,
        server_tls13: server_speaks_tls13(name),
        envelope: Envelope::Plain,
        exchanges: 1,
        burst: (1, 2),
        think: 2 * SEC,
        request: (200, 500),
        response: (300, 1_500),
        large_chance: 0.0,
        large_response: (0, 0),
        reset: false,
        impair: Impair::default(),
    }
}

/// Adds the routine traffic of `plan` to `tl`.
pub fn routine(tl: &mut Timeline, plan: &Plan, rng: &mut Rng) {
    let end = plan.end;
    if let Some(gap) = plan.visit_gap {
        web(tl, plan, gap, rng);
        user_mail(tl, plan, rng);
    }
    if let Some(gap) = plan.inbound_mail_gap {
        inbound_mail(tl, plan.start, end, gap, rng);
    }
    for &(from, until, period) in &plan.hmi1 {
        hmi1(tl, from, until, period, rng);
    }
    if let Some(p) = plan.hmi2_period {
        hmi2(tl, plan.start, end, p, rng);
    }
    if plan.ews {
        ews(tl, plan, rng);
    }
    if let Some(p) = plan.egd_period {
        egd(tl, plan, p, rng);
    }
    if let Some(p) = plan.melsec_poll {
        hmi3(tl, plan.start, end, p, rng);
    }
    if let Some(p) = plan.cciefb_period {
        cciefb(tl, plan.start + 3 * SEC, end, p, CCL_MASTER, 0, rng);
    }
}

/// Web use: Poisson visits across the site, each a DNS lookup by a random user of one of their
/// sites (or an internal name); and per user a TLS session every `tls_period` (± 30 %) going
/// round the user's sites, so every site a user opens later was opened while learning (the
/// period must fit the sites into the learning period).
fn web(tl: &mut Timeline, plan: &Plan, gap: Micros, rng: &mut Rng) {
    let resolver = host(RESOLVER);
    let tick_rng = rng.fork();
    let users = &USERS[..plan.users.min(USERS.len())];
    let lookups = Periodic::poisson(
        gap,
        plan.end,
        tick_rng,
        Box::new(move |ctx: &mut Ctx, s: &mut Script, rng: &mut Rng, _n| {
            let u = rng.pick(users);
            let (name, ip) = if rng.chance(0.15) {
                *rng.pick(INTERNAL_NAMES)
            } else {
                WEB[*rng.pick(u.sites)]
            };
            let now = ctx.now;
            dns_lookup(ctx, s, rng, now, &host(u.ip), &resolver, name, Some(ip));
        }),
    );
    tl.spawn(plan.start, Box::new(lookups));
    for u in users {
        let offset = rng.range(0, plan.tls_period / 2);
        let user = *u;
        let period = plan.tls_period;
        let d = Periodic::every(
            period,
            10,
            plan.end,
            rng.fork(),
            Box::new(move |ctx: &mut Ctx, _s: &mut Script, rng: &mut Rng, n| {
                let (name, ip) = WEB[user.sites[(n as usize) % user.sites.len()]];
                let cfg = tls_config(&host(user.ip), name, ip, ClientProfile::Browser);
                let a = TlsSession::new(cfg, ctx, rng.fork());
                let now = ctx.now;
                ctx.spawn(now, Box::new(a));
            }),
        );
        tl.spawn(plan.start + offset, Box::new(d));
    }
}

/// A PDF-like attachment body of `len` bytes.
pub fn pdf(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n".to_vec();
    v.extend_from_slice(&rng.bytes(len.saturating_sub(9)));
    v
}

/// A mail from a user to one or two of their usual external recipients, with a PDF.
pub fn user_mail_config(u: &User, rng: &mut Rng) -> MailConfig {
    let mut rcpts = vec![rng.pick(u.mails_to).to_string()];
    if u.mails_to.len() > 1 && rng.chance(0.3) {
        let other = rng.pick(u.mails_to).to_string();
        if other != rcpts[0] {
            rcpts.push(other);
        }
    }
    let n = rng.range(1000, 9999);
    let pdf_len = rng.range(1_200, 2_400) as usize;
    let from = address(u);
    MailConfig {
        client: host(u.ip),
        server: host(MAIL),
        server_name: "mail.halvorsen.example".into(),
        helo: format!("ws{}.halvorsen.example", u.ip[3]),
        mail_from: from.clone(),
        rcpt_to: rcpts.clone(),
        message: Message {
            from,
            to: rcpts,
            cc: Vec::new(),
            subject: format!("Document {n}"),
            text: vec![
                "Hello,".into(),
                String::new(),
                "please find the document attached. The ERP entry is".into(),
                format!("https://erp.halvorsen-cloud.example/doc/{n}"),
                String::new(),
                "Best regards".into(),
            ],
            attachments: vec![Attachment {
                name: format!("document-{n}.pdf"),
                content_type: "application/pdf".into(),
                body: pdf(rng, pdf_len),
            }],
        },
        pipelining: false,
    }
}

fn user_mail(tl: &mut Timeline, plan: &Plan, rng: &mut Rng) {
    for u in USERS[..plan.users.min(USERS.len())]
        .iter()
        .filter(|u| !u.mails_to.is_empty())
    {
        let user = *u;
        // The first mail within the first half hour, so every sender is learned.
        let first = plan.start + rng.range(MIN, 30 * MIN);
        let d = Periodic::poisson(
            plan.user_mail_gap,
            plan.end,
            rng.fork(),
            Box::new(move |ctx: &mut Ctx, _s: &mut Script, rng: &mut Rng, _n| {
                let cfg = user_mail_config(&user, rng);
                let a = Mail::boxed(cfg, ctx, rng.fork());
                let now = ctx.now;
                ctx.spawn(now, a);
            }),
        );
        tl.spawn(first, Box::new(d));
    }
}

/// A mail from a correspondent to one or two users.
pub fn inbound_config(
    c: &Correspondent,
    text: Vec<String>,
    subject: &str,
    rng: &mut Rng,
) -> MailConfig {
    let mut rcpts = vec![address(rng.pick(USERS))];
    if rng.chance(0.3) {
        let other = address(rng.pick(USERS));
        if other != rcpts[0] {
            rcpts.push(other);
        }
    }
    MailConfig {
        client: host(c.mta),
        server: host(MAIL),
        server_name: "mail.halvorsen.example".into(),
        helo: c.mta_name.into(),
        mail_from: c.sender.into(),
        rcpt_to: rcpts.clone(),
        message: Message {
            from: c.sender.into(),
            to: rcpts,
            cc: Vec::new(),
            subject: subject.into(),
            text,
            attachments: Vec::new(),
        },
        pipelining: true,
    }
}

fn inbound_mail(tl: &mut Timeline, start: Micros, end: Micros, gap: Micros, rng: &mut Rng) {
    fn mail(c: &Correspondent, ctx: &mut Ctx, rng: &mut Rng) {
        let k = rng.range(100, 999);
        let text = vec![
            "Dear colleague,".into(),
            String::new(),
            format!("reference {k}: the details are available at"),
            format!("{}/{k}", c.url),
            String::new(),
            "Kind regards".into(),
        ];
        let cfg = inbound_config(c, text, &format!("Reference {k}"), rng);
        let a = Mail::boxed(cfg, ctx, rng.fork());
        let now = ctx.now;
        ctx.spawn(now, a);
    }
    // Every correspondent writes once in the first hour (so each is learned), then at random.
    let first_round = Periodic::every(
        8 * MIN,
        20,
        start + 2 * MIN + CORRESPONDENTS.len() as Micros * 8 * MIN - MIN,
        rng.fork(),
        Box::new(move |ctx: &mut Ctx, _s: &mut Script, rng: &mut Rng, n| {
            if let Some(c) = CORRESPONDENTS.get(n as usize) {
                mail(c, ctx, rng);
            }
        }),
    );
    tl.spawn(start + 2 * MIN, Box::new(first_round));
    let d = Periodic::poisson(
        gap,
        end,
        rng.fork(),
        Box::new(move |ctx: &mut Ctx, _s: &mut Script, rng: &mut Rng, _n| {
            let c = *rng.pick(CORRESPONDENTS);
            mail(&c, ctx, rng);
        }),
    );
    tl.spawn(start + 55 * MIN, Box::new(d));
}

/// Register values a PLC reports: a slowly moving process image.
fn process_image(seed: u64, t: Micros, n: u16) -> Vec<u16> {
    (0..n)
        .map(|i| {
            let base = 1000 + (seed.wrapping_mul(31).wrapping_add(u64::from(i) * 97) % 2000);
            (base + (t / (7 * SEC) + u64::from(i)) % 40) as u16
        })
        .collect()
}

/// HMI-1's poll of PLC-1 over one connection: holding registers 0–9 every cycle, and a
/// set-point write now and then (FC 6 in 100–199, FC 16 to the recipe blocks 210–250 and
/// 260–290; each forced in the first minutes so all are learned).
pub fn hmi1(tl: &mut Timeline, from: Micros, until: Micros, period: Micros, rng: &mut Rng) {
    let mut tid = rng.next_u16();
    let writes_every = (20 * MIN / period).max(1);
    let ctx = tl.ctx();
    let a = PollLoop::new(
        &host(HMI1),
        &host(PLC1),
        502,
        period,
        until,
        ctx,
        rng.fork(),
        Box::new(move |n, t, rng: &mut Rng| {
            let mut v = Vec::with_capacity(2);
            tid = tid.wrapping_add(1);
            v.push((
                modbus_adu(tid, 1, &modbus_read(3, 0, 10)),
                modbus_adu(tid, 1, &modbus_registers(3, &process_image(1, t, 10))),
            ));
            // 0: FC 6 to a set-point in 100-199; 1, 2: FC 16 to the recipe blocks at 210-250
            // and 260-290.
            let write = match n {
                5 => Some(0),
                9 => Some(1),
                13 => Some(2),
                _ if n > 13 && n % writes_every == writes_every / 2 => Some(rng.below(3)),
                _ => None,
            };
            if let Some(kind) = write {
                tid = tid.wrapping_add(1);
                if kind == 0 {
                    let mut pdu = vec![6];
                    pdu.extend_from_slice(&(rng.range(100, 199) as u16).to_be_bytes());
                    pdu.extend_from_slice(&(rng.range(0, 900) as u16).to_be_bytes());
                    v.push((modbus_adu(tid, 1, &pdu), modbus_adu(tid, 1, &pdu)));
                } else {
                    let addr = if kind == 1 {
                        rng.range(210, 250)
                    } else {
                        rng.range(260, 290)
                    } as u16;
                    let (req, resp) = modbus_write_multiple(addr, &[rng.range(0, 900) as u16; 3]);
                    v.push((modbus_adu(tid, 1, &req), modbus_adu(tid, 1, &resp)));
                }
            }
            v
        }),
    );
    tl.spawn(from, Box::new(a));
}

/// HMI-2's poll of PLC-2: one short connection per poll (holding registers 0–19, coils 0–15).
fn hmi2(tl: &mut Timeline, start: Micros, end: Micros, period: Micros, rng: &mut Rng) {
    let d = Periodic::every(
        period,
        2,
        end,
        rng.fork(),
        Box::new(move |ctx: &mut Ctx, _s: &mut Script, rng: &mut Rng, _n| {
            let tid = rng.next_u16();
            let t = ctx.now;
            let msgs = vec![
                Msg::c(0, modbus_adu(tid, 1, &modbus_read(3, 0, 20))),
                Msg::s(
                    2_000,
                    modbus_adu(tid, 1, &modbus_registers(3, &process_image(2, t, 20))),
                ),
                Msg::c(
                    300,
                    modbus_adu(tid.wrapping_add(1), 1, &modbus_read(1, 0, 16)),
                ),
                Msg::s(
                    2_000,
                    modbus_adu(tid.wrapping_add(1), 1, &modbus_bits(1, 16, t / (13 * SEC))),
                ),
            ];
            let cfg = ConvConfig::new(&host(HMI2), &host(PLC2), 502, Kind::Modbus, msgs);
            let a = Conversation::boxed(cfg, ctx, rng.fork());
            ctx.spawn(t, a);
        }),
    );
    tl.spawn(start + 7 * SEC, Box::new(d));
}

/// An SRTP session from `client` to GE1: init, then `requests`, each answered; returns the
/// messages. `status` is GE1's status word for the replies.
pub fn srtp_session(requests: &[(Vec<u8>, Vec<u8>)]) -> Vec<Msg> {
    let mut m = vec![Msg::c(0, srtp_init()), Msg::s(3_000, srtp_init_ack())];
    for (req, resp) in requests {
        m.push(Msg::c(2_000, req.clone()));
        m.push(Msg::s(4_000, resp.clone()));
    }
    m
}

/// The engineering workstation's routine: every 10 minutes an SRTP session reading GE1's
/// registers (and its controller id hourly); every 10 minutes an SLMP batch read of the MELSEC
/// CPU (its model every 30 minutes); every 30 minutes a MELSOFT monitor session; every 30
/// minutes Modbus device identification of PLC-1 and PLC-2 (asset inventory).
fn ews(tl: &mut Timeline, plan: &Plan, rng: &mut Rng) {
    let p = plan.clone();
    let d = Periodic::every(
        10 * MIN,
        3,
        plan.end,
        rng.fork(),
        Box::new(move |ctx: &mut Ctx, _s: &mut Script, rng: &mut Rng, n| {
            let t = ctx.now;
            let ews = host(EWS);
            // GE1 over SRTP.
            let st = p.ge1_status(t);
            let seq = (n * 8) as u16;
            let mut reqs = vec![
                (
                    srtp_request(seq + 1, 0x04, 0x08, 0, 32),
                    srtp_ack_text(seq + 1, &rng.bytes(64), st),
                ),
                (
                    srtp_request(seq + 2, 0x04, 0x0A, 0, 16),
                    srtp_ack_text(seq + 2, &rng.bytes(32), st),
                ),
            ];
            if n % 6 == 0 {
                let (a, b, c) = GE1_ID;
                reqs.push((
                    srtp_request(seq + 3, 0x43, 0x00, 0, 0),
                    srtp_ack_text(seq + 3, &srtp_controller_id(a, b, c), st),
                ));
            }
            let cfg = ConvConfig::new(
                &ews,
                &host(GE1),
                SRTP_PORT,
                Kind::Modbus,
                srtp_session(&reqs),
            );
            let a = Conversation::boxed(cfg, ctx, rng.fork());
            ctx.spawn(t, a);
            // MELSEC over SLMP.
            let mut msgs = vec![
                Msg::c(0, slmp_batch_read(SLMP_DEVICE_D, 100, 20)),
                Msg::s(3_000, slmp_response(0, &rng.bytes(40))),
            ];
            if n % 3 == 0 {
                let (name, code) = match p.melsec_model_change {
                    Some((at, name, code)) if t >= at => (name, code),
                    _ => MELSEC_MODEL,
                };
                msgs.push(Msg::c(2_000, slmp_request(SLMP_READ_CPU_MODEL, 0, &[])));
                msgs.push(Msg::s(3_000, slmp_cpu_model(name, code)));
            }
            let cfg = ConvConfig::new(&ews, &host(MELSEC), SLMP_PORT, Kind::Modbus, msgs);
            let a = Conversation::boxed(cfg, ctx, rng.fork());
            ctx.spawn(t + 20 * SEC, a);
            if n % 3 == 1 {
                // MELSOFT monitor session.
                let s0 = (n * 4) as u16;
                let (name, code) = match p.melsec_model_change {
                    Some((at, name, code)) if t >= at => (name, code),
                    _ => MELSEC_MODEL,
                };
                let mut model = name.as_bytes().to_vec();
                model.resize(16, b' ');
                model.extend_from_slice(&code.to_le_bytes());
                let msgs = vec![
                    Msg::c(0, melsoft_request(s0, MELSOFT_OPEN_INITIAL, &[0, 0])),
                    Msg::s(3_000, melsoft_response(s0, MELSOFT_OPEN_INITIAL, 0, &model)),
                    Msg::c(
                        5_000,
                        melsoft_request(s0 + 1, MELSOFT_MEMORY_READ, &[0xA8, 0, 100, 0, 10, 0]),
                    ),
                    Msg::s(
                        3_000,
                        melsoft_response(s0 + 1, MELSOFT_MEMORY_READ, 0, &rng.bytes(20)),
                    ),
                ];
                let cfg = ConvConfig::new(&ews, &host(MELSEC), MELSOFT_PORT, Kind::Modbus, msgs);
                let a = Conversation::boxed(cfg, ctx, rng.fork());
                ctx.spawn(t + 40 * SEC, a);
            }
            if n % 3 == 2 {
                // Asset inventory over Modbus FC 43/14.
                for (i, (plc, id)) in [(PLC1, PLC1_ID), (PLC2, PLC2_ID)].into_iter().enumerate() {
                    let rev = match p.plc1_revision_change {
                        Some((at, r)) if plc == PLC1 && t >= at => r,
                        _ => id.2,
                    };
                    let tid = rng.next_u16();
                    let msgs = vec![
                        Msg::c(0, modbus_adu(tid, 1, &modbus_device_id_request())),
                        Msg::s(
                            3_000,
                            modbus_adu(tid, 1, &modbus_device_id_response(id.0, id.1, rev)),
                        ),
                    ];
                    let cfg = ConvConfig::new(&ews, &host(plc), 502, Kind::Modbus, msgs);
                    let a = Conversation::boxed(cfg, ctx, rng.fork());
                    ctx.spawn(t + 60 * SEC + i as Micros * 5 * SEC, a);
                }
            }
        }),
    );
    tl.spawn(plan.start + 90 * SEC, Box::new(d));
}

/// GE1 produces EGD exchange 1 to GE2 every `period`.
fn egd(tl: &mut Timeline, plan: &Plan, period: Micros, rng: &mut Rng) {
    let change = plan.egd_signature_change;
    let d = Periodic::every(
        period,
        0,
        plan.end,
        rng.fork(),
        Box::new(move |ctx: &mut Ctx, s: &mut Script, rng: &mut Rng, n| {
            let t = ctx.now;
            let sig = match change {
                Some((at, sig)) if t >= at => sig,
                _ => EGD_SIGNATURE,
            };
            let data: Vec<u8> = process_image(11, t, 16)
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            let p = egd_production(
                n as u16,
                GE1,
                EGD_EXCHANGE,
                (t / SEC) as u32,
                ((t % SEC) * 1000) as u32,
                sig,
                &data,
            );
            let f = udp_frame(ctx, rng, &host(GE1), &host(GE2), (EGD_PORT, EGD_PORT), &p);
            s.push(t, Kind::Modbus, f);
        }),
    );
    tl.spawn(plan.start + 1_234_567, Box::new(d));
}

/// HMI-3's SLMP poll of the MELSEC CPU: D100–D119 every `period` over one connection.
fn hmi3(tl: &mut Timeline, start: Micros, end: Micros, period: Micros, rng: &mut Rng) {
    let ctx = tl.ctx();
    let a = PollLoop::new(
        &host(HMI3),
        &host(MELSEC),
        SLMP_PORT,
        period,
        end,
        ctx,
        rng.fork(),
        Box::new(move |_n, t, _rng: &mut Rng| {
            let vals: Vec<u8> = process_image(21, t, 20)
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            vec![(
                slmp_batch_read(SLMP_DEVICE_D, 100, 20),
                slmp_response(0, &vals),
            )]
        }),
    );
    tl.spawn(start + 11 * SEC, Box::new(a));
}

/// A CC-Link IE Field Basic master cycling every `period` from `start` to `end`: a cyclic
/// request to the subnet broadcast, answered by the slave (with `end_code`).
pub fn cciefb(
    tl: &mut Timeline,
    start: Micros,
    end: Micros,
    period: Micros,
    master: Ip4,
    end_code: u16,
    rng: &mut Rng,
) {
    let param = if master == CCL_MASTER { 3 } else { 1 };
    let d = Periodic::every(
        period,
        0,
        end,
        rng.fork(),
        Box::new(move |ctx: &mut Ctx, s: &mut Script, rng: &mut Rng, n| {
            let t = ctx.now;
            let seq = n as u16;
            let q = cciefb_request(master, t / 1000, seq, param, &[CCL_SLAVE], (t / SEC) as u16);
            let m = linux_host(master);
            let f = udp_frame(
                ctx,
                rng,
                &m,
                &broadcast_host(CCL_BROADCAST),
                (CCIEFB_PORT, CCIEFB_PORT),
                &q,
            );
            let t = s.push(t, Kind::Modbus, f);
            let r = cciefb_response(CCL_SLAVE, end_code, seq, (t / SEC) as u16);
            let f = udp_frame(
                ctx,
                rng,
                &linux_host(CCL_SLAVE),
                &m,
                (CCIEFB_PORT, CCIEFB_PORT),
                &r,
            );
            s.push(t + rng.range(300, 900), Kind::Modbus, f);
        }),
    );
    tl.spawn(start, Box::new(d));
}
