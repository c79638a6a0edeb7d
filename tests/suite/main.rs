//! Black-box test suite for the chapter's three programs, run against
//! `build/c` and/or `build/rust` (`IMPL=c|rust|both`, default both).
//!
//! A small custom harness (`harness = false`): scenarios run on a pool of
//! `SUITE_THREADS` worker threads (default 6), each under a deadline
//! (`SUITE_DEADLINE_SECS`, default 60) after which every process it spawned
//! is killed. Positional arguments filter scenarios by substring (`--skip S`
//! and `--exact` work as with libtest, other libtest flags are ignored);
//! `--list` lists them; `--compare` runs both implementations and prints
//! one table (see report.rs).
//!
//!     cargo test --release --test suite                      # both
//!     IMPL=c cargo test --release --test suite -- echo_64mib # one build, a filter
//!     cargo test --release --test suite -- --compare         # the lecture table
//!
//! Needs `python3` (static file server for http_get), `socat` (a second,
//! independent echo peer) and, for the unresolvable-name scenario,
//! preferably `unshare` (runs it without network).

mod closed_fds;
mod common;
mod echo_server;
mod http_get;
mod report;
mod tcp_client;

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{Impl, Scenario};
use report::{Row, Run};

const PROGRAMS: &[&str] = &["echo_server", "tcp_client", "http_get"];

/// Scenarios that take seconds by design start first, so the pool's tail
/// is short scenarios.
const SLOW_FIRST: &[&str] = &[
    "idle_7s",
    "connect_timeout_blocking",
    "stop_cont_in",
    "64mib",
    "sequential_200",
    "concurrent_32",
    "5mib",
    "restart_on_port",
];

fn all_scenarios() -> Vec<Scenario> {
    [
        echo_server::SCENARIOS,
        tcp_client::SCENARIOS,
        http_get::SCENARIOS,
        closed_fds::SCENARIOS,
    ]
    .concat()
}

#[derive(Default)]
struct Options {
    compare: bool,
    list: bool,
    exact: bool,
    filters: Vec<String>,
    skip: Vec<String>,
}

impl Options {
    fn from_args() -> Options {
        let mut o = Options::default();
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--compare" => o.compare = true,
                "--list" => o.list = true,
                "--exact" => o.exact = true,
                "--skip" => o.skip.extend(args.next()),
                // libtest flags that take a separate value: drop the value too.
                "--test-threads" | "--color" | "--format" | "--logfile" | "--shuffle-seed"
                | "-Z" => {
                    args.next();
                }
                _ if a.starts_with("--skip=") => o.skip.push(a["--skip=".len()..].to_owned()),
                // Anything else cargo or libtest users pass (--nocapture, -q, ...).
                _ if a.starts_with('-') => {}
                _ => o.filters.push(a),
            }
        }
        o
    }

    fn selects(&self, name: &str) -> bool {
        let hit = |f: &String| {
            if self.exact {
                name == f
            } else {
                name.contains(f.as_str())
            }
        };
        (self.filters.is_empty() || self.filters.iter().any(hit))
            && !self.skip.iter().any(|s| name.contains(s.as_str()))
    }
}

/// Runs one scenario against one implementation in its own thread, under
/// `deadline`; on overrun every process group it spawned is killed.
fn run_job(scenario: Scenario, imp: Impl, deadline: Duration) -> Run {
    let (name, f) = scenario;
    let started = Instant::now();
    let label = format!("{name} [{}]", imp.name);
    let result = common::run_with_deadline(label, deadline, move || {
        common::set_trace_scenario(name);
        f(&imp)
    });
    Run {
        passed: result.is_ok(),
        elapsed: started.elapsed(),
        message: result.err().unwrap_or_default(),
    }
}

fn env_number(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn indented(msg: &str) -> String {
    msg.lines().map(|l| format!("    {l}\n")).collect()
}

/// Runs tests/trace/compare.py on `dir`: prints its report of the
/// scenarios whose syscalls differ and returns scenario -> verdict.
fn syscall_verdicts(dir: &std::path::Path) -> std::collections::HashMap<String, String> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/trace/compare.py");
    let run = |json: bool| {
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(&script).arg(dir);
        if json {
            cmd.arg("--json");
        }
        cmd.output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    // The JSON is one `"scenario": "verdict"` pair per line.
    let verdicts: std::collections::HashMap<String, String> = run(true)
        .lines()
        .filter_map(|l| {
            let mut parts = l.trim().trim_end_matches(',').split("\": \"");
            let k = parts.next()?.trim_start_matches('"');
            let v = parts.next()?.trim_end_matches('"');
            Some((k.to_owned(), v.to_owned()))
        })
        .collect();
    if verdicts.values().any(|v| v == "differs") {
        println!(
            "--- syscall traces that differ (tests/trace/compare.py {}):",
            dir.display()
        );
        for l in run(false).lines().filter(|l| !l.ends_with(" same")) {
            println!("{l}");
        }
    }
    verdicts
}

fn main() -> ExitCode {
    let opts = Options::from_args();
    let all = all_scenarios();
    let selected: Vec<Scenario> = all
        .iter()
        .copied()
        .filter(|(n, _)| opts.selects(n))
        .collect();

    if opts.list {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        println!("\n{} tests, 0 benchmarks", selected.len());
        return ExitCode::SUCCESS;
    }

    let impls: Vec<Impl> = if opts.compare {
        vec![Impl::new("c"), Impl::new("rust")]
    } else {
        match std::env::var("IMPL").as_deref().unwrap_or("both") {
            "c" => vec![Impl::new("c")],
            "rust" => vec![Impl::new("rust")],
            // The C built with -fsanitize=address,undefined (make test-asan).
            "c-asan" => vec![Impl::new("c-asan")],
            "both" | "" => vec![Impl::new("c"), Impl::new("rust")],
            other => {
                eprintln!("IMPL must be c, rust, both or c-asan, not '{other}'");
                return ExitCode::from(2);
            }
        }
    };
    for imp in &impls {
        let missing: Vec<&str> = PROGRAMS
            .iter()
            .copied()
            .filter(|p| imp.bin(p).is_err())
            .collect();
        if !missing.is_empty() {
            eprintln!(
                "warning: {} lacks {}: run make first (those scenarios will fail)",
                imp.dir.display(),
                missing.join(", ")
            );
        }
    }

    let mut order = selected.clone();
    order.sort_by_key(|(name, _)| !SLOW_FIRST.iter().any(|s| name.contains(s)));
    let jobs: VecDeque<(usize, Scenario, Impl)> = order
        .iter()
        .flat_map(|&s| impls.iter().map(move |imp| (s, imp.clone())))
        .enumerate()
        .map(|(i, (s, imp))| (i, s, imp))
        .collect();
    let total = jobs.len();
    let filtered_out = (all.len() - selected.len()) * impls.len();
    let threads = env_number("SUITE_THREADS", 6) as usize;
    let deadline = Duration::from_secs(env_number("SUITE_DEADLINE_SECS", 60));

    // --compare also traces both implementations, when strace is here.
    let trace_dir = (opts.compare && common::on_path("strace") && common::on_path("python3"))
        .then(|| {
            let preset = std::env::var_os("SUITE_STRACE_DIR").is_some();
            let preset = preset.then(common::strace_dir).flatten();
            preset.map(|d| d.to_path_buf()).or_else(|| {
                let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("build")
                    .join("traces")
                    .join("compare");
                let _ = std::fs::remove_dir_all(&dir);
                common::trace_into(dir.clone()).then_some(dir)
            })
        })
        .flatten();

    common::install_panic_hook();
    let started = Instant::now();
    if opts.compare {
        println!(
            "running {} scenarios against C and Rust ({threads} threads)...",
            selected.len()
        );
    } else {
        println!("\nrunning {total} tests");
    }

    let queue = Arc::new(Mutex::new(jobs));
    let (done_tx, done_rx) = mpsc::channel();
    for _ in 0..threads.max(1) {
        let queue = queue.clone();
        let done_tx = done_tx.clone();
        thread::spawn(move || {
            loop {
                let job = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let Some((i, scenario, imp)) = job else { break };
                let run = run_job(scenario, imp.clone(), deadline);
                if done_tx.send((i, scenario.0, imp.name, run)).is_err() {
                    break;
                }
            }
        });
    }
    drop(done_tx);

    let mut results = Vec::with_capacity(total);
    for (i, name, imp, run) in done_rx {
        if !opts.compare {
            let verdict = if run.passed { "ok" } else { "FAILED" };
            println!(
                "test {name} [{imp}] ... {verdict} ({:.2}s)",
                run.elapsed.as_secs_f64()
            );
            if !run.passed {
                print!("{}", indented(&run.message));
            }
        }
        results.push((i, name, imp, run));
    }
    results.sort_by_key(|r| r.0);
    common::remove_run_dir();
    let elapsed = started.elapsed().as_secs_f64();
    let passed = results.iter().filter(|r| r.3.passed).count();
    let failed = results.len() - passed;

    if opts.compare {
        let mut rows: Vec<Row> = selected
            .iter()
            .map(|(name, _)| Row {
                scenario: name,
                c: None,
                rust: None,
                syscalls: None,
            })
            .collect();
        if let Some(dir) = &trace_dir {
            let verdicts = syscall_verdicts(dir);
            for row in rows.iter_mut() {
                row.syscalls = verdicts.get(row.scenario).cloned();
            }
        }
        for (_, name, imp, run) in &results {
            if let Some(row) = rows.iter_mut().find(|r| r.scenario == *name) {
                match *imp {
                    "c" => row.c = Some(run.clone()),
                    _ => row.rust = Some(run.clone()),
                }
            }
        }
        for (_, name, imp, run) in results.iter().filter(|r| !r.3.passed) {
            println!("--- {name} [{imp}] failed:\n{}", indented(&run.message));
        }
        println!();
        print!("{}", report::render(&rows, std::io::stdout().is_terminal()));
        println!("finished in {elapsed:.2}s");
        println!("{}", report::summary(&rows));
        let bad = rows.iter().any(|r| r.any_failed() || r.differs());
        return if bad {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }

    if failed > 0 {
        println!("\nfailures:");
        for (_, name, imp, _) in results.iter().filter(|r| !r.3.passed) {
            println!("    {name} [{imp}]");
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; {filtered_out} filtered out; finished in {elapsed:.2}s",
        if failed > 0 { "FAILED" } else { "ok" }
    );
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
