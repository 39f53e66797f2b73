//! The registry reads of a `PostgresStore` opened with a replica: where they go, and how a
//! failing replica is read around and tried again. The replica here is the test database
//! itself reached through a loopback TCP relay the test opens and closes (a real standby is in
//! `crates/onshi/tests/standby.rs`).

use std::str::FromStr;
use std::time::Duration;

use onshi_domain::numbers::MedicalInstitutionCode;
use onshi_store::postgres::{ReplicaPolicy, TestDatabase};
use onshi_store::{Facility, FacilityStore, PostgresStore, RegistryRead};

/// A relay on 127.0.0.1:`port` to the test server, until dropped.
struct Relay {
    _rt: tokio::runtime::Runtime,
}

fn relay(port: u16, to: (String, u16)) -> Relay {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
        .unwrap();
    rt.spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let to = to.clone();
            tokio::spawn(async move {
                if let Ok(mut out) = tokio::net::TcpStream::connect((to.0.as_str(), to.1)).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    Relay { _rt: rt }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The test database's URL with its host and port replaced by 127.0.0.1:`port`, and where it
/// really is.
fn via(url: &str, port: u16) -> (String, (String, u16)) {
    let cfg = tokio_postgres::Config::from_str(url).unwrap();
    let host = match &cfg.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        other => panic!("a TCP test server, not {other:?}"),
    };
    let real_port = cfg.get_ports().first().copied().unwrap_or(5432);
    let user = cfg.get_user().unwrap_or("postgres");
    let db = cfg.get_dbname().unwrap();
    (
        format!("postgres://{user}@127.0.0.1:{port}/{db}"),
        (host, real_port),
    )
}

#[test]
fn registry_reads_go_to_the_replica_and_around_it_while_it_fails_then_back() {
    let pg = TestDatabase::create().unwrap();
    // the schema, made through the primary
    drop(PostgresStore::open(pg.url()).unwrap());
    let port = free_port();
    let (replica_url, real) = via(pg.url(), port);
    let policy = ReplicaPolicy {
        timeout: Duration::from_secs(2),
        retry_after: Duration::from_millis(300),
    };

    // the replica answers: reads are served there, writes are not counted
    let r = relay(port, real.clone());
    let store = PostgresStore::open_with_replica(pg.url(), &replica_url, policy).unwrap();
    assert_eq!(store.card("NOSUCH").unwrap(), None);
    assert_eq!(store.person(1).unwrap(), None);
    let s = store.replica_stats().unwrap();
    assert_eq!(
        (s.served, s.on_primary, s.outages, s.down),
        (2, 0, 0, false)
    );
    let code = MedicalInstitutionCode::parse("1311234567").unwrap();
    store
        .upsert_facility(
            &Facility {
                code: code.clone(),
                name: "テスト医院".into(),
            },
            "hash",
        )
        .unwrap();
    assert!(store.facility_by_token_hash("hash").unwrap().is_some());
    assert_eq!(
        store.replica_stats().unwrap().served,
        2,
        "not registry reads"
    );

    // the replica goes away: the read is answered by the primary, the replica left aside once
    drop(r);
    assert_eq!(store.card("NOSUCH").unwrap(), None);
    for _ in 0..5 {
        assert_eq!(store.person(1).unwrap(), None);
    }
    let s = store.replica_stats().unwrap();
    assert_eq!((s.served, s.outages, s.down), (2, 1, true), "{s:?}");
    assert_eq!(s.on_primary, 6, "{s:?}");
    // after the retry delay one read tries it again, fails, and it stays aside (no new outage)
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(store.card("NOSUCH").unwrap(), None);
    let s = store.replica_stats().unwrap();
    assert_eq!((s.served, s.outages, s.down, s.on_primary), (2, 1, true, 7));

    // it comes back: the next try after the delay is served by it, and so are the reads after
    let _r = relay(port, real);
    std::thread::sleep(Duration::from_millis(400));
    for _ in 0..3 {
        assert_eq!(store.card("NOSUCH").unwrap(), None);
    }
    let s = store.replica_stats().unwrap();
    assert_eq!(
        (s.served, s.outages, s.down, s.on_primary),
        (5, 1, false, 7)
    );
    drop(store);
    drop(pg);
}

#[test]
fn a_replica_down_at_open_is_left_aside_and_the_store_opens() {
    let pg = TestDatabase::create().unwrap();
    let (replica_url, _) = via(pg.url(), free_port());
    let store =
        PostgresStore::open_with_replica(pg.url(), &replica_url, ReplicaPolicy::default()).unwrap();
    let s = store.replica_stats().unwrap();
    assert_eq!((s.outages, s.down), (1, true));
    assert_eq!(store.card("NOSUCH").unwrap(), None, "read on the primary");
    assert_eq!(store.replica_stats().unwrap().on_primary, 1);
    assert!(
        PostgresStore::open(pg.url())
            .unwrap()
            .replica_stats()
            .is_none()
    );
    drop(store);
    drop(pg);
}
