//! Shared-memory regions as other processes meet them: every bad file is its own typed error
//! (never a crash), one producer per region, private files, stale regions removed only when
//! their owner is gone, and dead peers — killed with `SIGKILL` in real child processes —
//! detected.
#![cfg(target_os = "linux")]

use std::fs::OpenOptions;
use std::mem::offset_of;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use byteor::abi::region::{IdentityBlockV1, REGION_HEADER_BYTES, REGION_MAGIC};
use byteor::abi::ShmEvent;
use byteor::transport::shm::{
    inspect, list, remove_stale, DeathReason, Peer, PeerState, PeerStatus, Region, RingDescriptor,
    ShmError, ShmOptions, StreamState,
};
use tests::shm::{child_role, spawn_test_child, ShmDir};
use tests::{Ev, TIMEOUT};

/// Another event type, to open a region with the wrong one.
#[derive(Clone, Copy, Default, byteor::ShmEvent)]
#[repr(C)]
struct Tock {
    seq: u64,
    value: u64,
}

fn desc(spec: u64, capacity: u64, stages: &[&str]) -> RingDescriptor {
    RingDescriptor::new(&Ev::LAYOUT, spec, capacity, stages).unwrap()
}

fn quick() -> ShmOptions {
    ShmOptions {
        init_timeout: Duration::from_millis(50),
        ..ShmOptions::default()
    }
}

/// Takes the open-file-description lock on byte 0 of `file` (the producer's place), as a
/// creator does right after making the file.
fn lock_byte_0(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a zeroed `flock` is valid; it is filled in before the call, which only reads
    // it, on a descriptor `file` keeps open.
    let rc = unsafe {
        let mut lock: libc::flock = std::mem::zeroed();
        lock.l_type = libc::F_WRLCK as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        lock.l_start = 0;
        lock.l_len = 1;
        libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &lock)
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}

fn open(path: &Path, desc: &RingDescriptor) -> ShmError {
    match Region::open(path, desc, &quick()) {
        Ok(_) => panic!("{} opened, expected an error", path.display()),
        Err(e) => {
            assert_eq!(e.path(), Some(path), "{e}");
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            e
        }
    }
}

/// Creates a valid region and lets its creator go (the file stays).
fn valid(dir: &ShmDir, name: &str, d: &RingDescriptor) -> std::path::PathBuf {
    let path = dir.region(name);
    drop(Region::create(&path, d, &ShmOptions::default()).unwrap());
    path
}

/// Retries `attempt` until it succeeds (bounded). A lock is released when the last
/// descriptor of its open file description closes; a child process another test of this
/// binary is starting holds copies of every descriptor between its fork and its exec, so a
/// place can stay taken for that long after its holder dropped it.
fn eventually<T, E: std::fmt::Debug>(mut attempt: impl FnMut() -> Result<T, E>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(e) if Instant::now() >= deadline => panic!("still failing: {e:?}"),
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

fn patch(path: &Path, offset: usize, bytes: &[u8]) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.write_at(bytes, offset as u64).unwrap();
}

fn set_len(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// The table of bad files, run in a child process (see the test below).
fn bad_file_table() {
    let dir = ShmDir::new("bad-files");
    let d = desc(1, 64, &["parse", "risk"]);
    let bytes = d.geometry().region_bytes;

    // Missing.
    let missing = dir.region("missing");
    assert!(matches!(open(&missing, &d), ShmError::Missing { .. }));

    // Already exists: creation never reuses a file.
    let path = valid(&dir, "exists", &d);
    let err = Region::create(&path, &d, &ShmOptions::default()).unwrap_err();
    assert!(matches!(err, ShmError::Exists { .. }), "{err}");

    // Shorter than a header.
    let path = dir.region("short-header");
    std::fs::write(&path, [7u8; 100]).unwrap();
    match open(&path, &d) {
        ShmError::ShorterThanHeader {
            expected, found, ..
        } => assert_eq!((expected, found), (REGION_HEADER_BYTES as u64, 100)),
        other => panic!("{other}"),
    }

    // Shorter than a header while a creator holds the producer's byte (it has made the file
    // and not sized it yet): waited for, then still initialising — not a short file.
    let path = dir.region("being-created");
    let creator = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    lock_byte_0(&creator);
    let started = Instant::now();
    match open(&path, &d) {
        ShmError::StillInitialising { creator_pid, .. } => assert_eq!(creator_pid, 0),
        other => panic!("{other}"),
    }
    assert!(started.elapsed() >= quick().init_timeout);
    drop(creator);

    // Foreign magic: reported at once, without waiting.
    let path = dir.region("foreign");
    let mut elf = vec![0u8; bytes as usize];
    elf[..4].copy_from_slice(b"\x7fELF");
    std::fs::write(&path, &elf).unwrap();
    let started = Instant::now();
    match open(&path, &d) {
        ShmError::ForeignMagic {
            found, expected, ..
        } => {
            assert_eq!(&found[..4], b"\x7fELF");
            assert_eq!(expected, REGION_MAGIC);
        }
        other => panic!("{other}"),
    }
    assert!(started.elapsed() < Duration::from_millis(50));

    // Zeroed: sized and never written.
    let path = dir.region("zeroed");
    std::fs::write(&path, vec![0u8; bytes as usize]).unwrap();
    match open(&path, &d) {
        ShmError::Zeroed { waited, .. } => assert!(waited >= Duration::from_millis(50)),
        other => panic!("{other}"),
    }

    // Still initialising: a creator wrote some of the header but not the version word.
    let path = dir.region("initialising");
    std::fs::write(&path, vec![0u8; bytes as usize]).unwrap();
    patch(&path, 0, &REGION_MAGIC);
    patch(
        &path,
        offset_of!(IdentityBlockV1, owner_pid),
        &4242u32.to_ne_bytes(),
    );
    match open(&path, &d) {
        ShmError::StillInitialising { creator_pid, .. } => assert_eq!(creator_pid, 4242),
        other => panic!("{other}"),
    }

    // Another ABI version.
    let path = valid(&dir, "abi", &d);
    patch(
        &path,
        offset_of!(IdentityBlockV1, abi_version),
        &7u32.to_ne_bytes(),
    );
    match open(&path, &d) {
        ShmError::AbiVersion {
            expected, found, ..
        } => assert_eq!((expected, found), (1, 7)),
        other => panic!("{other}"),
    }

    // Another event type: both layouts named.
    let path = valid(&dir, "layout", &d);
    let tock = RingDescriptor::new(&Tock::LAYOUT, 1, 64, &["parse", "risk"]).unwrap();
    let err = open(&path, &tock);
    assert!(matches!(err, ShmError::EventLayout { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("`Ev` (32 bytes") && text.contains("`Tock` (16 bytes"),
        "{text}"
    );

    // Another spec.
    let err = open(&path, &desc(2, 64, &["parse", "risk"]));
    assert!(
        matches!(
            err,
            ShmError::SpecFingerprint {
                expected: 2,
                found: 1,
                ..
            }
        ),
        "{err}"
    );

    // Geometry the opener does not expect: capacity, stage count, a stage's name.
    for (other, field) in [
        (desc(1, 128, &["parse", "risk"]), "capacity"),
        (desc(1, 64, &["parse"]), "stage_count"),
        (desc(1, 64, &["parse", "audit"]), "stage 2 name"),
    ] {
        match open(&path, &other) {
            ShmError::Geometry { field: f, .. } => assert_eq!(f, field),
            e => panic!("{e}"),
        }
    }

    // Shorter than its geometry (truncated after creation).
    let path = valid(&dir, "truncated", &d);
    set_len(&path, bytes - 128);
    match open(&path, &d) {
        ShmError::ShorterThanGeometry {
            expected, found, ..
        } => assert_eq!((expected, found), (bytes, bytes - 128)),
        other => panic!("{other}"),
    }

    // Longer than its geometry.
    let path = valid(&dir, "longer", &d);
    set_len(&path, bytes + 4096);
    match open(&path, &d) {
        ShmError::Geometry { field, .. } => assert_eq!(field, "file length"),
        other => panic!("{other}"),
    }

    // A header that contradicts itself: an offset, a stage count past the limit.
    let path = valid(&dir, "offsets", &d);
    patch(
        &path,
        offset_of!(IdentityBlockV1, slots_offset),
        &1u64.to_ne_bytes(),
    );
    match open(&path, &d) {
        ShmError::Geometry { field, .. } => {
            assert_eq!(field, "sequences_offset/slots_offset/region_bytes")
        }
        other => panic!("{other}"),
    }
    let path = valid(&dir, "stages", &d);
    patch(
        &path,
        offset_of!(IdentityBlockV1, stage_count),
        &1000u32.to_ne_bytes(),
    );
    match open(&path, &d) {
        ShmError::Geometry {
            field, expected, ..
        } => assert_eq!(
            (field.as_str(), expected.as_str()),
            ("stage_count", "at most 4")
        ),
        other => panic!("{other}"),
    }

    // Permission denied (root may open anything: the case cannot arise).
    let path = valid(&dir, "private", &d);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    if OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .is_ok()
    {
        eprintln!("permission case skipped: this process may open a mode-000 file (root)");
    } else {
        assert!(matches!(open(&path, &d), ShmError::PermissionDenied { .. }));
    }
}

#[test]
fn every_bad_file_is_its_own_error() {
    match child_role().as_deref() {
        Some("bad-files") => return bad_file_table(),
        Some(_) => return,
        None => {}
    }
    // In a child process: a bug that makes a bad file raise SIGBUS fails this test instead of
    // killing the test runner.
    let mut child = spawn_test_child("every_bad_file_is_its_own_error", "bad-files", &[]);
    let status = child.wait_timeout(TIMEOUT);
    assert!(
        status.success(),
        "the bad-file table failed in its child process ({status}); a signal means a crash \
         such as SIGBUS"
    );
}

#[test]
fn a_region_has_one_producer_and_the_holder_is_named() {
    if child_role().is_some() {
        return;
    }
    let dir = ShmDir::new("producer");
    let path = dir.region("ring");
    let d = desc(1, 64, &["a"]);
    let creator = Region::create(&path, &d, &ShmOptions::default()).unwrap();
    assert_eq!(creator.held(), [Peer::Producer]);
    let mut second = Region::open(&path, &d, &ShmOptions::default()).unwrap();
    match second.claim(Peer::Producer) {
        Err(ShmError::ProducerTaken { pid, .. }) => assert_eq!(pid, std::process::id()),
        other => panic!("expected ProducerTaken, got {other:?}"),
    }
    // Its holder gone, the place is free again.
    drop(creator);
    eventually(|| second.claim(Peer::Producer));
    assert_eq!(second.held(), [Peer::Producer]);
}

#[test]
fn stage_places_are_taken_once_by_name() {
    if child_role().is_some() {
        return;
    }
    let dir = ShmDir::new("stages");
    let path = dir.region("ring");
    let d = desc(1, 64, &["parse", "risk"]);
    let _creator = Region::create(&path, &d, &ShmOptions::default()).unwrap();
    let mut a = Region::open(&path, &d, &ShmOptions::default()).unwrap();
    let mut b = Region::open(&path, &d, &ShmOptions::default()).unwrap();
    let risk = a.stage("risk").unwrap();
    assert_eq!(risk, Peer::Stage(1));
    a.claim(risk).unwrap();
    match b.claim(risk) {
        Err(ShmError::StageTaken { stage, .. }) => assert_eq!(stage, "risk"),
        other => panic!("expected StageTaken, got {other:?}"),
    }
    b.claim(b.stage("parse").unwrap()).unwrap();
    match b.stage("rsik") {
        Err(e @ ShmError::UnknownStage { .. }) => {
            assert!(
                e.to_string().ends_with("its stages are `parse`, `risk`"),
                "{e}"
            )
        }
        other => panic!("expected UnknownStage, got {other:?}"),
    }
    // Released, the place can be taken by another.
    a.release(risk).unwrap();
    b.claim(risk).unwrap();
}

#[test]
fn regions_are_private_unless_asked_otherwise() {
    if child_role().is_some() {
        return;
    }
    let dir = ShmDir::new("modes");
    let d = desc(1, 64, &["a"]);
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let private = dir.region("private");
    let _a = Region::create(&private, &d, &ShmOptions::default()).unwrap();
    assert_eq!(mode(&private), 0o600);
    let shared = dir.region("nested/shared");
    let options = ShmOptions {
        mode: 0o640,
        ..ShmOptions::default()
    };
    let _b = Region::create(&shared, &d, &options).unwrap();
    assert_eq!(mode(&shared), 0o640);
    assert_eq!(mode(&dir.region("nested")) & 0o750, 0o750);
}

#[test]
fn stale_regions_are_removed_only_when_their_owner_is_gone() {
    if child_role().is_some() {
        return;
    }
    let dir = ShmDir::new("stale");
    let d = desc(1, 64, &["a"]);
    let live = Region::create(dir.region("live"), &d, &ShmOptions::default()).unwrap();
    let gone = dir.region("gone");
    drop(Region::create(&gone, &d, &ShmOptions::default()).unwrap());
    let listed = || -> Vec<(String, bool)> {
        list(dir.path())
            .unwrap()
            .into_iter()
            .map(|r| {
                let name = r.path.file_name().unwrap().to_string_lossy().into_owned();
                (name, r.owner_alive)
            })
            .collect()
    };
    let expected = [("gone".to_owned(), false), ("live".to_owned(), true)];
    eventually(|| {
        let now = listed();
        if now == expected {
            Ok(())
        } else {
            Err(now)
        }
    });
    assert!(!remove_stale(live.path()).unwrap(), "its owner is alive");
    assert!(live.path().exists());
    assert!(remove_stale(&gone).unwrap());
    assert!(!gone.exists());
    assert!(list(dir.path().join("nothing-here")).unwrap().is_empty());
}

/// Child role: attach to the region at `BYTEOR_TEST_REGION` as stage 0, then wait to be
/// killed (at most the test timeout).
fn hold_stage_place() {
    let path = std::env::var("BYTEOR_TEST_REGION").unwrap();
    let mut region = Region::open(&path, &desc(1, 64, &["a"]), &ShmOptions::default()).unwrap();
    region.claim(Peer::Stage(0)).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        region.heartbeat();
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_stage_process_killed_with_sigkill_is_detected() {
    match child_role().as_deref() {
        Some("stage") => return hold_stage_place(),
        Some(_) => return,
        None => {}
    }
    let dir = ShmDir::new("kill-stage");
    let path = dir.region("ring");
    let producer = Region::create(&path, &desc(1, 64, &["a"]), &ShmOptions::default()).unwrap();
    let region = path.to_str().unwrap();
    let mut child = spawn_test_child(
        "a_stage_process_killed_with_sigkill_is_detected",
        "stage",
        &[("BYTEOR_TEST_REGION", region)],
    );
    let heartbeat = Duration::from_secs(5);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match producer.peer_state(Peer::Stage(0), heartbeat) {
            PeerState::Alive { pid, .. } => {
                assert_eq!(pid, child.id());
                break;
            }
            state => assert!(Instant::now() < deadline, "never attached: {state:?}"),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed = Instant::now();
    child.kill();
    let state = loop {
        match producer.peer_state(Peer::Stage(0), heartbeat) {
            PeerState::Alive { .. } => assert!(killed.elapsed() < TIMEOUT, "never seen dead"),
            state => break state,
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let detected = killed.elapsed();
    eprintln!("stage process killed: seen dead after {detected:?}");
    assert!(
        matches!(
            state,
            PeerState::Dead {
                reason: DeathReason::LockReleased,
                ..
            }
        ),
        "{state:?}"
    );
    assert!(detected < Duration::from_secs(1), "{detected:?}");
}

/// Child role: create the region file at `BYTEOR_TEST_REGION` the way a creator starts —
/// exclusive, the producer's lock taken, part of the header written — and stop there until
/// killed.
fn half_create() {
    let path = std::env::var("BYTEOR_TEST_REGION").unwrap();
    let bytes = desc(1, 64, &["a"]).geometry().region_bytes;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    let lock = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 1,
        l_pid: 0,
    };
    // SAFETY: `fcntl(F_OFD_SETLK)` reads the `flock` above during the call; `file` is open.
    let rc = unsafe {
        libc::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(&file),
            libc::F_OFD_SETLK,
            &lock,
        )
    };
    assert_eq!(rc, 0, "lock: {}", std::io::Error::last_os_error());
    file.set_len(bytes).unwrap();
    file.write_at(&REGION_MAGIC, 0).unwrap();
    file.write_at(
        &std::process::id().to_ne_bytes(),
        offset_of!(IdentityBlockV1, owner_pid) as u64,
    )
    .unwrap();
    std::thread::sleep(TIMEOUT);
}

#[test]
fn a_creator_killed_mid_initialisation_leaves_a_stale_region() {
    match child_role().as_deref() {
        Some("half-creator") => return half_create(),
        Some(_) => return,
        None => {}
    }
    let dir = ShmDir::new("kill-creator");
    let path = dir.region("ring");
    let mut child = spawn_test_child(
        "a_creator_killed_mid_initialisation_leaves_a_stale_region",
        "half-creator",
        &[("BYTEOR_TEST_REGION", path.to_str().unwrap())],
    );
    let d = desc(1, 64, &["a"]);
    // Wait until the creator wrote its pid, then see it still initialising.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match Region::open(&path, &d, &quick()) {
            Err(ShmError::StillInitialising { creator_pid, .. }) if creator_pid != 0 => {
                assert_eq!(creator_pid, child.id());
                break;
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            other => panic!("expected StillInitialising, got {other:?}"),
        }
    }
    assert!(!remove_stale(&path).unwrap(), "the creator is alive");
    child.kill();
    assert!(matches!(
        Region::open(&path, &d, &quick()),
        Err(ShmError::StillInitialising { .. })
    ));
    assert!(remove_stale(&path).unwrap(), "the creator is gone");
    assert!(!path.exists());
}

#[test]
fn inspect_reports_what_a_region_holds_and_who_is_alive() {
    if child_role().is_some() {
        return;
    }
    let dir = ShmDir::new("inspect");
    let path = dir.region("ring");
    let d = desc(9, 64, &["parse", "risk"]).with_deps(&[0, 1]).unwrap();
    let producer = Region::create(&path, &d, &ShmOptions::default()).unwrap();
    let mut stage = Region::open(&path, &d, &ShmOptions::default()).unwrap();
    stage.claim(Peer::Stage(0)).unwrap();
    producer.close_stream(0);
    let info = inspect(&path, Duration::from_secs(5)).unwrap();
    assert_eq!(info.ring, d);
    assert_eq!(
        (info.published, info.stage_sequences.clone()),
        (0, vec![0, 0])
    );
    let me = std::process::id();
    assert!(
        matches!(info.producer, PeerState::Alive { pid, .. } if pid == me),
        "{info:?}"
    );
    assert!(
        matches!(
            info.stages[0],
            (PeerState::Alive { .. }, PeerStatus::Running)
        ),
        "{info:?}"
    );
    assert_eq!(info.stages[1], (PeerState::Absent, PeerStatus::Running));
    assert_eq!(info.stream, StreamState::Closed { drain_target: 0 });
    // A file that is not a region is the error that says why.
    let other = dir.region("other");
    std::fs::write(&other, [1u8; 2000]).unwrap();
    assert!(matches!(
        inspect(&other, Duration::from_secs(1)),
        Err(ShmError::ForeignMagic { .. })
    ));
}

/// Child role: hold stage 0 of the region at `BYTEOR_TEST_REGION`, heartbeating, until killed.
fn heartbeat_forever() {
    hold_stage_place()
}

#[test]
fn a_stopped_stage_process_is_dead_once_its_heartbeat_is_stale() {
    match child_role().as_deref() {
        Some("heartbeat") => return heartbeat_forever(),
        Some(_) => return,
        None => {}
    }
    let dir = ShmDir::new("stopped");
    let path = dir.region("ring");
    let producer = Region::create(&path, &desc(1, 64, &["a"]), &ShmOptions::default()).unwrap();
    let mut child = spawn_test_child(
        "a_stopped_stage_process_is_dead_once_its_heartbeat_is_stale",
        "heartbeat",
        &[("BYTEOR_TEST_REGION", path.to_str().unwrap())],
    );
    let timeout = Duration::from_millis(300);
    eventually(|| match producer.peer_state(Peer::Stage(0), timeout) {
        PeerState::Alive { .. } => Ok(()),
        other => Err(other),
    });
    // SIGSTOP: the process exists and holds its lock, but stops ticking.
    let stop = || {
        // SAFETY: a plain system call on our own child's pid; no memory is involved.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGSTOP) }
    };
    assert_eq!(stop(), 0);
    let stopped = Instant::now();
    let state = loop {
        match producer.peer_state(Peer::Stage(0), timeout) {
            PeerState::Alive { .. } => assert!(stopped.elapsed() < TIMEOUT, "never stale"),
            state => break state,
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(
        matches!(
            state,
            PeerState::Dead {
                reason: DeathReason::HeartbeatStale { .. },
                ..
            }
        ),
        "{state:?}"
    );
    child.kill();
}
