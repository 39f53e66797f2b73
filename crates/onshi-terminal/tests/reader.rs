//! The emulated reader at the terminal: identity (R1–R3, R15), consents, face files and the
//! terminal's confirmation history (R6), against a real central and a real terminal process.

mod common;

use common::*;
use onshi_formats::terminal_xml::face::parse_face_file_name;
use onshi_formats::terminal_xml::siquc01::QualificationResponse;
use serde_json::{Value, json};

fn face_file(dir: &std::path::Path, v: &Value) -> QualificationResponse {
    let name = v["face_file"].as_str().expect("a face file");
    assert!(parse_face_file_name(name).is_some(), "{name}");
    let b = std::fs::read(exchange(dir).face.join(name)).unwrap();
    QualificationResponse::read(&b).unwrap().1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_r5_r6_face_confirmations_land_in_the_face_folder_and_history() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    for (serial, validity) in [
        ("C0001", "1"),
        ("C0003", "2"),
        ("C0004", "4"),
        ("C0009", "1"),
        ("C0011", "5"),
    ] {
        let (s, v) = place(
            &t,
            json!({"card_serial": serial, "face": "ok", "confirmation_date": "2026-11-25",
            "consent": {"limit": true, "drug": true, "diagnosis": true}}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["outcome"], "confirmed", "{v}");
        assert_eq!(v["qualification_validity"], validity, "{serial}");
        let f = face_file(dir.path(), &v);
        assert_eq!(f.header.reference_classification.as_deref(), Some("1"));
        assert_eq!(f.header.segment_of_result, "1");
        assert_eq!(f.body.qualification_validity.as_deref(), Some(validity));
        if let Some(e) = f.body.results.first() {
            assert_eq!(e.consents.pharmacists_info_cons_flg.as_deref(), Some("1"));
            assert_eq!(
                e.consents.specific_health_checkups_info_cons_flg.as_deref(),
                Some("0")
            );
            assert_eq!(e.consents.diagnosis_info_cons_flg.as_deref(), Some("1"));
            assert_eq!(
                e.limit_consent
                    .limit_application_certificate_related_cons_flg
                    .as_deref(),
                Some("1")
            );
        }
    }
    // R6: the lost qualification's old numbers stay in the terminal's history
    let (_, h) = t.get_json("/v1/history?birthdate=19851111").await;
    let row = &h["confirmations"][0];
    assert_eq!(row["validity"], "2", "{h}");
    assert_eq!(row["insurer_number"], c.fx.kumiai.as_str());
    assert_eq!(row["insured_card_symbol"], "77");
    assert_eq!(row["insured_identification_number"], "3001");
    assert_eq!(row["disqualification_date"], "20261001");
    assert_eq!(row["consents"]["drug"], true);
    // listable by date and patient (kana in any width)
    let (_, h) = t.get_json("/v1/history?from=2026-11-25&to=20261125&kana=%E3%81%9F%E3%81%AA%E3%81%8B%20%E3%81%9F%E3%82%8D%E3%81%86").await;
    assert_eq!(h["confirmations"].as_array().unwrap().len(), 1, "{h}");
    let (s, _) = t.get_json("/v1/history?from=2026-13-01").await;
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r15_r3_face_failure_then_visual_confirmation_records_the_staff_member() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let (_, v) = place(&t, json!({"card_serial": "C0002", "face": "fail", "visual_staff_id": "受付02", "confirmation_date": "2026-11-25"})).await;
    assert_eq!(v["outcome"], "confirmed", "{v}");
    assert_eq!(v["attempts"][0]["result"], "face_mismatch");
    assert_eq!(v["attempts"][1]["method"], "visual");
    assert_eq!(v["attempts"][1]["result"], "ok");
    let (_, h) = t.get_json("/v1/history?limit=1").await;
    assert_eq!(h["confirmations"][0]["staff_id"], "受付02");
    assert_eq!(h["confirmations"][0]["identity_method"], "visual");
    // visual without a staff id is refused before anything happens (R3)
    let (s, v) = place(&t, json!({"card_serial": "C0002", "visual_staff_id": " "})).await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["field"], "visual_staff_id");
    // face failure alone: refused, no face file
    let (_, v) = place(&t, json!({"card_serial": "C0001", "face": "fail"})).await;
    assert_eq!(v["outcome"], "refused");
    assert!(v["face_file"].is_null());
    assert_eq!(v["error_code"], "3008");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_card_error_class_at_the_reader() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let day = "2026-11-25";
    let cases = [
        (
            json!({"card_serial": "C0001", "pin": "0000", "confirmation_date": day}),
            "refused",
            "pin_wrong",
            "3006",
        ),
        (
            json!({"card_serial": "C0010", "pin": "8888", "confirmation_date": day}),
            "refused",
            "pin_locked",
            "3007",
        ),
        (
            json!({"card_serial": "C0002", "pin": "1234", "confirmation_date": day}),
            "refused",
            "pin_not_set",
            "3005",
        ),
        (
            json!({"card_serial": "C0005", "face": "ok", "confirmation_date": "2026-12-01"}),
            "error",
            "certificate_expired",
            "3004",
        ),
        (
            json!({"card_serial": "C0006", "face": "ok", "confirmation_date": day}),
            "error",
            "card_revoked",
            "3002",
        ),
        (
            json!({"card_serial": "NOPE", "face": "ok", "confirmation_date": day}),
            "error",
            "card_unknown",
            "3001",
        ),
    ];
    for (body, outcome, class, code) in cases {
        let (s, v) = place(&t, body.clone()).await;
        assert_eq!(s, 200);
        assert_eq!(v["outcome"], outcome, "{body} → {v}");
        assert_eq!(
            v["attempts"].as_array().unwrap().last().unwrap()["result"],
            class,
            "{v}"
        );
        assert_eq!(v["error_code"], code);
        assert_eq!(v["segment_of_result"], "9");
        if outcome == "error" {
            // the card-level refusal is a face file with 異常終了 too
            let f = face_file(dir.path(), &v);
            assert_eq!(f.header.error_code.as_deref(), Some(code));
            assert_eq!(f.body.processing_result_status, "2");
        } else {
            assert!(v["face_file"].is_null());
        }
    }
    // 3 wrong PINs lock; then face still works (R15)
    for _ in 0..2 {
        place(
            &t,
            json!({"card_serial": "C0001", "pin": "0000", "confirmation_date": day}),
        )
        .await;
    }
    let (_, v) = place(
        &t,
        json!({"card_serial": "C0001", "pin": "1234", "face": "ok", "confirmation_date": day}),
    )
    .await;
    assert_eq!(v["outcome"], "confirmed", "{v}");
    // grace: usable until the end of the 3rd month after expiry
    let (_, v) = place(
        &t,
        json!({"card_serial": "C0005", "face": "ok", "confirmation_date": "2026-11-30"}),
    )
    .await;
    assert_eq!(v["qualification_validity"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_reader_place_exits_nonzero_on_refusal_and_history_lists() {
    let c = start_central().await;
    let dir = tempfile::tempdir().unwrap();
    let t = start_terminal(&c, dir.path(), &[]);
    let bin = env!("CARGO_BIN_EXE_onshi-terminal");
    let run = |args: &[&str]| {
        let d = t.dir.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        std::thread::spawn(move || {
            std::process::Command::new(bin)
                .args(&args[..2])
                .arg("--exchange")
                .arg(&d)
                .args(&args[2..])
                .output()
                .unwrap()
        })
        .join()
        .unwrap()
    };
    let ok = run(&[
        "reader",
        "place",
        "--card",
        "C0003",
        "--face",
        "ok",
        "--date",
        "2026-11-25",
        "--consent",
        "drug,limit",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        out.contains("無効") && out.contains("喪失 20261001"),
        "{out}"
    );
    let bad = run(&["reader", "place", "--card", "C0002", "--pin", "1234"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("pin"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let h = run(&["terminal", "history", "--from", "2026-11-25"]);
    let out = String::from_utf8_lossy(&h.stdout);
    assert!(
        out.contains("旧 保険者番号") && out.contains("3001"),
        "{out}"
    );
}
