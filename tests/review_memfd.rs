//! Review: hugetlb memfd, writer's direct region (SHRINK | FUTURE_WRITE),
//! then a peer tries every way to take the page away; then the region is
//! read and written. Runs in a forked child: a SIGBUS shows as its status.

use std::os::fd::AsFd;

use iofd::{MemFd, Protection, Seals};

const HUGE: usize = 2 << 20;

fn attack() -> i32 {
    let memfd = match MemFd::options()
        .hugetlb(true)
        .allow_sealing(true)
        .create("huge")
    {
        Ok(m) => m,
        Err(e) => {
            println!("skipped: {e}");
            return 0;
        }
    };
    memfd.set_len(HUGE as u64).unwrap();
    let mut region = memfd.mmap(HUGE, Protection::ReadWrite).unwrap();
    memfd.seal(Seals::SHRINK | Seals::FUTURE_WRITE).unwrap();
    let direct = region.recheck_seals().unwrap();
    println!("maps_directly after seal: {direct}");
    region.write_at(b"x", 0).unwrap();
    // The peer: its own descriptor (a fresh open file description).
    let peer = rustix::fs::open(
        format!("/proc/self/fd/{}", rustix::fd::AsRawFd::as_raw_fd(&memfd)).as_str(),
        rustix::fs::OFlags::RDWR,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let punch = rustix::fs::fallocate(
        &peer,
        rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE,
        0,
        HUGE as u64,
    );
    println!("peer punch: {punch:?}");
    let shrink = rustix::fs::ftruncate(&peer, 0);
    println!("peer shrink: {shrink:?}");
    // Another hugetlb memfd grabs any free page.
    let other = MemFd::new_hugetlb("other").unwrap();
    other.set_len(HUGE as u64).unwrap();
    let grab = other
        .mmap(HUGE, Protection::ReadWrite)
        .map(|mut r| r.write_at(b"y", 0));
    println!("other grabs a page: {:?}", grab.is_ok());
    let mut b = [0u8; 1];
    let r = region.read_at(&mut b, 0);
    let w = region.write_at(b"z", HUGE - 1);
    println!("read {r:?} {b:?}, write {w:?}");
    let _ = peer.as_fd();
    0
}

#[test]
fn hugetlb_writer_region_survives_a_peer() {
    if rustix::process::geteuid().as_raw() != 0 {
        println!("skipped: not root");
        return;
    }
    let old = std::fs::read_to_string("/proc/sys/vm/nr_hugepages").unwrap();
    std::fs::write("/proc/sys/vm/nr_hugepages", "1").unwrap();
    // SAFETY: test-only; the child runs the attack and _exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = attack();
        // SAFETY: leave.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    std::fs::write("/proc/sys/vm/nr_hugepages", old.trim()).unwrap();
    println!("child status {status:#x}");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child died: signal {}",
        libc::WTERMSIG(status)
    );
}
