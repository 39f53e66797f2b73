//! The patient's portal lists every view of their medical information by a facility (R2),
//! granted or refused; only once signed in.

use std::sync::Arc;

use onshi_card::{CardStore, PinHasher};
use onshi_central::import::{self, Input};
use onshi_central::{Central, SystemClock, fixture};
use onshi_domain::medinfo::{MedicalInfoKind, MedicalView};
use onshi_domain::numbers::MyNumberHasher;
use onshi_store::{MedicalInfoStore, RegistryRead, SqliteStore};

#[tokio::test]
async fn r2_the_portal_lists_the_views_of_the_patients_medical_information() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("c.sqlite")).unwrap());
    let hasher = MyNumberHasher::new(b"test-key-0123456789").unwrap();
    let pins = PinHasher::new(b"test-pin-key-0123456789").unwrap();
    let cards = Arc::new(CardStore::open(dir.path().join("cards.sqlite"), pins).unwrap());
    let fx = fixture::build();
    let report = import::import(
        store.as_ref(),
        &hasher,
        &cards,
        Some(Input {
            name: "q.csv".into(),
            reader: fx.qualifications_csv.as_bytes(),
        }),
        Some(Input {
            name: "c.csv".into(),
            reader: fx.cards_csv.as_bytes(),
        }),
        &mut |_| {},
    )
    .unwrap();
    assert!(report.committed);
    let mine = store.card("C0001").unwrap().unwrap().person_id;
    let other = store.card("C0003").unwrap().unwrap().person_id;
    let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 25)
        .unwrap()
        .and_hms_opt(10, 15, 0)
        .unwrap();
    for (p, fac, kind, granted) in [
        (mine, "1311234567", MedicalInfoKind::Drug, true),
        (mine, "1341234567", MedicalInfoKind::Checkup, false),
        (other, "1319999999", MedicalInfoKind::Diagnosis, true),
    ] {
        store
            .record_view(&MedicalView {
                id: 0,
                at,
                facility: fac.into(),
                person_id: p,
                kind,
                channel: "YZKsiquc01/2".into(),
                granted,
            })
            .unwrap();
    }
    let central = Central::new(store.clone(), store.clone(), Arc::new(SystemClock));
    let state = onshi_web::AppState::new(central, store.clone(), cards.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(onshi_web::serve(listener, state, std::future::pending()));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // not signed in: back to the sign-in form
    let r = http
        .get(format!("{base}/portal/medinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);

    let r = http
        .post(format!("{base}/portal/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Origin", &base)
        .body("card_serial=C0001&pin=1234")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = http
        .get(format!("{base}/portal"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("href=\"/portal/medinfo\""), "{page}");
    let r = http
        .get(format!("{base}/portal/medinfo"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"medinfo-views\""), "{page}");
    assert!(page.contains("1311234567") && page.contains("薬剤情報"));
    assert!(page.contains("1341234567") && page.contains("同意がなく断られました"));
    assert!(
        !page.contains("1319999999"),
        "another patient's views are not shown"
    );
}
