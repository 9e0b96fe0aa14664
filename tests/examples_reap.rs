//! Every example that starts processes reaps all of them: run each under
//! this process as a child subreaper, and after it exits, count what it
//! left behind — zombies it never reaped and orphans still running (which
//! come to us when it exits). Both must be none.
//!
//! `harness = false`: the subreaper setting and the scan of this process's
//! children are process-wide, so the examples run one at a time, from
//! `main`. The examples are built with `cargo build --examples` into this
//! test's own target directory first (a no-op after `cargo test`, which
//! builds them), so that a stale binary is never the one checked; cargo's
//! JSON messages say where each one is. With default features: in CI's
//! `--features rustix/use-libc` step that build is a no-op as well (the
//! default step built them; the whole binary took 4.6 s there).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{WaitId, WaitIdOptions, getpid, set_child_subreaper, waitid};

/// The examples that start processes, with their arguments. `timer_ticks`
/// and `precise_timers` start none.
const EXAMPLES: &[(&str, &[&str])] = &[
    ("child_exit", &[]),
    ("child_exit_async", &[]),
    ("mio_poll", &[]),
    ("tour", &[]),
    ("supervisor", &[]),
    ("ipc", &[]),
    ("memfd_share", &[]),
    ("signals", &["--demo"]),
    ("signals_async", &["--demo"]),
];

/// How long one example may run before it is killed and reported.
const LIMIT: Duration = Duration::from_secs(60);

fn main() {
    no_unsafe_in_examples();
    if std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("valgrind")) {
        println!("skipped: the examples are separate programs, not checked under valgrind");
        return;
    }
    if let Err(e) = set_child_subreaper(Some(getpid())) {
        println!("skipped: cannot become a child subreaper: {e}");
        return;
    }
    let built = build_examples();
    let mut failures = Vec::new();
    for (name, args) in EXAMPLES {
        let Some(path) = built.get(*name) else {
            failures.push(format!("{name}: cargo built no such example"));
            continue;
        };
        match run(path, args) {
            Ok(()) => println!("{name}: ok, nothing left behind"),
            Err(why) => {
                println!("{name}: FAILED: {why}");
                failures.push(format!("{name}: {why}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "examples left processes behind:\n{}",
        failures.join("\n")
    );
    println!("test result: ok. {} examples checked", EXAMPLES.len());
}

/// A user copying an example copies no `unsafe`: no example, no Rust
/// snippet of the README, and no doc example in `src/` (the code blocks of
/// `///` and `//!` comments) has an `unsafe` block, function or impl.
fn no_unsafe_in_examples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = rust_files(&root.join("examples"));
    files.push(root.join("README.md"));
    let sources = rust_files(&root.join("src"));
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read an example");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if has_unsafe(code) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    for file in &sources {
        let text = std::fs::read_to_string(file).expect("read a source file");
        let mut in_code = false;
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            let Some(doc) = trimmed
                .strip_prefix("///")
                .or_else(|| trimmed.strip_prefix("//!"))
            else {
                in_code = false;
                continue;
            };
            let doc = doc.trim_start();
            if doc.starts_with("```") {
                in_code = !in_code;
                continue;
            }
            // A doc example's own comments (`// SAFETY: ...`) are prose.
            let code = doc.split("//").next().unwrap_or("");
            if in_code && has_unsafe(code) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "unsafe in examples:\n{}",
        found.join("\n")
    );
    println!(
        "no unsafe in {} example files, the README, and the doc examples of {} source files",
        files.len(),
        sources.len()
    );
}

fn has_unsafe(code: &str) -> bool {
    code.contains("unsafe {") || code.contains("unsafe fn") || code.contains("unsafe impl")
}

/// The `.rs` files under `dir`, recursively, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Builds the examples with the cargo that built this test, into this
/// test's target directory and profile, and returns each one's executable,
/// as cargo reports it (`--message-format=json`).
fn build_examples() -> HashMap<String, PathBuf> {
    // <target>/<profile>/deps/examples_reap-<hash>
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps");
    let target_dir = profile_dir.parent().expect("<target>/<profile>");
    let profile = profile_dir
        .file_name()
        .and_then(|p| p.to_str())
        .expect("a profile directory name");
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "--examples", "--message-format=json"])
        .arg("--target-dir")
        .arg(target_dir)
        .stderr(Stdio::inherit());
    match profile {
        "debug" => {}
        "release" => {
            build.arg("--release");
        }
        other => {
            build.args(["--profile", other]);
        }
    }
    let output = build.output().expect("run cargo build --examples");
    assert!(
        output.status.success(),
        "cargo build --examples: {}",
        output.status
    );
    let mut examples = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if !line.contains(r#""reason":"compiler-artifact""#)
            || !line.contains(r#""kind":["example"]"#)
        {
            continue;
        }
        let field = |name: &str| {
            let start = line.find(&format!(r#""{name}":""#))? + name.len() + 4;
            let len = line[start..].find('"')?;
            Some(line[start..start + len].to_owned())
        };
        if let (Some(name), Some(executable)) = (field("name"), field("executable")) {
            examples.insert(name, PathBuf::from(executable));
        }
    }
    examples
}

/// Runs one example to its end and reports what it left behind.
fn run(path: &Path, args: &[&str]) -> Result<(), String> {
    // Output to a file: an orphan that keeps it open cannot hold us up.
    let log_path = std::env::temp_dir().join(format!(
        "iofd-examples-reap-{}-{}.log",
        std::process::id(),
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("example")
    ));
    let log = File::create(&log_path).map_err(|e| format!("log file: {e}"))?;
    let err = log.try_clone().map_err(|e| format!("log file: {e}"))?;
    let mut child = Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", path.display()))?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break_down();
            return Err(format!("still running after {LIMIT:?}: killed"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_file(&log_path);
    // The example is reaped; whatever is still our child now is something
    // it left behind: reparented to us at its exit.
    let left = break_down();
    if !status.success() {
        return Err(format!("exited with {status}; output:\n{output}"));
    }
    if !left.is_empty() {
        return Err(format!(
            "left {} process(es) behind: {}",
            left.len(),
            left.join(", ")
        ));
    }
    Ok(())
}

/// Lists this process's children (`pid state comm` from
/// `/proc/<pid>/stat`), then kills and reaps them all.
fn break_down() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut left = Vec::new();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces and parentheses.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("?", |(_, c)| c);
        let mut fields = tail.split_whitespace();
        let (Some(state), Some(ppid)) = (fields.next(), fields.next()) else {
            continue;
        };
        if ppid == me {
            let what = if state == "Z" { "zombie" } else { "orphan" };
            left.push(format!("{pid} {comm} ({what}, state {state})"));
            pids.push(pid);
        }
    }
    for pid in pids {
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
    // Reap everything, blocking: each was just killed, or was a zombie.
    while waitid(WaitId::All, WaitIdOptions::EXITED).is_ok() {}
    left
}
