//! Reads a UKE file, lists every error, and checks that writing what was read gives the same
//! bytes back.
//!
//! `cargo run -p onshi-formats --example uke_check -- FILE.UKE`

use std::io::BufReader;
use std::process::ExitCode;

use onshi_formats::uke::UkeFile;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: uke_check FILE.UKE");
        return ExitCode::from(2);
    };
    let original = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    match UkeFile::read(BufReader::new(file)) {
        Err(errors) => {
            for e in errors.iter() {
                println!("{path}: {e}");
            }
            println!("{} errors", errors.len());
            ExitCode::FAILURE
        }
        Ok(uke) => {
            let records: usize = uke.claims.iter().map(|c| c.body().len() + 1).sum();
            println!(
                "{path}: {} claims, {} records in claims, GO {} parts / {} points, 0x1A at the end: {}",
                uke.claims.len(),
                records,
                uke.go.total_count,
                uke.go.total_points,
                uke.eof_mark
            );
            match uke.to_bytes() {
                Ok(back) if back == original => {
                    println!("written back: identical ({} bytes)", back.len());
                    ExitCode::SUCCESS
                }
                Ok(back) => {
                    let at = back
                        .iter()
                        .zip(&original)
                        .position(|(a, b)| a != b)
                        .unwrap_or(back.len().min(original.len()));
                    println!(
                        "written back: DIFFERENT ({} vs {} bytes, first difference at byte {at})",
                        back.len(),
                        original.len()
                    );
                    ExitCode::FAILURE
                }
                Err(e) => {
                    println!("write failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
