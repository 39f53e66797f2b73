//! `onshi openapi` prints the checked-in OpenAPI documents: the central's
//! (`docs/api/openapi.json`) and, with `--desk`, the desk's (`docs/api/desk-openapi.json`).
//! After a change to either API the file is written again from this output and the diff
//! reviewed.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_onshi");

fn printed(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().expect("onshi runs");
    assert!(
        out.status.success(),
        "onshi {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn onshi_openapi_prints_the_checked_in_central_document() {
    let printed = printed(&["openapi"]);
    assert!(
        printed == include_str!("../../../docs/api/openapi.json"),
        "docs/api/openapi.json is not what `onshi openapi` prints: \
         run `cargo run -p onshi -- openapi > docs/api/openapi.json` and review the change"
    );
}

#[test]
fn onshi_openapi_desk_prints_the_checked_in_desk_document() {
    let printed = printed(&["openapi", "--desk"]);
    assert!(
        printed == include_str!("../../../docs/api/desk-openapi.json"),
        "docs/api/desk-openapi.json is not what `onshi openapi --desk` prints: \
         run `cargo run -p onshi -- openapi --desk > docs/api/desk-openapi.json` and review the change"
    );
    let doc: serde_json::Value = serde_json::from_str(&printed).expect("JSON");
    assert_eq!(doc["info"]["title"], "onshi desk API");
    assert!(doc["paths"]["/desk/api/claims/{month}/close"]["post"].is_object());
}
