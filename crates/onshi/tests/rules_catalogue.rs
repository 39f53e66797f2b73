//! The rules catalogue (docs/rules.md) against the code: every rule it defines is cited by code
//! and named by at least one test (`fn r20_…`), and no code cites a rule id the catalogue does
//! not define. Builds the map rule → code files → tests and prints it on failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") {
            out.push(p);
        }
    }
}

/// `R12` → 12 for every rule id in a text (a capital R, 1–3 digits, not inside a word).
fn cited_ids(text: &str) -> Vec<u32> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'R' && (i == 0 || !b[i - 1].is_ascii_alphanumeric() && b[i - 1] != b'_') {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let digits = j - i - 1;
            let ends = j >= b.len() || !(b[j].is_ascii_alphanumeric() || b[j] == b'_');
            if (1..=3).contains(&digits)
                && ends
                && let Ok(n) = text[i + 1..j].parse()
            {
                out.push(n);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Rule numbers a test function's name carries: `r20_…`, `…_r11_r24_…`, `…_r27`.
fn named_ids(fn_name: &str) -> Vec<u32> {
    fn_name
        .split('_')
        .filter_map(|part| part.strip_prefix('r').and_then(|d| d.parse().ok()))
        .collect()
}

/// The names of the test functions of a file: `fn name` after a `#[test]` / `#[tokio::test…]`
/// attribute, and every fn of a `proptest!` block.
fn test_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = false;
    let mut in_proptest = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("proptest!") {
            in_proptest = true;
        }
        if t.starts_with("#[test]") || t.starts_with("#[tokio::test") {
            pending = true;
            continue;
        }
        if let Some(rest) = t
            .strip_prefix("async fn ")
            .or_else(|| t.strip_prefix("fn "))
            .or_else(|| t.strip_prefix("pub fn "))
        {
            if pending || in_proptest {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
            pending = false;
        }
    }
    out
}

#[test]
fn every_rule_is_cited_in_code_and_named_by_a_test_and_no_code_cites_an_unknown_rule() {
    let root = repo();
    let catalogue =
        std::fs::read_to_string(root.join("docs/rules.md")).expect("docs/rules.md is there");
    let defined: BTreeSet<u32> = catalogue
        .lines()
        .filter_map(|l| l.strip_prefix("| R"))
        .filter_map(|l| l.split(' ').next())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert_eq!(
        defined,
        (1..=27).collect::<BTreeSet<u32>>(),
        "docs/rules.md defines R1 … R27, each once in a table row"
    );

    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    assert!(files.len() > 50, "the crates were found: {}", files.len());
    let mut code: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    let mut tests: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let rel = f
            .strip_prefix(&root)
            .unwrap_or(f)
            .to_string_lossy()
            .to_string();
        if rel.ends_with("rules_catalogue.rs") {
            continue;
        }
        for n in cited_ids(&text) {
            if defined.contains(&n) {
                code.entry(n).or_default().insert(rel.clone());
            } else {
                unknown.push(format!("{rel}: R{n}"));
            }
        }
        for name in test_names(&text) {
            for n in named_ids(&name) {
                tests.entry(n).or_default().insert(format!("{rel}::{name}"));
            }
        }
    }
    let mut report = String::new();
    for n in &defined {
        report.push_str(&format!(
            "R{n}: {} file(s) cite it, {} test(s) name it\n",
            code.get(n).map_or(0, |s| s.len()),
            tests.get(n).map_or(0, |s| s.len())
        ));
    }
    let uncited: Vec<u32> = defined
        .iter()
        .copied()
        .filter(|n| !code.contains_key(n))
        .collect();
    let untested: Vec<u32> = defined
        .iter()
        .copied()
        .filter(|n| !tests.contains_key(n))
        .collect();
    assert!(
        unknown.is_empty(),
        "code cites rule ids docs/rules.md does not define: {unknown:?}"
    );
    assert!(
        uncited.is_empty(),
        "rules no code cites: {uncited:?}\n{report}"
    );
    assert!(
        untested.is_empty(),
        "rules no test names (fn r<N>_…): {untested:?}\n{report}"
    );
}

#[test]
fn the_scanners_read_ids_as_meant() {
    assert_eq!(
        cited_ids("R1, R20 and (R27); OQSR5 x_R3 R1000 R"),
        [1, 20, 27]
    );
    assert_eq!(named_ids("r11_r24_a_patient_over_70"), [11, 24]);
    assert_eq!(named_ids("browser_walkthrough_r2_r3"), [2, 3]);
    assert!(named_ids("rare_case").is_empty());
    let names = test_names(
        "#[test]\nfn r5_x() {}\nfn helper() {}\n#[tokio::test(flavor = \"multi_thread\")]\nasync fn r6_y() {}\n",
    );
    assert_eq!(names, ["r5_x", "r6_y"]);
}
