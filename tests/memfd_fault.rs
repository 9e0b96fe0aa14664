//! No safe call of `MemFd` or `MappedRegion` can fault, whoever shrinks the
//! file: the shrinking is done in this process and in another one, and
//! each case runs in a child process of this binary, so that a `SIGBUS`
//! kills the child and fails the test instead of the whole run.
//!
//! `harness = false`: `main` is both the test runner and, with a role
//! argument, the child that plays the victim or the shrinking peer.

mod common;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use iofd::{Fd, MemFd, Protection, Seals};

const LEN: usize = 8192;

/// Runs this binary as `role` and asserts that it exits 0, not by a signal.
fn run_child(role: &str) {
    let status = Command::new(std::env::current_exe().unwrap())
        .arg(role)
        .status()
        .unwrap();
    assert_eq!(status.signal(), None, "{role}: killed by signal ({status})");
    assert!(status.success(), "{role}: {status}");
}

/// A mapped 8 KiB memfd with known contents, not sealed against shrinking.
fn mapped(prot: Protection) -> (MemFd, iofd::MappedRegion) {
    let memfd = MemFd::new("bus").unwrap();
    memfd.set_len(LEN as u64).unwrap();
    memfd.write_all_at(b"hello", 0).unwrap();
    let region = memfd.mmap(LEN, prot).unwrap();
    assert!(!region.maps_directly());
    (memfd, region)
}

/// Touches the region every safe way after the file shrank to 0.
fn touch_after_shrink(mut region: iofd::MappedRegion) {
    let mut buf = [0u8; 5];
    // Nothing left to read: a short read, not a fault.
    assert_eq!(region.read_at(&mut buf, 0).unwrap(), 0);
    assert_eq!(region.read_at(&mut buf, LEN - 5).unwrap(), 0);
    // Writing grows the file back instead of faulting.
    assert_eq!(region.write_at(b"again", 0).unwrap(), 5);
    assert_eq!(region.read_at(&mut buf, 0).unwrap(), 5);
    assert_eq!(&buf, b"again");
}

/// Victim role: the shrink happens in this same process.
fn victim_same_process() {
    let (memfd, region) = mapped(Protection::ReadWrite);
    memfd.set_len(0).unwrap();
    touch_after_shrink(region);
}

/// Victim role: a peer process shrinks the file through its own
/// descriptor (inherited across exec).
fn victim_peer_process() {
    let (memfd, region) = mapped(Protection::ReadWrite);
    let inherited = Fd::from(OwnedFd::from(memfd.try_clone().unwrap()));
    inherited.set_cloexec(false).unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["shrinker", &inherited.as_raw_fd().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "shrinker: {status}");
    assert_eq!(memfd.size().unwrap(), 0, "the peer shrank it");
    touch_after_shrink(region);
}

/// Peer role: shrink the memfd passed as descriptor `fd` to 0.
fn shrinker(fd: &str) {
    let raw: i32 = fd.parse().unwrap();
    // The parent passed this descriptor to us on purpose and nothing else
    // in this process owns it.
    // SAFETY: so we may own (and close) it.
    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
    let memfd = MemFd::try_from(owned).unwrap();
    memfd.set_len(0).unwrap();
}

/// Victim role: a region of a memfd sealed against shrinking maps directly,
/// and nobody (here or in a peer) can shrink it any more.
fn victim_sealed() {
    let memfd = MemFd::new_sealable("pinned").unwrap();
    memfd.set_len(LEN as u64).unwrap();
    memfd.seal(Seals::SHRINK).unwrap();
    let mut region = memfd.mmap(LEN, Protection::ReadWrite).unwrap();
    assert!(region.maps_directly());
    assert!(!region.is_immutable());
    assert_eq!(
        memfd.set_len(0).unwrap_err().raw_os_error(),
        Some(libc::EPERM)
    );
    assert_eq!(region.write_at(b"direct", LEN - 6).unwrap(), 6);
    let mut buf = [0u8; 6];
    assert_eq!(memfd.read_at(&mut buf, LEN as u64 - 6).unwrap(), 6);
    assert_eq!(&buf, b"direct");
    // Growing is still allowed and leaves the region alone.
    memfd.set_len(2 * LEN as u64).unwrap();
    assert_eq!(region.read_at(&mut buf, LEN - 6).unwrap(), 6);
    assert_eq!(&buf, b"direct");
}

fn shrink_in_the_same_process_does_not_fault() {
    run_child("victim-same");
}

fn shrink_by_a_peer_process_does_not_fault() {
    run_child("victim-peer");
}

fn a_region_sealed_against_shrinking_maps_directly() {
    run_child("victim-sealed");
}

/// A peer truncates and then seals WRITE|SHRINK while we map: whatever the
/// interleaving, a region that claims to be immutable (and hands out a
/// slice) must lie inside the file. Reading the size before the seals (the
/// old order) lets a stale size pass for a file that is now empty.
fn immutable_regions_always_lie_inside_the_file() {
    let page = rustix::param::page_size() as u64;
    for _ in 0..2000 {
        let memfd = MemFd::new_sealable("race").unwrap();
        memfd.set_len(2 * page).unwrap();
        let peer = memfd.try_clone().unwrap();
        let sealer = std::thread::spawn(move || {
            peer.set_len(0).unwrap();
            // EBUSY when our mapping already exists: any shared mapping
            // blocks F_SEAL_WRITE.
            let _ = peer.seal(Seals::WRITE | Seals::SHRINK | Seals::GROW);
        });
        if let Ok(region) = memfd.mmap(2 * page as usize, Protection::Read) {
            if region.as_slice().is_some() {
                assert!(
                    memfd.size().unwrap() >= 2 * page,
                    "an immutable region reaches past the end of the file"
                );
            }
        }
        sealer.join().unwrap();
    }
}

fn seal_write_is_refused_while_a_read_only_shared_mapping_exists() {
    let memfd = MemFd::new_sealable("busy").unwrap();
    memfd.set_len(4096).unwrap();
    let region = memfd.mmap(4096, Protection::Read).unwrap();
    assert_eq!(
        memfd.seal(Seals::WRITE).unwrap_err().raw_os_error(),
        Some(libc::EBUSY)
    );
    drop(region);
    memfd.seal(Seals::WRITE).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("victim-same") => return victim_same_process(),
        Some("victim-peer") => return victim_peer_process(),
        Some("victim-sealed") => return victim_sealed(),
        Some("shrinker") => return shrinker(&args[1]),
        _ => {}
    }
    common::run(&[
        (
            "shrink_in_the_same_process_does_not_fault",
            shrink_in_the_same_process_does_not_fault,
        ),
        (
            "shrink_by_a_peer_process_does_not_fault",
            shrink_by_a_peer_process_does_not_fault,
        ),
        (
            "a_region_sealed_against_shrinking_maps_directly",
            a_region_sealed_against_shrinking_maps_directly,
        ),
        (
            "immutable_regions_always_lie_inside_the_file",
            immutable_regions_always_lie_inside_the_file,
        ),
        (
            "seal_write_is_refused_while_a_read_only_shared_mapping_exists",
            seal_write_is_refused_while_a_read_only_shared_mapping_exists,
        ),
    ]);
}
