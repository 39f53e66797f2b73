//! The demo's month end to end, as a user runs it: `onshi demo` (the real binary), a clinic
//! visit whose patient could only be declared on a 申立書 (a 不詳 claim, R20), the month closed
//! at the desk and its UKE file submitted to the 支払基金, the month settled by payer staff on
//! the 支払確定 screen (a form with the session's CSRF token), and the statement reaching the
//! clinic's desk through its settlement hook, which purges the 申立書 (R27) — proven on the
//! bytes of the desk's and the payer's database files.

use std::sync::Arc;
use std::time::Duration;

use chrono::Datelike;
use serde_json::{Value, json};

mod support;

use support::{csrf_of, form};

fn client(ca: &[u8], jar: Option<Arc<reqwest::cookie::Jar>>) -> reqwest::ClientBuilder {
    let b = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(ca).unwrap());
    match jar {
        Some(j) => b.cookie_provider(j),
        None => b,
    }
}

async fn post_form(http: &reqwest::Client, url: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let r = http
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(fields))
        .send()
        .await
        .unwrap();
    let path = r.url().path().to_string();
    let st = r.status().as_u16();
    (
        st,
        format!("{path}\n{}", r.text().await.unwrap_or_default()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r20_r22_r27_the_demo_settles_a_month_on_the_payer_screen_and_the_desk_purges_the_moushitatesho()
 {
    let data = tempfile::tempdir().unwrap();
    let root = data.path().join("demo");
    let (demo, banner) = support::start_demo(data.path(), &[], Duration::from_secs(180), |b| {
        b.desk.is_some()
            && b.payer.is_some()
            && b.payer_staff.is_some()
            && b.payer_clinic.is_some()
            && b.hook_registered
    });
    let support::Banner {
        seen,
        desk,
        desk_login: staff_login,
        payer,
        payer_staff,
        payer_clinic,
        hook_registered,
        ..
    } = banner;
    assert!(
        hook_registered,
        "the banner names the clinic's hook:\n{seen}"
    );
    let desk = desk.unwrap_or_else(|| panic!("a desk:\n{seen}"));
    let desk_base = desk.trim_end_matches("/desk/").to_string();
    let (staff_id, password) = staff_login.unwrap_or_else(|| panic!("a desk login:\n{seen}"));
    let payer = payer.unwrap_or_else(|| panic!("the payer:\n{seen}"));
    let payer_base = payer.trim_end_matches("/payer/login").to_string();
    let (payer_staff, payer_clinic) = (payer_staff.unwrap(), payer_clinic.unwrap());
    let ca = std::fs::read(root.join("tls/ca.pem")).expect("the demo's CA");

    // the desk, signed in as its staff, sending the desk's Origin and form token
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", desk_base.parse().unwrap());
    let with_origin = client(&ca, Some(jar.clone()))
        .default_headers(headers.clone())
        .build()
        .unwrap();
    let (st, page) = post_form(
        &with_origin,
        &format!("{desk_base}/desk/login"),
        &[("staff_id", &staff_id), ("password", &password)],
    )
    .await;
    assert_eq!(st, 200, "{page}");
    headers.insert("x-csrf-token", csrf_of(&page).parse().unwrap());
    let d = client(&ca, Some(jar))
        .default_headers(headers)
        .build()
        .unwrap();
    // the receipt computer on the facility's machine: the claims API with the terminal's API
    // token, read from <data>/api.token
    let token = std::fs::read_to_string(root.join("terminals/1311234567.terminal/api.token"))
        .expect("the clinic terminal's API token");
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        "authorization",
        format!("Bearer {}", token.trim()).parse().unwrap(),
    );
    let rc = client(&ca, None).default_headers(auth).build().unwrap();

    // a visit of last month: the reader is broken and the patient brings no document, so
    // the clinic takes a 申立書 and files the claim as 不詳 (R20)
    let today = chrono::Utc::now().date_naive();
    let first = today.with_day(1).unwrap();
    let service_day = first - chrono::Duration::days(5);
    let service_month = format!("{:04}{:02}", service_day.year(), service_day.month());
    let billing_month = format!("{:04}{:02}", today.year(), today.month());
    let summary: Value = serde_json::from_slice(
        &std::fs::read(root.join("synth/summary.json")).expect("the demo's summary"),
    )
    .unwrap();
    let serial = summary["examples"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["card_serial"].as_str())
        .expect("a demo card")
        .to_string();
    let (st, v) = post_form(
        &d,
        &format!("{desk_base}/desk/visits"),
        &[
            ("presence", "at_desk"),
            ("service_date", &service_day.to_string()),
            ("staff", &staff_id),
        ],
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let visit = v.lines().next().unwrap().to_string();
    let act = format!("{desk_base}{visit}/act");
    for step in [
        vec![
            ("action", "card_received"),
            ("card_serial", serial.as_str()),
        ],
        vec![("action", "equipment"), ("cause", "reader_broken")],
        vec![("action", "doc_absent"), ("docs", "portal")],
        vec![
            ("action", "doc_absent"),
            ("docs", "kakuninsho,insurance_card"),
        ],
        vec![("action", "doc_absent"), ("docs", "oshirase")],
    ] {
        let (st, page) = post_form(&d, &act, &step).await;
        assert_eq!(st, 200, "{step:?}: {page}");
    }
    let address = "東京都品川区9-8-7-DEMO";
    let (st, page) = post_form(
        &d,
        &format!("{desk_base}{visit}/moushitatesho"),
        &[
            ("has_valid_insurance", "on"),
            ("insurance_type", "shaho"),
            ("employer", "デモ工業株式会社"),
            ("name", "架空　花子"),
            ("name_kana", "カクウ　ハナコ"),
            ("era", "showa"),
            ("birth_year", "55"),
            ("birth_month", "3"),
            ("birth_day", "3"),
            ("sex", "2"),
            ("address", address),
            ("phone", "03-5555-0101"),
        ],
    )
    .await;
    assert_eq!(st, 200, "{page}");
    let (st, page) = post_form(&d, &act, &[("action", "charge")]).await;
    assert_eq!(st, 200, "{page}");
    let id: i64 = visit.rsplit('/').next().unwrap().parse().unwrap();
    let r = rc
        .put(format!("{desk_base}/desk/api/visits/{id}/content"))
        .json(
            &json!({"patient_id": "D0001", "points": 1000, "charged_yen": 3000,
                      "diagnoses": [{"code": "0000999", "name": "急性上気道炎",
                                     "start_date": service_day.to_string()}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        204,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let r = rc
        .post(format!("{desk_base}/desk/api/claims/{service_month}/close"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "{}",
        r.text().await.unwrap_or_default()
    );
    let file = rc
        .get(format!(
            "{desk_base}/desk/api/claims/files/{billing_month}/1/claim"
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();

    // the clinic submits the file to the 支払基金: nobody can be identified, the claim goes
    // to the 按分 pool (R22)
    let http = client(&ca, None).build().unwrap();
    let r = http
        .post(format!(
            "{payer_base}/v1/payer/submissions?file_name=RECEIPTC.UKE"
        ))
        .bearer_auth(&payer_clinic)
        .body(file.to_vec())
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["by_status"], json!({"pool": 1}), "{v}");

    // payer staff sign in on the screens and press 支払確定 (with the session's CSRF token)
    let pjar = Arc::new(reqwest::cookie::Jar::default());
    let p = client(&ca, Some(pjar)).build().unwrap();
    let (st, home) = post_form(
        &p,
        &format!("{payer_base}/payer/login"),
        &[("token", &payer_staff)],
    )
    .await;
    assert_eq!(st, 200, "{home}");
    let (st, refused) = post_form(
        &p,
        &format!("{payer_base}/payer/settle"),
        &[("csrf", "forged"), ("billing_month", &billing_month)],
    )
    .await;
    assert_eq!(st, 403, "no CSRF token, no settlement: {refused}");
    let (st, done) = post_form(
        &p,
        &format!("{payer_base}/payer/settle"),
        &[("csrf", &csrf_of(&home)), ("billing_month", &billing_month)],
    )
    .await;
    assert_eq!(st, 200, "{done}");
    assert!(
        done.contains("1311234567 へ支払通知: http 200"),
        "the clinic's hook took the statement: {done}"
    );

    // at the clinic: the claim is settled (through 按分) and the 申立書 is gone from the
    // desk's files, as it is from the payer's (R27)
    let month: Value = rc
        .get(format!("{desk_base}/desk/api/claims/{service_month}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(month["claims"].as_array().map(Vec::len), Some(1), "{month}");
    let needles = [
        address.to_string(),
        "東京都品川区９－８－７－ＤＥＭＯ".to_string(),
    ];
    let mut checked = 0;
    for dir in [
        root.join("terminals/1311234567.terminal"),
        root.join("payer"),
    ] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if ["desk.sqlite", "claims.sqlite", "payer.sqlite"]
                .iter()
                .any(|f| name.starts_with(f))
            {
                let bytes = std::fs::read(&path).unwrap();
                for needle in &needles {
                    assert!(
                        !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                        "{needle} still in {}",
                        path.display()
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 3, "the desk's and the payer's files were read");
    drop(demo);
}
