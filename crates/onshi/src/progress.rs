//! Progress for long commands: a progress bar on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

pub enum Progress {
    Bar(ProgressBar),
    Lines {
        what: &'static str,
        total: Option<u64>,
        last: Instant,
        n: u64,
    },
}

impl Progress {
    pub fn new(what: &'static str, total: Option<u64>) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = match total {
                Some(t) => ProgressBar::new(t),
                None => ProgressBar::new_spinner(),
            };
            let tmpl = if total.is_some() {
                "{prefix} [{bar:40}] {pos}/{len} ({per_sec}, {eta})"
            } else {
                "{prefix} {spinner} {pos} rows ({per_sec})"
            };
            if let Ok(style) = ProgressStyle::with_template(tmpl) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(what);
            Progress::Bar(bar)
        } else {
            Progress::Lines {
                what,
                total,
                last: Instant::now(),
                n: 0,
            }
        }
    }

    pub fn set(&mut self, n: u64) {
        match self {
            Progress::Bar(b) => b.set_position(n),
            Progress::Lines {
                what,
                total,
                last,
                n: cur,
            } => {
                *cur = n;
                if last.elapsed() >= Duration::from_secs(2) {
                    *last = Instant::now();
                    match total {
                        Some(t) => eprintln!("{what}: {n}/{t}"),
                        None => eprintln!("{what}: {n} rows"),
                    }
                }
            }
        }
    }

    pub fn finish(self) {
        match self {
            Progress::Bar(b) => b.finish(),
            Progress::Lines { what, n, .. } => eprintln!("{what}: done ({n})"),
        }
    }
}
