//! Durability under a power cut, not only a killed process: the central runs in a child
//! process whose SQLite files go through a VFS (defined here, in the test) that keeps every
//! write in memory until the file is fsynced — as a disk's volatile cache and the kernel's
//! page cache do. SIGKILL of the child then loses exactly what a power cut would lose: every
//! write not yet synced. The parent drives card confirmations over HTTP on 127.0.0.1 while the
//! power is cut, then reopens the files with the ordinary VFS and checks that every
//! acknowledged confirmation is in the history exactly once and that the databases pass
//! `PRAGMA integrity_check`.
//!
//! The second test shows the fake is not toothless: with its sync turned into a no-op (a disk
//! that acknowledges a flush it did not do — the same as a central answering before its
//! commit is durable), acknowledged confirmations are lost.

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::ffi;

mod support;

use support::FACILITY;

/// Set in the child: the folder of the registry it serves.
const CHILD_ENV: &str = "ONSHI_POWER_CUT_CHILD";
/// Set in the child that runs an initial load instead: the folder of its registry.
const IMPORT_CHILD_ENV: &str = "ONSHI_POWER_CUT_IMPORT_CHILD";
/// Persons of that initial load.
const LOAD_PERSONS: u32 = 60_000;
/// Set in the child to `drop` for a VFS whose sync does nothing.
const SYNC_ENV: &str = "ONSHI_POWER_CUT_SYNC";
/// Set in the load child: once a rollback journal is synced, the VFS makes this file (with the
/// ordinary file system) and holds the commit there, so the parent can cut between the
/// journal made durable and the database file written.
const JOURNAL_SYNCED_ENV: &str = "ONSHI_POWER_CUT_JOURNAL_SYNCED";

/// The marker of [`JOURNAL_SYNCED_ENV`], when the child was given one.
static JOURNAL_SYNCED: OnceLock<PathBuf> = OnceLock::new();

// ---------------------------------------------------------------------------------------------
// the VFS: unsynced writes live in memory only

/// A write or a truncation not yet synced to the real file.
enum Op {
    Write(u64, Vec<u8>),
    Truncate(u64),
}

/// What the "page cache" holds for one file, shared by every handle open on it (as the
/// kernel's cache is shared by every descriptor of an inode).
#[derive(Default)]
struct Overlay {
    ops: Vec<Op>,
}

struct Vfs {
    unix: *mut ffi::sqlite3_vfs,
    /// false: sync is a no-op (the unsynced writes are never made durable)
    sync_writes_through: bool,
    overlays: Mutex<HashMap<String, Arc<Mutex<Overlay>>>>,
    anonymous: AtomicUsize,
}

// SAFETY: `unix` points at SQLite's static unix VFS, which is thread-safe; the rest is Sync.
unsafe impl Send for Vfs {}
unsafe impl Sync for Vfs {}

static VFS: OnceLock<Vfs> = OnceLock::new();

fn vfs() -> &'static Vfs {
    VFS.get().expect("the power-cut VFS is registered")
}

/// The file object SQLite allocates (`szOsFile` bytes): ours, then the unix VFS's own.
#[repr(C)]
struct CutFile {
    base: ffi::sqlite3_file,
    overlay: *const Mutex<Overlay>,
    /// a rollback journal (`…-journal`)
    journal: bool,
}

const HEADER: usize = std::mem::size_of::<CutFile>().next_multiple_of(16);

unsafe fn real(f: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    unsafe { (f as *mut u8).add(HEADER) as *mut ffi::sqlite3_file }
}

unsafe fn overlay<'a>(f: *mut ffi::sqlite3_file) -> &'a Mutex<Overlay> {
    unsafe { &*(*(f as *mut CutFile)).overlay }
}

unsafe fn methods<'a>(f: *mut ffi::sqlite3_file) -> &'a ffi::sqlite3_io_methods {
    unsafe { &*(*f).pMethods }
}

unsafe fn real_size(r: *mut ffi::sqlite3_file) -> Result<u64, c_int> {
    let mut size: ffi::sqlite3_int64 = 0;
    let rc = unsafe { methods(r).xFileSize.expect("xFileSize")(r, &mut size) };
    if rc == ffi::SQLITE_OK {
        Ok(size as u64)
    } else {
        Err(rc)
    }
}

fn logical_size(real: u64, ops: &[Op]) -> u64 {
    ops.iter().fold(real, |size, op| match op {
        Op::Write(off, d) => size.max(off + d.len() as u64),
        Op::Truncate(s) => *s,
    })
}

unsafe extern "C" fn x_close(f: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let r = real(f);
        let rc = methods(r).xClose.expect("xClose")(r);
        // the overlay stays in the table: closing a file does not make its writes durable
        drop(Arc::from_raw((*(f as *mut CutFile)).overlay));
        rc
    }
}

unsafe extern "C" fn x_read(
    f: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amt: c_int,
    off: ffi::sqlite3_int64,
) -> c_int {
    unsafe {
        let r = real(f);
        let ov = overlay(f).lock().expect("overlay");
        let rc = methods(r).xRead.expect("xRead")(r, buf, amt, off);
        if rc != ffi::SQLITE_OK && rc != ffi::SQLITE_IOERR_SHORT_READ {
            return rc;
        }
        let out = std::slice::from_raw_parts_mut(buf as *mut u8, amt as usize);
        if rc == ffi::SQLITE_IOERR_SHORT_READ {
            // the unix VFS zero-fills; keep it explicit
            let have = real_size(r).unwrap_or(0).saturating_sub(off as u64) as usize;
            let n = out.len();
            out[have.min(n)..].fill(0);
        }
        let (lo, hi) = (off as u64, off as u64 + amt as u64);
        for op in &ov.ops {
            match op {
                Op::Write(o, d) => {
                    let (s, e) = ((*o).max(lo), (o + d.len() as u64).min(hi));
                    if s < e {
                        out[(s - lo) as usize..(e - lo) as usize]
                            .copy_from_slice(&d[(s - o) as usize..(e - o) as usize]);
                    }
                }
                Op::Truncate(t) => {
                    if *t < hi {
                        out[(*t).saturating_sub(lo) as usize..].fill(0);
                    }
                }
            }
        }
        let size = match real_size(r) {
            Ok(s) => logical_size(s, &ov.ops),
            Err(rc) => return rc,
        };
        if size < hi {
            out[size.saturating_sub(lo) as usize..].fill(0);
            return ffi::SQLITE_IOERR_SHORT_READ;
        }
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn x_write(
    f: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amt: c_int,
    off: ffi::sqlite3_int64,
) -> c_int {
    unsafe {
        let data = std::slice::from_raw_parts(buf as *const u8, amt as usize).to_vec();
        overlay(f)
            .lock()
            .expect("overlay")
            .ops
            .push(Op::Write(off as u64, data));
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_truncate(f: *mut ffi::sqlite3_file, size: ffi::sqlite3_int64) -> c_int {
    unsafe {
        overlay(f)
            .lock()
            .expect("overlay")
            .ops
            .push(Op::Truncate(size as u64));
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    if !vfs().sync_writes_through {
        return ffi::SQLITE_OK;
    }
    unsafe {
        let r = real(f);
        let m = methods(r);
        let mut ov = overlay(f).lock().expect("overlay");
        for op in ov.ops.drain(..) {
            let rc = match op {
                Op::Write(off, d) => m.xWrite.expect("xWrite")(
                    r,
                    d.as_ptr() as *const c_void,
                    d.len() as c_int,
                    off as ffi::sqlite3_int64,
                ),
                Op::Truncate(s) => m.xTruncate.expect("xTruncate")(r, s as ffi::sqlite3_int64),
            };
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        let rc = m.xSync.expect("xSync")(r, flags);
        drop(ov);
        if rc == ffi::SQLITE_OK
            && (*(f as *mut CutFile)).journal
            && let Some(marker) = JOURNAL_SYNCED.get()
        {
            // the journal is durable, the database file not yet written: wait here for the cut
            std::fs::write(marker, b"").expect("marker");
            std::thread::sleep(Duration::from_secs(60));
        }
        rc
    }
}

unsafe extern "C" fn x_file_size(f: *mut ffi::sqlite3_file, out: *mut ffi::sqlite3_int64) -> c_int {
    unsafe {
        let ov = overlay(f).lock().expect("overlay");
        match real_size(real(f)) {
            Ok(s) => {
                *out = logical_size(s, &ov.ops) as ffi::sqlite3_int64;
                ffi::SQLITE_OK
            }
            Err(rc) => rc,
        }
    }
}

unsafe extern "C" fn x_lock(f: *mut ffi::sqlite3_file, l: c_int) -> c_int {
    unsafe {
        let r = real(f);
        methods(r).xLock.expect("xLock")(r, l)
    }
}

unsafe extern "C" fn x_unlock(f: *mut ffi::sqlite3_file, l: c_int) -> c_int {
    unsafe {
        let r = real(f);
        methods(r).xUnlock.expect("xUnlock")(r, l)
    }
}

unsafe extern "C" fn x_check_reserved_lock(f: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    unsafe {
        let r = real(f);
        methods(r).xCheckReservedLock.expect("xCheckReservedLock")(r, out)
    }
}

unsafe extern "C" fn x_file_control(
    f: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    // a size hint would grow the real file behind the overlay's back
    if op == ffi::SQLITE_FCNTL_SIZE_HINT {
        return ffi::SQLITE_OK;
    }
    unsafe {
        let r = real(f);
        methods(r).xFileControl.expect("xFileControl")(r, op, arg)
    }
}

unsafe extern "C" fn x_sector_size(f: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let r = real(f);
        methods(r).xSectorSize.expect("xSectorSize")(r)
    }
}

unsafe extern "C" fn x_device_characteristics(f: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let r = real(f);
        methods(r)
            .xDeviceCharacteristics
            .expect("xDeviceCharacteristics")(r)
    }
}

// The WAL index (-shm) is shared memory: delegated as is. It does not survive a power cut
// either, and need not: the first connection after the cut rebuilds it from the WAL file.
unsafe extern "C" fn x_shm_map(
    f: *mut ffi::sqlite3_file,
    pg: c_int,
    pgsz: c_int,
    extend: c_int,
    pp: *mut *mut c_void,
) -> c_int {
    unsafe {
        let r = real(f);
        methods(r).xShmMap.expect("xShmMap")(r, pg, pgsz, extend, pp)
    }
}

unsafe extern "C" fn x_shm_lock(
    f: *mut ffi::sqlite3_file,
    off: c_int,
    n: c_int,
    fl: c_int,
) -> c_int {
    unsafe {
        let r = real(f);
        methods(r).xShmLock.expect("xShmLock")(r, off, n, fl)
    }
}

unsafe extern "C" fn x_shm_barrier(f: *mut ffi::sqlite3_file) {
    unsafe {
        let r = real(f);
        methods(r).xShmBarrier.expect("xShmBarrier")(r)
    }
}

unsafe extern "C" fn x_shm_unmap(f: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    unsafe {
        let r = real(f);
        methods(r).xShmUnmap.expect("xShmUnmap")(r, delete)
    }
}

/// Version 2: shared memory, but no memory-mapped reads (those would bypass the overlay).
static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 2,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: None,
    xUnfetch: None,
};

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    f: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let v = vfs();
    unsafe {
        (*f).pMethods = std::ptr::null();
        let rc = (*v.unix).xOpen.expect("xOpen")(v.unix, name, real(f), flags, out_flags);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let key = if name.is_null() {
            format!(
                "\0anonymous {}",
                v.anonymous.fetch_add(1, Ordering::Relaxed)
            )
        } else {
            CStr::from_ptr(name).to_string_lossy().into_owned()
        };
        let journal = !name.is_null() && key.ends_with("-journal");
        let ov = v
            .overlays
            .lock()
            .expect("overlays")
            .entry(key)
            .or_default()
            .clone();
        (*(f as *mut CutFile)).journal = journal;
        (*(f as *mut CutFile)).overlay = Arc::into_raw(ov);
        (*f).pMethods = &METHODS;
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_delete(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync_dir: c_int,
) -> c_int {
    let v = vfs();
    unsafe {
        let key = CStr::from_ptr(name).to_string_lossy().into_owned();
        v.overlays.lock().expect("overlays").remove(&key);
        (*v.unix).xDelete.expect("xDelete")(v.unix, name, sync_dir)
    }
}

unsafe extern "C" fn x_access(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    let v = vfs();
    unsafe { (*v.unix).xAccess.expect("xAccess")(v.unix, name, flags, out) }
}

unsafe extern "C" fn x_full_pathname(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    let v = vfs();
    unsafe { (*v.unix).xFullPathname.expect("xFullPathname")(v.unix, name, n, out) }
}

/// Registers the power-cut VFS as the process's default.
fn register_power_cut_vfs(sync_writes_through: bool) {
    unsafe {
        let unix = ffi::sqlite3_vfs_find(c"unix".as_ptr());
        assert!(!unix.is_null(), "no unix VFS");
        let fresh = VFS.set(Vfs {
            unix,
            sync_writes_through,
            overlays: Mutex::new(HashMap::new()),
            anonymous: AtomicUsize::new(0),
        });
        assert!(fresh.is_ok(), "the power-cut VFS is registered once");
        let mut mine: ffi::sqlite3_vfs = *unix;
        mine.pNext = std::ptr::null_mut();
        mine.zName = c"power-cut".as_ptr();
        mine.szOsFile = (HEADER + (*unix).szOsFile as usize) as c_int;
        mine.xOpen = Some(x_open);
        mine.xDelete = Some(x_delete);
        mine.xAccess = Some(x_access);
        mine.xFullPathname = Some(x_full_pathname);
        let rc = ffi::sqlite3_vfs_register(Box::leak(Box::new(mine)), 1);
        assert_eq!(rc, ffi::SQLITE_OK, "registering the VFS");
    }
}

// ---------------------------------------------------------------------------------------------
// the child: the real central over the VFS

/// In the child process: serves the central over the registry in `$ONSHI_POWER_CUT_CHILD`
/// until killed (at most a minute), and never returns.
fn serve_as_child(dir: &str) -> ! {
    let dir = PathBuf::from(dir);
    register_power_cut_vfs(std::env::var(SYNC_ENV).as_deref() != Ok("drop"));
    let store = Arc::new(onshi_store::SqliteStore::open(dir.join("c.sqlite")).expect("store"));
    let cards = Arc::new(
        onshi_card::CardStore::open_with_key_file(dir.join("c.cards.sqlite")).expect("cards"),
    );
    let central = onshi_central::Central::new(
        store.clone(),
        store.clone(),
        Arc::new(onshi_central::SystemClock),
    );
    let state = onshi_web::AppState::new(central, store, cards);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let tmp = dir.join("port.tmp");
        std::fs::write(&tmp, port.to_string()).expect("port file");
        std::fs::rename(&tmp, dir.join("port")).expect("port file");
        let _ = tokio::time::timeout(
            Duration::from_secs(60),
            onshi_web::serve(listener, state, std::future::pending()),
        )
        .await;
    });
    std::process::exit(0)
}

// ---------------------------------------------------------------------------------------------
// the parent: registry, load, power cut, check

struct Outcome {
    /// ids of the confirmations answered 200 with a result
    acked: Vec<i64>,
    /// how many times each acknowledged id is in the history after the cut
    found: HashMap<i64, i64>,
    rows_after: i64,
}

/// Runs the one test `test` of this binary again as a child process, with `envs` telling it
/// its role.
fn spawn_child(test: &str, envs: &[(&str, &std::ffi::OsStr)]) -> std::process::Child {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", test, "--nocapture", "--test-threads=1"]);
    for (k, v) in envs {
        c.env(k, v);
    }
    c.stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Waits (at most `limit`) for the child to make `file`; fails if it exits first.
fn wait_for_file(child: &mut std::process::Child, file: &std::path::Path, limit: Duration) {
    let t = Instant::now();
    while !file.exists() {
        assert!(
            t.elapsed() < limit,
            "the child did not make {}",
            file.display()
        );
        if let Some(s) = child.try_wait().unwrap() {
            panic!("the child exited: {s}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Drives confirmations at the child for `load_for`, cuts its power with requests in flight,
/// and reads the history back with the ordinary VFS.
fn power_cut_run(test: &str, sync: &str, load_for: Duration, max_acks: usize) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.sqlite");
    // the fixture registry with the facility and its certified reader, made by the `onshi`
    // binary with the ordinary VFS
    let (token, reader) = support::make_registry(
        dir.path(),
        db.to_str().unwrap(),
        None,
        &dir.path().join("c.cards.sqlite"),
    );
    let mut child = spawn_child(
        test,
        &[
            (CHILD_ENV, dir.path().as_os_str()),
            (SYNC_ENV, sync.as_ref()),
        ],
    );
    let port_file = dir.path().join("port");
    wait_for_file(&mut child, &port_file, Duration::from_secs(20));
    let url = format!(
        "http://127.0.0.1:{}",
        std::fs::read_to_string(&port_file).unwrap().trim()
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = Arc::new(reader);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let serials = ["C0001", "C0002", "C0003", "C0004"];
    rt.block_on(async {
        let mut tasks = Vec::new();
        for k in 0..16usize {
            let (http, url, token) = (http.clone(), url.clone(), token.clone());
            let (acked, stop, reader) = (acked.clone(), stop.clone(), reader.clone());
            tasks.push(tokio::spawn(async move {
                let mut i = k;
                while !stop.load(Ordering::Relaxed) {
                    i += 16;
                    let Ok(r) = http
                        .post(format!("{url}/v1/confirmations/card/nonce"))
                        .bearer_auth(&token)
                        .send()
                        .await
                    else {
                        break;
                    };
                    let Ok(g) = r.json::<serde_json::Value>().await else {
                        break;
                    };
                    let a = reader
                        .assert(
                            FACILITY,
                            g["nonce"].as_str().expect("nonce"),
                            serials[i % serials.len()],
                            chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
                            false,
                            &onshi_card::IdentityAttempt::Face { matched: true },
                        )
                        .unwrap();
                    let Ok(r) = http
                        .post(format!("{url}/v1/confirmations/card"))
                        .bearer_auth(&token)
                        .json(&a)
                        .send()
                        .await
                    else {
                        break;
                    };
                    if r.status() != 200 {
                        break;
                    }
                    let Ok(v) = r.json::<serde_json::Value>().await else {
                        break;
                    };
                    assert_eq!(v["segment_of_result"], "1", "{v}");
                    acked
                        .lock()
                        .unwrap()
                        .push(v["confirmation_id"].as_i64().expect("confirmation_id"));
                }
            }));
        }
        let t = Instant::now();
        while t.elapsed() < load_for && acked.lock().unwrap().len() < max_acks {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // the power cut, with requests in flight
        child.kill().unwrap();
        child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }
    });
    let acked = acked.lock().unwrap().clone();
    // the next boot: the ordinary VFS, only what reached the disk
    for file in [db.clone(), onshi_store::sqlite::history_path(&db)] {
        let c = rusqlite::Connection::open(&file).unwrap();
        let check: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "{} after the power cut", file.display());
    }
    let (found, rows_after) = support::history_counts(&db, &acked);
    Outcome {
        acked,
        found,
        rows_after,
    }
}

fn child_role() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        serve_as_child(&dir);
    }
    if let Ok(dir) = std::env::var(IMPORT_CHILD_ENV) {
        load_as_child(&dir);
    }
}

// ---------------------------------------------------------------------------------------------
// an initial load cut: the child loads an empty registry (through a rollback journal, the file
// being its alone), the power is cut in the commit or after it

/// In the child: an initial load of [`LOAD_PERSONS`] persons into a new registry in `dir`,
/// telling the parent by files beside it (written with the ordinary file system, not the
/// VFS) when its commit starts (`committing`) and when it returned (`committed`: the load
/// acknowledged); then waits to be killed.
fn load_as_child(dir: &str) -> ! {
    use onshi_store::ImportStore;
    let dir = PathBuf::from(dir);
    register_power_cut_vfs(true);
    let store = onshi_store::SqliteStore::open(dir.join("c.sqlite")).expect("store");
    let hasher = onshi_domain::numbers::MyNumberHasher::new(b"power-cut-load-key").expect("key");
    let mut tx = store.begin_import().expect("import");
    tx.start_initial_load().expect("initial load");
    for n in 0..LOAD_PERSONS {
        let mut digits = [0u8; 11];
        let mut v = n;
        for d in digits.iter_mut().rev() {
            *d = (v % 10) as u8;
            v /= 10;
        }
        let h = hasher.hash(&onshi_domain::numbers::MyNumber::from_first11(&digits).expect("n"));
        let p = onshi_domain::qualification::Person {
            name: format!("田中　{n}"),
            name_kana: format!("タナカ　{n}"),
            sex: onshi_domain::numbers::Sex::Female,
            birthdate: chrono::NaiveDate::from_ymd_opt(1980, 4, 2).expect("date"),
            post_number: Some("1000001".into()),
            address: Some("東京都千代田区千代田1-1".into()),
        };
        tx.insert_new_person(&h, &p).expect("person");
    }
    std::fs::write(dir.join("committing"), b"").expect("marker");
    // armed only now: the store's opening syncs journals of its own
    if let Some(marker) = std::env::var_os(JOURNAL_SYNCED_ENV) {
        JOURNAL_SYNCED.set(PathBuf::from(marker)).expect("set once");
    }
    tx.commit().expect("commit");
    std::fs::write(dir.join("committed"), b"").expect("marker");
    std::thread::sleep(Duration::from_secs(60));
    std::process::exit(0)
}

/// When a load's power is cut.
#[derive(Clone, Copy)]
enum CutAt {
    /// once the commit returned
    Committed,
    /// this long after the commit started
    After(Duration),
    /// right after the rollback journal was synced, before the database file is written
    JournalSynced,
}

/// Runs the load in a child and cuts its power at `at`. Returns what the cut left, read with
/// the ordinary VFS from a file that passed `PRAGMA integrity_check` and opens as a store in
/// WAL mode.
fn load_cut(test: &str, at: CutAt) -> LoadCut {
    let dir = tempfile::tempdir().unwrap();
    // beside the registry's folder, so that it is not mistaken for one of its files
    let marker_dir = tempfile::tempdir().unwrap();
    let journal_synced = marker_dir.path().join("journal-synced");
    let mut envs = vec![(IMPORT_CHILD_ENV, dir.path().as_os_str())];
    if matches!(at, CutAt::JournalSynced) {
        envs.push((JOURNAL_SYNCED_ENV, journal_synced.as_os_str()));
    }
    let mut child = spawn_child(test, &envs);
    let mut wait_for =
        |file: &std::path::Path| wait_for_file(&mut child, file, Duration::from_secs(60));
    wait_for(&dir.path().join("committing"));
    let started = Instant::now();
    let mut commit_took = None;
    match at {
        CutAt::After(d) => std::thread::sleep(d),
        CutAt::Committed => {
            wait_for(&dir.path().join("committed"));
            commit_took = Some(started.elapsed());
        }
        CutAt::JournalSynced => wait_for(&journal_synced),
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let acknowledged = dir.path().join("committed").exists();
    let db = dir.path().join("c.sqlite");
    let journal = std::fs::metadata(dir.path().join("c.sqlite-journal")).map_or(0, |m| m.len());
    {
        // the hot journal, if any, is rolled back by the first reader
        let c = rusqlite::Connection::open(&db).unwrap();
        let check: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "after the power cut");
    }
    let store = onshi_store::SqliteStore::open(&db).unwrap();
    let persons = onshi_store::RegistryRead::counts(&store).unwrap().persons;
    let c = rusqlite::Connection::open(&db).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal", "the store puts the file back in WAL mode");
    LoadCut {
        acknowledged,
        persons,
        journal,
        commit_took,
    }
}

/// What a cut initial load left.
#[derive(Debug)]
struct LoadCut {
    /// the commit had returned before the cut
    acknowledged: bool,
    /// persons in the registry afterwards
    persons: u64,
    /// bytes of the rollback journal the cut left beside the file (before it was reopened)
    journal: u64,
    /// how long the commit took, seen from the parent (a load let finish)
    commit_took: Option<Duration>,
}

#[test]
fn an_initial_load_cut_in_its_commit_is_all_or_nothing() {
    child_role();
    let test = "an_initial_load_cut_in_its_commit_is_all_or_nothing";
    // one load let finish tells how long its commit takes on this machine; the cuts are
    // spread over that time, and one well after it
    let took = load_cut(test, CutAt::Committed).commit_took.unwrap();
    let mut seen = Vec::new();
    for tenths in [1, 2, 3, 4, 5, 6, 7, 8, 9, 30] {
        let ms = took.as_millis() as u64 * tenths / 10;
        let cut = load_cut(test, CutAt::After(Duration::from_millis(ms)));
        assert!(
            cut.persons == 0 || cut.persons == u64::from(LOAD_PERSONS),
            "cut {ms} ms into the commit: {} persons, neither none nor all",
            cut.persons
        );
        if cut.acknowledged {
            assert_eq!(
                cut.persons,
                u64::from(LOAD_PERSONS),
                "an acknowledged load lost"
            );
        }
        seen.push((ms, cut));
    }
    eprintln!("initial load cut in its commit (commit {took:?}): {seen:?}");
    // the cuts above fall where they fall; this one is made where the journal is durable and
    // the database file not yet written, so that a hot journal is certainly rolled back
    let cut = load_cut(test, CutAt::JournalSynced);
    eprintln!("initial load cut once its journal was synced: {cut:?}");
    assert!(
        !cut.acknowledged,
        "the commit returned although it was held"
    );
    assert!(
        cut.journal > 0,
        "the cut left no journal to roll back: the commit was not caught in the middle"
    );
    assert_eq!(
        cut.persons, 0,
        "a cut commit left persons behind its journal"
    );
}

#[test]
fn an_acknowledged_initial_load_survives_a_power_cut() {
    child_role();
    let cut = load_cut(
        "an_acknowledged_initial_load_survives_a_power_cut",
        CutAt::Committed,
    );
    assert!(cut.acknowledged);
    assert_eq!(cut.persons, u64::from(LOAD_PERSONS));
}

#[test]
fn acknowledged_confirmations_survive_a_power_cut() {
    child_role();
    let o = power_cut_run(
        "acknowledged_confirmations_survive_a_power_cut",
        "through",
        Duration::from_secs(3),
        3000,
    );
    assert!(
        o.acked.len() >= 50,
        "only {} confirmations acknowledged",
        o.acked.len()
    );
    let mut distinct = o.acked.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), o.acked.len(), "an id acknowledged twice");
    for id in &o.acked {
        assert_eq!(
            o.found[id], 1,
            "acknowledged confirmation {id} lost or doubled"
        );
    }
    assert!(o.rows_after >= o.acked.len() as i64);
    eprintln!(
        "power cut: {} confirmations acknowledged, all found once; {} rows in the history",
        o.acked.len(),
        o.rows_after
    );
}

#[test]
fn a_power_cut_loses_acknowledged_confirmations_when_sync_is_a_no_op() {
    child_role();
    let o = power_cut_run(
        "a_power_cut_loses_acknowledged_confirmations_when_sync_is_a_no_op",
        "drop",
        Duration::from_secs(1),
        300,
    );
    assert!(
        o.acked.len() >= 20,
        "only {} confirmations acknowledged",
        o.acked.len()
    );
    let kept = o.found.values().filter(|&&n| n == 1).count();
    assert!(
        kept < o.acked.len(),
        "every acknowledged confirmation survived although nothing was synced: the fake does not drop unsynced writes"
    );
    assert_eq!(
        kept, 0,
        "nothing was synced, so nothing of the child's survives"
    );
}
