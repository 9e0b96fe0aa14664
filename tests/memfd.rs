//! `MemFd`, `Seals` and `MappedRegion`: I/O, seals, mappings, sharing.

mod common;

use std::ffi::OsStr;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use iofd::{Fd, MEMFD_NAME_MAX, MemFd, Protection, Seals};

fn page() -> usize {
    rustix::param::page_size()
}

/// Seals every new memfd starts with: `EXEC` where the kernel knows
/// `MFD_NOEXEC_SEAL` (6.3+), none before.
fn initial(memfd: &MemFd) -> Seals {
    let seals = memfd.seals().unwrap();
    assert!(seals == Seals::EMPTY || seals == Seals::EXEC, "{seals:?}");
    seals
}

#[test]
fn write_then_read_back_through_read_at_and_a_mapping() {
    let memfd = require!(MemFd::new("roundtrip"));
    assert_eq!(memfd.name(), "roundtrip");
    assert_eq!(memfd.size().unwrap(), 0);
    memfd.write_all_at(b"hello memfd", 0).unwrap();
    assert_eq!(memfd.size().unwrap(), 11);
    let mut buf = [0u8; 5];
    assert_eq!(memfd.read_at(&mut buf, 6).unwrap(), 5);
    assert_eq!(&buf, b"memfd");
    let region = memfd.mmap(11, Protection::Read).unwrap();
    let mut copy = [0u8; 11];
    assert_eq!(region.read_at(&mut copy, 0).unwrap(), 11);
    assert_eq!(&copy, b"hello memfd");
    assert_eq!(region.as_slice(), None, "not sealed: no safe slice");
    assert_eq!(region.len(), 11);
    region.unmap().unwrap();
}

#[test]
fn writes_through_a_writable_mapping_are_visible_to_read_at() {
    let memfd = require!(MemFd::new("shared"));
    memfd.set_len(page() as u64).unwrap();
    let mut region = memfd.mmap(page(), Protection::ReadWrite).unwrap();
    assert_eq!(region.write_at(b"via mmap", 100).unwrap(), 8);
    let mut buf = [0u8; 8];
    memfd.read_at(&mut buf, 100).unwrap();
    assert_eq!(&buf, b"via mmap");
    // And the other way round.
    memfd.write_all_at(b"via pwrite", 0).unwrap();
    let mut buf = [0u8; 10];
    region.read_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"via pwrite");
    // Copies stop at the end of the region.
    assert_eq!(region.write_at(b"abcdef", page() - 2).unwrap(), 2);
    assert_eq!(region.read_at(&mut buf, page() - 2).unwrap(), 2);
    assert_eq!(
        region.read_at(&mut buf, page() + 1).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn read_only_region_refuses_write_at() {
    let memfd = require!(MemFd::new("ro"));
    memfd.set_len(16).unwrap();
    let mut region = memfd.mmap(16, Protection::Read).unwrap();
    assert_eq!(
        region.write_at(b"x", 0).unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    assert_eq!(region.protection(), Protection::Read);
}

#[test]
fn seal_write_then_write_is_eperm() {
    let memfd = require!(MemFd::new_sealable("sealed-write"));
    memfd.write_all_at(b"fixed", 0).unwrap();
    memfd.seal(Seals::WRITE).unwrap();
    let err = memfd.write_at(b"changed", 0).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM));
    // A writable mapping is refused too.
    let err = memfd.mmap(5, Protection::ReadWrite).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EPERM));
}

#[test]
fn seal_write_while_writably_mapped_is_ebusy() {
    let memfd = require!(MemFd::new_sealable("busy"));
    memfd.set_len(16).unwrap();
    let region = memfd.mmap(16, Protection::ReadWrite).unwrap();
    assert_eq!(
        memfd.seal(Seals::WRITE).unwrap_err().raw_os_error(),
        Some(libc::EBUSY)
    );
    drop(region);
    memfd.seal(Seals::WRITE).unwrap();
}

#[test]
fn seal_grow_then_growing_is_eperm() {
    let memfd = require!(MemFd::new_sealable("sealed-grow"));
    memfd.set_len(100).unwrap();
    memfd.seal(Seals::GROW).unwrap();
    assert_eq!(
        memfd.set_len(200).unwrap_err().raw_os_error(),
        Some(libc::EPERM)
    );
    memfd.set_len(50).unwrap(); // shrinking is still allowed
    assert_eq!(memfd.size().unwrap(), 50);
    memfd.seal(Seals::SHRINK).unwrap();
    assert_eq!(
        memfd.set_len(10).unwrap_err().raw_os_error(),
        Some(libc::EPERM)
    );
}

#[test]
fn seals_reports_exactly_what_was_applied() {
    let memfd = require!(MemFd::new_sealable("exact"));
    let base = initial(&memfd);
    memfd.seal(Seals::GROW).unwrap();
    assert_eq!(memfd.seals().unwrap(), base | Seals::GROW);
    memfd.seal(Seals::SHRINK | Seals::FUTURE_WRITE).unwrap();
    assert_eq!(
        memfd.seals().unwrap(),
        base | Seals::GROW | Seals::SHRINK | Seals::FUTURE_WRITE
    );
    memfd.seal(Seals::SEAL).unwrap();
    let all = base | Seals::GROW | Seals::SHRINK | Seals::FUTURE_WRITE | Seals::SEAL;
    assert_eq!(memfd.seals().unwrap(), all);
    // SEAL forbids any further seal.
    assert_eq!(
        memfd.seal(Seals::WRITE).unwrap_err().raw_os_error(),
        Some(libc::EPERM)
    );
    assert_eq!(memfd.seals().unwrap(), all);
    assert!(format!("{all:?}").contains("SEAL"));
}

#[test]
fn seal_on_a_non_sealable_memfd_is_eperm() {
    let memfd = require!(MemFd::new("plain"));
    assert!(memfd.seals().unwrap().contains(Seals::SEAL));
    assert_eq!(
        memfd.seal(Seals::GROW).unwrap_err().raw_os_error(),
        Some(libc::EPERM)
    );
}

#[test]
fn sealed_region_hands_out_a_safe_slice() {
    let memfd = require!(MemFd::new_sealable("frozen"));
    memfd.write_all_at(b"immutable bytes", 0).unwrap();
    // WRITE alone is not enough: the file could still shrink under us.
    memfd.seal(Seals::WRITE).unwrap();
    assert_eq!(memfd.mmap(15, Protection::Read).unwrap().as_slice(), None);
    memfd.seal(Seals::SHRINK).unwrap();
    let region = memfd.mmap(15, Protection::Read).unwrap();
    assert!(region.is_immutable());
    assert_eq!(region.as_slice(), Some(&b"immutable bytes"[..]));
    // The mapping outlives the descriptor.
    drop(memfd);
    assert_eq!(region.as_slice().unwrap()[..9], *b"immutable");
}

#[test]
fn mmap_bad_input_is_invalid_input() {
    let memfd = require!(MemFd::new("bad-map"));
    memfd.set_len(2 * page() as u64).unwrap();
    let cases: [(usize, u64, &str); 4] = [
        (0, 0, "0 bytes"),
        (16, 1, "page size"),
        (16, page() as u64 / 2, "page size"),
        (3 * page(), 0, "past the end"),
    ];
    for (len, offset, message) in cases {
        let err = memfd.mmap_at(len, Protection::Read, offset).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{len} at {offset}");
        assert!(err.to_string().contains(message), "{err}");
    }
    let err = memfd
        .mmap_at(page(), Protection::Read, u64::MAX - 10)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // The second page, mapped at an aligned offset, works.
    memfd.write_all_at(b"page two", page() as u64).unwrap();
    let region = memfd
        .mmap_at(page(), Protection::Read, page() as u64)
        .unwrap();
    let mut buf = [0u8; 8];
    region.read_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"page two");
}

#[test]
fn names_are_checked() {
    let err = MemFd::new("a\0b").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("NUL"), "{err}");
    let long = "x".repeat(MEMFD_NAME_MAX + 1);
    let err = MemFd::new(&long).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("249"), "{err}");
    let longest = "y".repeat(MEMFD_NAME_MAX);
    assert_eq!(MemFd::new(&longest).unwrap().name(), longest.as_str());
    let odd = OsStr::from_bytes(b"non-utf8-\xff");
    assert_eq!(MemFd::new(odd).unwrap().name(), odd);
    assert_eq!(require!(MemFd::new("")).name(), "");
}

#[test]
fn read_write_seek_and_file_conversion() {
    let mut memfd = require!(MemFd::new("stream"));
    memfd.write_all(b"0123456789").unwrap();
    memfd.flush().unwrap();
    assert_eq!(memfd.seek(SeekFrom::Start(3)).unwrap(), 3);
    let mut buf = [0u8; 4];
    memfd.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"3456");
    assert_eq!((&memfd).seek(SeekFrom::End(-1)).unwrap(), 9);
    let mut file = std::fs::File::from(memfd);
    let mut rest = String::new();
    file.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "9");
}

#[test]
fn options_builder_and_flags() {
    let memfd = require!(MemFd::options().close_on_exec(false).create("inheritable"));
    assert!(
        !rustix::io::fcntl_getfd(&memfd)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC)
    );
    let memfd = require!(MemFd::new("default"));
    assert!(
        rustix::io::fcntl_getfd(&memfd)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC)
    );
    let clone = memfd.try_clone().unwrap();
    assert_eq!(clone.name(), "default");
    clone.write_all_at(b"shared", 0).unwrap();
    assert_eq!(memfd.size().unwrap(), 6);
    assert!(format!("{memfd:?}").contains("default"));
}

#[test]
fn try_from_owned_fd_adopts_memfds_and_hands_back_others() {
    let memfd = require!(MemFd::new("adopt me"));
    let owned: OwnedFd = memfd.into();
    let raw = owned.as_raw_fd();
    let back = MemFd::try_from(owned).unwrap();
    assert_eq!(back.name(), "adopt me");
    assert_eq!(back.as_raw_fd(), raw);

    let (reader, _writer) = std::io::pipe().unwrap();
    let owned = OwnedFd::from(reader);
    let raw = owned.as_raw_fd();
    let err = MemFd::try_from(owned).unwrap_err();
    assert!(err.to_string().contains("not a memfd"));
    let handed_back = err.into_fd();
    assert_eq!(
        handed_back.as_raw_fd(),
        raw,
        "the descriptor came back open"
    );
}

/// Files that merely look like a memfd by name are refused and handed back:
/// a regular file at `/memfd:…` (root can make one), the same file after it
/// is deleted, and a deleted tmpfs file from `/dev/shm`.
#[test]
fn try_from_refuses_files_named_like_a_memfd() {
    fn refused(file: std::fs::File, what: &str) {
        let owned = OwnedFd::from(file);
        let raw = owned.as_raw_fd();
        let err = MemFd::try_from(owned).expect_err(what);
        assert_eq!(err.into_fd().as_raw_fd(), raw, "{what}: handed back");
    }
    let evil = format!("/memfd:iofd-evil-{}", std::process::id());
    match std::fs::File::create(&evil) {
        Ok(file) => {
            refused(file, "a regular file at /memfd:…");
            let file = std::fs::File::open(&evil).unwrap();
            std::fs::remove_file(&evil).unwrap();
            refused(file, "a deleted regular file at /memfd:…");
        }
        Err(e) => eprintln!("skipped the /memfd: file (needs root): {e}"),
    }
    let shm = format!("/dev/shm/memfd:iofd-{}", std::process::id());
    if let Ok(file) = std::fs::File::create(&shm) {
        std::fs::remove_file(&shm).unwrap();
        refused(file, "a deleted tmpfs file");
    }
    let regular = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
    refused(regular, "a regular file");
}

#[test]
fn a_child_reads_the_memfd_through_an_inherited_descriptor() {
    let memfd = require!(MemFd::new_sealable("for-the-child"));
    memfd.write_all_at(b"shared with a child\n", 0).unwrap();
    memfd
        .seal(Seals::WRITE | Seals::SHRINK | Seals::GROW | Seals::SEAL)
        .unwrap();
    // Deliberately pass one descriptor: a clone without close-on-exec.
    let passed = Fd::from(OwnedFd::from(memfd.try_clone().unwrap()));
    passed.set_cloexec(false).unwrap();
    let n = passed.as_raw_fd();
    let out = Command::new("sh")
        .args(["-c", &format!("cat <&{n}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"shared with a child\n");
}

#[test]
fn huge_pages_or_a_clear_skip() {
    let hugepages = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("HugePages_Free:")
                .map(|v| v.trim().parse::<u64>().unwrap())
        })
        .unwrap_or(0);
    let memfd = match MemFd::options()
        .hugetlb(true)
        .allow_sealing(true)
        .create("huge")
    {
        Ok(memfd) => memfd,
        Err(e) => {
            eprintln!("skipped: this kernel has no hugetlbfs for memfd ({e})");
            return;
        }
    };
    let huge = 2 * 1024 * 1024;
    if let Err(e) = memfd.set_len(huge as u64) {
        eprintln!("skipped: cannot size a huge-page memfd here ({e})");
        return;
    }
    match memfd.mmap(huge, Protection::ReadWrite) {
        Ok(mut region) => {
            // hugetlbfs takes no write(2): through the descriptor, an error.
            let err = region.write_at(b"huge", 0).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
            // Sealed against shrinking and new writers, the region writes
            // through its mapping.
            memfd.seal(Seals::SHRINK | Seals::FUTURE_WRITE).unwrap();
            assert!(region.recheck_seals().unwrap());
            region.write_at(b"huge", 0).unwrap();
            let mut buf = [0u8; 4];
            memfd.read_at(&mut buf, 0).unwrap();
            assert_eq!(&buf, b"huge");
        }
        Err(e) if hugepages == 0 => {
            eprintln!("skipped: no free huge pages on this machine (HugePages_Free: 0): {e}");
        }
        Err(e) => panic!("mmap of a huge-page memfd with {hugepages} free huge pages: {e}"),
    }
}

#[test]
fn is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MemFd>();
    assert_send_sync::<iofd::MappedRegion>();
}

/// A copy of `/bin/true` in a memfd runs only when the memfd was made
/// executable; the default memfd (`MFD_NOEXEC_SEAL`) refuses `execve`.
#[test]
fn executable_memfds_can_be_executed() {
    let program = std::fs::read("/bin/true").unwrap();
    let run = |memfd: &MemFd| {
        Command::new(format!("/proc/self/fd/{}", memfd.as_raw_fd()))
            .status()
            .map(|status| status.code())
    };

    let exec = MemFd::options().executable(true).create("true").unwrap();
    exec.write_all_at(&program, 0).unwrap();
    // Make it executable by its mode too (MFD_EXEC already does on 6.3+).
    rustix::fs::fchmod(&exec, rustix::fs::Mode::from_raw_mode(0o700)).unwrap();
    assert!(!exec.seals().unwrap().contains(Seals::EXEC));
    assert_eq!(run(&exec).unwrap(), Some(0));

    let noexec = MemFd::new("true").unwrap();
    noexec.write_all_at(&program, 0).unwrap();
    if noexec.seals().unwrap().contains(Seals::EXEC) {
        // MFD_NOEXEC_SEAL (6.3+): no execute bit, and the mode is sealed.
        let mode = rustix::fs::fstat(&noexec).unwrap().st_mode;
        assert_eq!(mode & 0o111, 0, "mode {mode:o}");
        let err = rustix::fs::fchmod(&noexec, rustix::fs::Mode::from_raw_mode(0o700)).unwrap_err();
        assert_eq!(err, rustix::io::Errno::PERM);
        // Under valgrind this spawn was seen to succeed (valgrind handles
        // `execve` itself); natively the kernel refuses it.
        let under_valgrind =
            std::env::var("LD_PRELOAD").is_ok_and(|preload| preload.contains("valgrind"));
        if !under_valgrind {
            assert_eq!(
                run(&noexec).unwrap_err().kind(),
                ErrorKind::PermissionDenied
            );
        }
    }
    exec.close().unwrap();
    noexec.close().unwrap();
}

/// A region maps directly only when every page of it is in memory and can
/// never go away: sealed `SHRINK` plus `WRITE` (or `FUTURE_WRITE`), and
/// populated when mapped. A never-written (sparse) immutable memfd has its
/// pages allocated by `mmap`, so no later touch allocates (a touch that
/// allocates can fail with `SIGBUS` under `vm.overcommit_memory=2`).
#[test]
fn direct_regions_are_populated_when_mapped() {
    let len = 16 * page();
    let memfd = require!(MemFd::new_sealable("sparse"));
    memfd.set_len(len as u64).unwrap();
    memfd.seal(Seals::IMMUTABLE).unwrap();
    let blocks = |memfd: &MemFd| rustix::fs::fstat(memfd).unwrap().st_blocks as usize;
    assert_eq!(blocks(&memfd), 0, "sparse");
    let region = memfd.mmap(len, Protection::Read).unwrap();
    assert!(region.maps_directly());
    assert!(region.is_immutable());
    assert_eq!(blocks(&memfd), len / 512, "populated by mmap");
    assert!(region.as_slice().unwrap().iter().all(|&b| b == 0));

    // FUTURE_WRITE + SHRINK also keeps the pages: direct, not immutable
    // (writable mappings made before the seal can still write).
    let memfd = require!(MemFd::new_sealable("future"));
    memfd.set_len(len as u64).unwrap();
    memfd.seal(Seals::SHRINK | Seals::FUTURE_WRITE).unwrap();
    let region = memfd.mmap(len, Protection::Read).unwrap();
    assert!(region.maps_directly());
    assert!(!region.is_immutable());
    assert_eq!(region.as_slice(), None);
    assert_eq!(blocks(&memfd), len / 512);

    // SHRINK alone does not: a hole can be punched.
    let memfd = require!(MemFd::new_sealable("shrink-only"));
    memfd.set_len(len as u64).unwrap();
    memfd.seal(Seals::SHRINK).unwrap();
    let region = memfd.mmap(len, Protection::Read).unwrap();
    assert!(!region.maps_directly());
    assert_eq!(blocks(&memfd), 0, "not populated");
}

/// `pwrite(2)` ignores the offset in append mode; `write_at` must not.
#[test]
fn write_at_writes_at_the_offset_in_append_mode() {
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    let memfd = require!(MemFd::new("append"));
    memfd.write_all_at(b"0123456789", 0).unwrap();
    let mut region = memfd.mmap(10, Protection::ReadWrite).unwrap();
    assert!(!region.maps_directly());
    // Safe code (or the sender of a received memfd) can set O_APPEND on
    // the open file description, which every duplicate shares.
    fcntl_setfl(&memfd, fcntl_getfl(&memfd).unwrap() | OFlags::APPEND).unwrap();
    let contents = |memfd: &MemFd| {
        let mut buf = [0u8; 16];
        let n = memfd.read_at(&mut buf, 0).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    };
    assert_eq!(memfd.write_at(b"AB", 0).unwrap(), 2);
    assert_eq!(contents(&memfd), "AB23456789");
    assert_eq!(region.write_at(b"CD", 2).unwrap(), 2);
    assert_eq!(contents(&memfd), "ABCD456789");
    memfd.write_all_at(b"EF", 4).unwrap();
    assert_eq!(contents(&memfd), "ABCDEF6789");
    assert_eq!(memfd.size().unwrap(), 10);
    // Stream writes (`Write`) keep append semantics: they use the file
    // position, which O_APPEND moves to the end.
    (&memfd).write_all(b"!").unwrap();
    assert_eq!(contents(&memfd), "ABCDEF6789!");
}
/// A file named `memfd:…` on a tmpfs that is not the kernel's internal
/// one: a detached mount (`fsopen` + `fsmount`), unlinked. It has every
/// other trait of a memfd (tmpfs, nlink 0, answers `F_GET_SEALS`, link
/// `/memfd:trusted-frame (deleted)`) and must still be refused.
#[test]
fn try_from_refuses_a_memfd_named_file_on_a_detached_tmpfs() {
    let file = match detached_tmpfs_file("memfd:trusted-frame") {
        Ok(file) => file,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let link = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap();
    assert_eq!(link.to_str(), Some("/memfd:trusted-frame (deleted)"));
    assert!(rustix::fs::fcntl_get_seals(&file).is_ok());
    let raw = file.as_raw_fd();
    let err = MemFd::try_from(file).expect_err("a tmpfs file is not a memfd");
    assert_eq!(err.expected(), "memfd");
    assert_eq!(err.into_fd().as_raw_fd(), raw, "handed back");

    // Real memfds are still adopted, huge-page ones included.
    let memfd = OwnedFd::from(MemFd::new("real").unwrap());
    assert_eq!(MemFd::try_from(memfd).unwrap().name(), "real");
    match MemFd::new_hugetlb("real-huge") {
        Ok(huge) => {
            let huge = MemFd::try_from(OwnedFd::from(huge)).unwrap();
            assert_eq!(huge.name(), "real-huge");
        }
        Err(e) => eprintln!("skipped the hugetlb memfd: {e}"),
    }
}

/// Makes `name` on a new detached tmpfs mount, opened and unlinked.
fn detached_tmpfs_file(name: &str) -> Result<OwnedFd, String> {
    use std::os::fd::FromRawFd;
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: fsopen(2) with a NUL-terminated name and flags.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(format!(
            "fsopen(\"tmpfs\"): {} (needs Linux 5.2 and CAP_SYS_ADMIN)",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: fsopen returned a new descriptor that nothing else owns.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    let null = std::ptr::null::<libc::c_void>();
    // SAFETY: fsconfig(2) CMD_CREATE takes no key or value.
    let created = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            null,
            null,
            0,
        )
    };
    if created < 0 {
        return Err(format!("fsconfig: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fsmount(2) of a created file system context.
    let mnt = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
    if mnt < 0 {
        return Err(format!("fsmount: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fsmount returned a new descriptor that nothing else owns.
    let mnt = unsafe { OwnedFd::from_raw_fd(mnt as i32) };
    use rustix::fs::{AtFlags, Mode, OFlags, openat, unlinkat};
    let file = openat(
        &mnt,
        name,
        OFlags::CREATE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| format!("create {name}: {e}"))?;
    unlinkat(&mnt, name, AtFlags::empty()).map_err(|e| format!("unlink: {e}"))?;
    Ok(file)
}

/// A thread with its own descriptor table (`unshare(CLONE_FILES)`) adopts
/// its memfd at a number that is a pipe in the process's main table:
/// adoption reads `/proc/thread-self`, not `/proc/self` (the main thread's
/// table).
#[test]
fn try_from_reads_the_calling_threads_descriptor_table() {
    let (reader, _writer) = std::io::pipe().unwrap();
    let number = reader.as_raw_fd();
    std::thread::spawn(move || {
        use std::os::fd::FromRawFd;
        // SAFETY: unshare(2) of this thread's descriptor table; the table
        // is copied, and this thread uses only descriptors it owns.
        if unsafe { libc::unshare(libc::CLONE_FILES) } != 0 {
            return eprintln!("skipped: unshare: {}", std::io::Error::last_os_error());
        }
        // In this thread's copy, put a memfd at the pipe's number.
        let memfd = MemFd::new("thread-own").unwrap();
        // SAFETY: `number` in this thread's private copy of the table is
        // owned by nothing else here (the main table keeps its own).
        let mut slot = unsafe { OwnedFd::from_raw_fd(number) };
        rustix::io::dup2(&memfd, &mut slot).unwrap();
        assert_eq!(slot.as_raw_fd(), number);
        let adopted = MemFd::try_from(slot).expect("its own memfd, in its own table");
        assert_eq!(adopted.name(), "thread-own");
    })
    .join()
    .unwrap();
    drop(reader);
}
