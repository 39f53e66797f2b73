//! Intake by folder: the same all-or-nothing intake as the API, an answer beside each file,
//! the UKE file removed once taken (it carries 申立書 details, R27).

#[macro_use]
mod common;

use common::*;
use onshi_payer::folder::scan_once;
use onshi_payer::model::PayerCode;

on_both!(
    folder_intake_answers_each_file_once_and_keeps_nothing_of_a_refused_one,
    a_batch_accepts_and_refuses_each_file_on_its_own_with_one_commit,
);

fn folder_intake_answers_each_file_once_and_keeps_nothing_of_a_refused_one(w: World) {
    let inbox = w._dir.path().join("inbox");
    let dir = inbox.join("1").join(FACILITY);
    std::fs::create_dir_all(&dir).unwrap();
    let good = uke_bytes(
        "1",
        FACILITY,
        "202612",
        &[claim(1, "鈴木花子", "202611", Some(&a()), "2001", &[5])],
    );
    std::fs::write(dir.join("RECEIPTC.UKE"), &good).unwrap();
    // addressed to 国保連 but put in 支払基金's inbox: refused whole
    let wrong = uke_bytes(
        "2",
        FACILITY,
        "202612",
        &[claim(1, "佐藤一郎", "202611", Some(&a()), "1001", &[3])],
    );
    std::fs::write(dir.join("SECOND.UKE"), &wrong).unwrap();
    let r = scan_once(&w.service, &inbox, "2026-12-10T00:00:00Z").unwrap();
    assert_eq!(
        r.iter().map(|r| r.accepted).collect::<Vec<_>>(),
        vec![true, false]
    );
    assert!(!dir.join("RECEIPTC.UKE").exists() && !dir.join("SECOND.UKE").exists());
    let ok: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("RECEIPTC.UKE.result.json")).unwrap())
            .unwrap();
    assert_eq!(ok["outcome"]["submission"]["source"], "folder");
    let refused: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("SECOND.UKE.result.json")).unwrap())
            .unwrap();
    assert_eq!(refused["reasons"][0]["rule"], "payer.addressee");
    assert_eq!(refused["reasons"][0]["field"], "審査支払機関");
    assert_eq!(
        w.store
            .list_submissions(PayerCode::Kikin, None)
            .unwrap()
            .len(),
        1
    );
    // nothing left to take: a second scan does nothing; the same file again is a duplicate
    assert!(
        scan_once(&w.service, &inbox, "2026-12-10T00:01:00Z")
            .unwrap()
            .is_empty()
    );
    std::fs::write(dir.join("AGAIN.UKE"), &good).unwrap();
    scan_once(&w.service, &inbox, "2026-12-10T00:02:00Z").unwrap();
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("AGAIN.UKE.result.json")).unwrap()).unwrap();
    assert_eq!(again["outcome"]["duplicate"], true);
    assert_eq!(
        w.store
            .list_submissions(PayerCode::Kikin, None)
            .unwrap()
            .len(),
        1
    );
}

fn a_batch_accepts_and_refuses_each_file_on_its_own_with_one_commit(w: World) {
    use onshi_payer::service::Submitted;
    let good = uke_bytes(
        "1",
        FACILITY,
        "202612",
        &[claim(1, "佐藤一郎", "202611", Some(&a()), "1001", &[3])],
    );
    let bad = uke_bytes(
        "2",
        FACILITY,
        "202612",
        &[claim(1, "佐藤一郎", "202611", Some(&a()), "1001", &[3])],
    );
    let sub = |b: &'static [u8]| Submitted {
        payer: PayerCode::Kikin,
        facility: FACILITY,
        file_name: "RECEIPTC.UKE",
        bytes: b,
        source: "api",
        at: "2026-12-10T00:00:00Z",
    };
    let good: &'static [u8] = Box::leak(good.into_boxed_slice());
    let bad: &'static [u8] = Box::leak(bad.into_boxed_slice());
    // the same good file twice in one batch: recorded once, the second a duplicate
    let r = w
        .service
        .intake_batch(&[sub(good), sub(bad), sub(good)])
        .unwrap();
    assert!(matches!(&r[0], Ok(o) if !o.duplicate));
    assert!(r[1].is_err());
    assert!(matches!(&r[2], Ok(o) if o.duplicate));
    assert_eq!(
        w.store
            .list_submissions(PayerCode::Kikin, None)
            .unwrap()
            .len(),
        1
    );
}
