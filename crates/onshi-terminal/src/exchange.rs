//! The exchange folder: `req` (the receipt computer writes requests), `res` (the terminal
//! answers, same name with `req` → `res`), `face` (results of card confirmations at the
//! reader), and `.terminal` (the terminal's own store and its `terminal.json`, which tells
//! `onshi reader place` where the terminal's API listens).
//!
//! Every file the terminal writes appears whole or not at all: it is written to a hidden
//! temporary file in the same folder, fsynced, renamed into place, and the folder fsynced.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// The folders of one terminal.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub root: PathBuf,
    pub req: PathBuf,
    pub res: PathBuf,
    pub face: PathBuf,
    pub data: PathBuf,
}

impl Exchange {
    pub fn new(root: &Path) -> Self {
        Exchange {
            root: root.to_path_buf(),
            req: root.join("req"),
            res: root.join("res"),
            face: root.join("face"),
            data: root.join(".terminal"),
        }
    }

    /// Creates the folders and removes temporary files a crash may have left.
    pub fn prepare(&self) -> std::io::Result<()> {
        for d in [&self.req, &self.res, &self.face, &self.data] {
            std::fs::create_dir_all(d)?;
        }
        // temporary answer files in res/ belong to the journal (see `Terminal::handle_file`);
        // only the face folder's are swept here
        for d in [&self.face] {
            for e in std::fs::read_dir(d)?.flatten() {
                let n = e.file_name();
                let n = n.to_string_lossy();
                if n.starts_with('.') && n.ends_with(".tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }

    pub fn store_path(&self) -> PathBuf {
        self.data.join("terminal.sqlite")
    }

    pub fn info_path(&self) -> PathBuf {
        self.data.join("terminal.json")
    }
}

/// What `terminal.json` says about a running terminal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TerminalInfo {
    /// base URL of the terminal's HTTP API
    pub api: String,
    pub facility: String,
    pub pid: u32,
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `dir/name` atomically (temp file in the same folder, fsync, rename,
/// fsync of the folder).
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let n = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, dir.join(name))?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Whether a file name in `req` is a request the terminal should answer: `*.xml`, not
/// hidden, with `req` in its name (so the answer's name can be formed).
pub fn is_request_name(name: &str) -> bool {
    !name.starts_with('.')
        && name.len() > 4
        && name.is_char_boundary(name.len() - 4)
        && name[name.len() - 4..].eq_ignore_ascii_case(".xml")
        && name.contains("req")
}

/// The fixed temporary name of the answer `res_name` (one per answer, so that after a crash
/// the terminal can tell whether the answer was already moved into place).
pub fn staging_name(res_name: &str) -> String {
    format!(".{res_name}.tmp")
}

/// Writes the staging file of an answer and fsyncs it.
pub fn stage(dir: &Path, res_name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let tmp = dir.join(staging_name(res_name));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(tmp)
}

/// Moves a staged answer into place and fsyncs the folder.
pub fn publish(dir: &Path, res_name: &str) -> std::io::Result<()> {
    std::fs::rename(dir.join(staging_name(res_name)), dir.join(res_name))?;
    File::open(dir)?.sync_all()
}
