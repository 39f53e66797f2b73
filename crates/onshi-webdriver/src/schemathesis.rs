//! schemathesis (from PyPI) against a served OpenAPI document: generated requests for every
//! operation (examples, coverage, fuzzing), and the checks that no answer is a server error and
//! every answer is a documented status with the documented content type and schema. Shared by
//! the schemathesis runs of the central and of the desk.
//!
//! schemathesis is installed by `scripts/test` (into `target/tools/venv`); a run fails, not
//! skips, when it is missing. `ONSHI_SCHEMATHESIS` names the program when elsewhere.

use std::path::PathBuf;

/// The checks of every run.
pub const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

/// The schemathesis program: `ONSHI_SCHEMATHESIS`, else the project's virtual environment
/// (`target/tools/venv`), else `schemathesis` on the PATH.
pub fn program() -> PathBuf {
    if let Some(p) = std::env::var_os("ONSHI_SCHEMATHESIS") {
        return p.into();
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/tools/venv/bin/schemathesis");
    if venv.exists() {
        return venv;
    }
    "schemathesis".into()
}

/// One run against the document at `document_url`, sending requests to `base` with `headers`
/// (`"Name: value"`) and any further arguments (`--include-tag …`). Blocking; panics with
/// schemathesis' report when it finds a problem or cannot be run.
pub fn run(document_url: &str, base: &str, headers: &[String], extra: &[&str]) {
    let program = program();
    // schemathesis keeps a cache in its working folder: a temporary one, not the checkout.
    // One worker: with two, its test-case generator has failed with an internal error
    // (hypothesis's AST cache shared between threads), which says nothing of the server.
    let work = tempfile::tempdir().expect("a temporary folder");
    let mut cmd = std::process::Command::new(&program);
    cmd.current_dir(work.path())
        .arg("run")
        .arg(document_url)
        .args(["--url", base]);
    for h in headers {
        cmd.args(["--header", h]);
    }
    let out = cmd
        .args(["--checks", CHECKS])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", "25", "--workers", "1", "--max-time", "60"])
        .args(["--seed", "20261202", "--no-color"])
        .args(extra)
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} could not be run ({e}): scripts/test installs schemathesis from PyPI",
                program.display()
            )
        });
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // the report, shown with `--nocapture`
    println!("{text}");
    assert!(
        out.status.success(),
        "schemathesis found problems ({}):\n{text}",
        out.status
    );
}
