//! The EVE writer thread: the only code that touches the output file.

use crossbeam_channel::Receiver;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Where EVE lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EveTarget {
    /// Standard output (`--eve -`).
    Stdout,
    /// A file, opened for append so that logrotate's copytruncate and a
    /// reopen on SIGHUP both work.
    File(PathBuf),
    /// Discard (benchmarks).
    Null,
}

impl EveTarget {
    /// `-` means stdout, anything else a file path.
    pub fn parse(s: &str) -> EveTarget {
        if s == "-" {
            EveTarget::Stdout
        } else {
            EveTarget::File(PathBuf::from(s))
        }
    }
}

/// What the writer did.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriterStats {
    /// Lines written.
    pub lines: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Times the file was reopened (SIGHUP).
    pub reopens: u64,
}

fn open(target: &EveTarget, truncate: bool) -> io::Result<Box<dyn Write + Send>> {
    Ok(match target {
        EveTarget::Stdout => Box::new(io::stdout()),
        EveTarget::Null => Box::new(io::sink()),
        EveTarget::File(p) => {
            let f: File = if truncate {
                OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(true)
                    .open(p)?
            } else {
                OpenOptions::new().create(true).append(true).open(p)?
            };
            Box::new(f)
        }
    })
}

/// Opens the target for a new run (a replay truncates an existing file; live
/// capture appends).
pub fn open_target(target: &EveTarget, truncate: bool) -> io::Result<Box<dyn Write + Send>> {
    open(target, truncate)
}

/// Runs the writer loop until every sender is gone. `reopen` is set by the
/// SIGHUP handler; the file is then reopened (append) before the next write.
pub fn run(
    target: EveTarget,
    first: Box<dyn Write + Send>,
    rx: Receiver<Vec<u8>>,
    reopen: Arc<AtomicBool>,
) -> io::Result<WriterStats> {
    run_with_spares(target, first, rx, reopen, None)
}

/// Like [`run`], and hands each written buffer back through `spares` (when
/// there is room) so workers reuse warm memory instead of faulting in fresh
/// pages for every output buffer.
pub fn run_with_spares(
    target: EveTarget,
    first: Box<dyn Write + Send>,
    rx: Receiver<Vec<u8>>,
    reopen: Arc<AtomicBool>,
    spares: Option<crossbeam_channel::Sender<Vec<u8>>>,
) -> io::Result<WriterStats> {
    let mut out = BufWriter::with_capacity(1 << 20, first);
    let mut st = WriterStats::default();
    for chunk in rx.iter() {
        if reopen.swap(false, Ordering::Relaxed) {
            out.flush()?;
            out = BufWriter::with_capacity(1 << 20, open(&target, false)?);
            st.reopens += 1;
        }
        st.lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        st.bytes += chunk.len() as u64;
        out.write_all(&chunk)?;
        if let Some(sp) = &spares {
            let mut chunk = chunk;
            chunk.clear();
            let _ = sp.try_send(chunk);
        }
        // Nothing more waiting: hand what is buffered to the file, so that a
        // live capture's records show up while it runs (`tail -f`, shippers).
        if rx.is_empty() {
            out.flush()?;
        }
    }
    out.flush()?;
    Ok(st)
}
