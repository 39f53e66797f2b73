//! ARCHITECTURE.md stays true: its table "Crate dependencies" lists, for every crate of the
//! workspace, exactly the onshi crates its `Cargo.toml` depends on (normal dependencies; test
//! and dev dependencies are not arrows of the codemap).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The onshi crates in the `[dependencies]` table of a manifest.
fn manifest_deps(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut in_deps = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_deps = t == "[dependencies]";
            continue;
        }
        if in_deps
            && t.starts_with("onshi")
            && let Some((name, _)) = t.split_once('=')
        {
            out.insert(name.trim().to_string());
        }
    }
    out
}

/// The table rows `| onshi-x | onshi-a, onshi-b |` under "## Crate dependencies".
fn documented(arch: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    let Some(start) = arch.find("## Crate dependencies") else {
        return out;
    };
    for line in arch[start..].lines().skip(1) {
        if line.starts_with("## ") {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 3 || !cells[1].trim_matches('`').starts_with("onshi") {
            continue;
        }
        let deps = cells[2]
            .split(',')
            .map(|d| d.trim().trim_matches('`').to_string())
            .filter(|d| d.starts_with("onshi"))
            .collect();
        out.insert(cells[1].trim_matches('`').to_string(), deps);
    }
    out
}

#[test]
fn the_codemap_lists_each_crates_onshi_dependencies_as_the_manifests_have_them() {
    let root = repo();
    let arch = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let doc = documented(&arch);
    let mut actual = BTreeMap::new();
    for entry in std::fs::read_dir(root.join("crates")).expect("crates/") {
        let dir = entry.expect("entry").path();
        let manifest = dir.join("Cargo.toml");
        if !manifest.exists() {
            continue;
        }
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(&manifest).expect("manifest");
        actual.insert(name, manifest_deps(&text));
    }
    assert!(actual.len() >= 10, "the workspace's crates were found");
    let mut wrong = Vec::new();
    for (name, deps) in &actual {
        match doc.get(name) {
            None => wrong.push(format!("{name}: not in the table")),
            Some(d) if d != deps => wrong.push(format!(
                "{name}: ARCHITECTURE.md says {d:?}, Cargo.toml has {deps:?}"
            )),
            Some(_) => {}
        }
    }
    for name in doc.keys() {
        if !actual.contains_key(name) {
            wrong.push(format!("{name}: in the table but not a crate"));
        }
    }
    assert!(
        wrong.is_empty(),
        "ARCHITECTURE.md is out of date:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_parsers_read_manifests_and_tables() {
    let m = "[package]\nname = \"x\"\n[dependencies]\nonshi-domain = { workspace = true }\nserde = \"1\"\n[dev-dependencies]\nonshi-web = { workspace = true }\n";
    assert_eq!(
        manifest_deps(m),
        BTreeSet::from(["onshi-domain".to_string()])
    );
    let t = "## Crate dependencies\n| crate | depends on |\n| --- | --- |\n| `onshi-x` | `onshi-a`, `onshi-b` |\n| `onshi-y` | — |\n## Next\n| `onshi-z` | `onshi-a` |\n";
    let d = documented(t);
    assert_eq!(d.len(), 2);
    assert_eq!(d["onshi-x"].len(), 2);
    assert!(d["onshi-y"].is_empty());
}
