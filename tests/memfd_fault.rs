//! No safe call of `MemFd` or `MappedRegion` can fault, whoever shrinks the
//! file or punches a hole in it (tmpfs and hugetlbfs): the shrinking is
//! done in this process and in another one, the punching by another
//! process through its own descriptor, and each case runs in a child
//! process of this binary, so that a `SIGBUS` kills the child and fails
//! the test instead of the whole run. Also: huge-page regions are unmapped
//! on drop. The huge-page cases set `vm.nr_hugepages` to 1 as root and
//! restore it; without root or 2 MiB huge pages they print `skipped: …`.
//!
//! `harness = false`: `main` is both the test runner and, with a role
//! argument, the child that plays the victim or the peer.

mod common;

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use iofd::{Fd, MemFd, Protection, Seals};
use rustix::fs::FallocateFlags;

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

/// Victim role: a writer maps read-write, then seals the memfd against
/// shrinking and against new writers (`FUTURE_WRITE`, which also forbids
/// punching holes): after `recheck_seals` the region maps directly, and
/// nobody (here or in a peer) can shrink it or punch a hole in it any more.
fn victim_sealed() {
    let memfd = MemFd::new_sealable("pinned").unwrap();
    memfd.set_len(LEN as u64).unwrap();
    let mut region = memfd.mmap(LEN, Protection::ReadWrite).unwrap();
    assert!(!region.maps_directly(), "no seal yet");
    memfd.seal(Seals::SHRINK | Seals::FUTURE_WRITE).unwrap();
    assert!(region.recheck_seals().unwrap());
    assert!(region.maps_directly());
    assert!(!region.is_immutable());
    assert_eq!(
        memfd.set_len(0).unwrap_err().raw_os_error(),
        Some(libc::EPERM)
    );
    assert_eq!(
        punch(&memfd, LEN as u64).unwrap_err(),
        rustix::io::Errno::PERM
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

/// Punches a hole over the first `len` bytes of `fd`'s file.
fn punch(fd: &impl AsFd, len: u64) -> rustix::io::Result<()> {
    rustix::fs::fallocate(
        fd,
        FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE,
        0,
        len,
    )
}

/// Runs this binary as a peer that punches a hole over the first `len`
/// bytes of `memfd` through its own (inherited) descriptor.
fn peer_punches(memfd: &MemFd, len: u64) {
    let inherited = Fd::from(OwnedFd::from(memfd.try_clone().unwrap()));
    inherited.set_cloexec(false).unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "puncher",
            &inherited.as_raw_fd().to_string(),
            &len.to_string(),
        ])
        .status()
        .unwrap();
    assert!(status.success(), "puncher: {status}");
}

/// Peer role: punch a hole over the first `len` bytes of descriptor `fd`.
fn puncher(fd: &str, len: &str) {
    let raw: i32 = fd.parse().unwrap();
    // The parent passed this descriptor to us on purpose and nothing else
    // in this process owns it.
    // SAFETY: so we may own (and close) it.
    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
    punch(&owned, len.parse().unwrap()).unwrap();
}

/// The 512-byte blocks the file of `fd` holds in memory.
fn blocks(fd: &impl AsFd) -> u64 {
    rustix::fs::fstat(fd).unwrap().st_blocks as u64
}

/// Victim role: the memfd is sealed against shrinking only, and a peer
/// punches a hole through its own descriptor. The region must not touch
/// the mapping: on tmpfs a touch of the hole allocates a page, charged at
/// fault time (`VM_NORESERVE`), which under `vm.overcommit_memory=2` can
/// fail, and the failure is a `SIGBUS`. Reading through the descriptor
/// reads zeros and allocates nothing.
fn victim_punched_tmpfs() {
    let memfd = MemFd::new_sealable("punched").unwrap();
    memfd.set_len(LEN as u64).unwrap();
    memfd.write_all_at(b"hello", 0).unwrap();
    memfd.seal(Seals::SHRINK).unwrap();
    let mut region = memfd.mmap(LEN, Protection::ReadWrite).unwrap();
    assert!(
        !region.maps_directly(),
        "SHRINK alone does not keep the pages: anyone can punch a hole"
    );
    peer_punches(&memfd, LEN as u64);
    assert_eq!(blocks(&memfd), 0, "the peer freed every page");
    let mut buf = [0xAAu8; 5];
    assert_eq!(region.read_at(&mut buf, 0).unwrap(), 5);
    assert_eq!(buf, [0; 5]);
    assert_eq!(region.read_at(&mut buf, LEN - 5).unwrap(), 5);
    assert_eq!(blocks(&memfd), 0, "reading the hole allocated a page");
    assert_eq!(region.write_at(b"again", 0).unwrap(), 5);
    assert_eq!(region.read_at(&mut buf, 0).unwrap(), 5);
    assert_eq!(&buf, b"again");
}

/// The system's huge page count, set for a test and restored on drop.
struct HugePages {
    before: String,
}

const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";
const HUGE: usize = 2 * 1024 * 1024;

impl HugePages {
    /// Sets `nr_hugepages` to `n`; `Err` says why it cannot (no root, no
    /// huge pages of 2 MiB, no contiguous memory).
    fn set(n: u64) -> Result<HugePages, String> {
        if rustix::process::geteuid().as_raw() != 0 {
            return Err("needs root to set nr_hugepages".into());
        }
        let size = std::fs::read_to_string("/proc/meminfo")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("Hugepagesize:").map(|v| v.trim().to_owned()));
        if size.as_deref() != Some("2048 kB") {
            return Err(format!(
                "the default huge page size is {size:?}, not 2048 kB"
            ));
        }
        let before = std::fs::read_to_string(NR_HUGEPAGES).map_err(|e| e.to_string())?;
        let guard = HugePages { before };
        std::fs::write(NR_HUGEPAGES, n.to_string()).map_err(|e| e.to_string())?;
        let now = std::fs::read_to_string(NR_HUGEPAGES).unwrap();
        if now.trim() != n.to_string() {
            return Err(format!(
                "nr_hugepages is {} after asking for {n}",
                now.trim()
            ));
        }
        Ok(guard)
    }
}

impl Drop for HugePages {
    fn drop(&mut self) {
        let _ = std::fs::write(NR_HUGEPAGES, self.before.trim());
    }
}

/// Victim role (the repro of issue 21): a huge-page memfd sealed against
/// shrinking only, written, then a peer punches a hole over the whole file,
/// which frees the huge page and its reservation; another memfd reserves
/// and touches the only free huge page. A touch of the region would need a
/// free huge page and die of `SIGBUS`.
fn victim_punched_hugetlb() {
    let memfd = MemFd::options()
        .hugetlb(true)
        .allow_sealing(true)
        .create("huge")
        .unwrap();
    memfd.set_len(HUGE as u64).unwrap();
    memfd.seal(Seals::SHRINK).unwrap();
    let mut region = memfd.mmap(HUGE, Protection::ReadWrite).unwrap();
    // Allocate the huge page, as a write through the mapping does (the
    // region's own `write_at` did, when SHRINK alone made it map directly).
    // SAFETY: the mapping is writable, HUGE bytes of a file of HUGE bytes,
    // its huge page reserved by `mmap`, and no peer exists yet.
    unsafe { region.as_mut_ptr().write_volatile(b'x') };
    peer_punches(&memfd, HUGE as u64);
    let other = MemFd::new_hugetlb("other").unwrap();
    other.set_len(HUGE as u64).unwrap();
    let mut taker = other.mmap(HUGE, Protection::ReadWrite).unwrap();
    // The mapping reserved the huge page (MAP_SHARED of hugetlbfs), so
    // touching it cannot fail.
    // SAFETY: `taker` is a writable mapping of HUGE bytes of a file of
    // HUGE bytes that nobody else knows of.
    unsafe { taker.as_mut_ptr().write_volatile(1) };
    let mut buf = [0xAAu8; 1];
    assert_eq!(region.read_at(&mut buf, 0).unwrap(), 1);
    assert_eq!(buf, [0], "the peer punched it out");
    // hugetlbfs takes no write(2): an error, not a fault.
    let err = region.write_at(b"y", 0).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
}

fn a_tmpfs_hole_punched_by_a_peer_does_not_fault() {
    run_child("victim-punched-tmpfs");
}

fn a_hugetlb_hole_punched_by_a_peer_does_not_fault() {
    let _pages = match HugePages::set(1) {
        Ok(pages) => pages,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    run_child("victim-punched-hugetlb");
}

/// The writer's fast path on huge pages: map read-write, seal `SHRINK |
/// FUTURE_WRITE`, recheck; the region then writes through its (populated)
/// mapping, and a peer can neither punch the huge page out nor shrink it.
fn a_hugetlb_writer_sealed_against_peers_maps_directly() {
    let _pages = match HugePages::set(1) {
        Ok(pages) => pages,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let memfd = MemFd::options()
        .hugetlb(true)
        .allow_sealing(true)
        .create("huge-writer")
        .unwrap();
    memfd.set_len(HUGE as u64).unwrap();
    let mut region = memfd.mmap(HUGE, Protection::ReadWrite).unwrap();
    assert!(!region.maps_directly());
    memfd.seal(Seals::SHRINK | Seals::FUTURE_WRITE).unwrap();
    assert!(region.recheck_seals().unwrap());
    assert_eq!(region.write_at(b"huge", HUGE - 4).unwrap(), 4);
    assert_eq!(
        punch(&memfd, HUGE as u64).unwrap_err(),
        rustix::io::Errno::PERM
    );
    let mut buf = [0u8; 4];
    assert_eq!(memfd.read_at(&mut buf, HUGE as u64 - 4).unwrap(), 4);
    assert_eq!(&buf, b"huge");
}

/// The mappings of `/memfd:NAME` that `/proc/self/smaps` lists.
fn mappings_of(name: &str) -> usize {
    let needle = format!("/memfd:{name} (deleted)");
    std::fs::read_to_string("/proc/self/smaps")
        .unwrap()
        .lines()
        .filter(|l| l.ends_with(&needle))
        .count()
}

/// `munmap` of a hugetlbfs mapping needs a length that is a multiple of
/// the huge page size: regions of 6 bytes must still go away on drop.
fn hugetlb_regions_are_unmapped_on_drop() {
    let _pages = match HugePages::set(1) {
        Ok(pages) => pages,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let name = format!("iofd-unmap-{}", std::process::id());
    let memfd = MemFd::new_hugetlb(&name).unwrap();
    memfd.set_len(HUGE as u64).unwrap();
    for _ in 0..3 {
        let region = memfd.mmap(6, Protection::ReadWrite).unwrap();
        assert_eq!(region.len(), 6);
        assert_eq!(mappings_of(&name), 1);
        drop(region);
    }
    assert_eq!(mappings_of(&name), 0, "every region was unmapped");
    let region = memfd.mmap(6, Protection::Read).unwrap();
    region.unmap().unwrap();
    assert_eq!(mappings_of(&name), 0);
}

/// Adoption (`MemFd::try_from`) must not make a call that a hostile file
/// system can block (a FUSE or hard NFS server that does not answer):
/// `fstatfs`, or a `stat` that may ask the server. In a child of this
/// binary, a seccomp filter kills the process on `fstatfs`, `fstat`,
/// `newfstatat` and on `statx` without `AT_STATX_DONT_SYNC`; then a pipe,
/// a regular file, a deleted regular file named `/memfd:…` (as root) and a
/// real memfd are adopted or refused as usual.
fn adoption_makes_no_call_that_can_block() {
    if !cfg!(target_arch = "x86_64") {
        return eprintln!("skipped: the seccomp filter in this test is written for x86_64");
    }
    if std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("valgrind")) {
        return eprintln!("skipped: valgrind itself calls fstat, which the filter kills");
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("adopt-filtered")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("seccomp unavailable") {
        return eprintln!("skipped: {stderr}");
    }
    assert_eq!(
        out.status.signal(),
        None,
        "adoption made a call that can block ({}): {stderr}",
        out.status
    );
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "adopted\n");
}

/// Child role of `adoption_makes_no_call_that_can_block`.
#[cfg(target_arch = "x86_64")]
fn adopt_filtered() {
    let (reader, _writer) = std::io::pipe().unwrap();
    let regular = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
    let evil = format!("/memfd:iofd-seccomp-{}", std::process::id());
    let deleted = std::fs::File::create(&evil).ok();
    if deleted.is_some() {
        std::fs::remove_file(&evil).unwrap();
    }
    let memfd = OwnedFd::from(MemFd::new("filtered").unwrap());
    if let Err(e) = kill_on_blocking_stat_calls() {
        eprintln!("seccomp unavailable: {e}");
        std::process::exit(0);
    }
    assert!(MemFd::try_from(OwnedFd::from(reader)).is_err());
    assert!(MemFd::try_from(OwnedFd::from(regular)).is_err());
    if let Some(deleted) = deleted {
        assert!(MemFd::try_from(OwnedFd::from(deleted)).is_err());
    }
    assert_eq!(MemFd::try_from(memfd).unwrap().name(), "filtered");
    println!("adopted");
}

#[cfg(not(target_arch = "x86_64"))]
fn adopt_filtered() {}

/// Installs a seccomp filter that kills the process on `fstatfs`, `fstat`,
/// `newfstatat`, and `statx` without `AT_STATX_DONT_SYNC` (x86_64).
#[cfg(target_arch = "x86_64")]
fn kill_on_blocking_stat_calls() -> std::io::Result<()> {
    // BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K,
    // BPF_ALU|BPF_AND|BPF_K.
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    const AND_K: u16 = 0x54;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const KILL: u32 = 0x8000_0000; // SECCOMP_RET_KILL_PROCESS
    const AT_STATX_DONT_SYNC: u32 = 0x4000;
    let stmt = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |k, jt, jf| libc::sock_filter {
        code: JEQ_K,
        jt,
        jf,
        k,
    };
    let mut program = vec![
        stmt(LD_W_ABS, 4), // seccomp_data.arch
        jump(AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, libc::SECCOMP_RET_ALLOW),
        stmt(LD_W_ABS, 0), // seccomp_data.nr
        jump(libc::SYS_fstatfs as u32, 7, 0),
        jump(libc::SYS_fstat as u32, 6, 0),
        jump(libc::SYS_newfstatat as u32, 5, 0),
        jump(libc::SYS_statx as u32, 0, 3),
        stmt(LD_W_ABS, 32), // seccomp_data.args[2] (flags), low half
        stmt(AND_K, AT_STATX_DONT_SYNC),
        jump(AT_STATX_DONT_SYNC, 0, 1),
        stmt(RET_K, libc::SECCOMP_RET_ALLOW),
        stmt(RET_K, KILL),
    ];
    load_filter(&mut program)
}

/// Before Linux 6.9 there is no `RWF_NOAPPEND`: `write_at` then writes
/// through a private reopen of the memfd. A child of this binary makes
/// `pwritev2` fail with `EOPNOTSUPP` (what such a kernel answers) with a
/// seccomp filter, sets `O_APPEND`, and checks where the bytes land.
fn write_at_in_append_mode_before_rwf_noappend() {
    if !cfg!(target_arch = "x86_64") {
        return eprintln!("skipped: the seccomp filter in this test is written for x86_64");
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("append-old-kernel")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("seccomp unavailable") {
        return eprintln!("skipped: {stderr}");
    }
    assert!(out.status.success(), "{}: {stderr}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "AB23456789\n");
}

/// Child role of `write_at_in_append_mode_before_rwf_noappend`.
#[cfg(target_arch = "x86_64")]
fn append_old_kernel() {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    let memfd = MemFd::new("append").unwrap();
    memfd.write_all_at(b"0123456789", 0).unwrap();
    fcntl_setfl(&memfd, fcntl_getfl(&memfd).unwrap() | OFlags::APPEND).unwrap();
    if let Err(e) = install_filter(&[(libc::SYS_pwritev2, libc::EOPNOTSUPP)]) {
        eprintln!("seccomp unavailable: {e}");
        std::process::exit(0);
    }
    assert_eq!(memfd.write_at(b"AB", 0).unwrap(), 2);
    let mut buf = [0u8; 16];
    let n = memfd.read_at(&mut buf, 0).unwrap();
    println!("{}", String::from_utf8_lossy(&buf[..n]));
}

#[cfg(not(target_arch = "x86_64"))]
fn append_old_kernel() {}

/// Installs a seccomp filter making each syscall of `denied` fail with its
/// errno (x86_64).
#[cfg(target_arch = "x86_64")]
fn install_filter(denied: &[(libc::c_long, i32)]) -> std::io::Result<()> {
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let stmt = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let mut program = vec![
        stmt(LD_W_ABS, 4), // seccomp_data.arch
        libc::sock_filter {
            code: JEQ_K,
            jt: 1,
            jf: 0,
            k: AUDIT_ARCH_X86_64,
        },
        stmt(RET_K, libc::SECCOMP_RET_ALLOW),
        stmt(LD_W_ABS, 0), // seccomp_data.nr
    ];
    for &(nr, errno) in denied {
        program.push(libc::sock_filter {
            code: JEQ_K,
            jt: 0,
            jf: 1,
            k: nr as u32,
        });
        program.push(stmt(RET_K, libc::SECCOMP_RET_ERRNO | errno as u32));
    }
    program.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
    load_filter(&mut program)
}

/// Loads `program` as this process's seccomp filter (no new privileges).
#[cfg(target_arch = "x86_64")]
fn load_filter(program: &mut [libc::sock_filter]) -> std::io::Result<()> {
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers; PR_SET_SECCOMP reads
    // `prog`, which points to `program`, alive across the call.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn shrink_in_the_same_process_does_not_fault() {
    run_child("victim-same");
}

fn shrink_by_a_peer_process_does_not_fault() {
    run_child("victim-peer");
}

fn a_writers_region_sealed_against_peers_maps_directly() {
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
        Some("puncher") => return puncher(&args[1], &args[2]),
        Some("victim-punched-tmpfs") => return victim_punched_tmpfs(),
        Some("victim-punched-hugetlb") => return victim_punched_hugetlb(),
        Some("adopt-filtered") => return adopt_filtered(),
        Some("append-old-kernel") => return append_old_kernel(),
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
            "a_writers_region_sealed_against_peers_maps_directly",
            a_writers_region_sealed_against_peers_maps_directly,
        ),
        (
            "a_tmpfs_hole_punched_by_a_peer_does_not_fault",
            a_tmpfs_hole_punched_by_a_peer_does_not_fault,
        ),
        (
            "a_hugetlb_hole_punched_by_a_peer_does_not_fault",
            a_hugetlb_hole_punched_by_a_peer_does_not_fault,
        ),
        (
            "a_hugetlb_writer_sealed_against_peers_maps_directly",
            a_hugetlb_writer_sealed_against_peers_maps_directly,
        ),
        (
            "hugetlb_regions_are_unmapped_on_drop",
            hugetlb_regions_are_unmapped_on_drop,
        ),
        (
            "adoption_makes_no_call_that_can_block",
            adoption_makes_no_call_that_can_block,
        ),
        (
            "write_at_in_append_mode_before_rwf_noappend",
            write_at_in_append_mode_before_rwf_noappend,
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
