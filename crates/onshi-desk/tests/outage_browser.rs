//! End-to-end in headless Chromium: the facility's side of the outage-mode procedure (R13) at
//! the desk — the signed-in clerk files 「1. 利用申請」, the call centre takes its steps, and the
//! desk's 障害時モード screen shows the search allowed with the steps taken and the usage-report
//! form.
//!
//! Screenshots when ONSHI_SCREENSHOTS names a folder (see browser.rs).

mod common;

use common::{CLINIC, Driver, log_in, start_world};
use onshi_domain::numbers::MedicalInstitutionCode;
use onshi_store::outage::OutageStore;
use onshi_store::{Facility, FacilityStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_r13_the_clerk_asks_for_the_outage_mode_and_sees_it_enabled() {
    let w = start_world().await;
    let b = Driver::start().await;
    log_in(&b, &w.clinic, "S01").await;
    b.goto(&format!("{}/desk/outage", w.clinic)).await;
    assert!(
        b.text("#search-not-allowed")
            .await
            .contains("照会はまだ利用できません")
    );
    assert!(b.text("#contact-person").await.contains("受付 一郎（S01）"));
    b.type_in("#facility_name", "おんしクリニック").await;
    b.type_in("#reason", "院内ネットワークの障害").await;
    b.shot("25-desk-outage-request").await;
    b.click("申請する").await;
    assert!(
        b.text("#message")
            .await
            .contains("利用申請を受け付けました")
    );
    assert!(
        b.text("body")
            .await
            .contains("受付済み（折り返し電話待ち）")
    );

    // the call centre: call-back on the registered number, form, enabling
    let clinic = MedicalInstitutionCode::parse(CLINIC).unwrap();
    let at = "2026-11-01T09:00:00.000+09:00";
    let facility = Facility {
        code: clinic.clone(),
        name: "おんしクリニック".into(),
    };
    w.store.upsert_facility(&facility, "h").unwrap();
    w.store
        .set_facility_contact(&clinic, "0312345678", Some("clinic@example.jp"), at)
        .unwrap();
    let op = w
        .store
        .upsert_operator("コールセンター佐々木", "h", at)
        .unwrap();
    let id = w.outage.facility_status(&clinic).unwrap().requests[0]
        .request
        .id;
    w.outage.verify(&op, id, "03-1234-5678").unwrap();
    w.outage.issue_form(&op, id, None).unwrap();
    w.outage.enable(&op, id, None).unwrap();

    b.goto(&format!("{}/desk/outage", w.clinic)).await;
    assert!(b.text("#search-allowed").await.contains("利用できます"));
    let panel = b.text(&format!("#request-{id}")).await;
    assert!(panel.contains("利用設定済み"), "{panel}");
    assert!(panel.contains("コールセンター佐々木"), "{panel}");
    assert!(panel.contains("受付 一郎（S01）"), "{panel}");
    b.shot("26-desk-outage-enabled").await;
    b.type_in("#report-outage", "院内ネットワークの障害 10:00-11:30")
        .await;
    b.type_in("#report-patients", "3").await;
    b.click("提出する").await;
    assert!(
        b.text("#message")
            .await
            .contains("利用報告書を提出しました")
    );
    assert!(
        b.text(&format!("#request-{id}"))
            .await
            .contains("利用報告済み")
    );
    b.quit().await;
}
