//! `onshi assess` (the binary) and the desk engine give the same decision for the same
//! situation, and the examples of docs/formats/assess.md — one per path of annex 1 — show what
//! both give (golden file). `ONSHI_BLESS=1 cargo test -p onshi --test assess` rewrites the
//! decisions shown in the document from the engine.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use onshi_domain::desk;
use serde_json::{Value, json};

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/formats/assess.md")
}

/// One example of the document: its name, its situation, and the decision block's text and
/// byte range.
struct Example {
    name: String,
    situation: String,
    decision: String,
    decision_range: (usize, usize),
}

/// Reads the ```json situation / ```json decision blocks, in pairs, under `### \`name\``.
fn examples(doc: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut name = String::new();
    let mut situation: Option<String> = None;
    let mut offset = 0;
    let mut lines = doc.split_inclusive('\n');
    while let Some(line) = lines.next() {
        offset += line.len();
        let trimmed = line.trim_end();
        if let Some(rest) = trimmed.strip_prefix("### `") {
            name = rest.split('`').next().unwrap_or_default().to_string();
        }
        if trimmed == "```json situation" || trimmed == "```json decision" {
            let start = offset;
            let mut body = String::new();
            for inner in lines.by_ref() {
                if inner.trim_end() == "```" {
                    let end = offset;
                    offset += inner.len();
                    if trimmed.ends_with("situation") {
                        situation = Some(body);
                    } else {
                        out.push(Example {
                            name: name.clone(),
                            situation: situation.take().expect("a situation before its decision"),
                            decision: body,
                            decision_range: (start, end),
                        });
                    }
                    break;
                }
                offset += inner.len();
                body.push_str(inner);
            }
        }
    }
    out
}

/// Runs `onshi assess` with `input` on stdin: exit code and stdout parsed as JSON.
fn run_binary(input: &str) -> (i32, Value, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_onshi"))
        .arg("assess")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn onshi assess");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("onshi assess runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let value: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is JSON ({e}): {stdout}"));
    (
        output.status.code().unwrap_or(-1),
        value,
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

/// What the engine gives, in the binary's output shape.
fn engine(input: &str) -> (i32, Value) {
    match desk::assess_json(input) {
        Ok(decision) => (0, serde_json::to_value(decision).expect("decision to JSON")),
        Err(e) => (
            2,
            json!({"error": {"field": e.field, "rule": e.rule, "message": e.message}}),
        ),
    }
}

#[test]
fn every_documented_path_gives_the_same_decision_from_the_binary_the_engine_and_the_doc() {
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).expect("read docs/formats/assess.md");
    let examples = examples(&doc);
    assert!(examples.len() >= 20, "{} examples", examples.len());
    let mut names: Vec<&str> = examples.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), examples.len(), "example names are unique");

    let bless = std::env::var_os("ONSHI_BLESS").is_some();
    let mut blessed = doc.clone();
    for example in examples.iter().rev() {
        let (code, from_engine) = engine(&example.situation);
        assert_eq!(
            code, 0,
            "{}: the engine refused it: {from_engine}",
            example.name
        );
        let (code, from_binary, stderr) = run_binary(&example.situation);
        assert_eq!(code, 0, "{}: {stderr}", example.name);
        assert_eq!(from_binary, from_engine, "{}", example.name);
        if bless {
            let pretty = serde_json::to_string_pretty(&from_engine).expect("pretty") + "\n";
            let (start, end) = example.decision_range;
            blessed.replace_range(start..end, &pretty);
        } else {
            let shown: Value = serde_json::from_str(&example.decision).unwrap_or_else(|e| {
                panic!(
                    "{}: the decision block is not JSON ({e}); run with ONSHI_BLESS=1",
                    example.name
                )
            });
            assert_eq!(
                shown, from_engine,
                "{}: the document shows another decision",
                example.name
            );
        }
    }
    if bless {
        std::fs::write(&path, blessed).expect("rewrite the document");
    }
}

#[test]
fn binary_and_engine_agree_across_the_dated_rules() {
    let doc = std::fs::read_to_string(doc_path()).expect("read docs/formats/assess.md");
    let dates = [
        "2023-07-31",
        "2024-12-01",
        "2024-12-02",
        "2025-09-18",
        "2025-12-01",
        "2025-12-02",
        "2026-03-31",
        "2026-04-01",
    ];
    for example in examples(&doc) {
        let mut situation: Value =
            serde_json::from_str(&example.situation).expect("situation is JSON");
        for date in dates {
            situation["service_date"] = json!(date);
            let input = situation.to_string();
            let (code, from_engine) = engine(&input);
            let (binary_code, from_binary, stderr) = run_binary(&input);
            assert_eq!(binary_code, code, "{} on {date}: {stderr}", example.name);
            assert_eq!(from_binary, from_engine, "{} on {date}", example.name);
        }
    }
}

#[test]
fn bad_input_exits_2_naming_the_field() {
    let cases = [
        (
            r#"{"service_date":"2026-11-25","facility":"clinic","my_number_card":{"status":"shown","pin_set":true,"face":"maybe"}}"#,
            "my_number_card.face",
        ),
        (r#"{"service_date":"2026-11-25"}"#, "(root)"),
        (
            r#"{"service_date":"2026-11-25","facility":"hospital"}"#,
            "facility",
        ),
        (
            r#"{"service_date":"2026-11-25","facility":"clinic","my_number_card":{"status":"shown","pin_set":false},"portal_screen":{"status":"absent"}}"#,
            "portal_screen",
        ),
        (
            r#"{"service_date":"2026-11-25","facility":"clinic","birth_date":"2027-01-01"}"#,
            "birth_date",
        ),
        ("not json at all", "(root)"),
        ("", "(root)"),
    ];
    for (input, field) in cases {
        let (code, out, stderr) = run_binary(input);
        assert_eq!(code, 2, "{input}: {out}");
        assert_eq!(out["error"]["field"], field, "{input}: {out}");
        assert!(stderr.contains(field), "{input}: stderr {stderr}");
        let (engine_code, from_engine) = engine(input);
        assert_eq!((engine_code, &from_engine), (2, &out), "{input}");
    }
}
