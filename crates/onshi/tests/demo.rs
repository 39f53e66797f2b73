//! `onshi demo` as a user starts it: the real binary on free loopback ports with a small
//! synthetic population; the central answers, each demo terminal serves its desk and 請求 screen,
//! the Web API gives an idToken for a demo facility's token, and the payer takes the clinic's
//! UKE file, shows it to its staff and settles the month. Stopped after the checks.

use std::process::Command;
use std::time::{Duration, Instant};

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_the_central_the_desks_the_claims_screen_and_the_web_api() {
    let data = tempfile::tempdir().unwrap();
    start_and_check(data.path(), &[]).await;
    assert!(data.path().join("demo/central.sqlite").exists());
}

/// The same demo on PostgreSQL (fresh databases, dropped after): the registry in one, the
/// payer's own in another (`--payer-db`). The central, desks, Web API and payer all answer
/// (the payer takes the clinic's UKE file and settles the month), the persons and the
/// confirmations are in the central's database, the payer's logins and claims in its own, and
/// neither a registry file nor a payer file is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_on_postgresql() {
    let pg = onshi_store::postgres::TestDatabase::create().unwrap();
    let payer_pg = onshi_store::postgres::TestDatabase::create().unwrap();
    let data = tempfile::tempdir().unwrap();
    start_and_check(
        data.path(),
        &["--db", pg.url(), "--payer-db", payer_pg.url()],
    )
    .await;
    let dir = data.path().join("demo");
    assert!(!dir.join("central.sqlite").exists(), "no registry file");
    assert!(
        dir.join("central.keys.json").exists(),
        "the keys in the data folder"
    );
    assert!(
        !dir.join("payer/payer.sqlite").exists(),
        "no payer file: the payer is in its PostgreSQL database"
    );
    let url = pg.url().to_string();
    let counts = tokio::task::spawn_blocking(move || {
        use onshi_store::RegistryRead;
        onshi_store::PostgresStore::open(&url).and_then(|s| s.counts())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(counts.persons, 300, "{counts:?}");
    let (principals, claims) = pg_counts(
        payer_pg.url(),
        "SELECT (SELECT count(*) FROM principal), (SELECT count(*) FROM claim)",
    )
    .await;
    assert!(
        principals >= 6,
        "the demo logins are in the payer's database: {principals}"
    );
    assert!(
        claims >= 1,
        "the clinic's claims reached the payer's database: {claims}"
    );
    drop(pg);
    drop(payer_pg);
}

/// Two counts from one query on a PostgreSQL database.
async fn pg_counts(url: &str, sql: &str) -> (i64, i64) {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    let row = c.query_one(sql, &[]).await.unwrap();
    let out = (row.get(0), row.get(1));
    drop(c);
    let _ = task.await;
    out
}

/// A running `onshi demo` (stopped when dropped) and what its banner printed.
struct Started {
    demo: support::Running,
    /// the banner's lines
    seen: String,
    api: String,
    desk: String,
    web_api: String,
    token: Option<String>,
    payer: Option<String>,
    payer_staff: Option<String>,
    payer_clinic: Option<String>,
}

/// Starts `onshi demo` with a data folder under `data` and these extra arguments and reads its
/// banner until the central, a desk, the Web API and the payer are named.
async fn start(data: &std::path::Path, extra: &[&str]) -> Started {
    let (demo, b) = support::start_demo(data, extra, Duration::from_secs(120), |b| {
        b.api.is_some()
            && b.desk.is_some()
            && b.web_api.is_some()
            && b.payer.is_some()
            && b.payer_staff.is_some()
            && b.payer_clinic.is_some()
    });
    let seen = b.seen;
    Started {
        demo,
        api: b
            .api
            .unwrap_or_else(|| panic!("the banner names the API:\n{seen}")),
        desk: b
            .desk
            .unwrap_or_else(|| panic!("the banner names a desk:\n{seen}")),
        web_api: b
            .web_api
            .unwrap_or_else(|| panic!("the banner names the Web API:\n{seen}")),
        seen,
        token: b.token,
        payer: b.payer,
        payer_staff: b.payer_staff,
        payer_clinic: b.payer_clinic,
    }
}

/// The medical information `onshi demo` fills in on first start (R2) reaches a receipt
/// computer through the demo clinic's terminal: a person of the demo population whose card is
/// placed on the terminal's reader with consent to 薬剤情報 and 特定健診情報 gets, through the
/// terminal's req/res folders, the drugs and checkups the central holds for them; before the
/// consent, a refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r2_the_demo_population_has_drug_and_checkup_information_for_a_consenting_patient() {
    use onshi_formats::terminal_xml::medinfo::{CheckupInfoResponse, DrugInfoResponse};
    use onshi_store::{MedicalInfoStore, RegistryRead};
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("demo");
    // first start, data only: the population and its medical information
    let out = Command::new(support::BIN)
        .args([
            "demo",
            "--persons",
            "300",
            "--no-serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .args([
            "--web-api-listen",
            "127.0.0.1:0",
            "--payer-listen",
            "127.0.0.1:0",
        ])
        .arg("--data")
        .arg(&dir)
        .env("RUST_LOG", "onshi_store=info")
        .output()
        .expect("onshi demo runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("medical information (R2):"), "{err}");
    // the population is an initial load through the demo's own store, which has the registry
    // file alone: the load leaves the WAL (a second store open on the file would keep it in)
    assert!(!err.contains("stays in WAL mode"), "{err}");

    // what the central holds for the demo's example cards of valid qualifications: a person
    // with drugs and one with checkups (the same one when there is one with both)
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("synth/summary.json")).unwrap()).unwrap();
    let (start_month, end_month) = {
        use chrono::{Datelike, Months};
        let today = chrono::Utc::now().date_naive().with_day(1).unwrap();
        (today - Months::new(13), today)
    };
    let to = end_month + chrono::Months::new(1) - chrono::Days::new(1);
    let mut candidates = Vec::new();
    {
        let store = onshi_store::SqliteStore::open(dir.join("central.sqlite")).unwrap();
        for e in summary["examples"].as_array().unwrap() {
            let (Some(serial), true) = (
                e["card_serial"].as_str(),
                matches!(e["case"].as_str(), Some("regular" | "pin_less")),
            ) else {
                continue;
            };
            let pid = store.card(serial).unwrap().unwrap().person_id;
            // drugs asked for StartDate..EndDate, checkups all of them
            let mut r = store.medical_records(pid, None, None).unwrap();
            r.drugs
                .retain(|d| (start_month..=to).contains(&d.dispensed_on));
            candidates.push((e.clone(), r));
        }
    }
    let both = candidates
        .iter()
        .position(|(_, r)| !r.drugs.is_empty() && !r.checkups.is_empty());
    let with_drugs = both.or_else(|| candidates.iter().position(|(_, r)| !r.drugs.is_empty()));
    let with_checkups =
        both.or_else(|| candidates.iter().position(|(_, r)| !r.checkups.is_empty()));
    let (Some(with_drugs), Some(with_checkups)) = (with_drugs, with_checkups) else {
        panic!("no example card with drug and checkup records: {summary}")
    };

    // second start, serving: the same data, the demo clinic's terminal on its folder
    let started = start(data.path(), &[]).await;
    let terminal = dir.join("terminals/1311234567");
    let ca = dir.join("tls/ca.pem");
    let ex = onshi_terminal::Exchange::new(&terminal);
    let ask = |name: &str, body: String| {
        let name = name.to_string();
        let (req, res) = (ex.req.clone(), ex.res.clone());
        async move {
            let tmp = req.join(format!(".{name}.part"));
            std::fs::write(&tmp, body).unwrap();
            std::fs::rename(&tmp, req.join(&name)).unwrap();
            let answer = res.join(onshi_formats::terminal_xml::response_file_name(&name).unwrap());
            let until = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(b) = std::fs::read(&answer) {
                    return b;
                }
                assert!(Instant::now() < until, "no answer to {name}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let request = |e: &serde_json::Value, body: String| {
        let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n<XmlMsg><MessageHeader>\
             <MedicalInstitutionCode>1311234567</MedicalInstitutionCode>\
             <InsurerNumber>{}</InsurerNumber><InsuranceCardSymbol>{}</InsuranceCardSymbol>\
             <InsuredPersonIdentificationNumber>{}</InsuredPersonIdentificationNumber>\
             <BranchNumber>{}</BranchNumber><ArbitraryFileIdentifier>demo</ArbitraryFileIdentifier>\
             </MessageHeader><MessageBody>{body}</MessageBody></XmlMsg>\n",
            s("insurer_number"),
            s("symbol"),
            s("number"),
            s("branch")
        )
    };
    let drug_body = format!(
        "<StartDate>{}</StartDate><EndDate>{}</EndDate><FileCategory>2</FileCategory>",
        start_month.format("%Y%m"),
        end_month.format("%Y%m")
    );
    let checkup_body = "<FileCategory>2</FileCategory>".to_string();
    let place = |serial: &str| {
        let out = Command::new(support::BIN)
            .args(["reader", "place", "--exchange"])
            .arg(&terminal)
            .arg("--terminal-ca")
            .arg(&ca)
            .args([
                "--card",
                serial,
                "--face",
                "ok",
                "--consent",
                "drug,checkup",
            ])
            .output()
            .expect("onshi reader place runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success() && text.contains("confirmed"),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };

    let (e, records) = &candidates[with_drugs];
    let serial = e["card_serial"].as_str().unwrap();
    // before the consent: refused
    let b = ask("YZKsiquc01req_before.xml", request(e, drug_body.clone())).await;
    let r = DrugInfoResponse::read(&b).unwrap().1;
    assert_eq!(r.header.result_code, "2", "{:?}", r.header.message_contents);
    place(serial);
    let b = ask("YZKsiquc01req_demo1.xml", request(e, drug_body.clone())).await;
    let r = DrugInfoResponse::read(&b).unwrap().1;
    assert_eq!(r.header.result_code, "1", "{:?}", r.header.message_contents);
    assert_eq!(
        r.qua_inf.as_ref().and_then(|q| q.name.as_deref()),
        e["name"].as_str()
    );
    let mut answered: Vec<(String, String)> = [&r.claims, &r.prescriptions, &r.dispensings]
        .into_iter()
        .flatten()
        .flat_map(|m| m.days.iter())
        .flat_map(|d| {
            d.drugs
                .iter()
                .map(|g| (d.di_date.clone(), g.drug_n.clone().unwrap_or_default()))
        })
        .collect();
    let mut held: Vec<(String, String)> = records
        .drugs
        .iter()
        .map(|d| {
            (
                d.dispensed_on.format("%Y%m%d").to_string(),
                d.drug_name.clone(),
            )
        })
        .collect();
    answered.sort();
    held.sort();
    assert!(!held.is_empty());
    assert_eq!(
        answered, held,
        "the drugs the central holds, through the terminal"
    );

    let (e, records) = &candidates[with_checkups];
    if with_checkups != with_drugs {
        place(e["card_serial"].as_str().unwrap());
    }
    let b = ask("TKKsiquc01req_demo2.xml", request(e, checkup_body)).await;
    let r = CheckupInfoResponse::read(&b).unwrap().1;
    assert_eq!(r.header.result_code, "1", "{:?}", r.header.message_contents);
    let mut answered: Vec<(String, String, String)> = r
        .checkups
        .iter()
        .flat_map(|c| {
            c.items.iter().map(|i| {
                (
                    c.effective_time.clone(),
                    i.item_name.clone().unwrap_or_default(),
                    i.data_value.clone().unwrap_or_default(),
                )
            })
        })
        .collect();
    let mut held: Vec<(String, String, String)> = records
        .checkups
        .iter()
        .map(|c| {
            (
                c.checked_on.format("%Y%m%d").to_string(),
                c.item_name.clone(),
                c.value.clone(),
            )
        })
        .collect();
    answered.sort();
    held.sort();
    assert!(!held.is_empty());
    assert_eq!(
        answered, held,
        "the checkups the central holds, through the terminal"
    );
    drop(started);
}

/// Starts `onshi demo` with a data folder under `data` and these extra arguments, checks
/// what it serves, and stops it.
async fn start_and_check(data: &std::path::Path, extra: &[&str]) {
    let Started {
        demo,
        seen,
        api,
        desk,
        web_api,
        token,
        payer,
        payer_staff,
        payer_clinic,
    } = start(data, extra).await;
    let http = reqwest::Client::new();
    // the central speaks TLS with a certificate of the demo's local CA
    assert!(api.starts_with("https://"), "{api}");
    let ca = std::fs::read(data.join("demo/tls/ca.pem")).expect("the demo's CA");
    let trusting = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let base = api.trim_end_matches("/v1");
    let health = trusting
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
    assert!(
        http.get(format!("{base}/healthz")).send().await.is_err(),
        "a client that does not trust the CA gets no answer"
    );
    // the desks (and the terminals' API beside them) speak TLS from the same CA
    assert!(desk.starts_with("https://"), "{desk}");
    let desk_base = desk.trim_end_matches("/desk/");
    assert!(
        http.get(format!("{desk_base}/healthz"))
            .send()
            .await
            .is_err(),
        "a client that does not trust the CA gets no desk"
    );
    for path in ["/desk/", "/desk/claims"] {
        let r = trusting
            .get(format!("{desk_base}{path}"))
            .send()
            .await
            .unwrap();
        // the screens may ask the clerk to log in first; either way they are served
        assert!(
            r.status().is_success() || r.status().is_redirection(),
            "{path}: {}",
            r.status()
        );
    }
    let token = token.unwrap_or_else(|| panic!("the banner prints the clinic's token:\n{seen}"));
    {
        // over TLS with the clinic's client certificate from the demo's CA; none: no answer
        assert!(web_api.starts_with("https://"), "{web_api}");
        let auth = web_api.split("/oqs-api-pro").next().unwrap_or_default();
        let tls_dir = data.join("demo/tls");
        let mut identity = std::fs::read(tls_dir.join("client-1311234567.pem")).unwrap();
        identity.extend(std::fs::read(tls_dir.join("client-1311234567.key")).unwrap());
        let clinic = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .identity(reqwest::Identity::from_pem(&identity).unwrap())
            .build()
            .unwrap();
        let without = trusting
            .post(format!("{auth}/oqs-api-pro/MSA12020/ILI12020SV01/auth"))
            .json(&serde_json::json!({"medicalInstitutionCode": "1311234567", "apiKey": token}))
            .send()
            .await;
        let answered = match without {
            Ok(r) => r.text().await.is_ok(),
            Err(_) => false,
        };
        assert!(!answered, "no client certificate, no Web API");
        let r = clinic
            .post(format!("{auth}/oqs-api-pro/MSA12020/ILI12020SV01/auth"))
            .json(&serde_json::json!({"medicalInstitutionCode": "1311234567", "apiKey": token}))
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v["result"]["idToken"].is_string(), "{v}\n{seen}");
    }
    // the payer: the clinic submits a month (one claim of a patient the registry knows, valid
    // as claimed), staff see it, the month is settled
    let payer = payer.unwrap_or_else(|| panic!("the banner names the payer:\n{seen}"));
    assert!(
        payer.starts_with("https://"),
        "the payer speaks TLS too: {payer}"
    );
    let payer_base = payer.trim_end_matches("/payer/login");
    let staff = payer_staff.unwrap_or_else(|| panic!("the banner prints a staff login:\n{seen}"));
    let clinic =
        payer_clinic.unwrap_or_else(|| panic!("the banner prints the clinic's login:\n{seen}"));
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(data.join("demo/synth/summary.json")).expect("the demo's summary"),
    )
    .unwrap();
    let patient = summary["examples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["case"] == "regular"
                && e["insurer_number"]
                    .as_str()
                    .is_some_and(|i| i.len() == 8 && !i.starts_with("39"))
        })
        .unwrap_or_else(|| panic!("a valid case insured outside 国保: {summary}"))
        .clone();
    let (st, body) = {
        let r = trusting
            .post(format!(
                "{payer_base}/v1/payer/submissions?file_name=RECEIPTC.UKE"
            ))
            .bearer_auth(&clinic)
            .body(uke_of(&patient))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(st, 201, "{body}\n{patient}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["by_status"], serde_json::json!({"assigned": 1}), "{v}");
    let r = trusting
        .get(format!("{payer_base}/v1/payer/submissions"))
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = trusting
        .post(format!("{payer_base}/v1/payer/settlements"))
        .bearer_auth(&staff)
        .json(&serde_json::json!({"billing_month": months().0}))
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["statements"][0]["facility"], "1311234567", "{v}");
    assert_eq!(v["statements"][0]["claims"][0]["status"], "settled", "{v}");
    // the screens ask for a login
    let r = trusting
        .get(format!("{payer_base}/payer/"))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success() || r.status().is_redirection(),
        "{}",
        r.status()
    );
    drop(demo);
}

/// This month and the one before (the demo's population is made around today).
fn months() -> (String, String) {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let prev = today.with_day(1).unwrap() - chrono::Duration::days(1);
    (
        format!("{:04}{:02}", today.year(), today.month()),
        format!("{:04}{:02}", prev.year(), prev.month()),
    )
}

/// A one-claim UKE file (医科) of the demo clinic for this patient, written from the public
/// layout: IR, RE HO SN JD, GO. Only ASCII text (a valid Windows-31J file): the payer matches
/// the claim by its numbers and the birth date.
fn uke_of(p: &serde_json::Value) -> Vec<u8> {
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
    let (billing, service) = months();
    let birth = s("birthdate").replace('-', "");
    let mut re: Vec<String> = vec![
        "RE".into(),
        "1".into(),
        "1112".into(),
        service,
        "DEMO PATIENT".into(),
        "1".into(),
        birth,
    ];
    re.extend(std::iter::repeat_n(String::new(), 31));
    let days: Vec<&str> = (1..=31).map(|d| if d == 1 { "1" } else { "" }).collect();
    let mut text = format!(
        "IR,1,13,1,1234567,,ONSHI DEMO CLINIC,{billing},00,0312345678\r\n{}\r\n",
        re.join(",")
    );
    text.push_str(&format!(
        "HO,{},{},{},1,500,,,,,,1500,,,\r\nSN,1,01,,,,{},,\r\nJD,1,{}\r\nGO,1,500,99\r\n",
        s("insurer_number"),
        s("symbol"),
        s("number"),
        s("branch"),
        days.join(",")
    ));
    let mut v = text.into_bytes();
    v.push(0x1A);
    v
}
