//! The fault-injecting central: a slow central is cut off at the terminal's bound, a dead one
//! and a refusing one give 異常終了 with their codes, and the terminal keeps answering. The
//! terminal runs in-process here over the in-process central, wrapped in `FaultyCentral`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use onshi_central::{Central, SystemClock};
use onshi_domain::numbers::MedicalInstitutionCode;
use onshi_formats::terminal_xml::siquc01::QualificationResponse;
use onshi_terminal::client::{CentralClient, Fault, FaultyCentral, InProcessCentral};
use onshi_terminal::{Config, Terminal};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_down_and_refusing_central_each_give_an_abnormal_end_and_the_terminal_goes_on() {
    let c = start_central().await;
    let facility = MedicalInstitutionCode::parse(CLINIC).unwrap();
    let central = Central::new(c.store.clone(), c.store.clone(), Arc::new(SystemClock));
    let inner: Arc<dyn CentralClient> = Arc::new(InProcessCentral::new(
        central,
        c.cards.clone(),
        facility.clone(),
    ));
    let faulty = Arc::new(FaultyCentral::new(inner));
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::new(facility, dir.path());
    cfg.central_timeout = Duration::from_millis(300);
    let t = Terminal::open(cfg, faulty.clone(), Arc::new(SystemClock)).unwrap();
    let run = tokio::spawn({
        let t = t.clone();
        async move { t.run(std::future::pending()).await }
    });
    let req = single_request(
        c.fx.kyokai.as_str(),
        "1001",
        "2001",
        "00",
        "19800402",
        false,
    );
    let cases = [
        (Fault::Slow(Duration::from_secs(5)), Some("2001")),
        (Fault::Down, Some("2001")),
        (Fault::Error(401), Some("2002")),
        (Fault::None, None),
    ];
    for (i, (fault, code)) in cases.into_iter().enumerate() {
        faulty.set(fault.clone());
        let name = format!("OQSsiquc01req_f{i}.xml");
        let start = Instant::now();
        put_request(dir.path(), &name, &req);
        let b = wait_answer(dir.path(), &name, Duration::from_secs(10)).await;
        let (_, r) = QualificationResponse::read(&b).unwrap();
        assert_eq!(r.header.error_code.as_deref(), code, "{fault:?}");
        if code.is_some() {
            assert_eq!(r.header.segment_of_result, "9");
        } else {
            assert!(r.is_confirmed());
        }
        if matches!(fault, Fault::Slow(_)) {
            assert!(
                start.elapsed() < Duration::from_secs(4),
                "the bound cut the slow central off"
            );
        }
    }
    // the reader is bounded the same way
    faulty.set(Fault::Slow(Duration::from_secs(5)));
    let s = t
        .place_card(
            &serde_json::from_value(serde_json::json!({"card_serial": "C0001", "face": "ok"}))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        s.outcome,
        onshi_terminal::reader::SessionOutcome::Unreachable
    );
    assert!(!run.is_finished());
    run.abort();
}
