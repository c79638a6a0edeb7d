//! Stress, fault and bad-input scenarios, run against `build/c`
//! and `build/rust` (`IMPL=c|rust|both|c-asan`, default both).
//!
//! A harness-less test target like the suite: `STRESS=full` (make stress)
//! runs the full sizes (64 clients x 16 MiB, 1,000 churned connections, ...),
//! the default is the fast subset `make test` runs (64 x 1 MiB, 200
//! connections). Every scenario returns a [`Figure`]: what it counted
//! (bytes checked, connections, faults, bad inputs, zombies, leaks). The
//! output is one table, scenario | C | Rust | figure, and the suite's
//! closing lines. Positional arguments filter scenarios by substring;
//! `--list` lists them. Workers: `STRESS_THREADS` (default 2: this is a
//! load test, and the machine is shared).
//!
//! Needs `strace` (slow reader), `setpriv` and `prlimit` (util-linux: fork
//! and fd limits as user nobody).

#[allow(dead_code)]
#[path = "../suite/common.rs"]
mod common;

mod bad_input;
mod faults;
mod load;

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::Impl;

/// Full sizes (`STRESS=full`) or the fast subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `make stress-fast` / `make test`.
    Fast,
    /// `make stress`.
    Full,
}

impl Mode {
    /// `fast` in fast mode, `full` in full mode.
    pub fn pick<T>(self, fast: T, full: T) -> T {
        match self {
            Mode::Fast => fast,
            Mode::Full => full,
        }
    }
}

/// What a scenario counted; summed over the run for the closing note.
#[derive(Clone, Debug, Default)]
pub struct Figure {
    /// One-line summary for the table.
    pub text: String,
    /// Bytes whose sha256 (or exact content) was checked.
    pub bytes: u64,
    /// Connections opened.
    pub connections: u64,
    /// Faults injected (failed forks, EMFILE, signals, resets, ...).
    pub faults: u64,
    /// Bad inputs tried.
    pub bad_inputs: u64,
    /// Zombies seen.
    pub zombies: u64,
    /// fd or process leaks seen.
    pub leaks: u64,
}

impl Figure {
    /// A figure with only its text.
    pub fn text(text: impl Into<String>) -> Figure {
        Figure {
            text: text.into(),
            ..Figure::default()
        }
    }
}

/// A scenario's result.
pub type StressResult = Result<Figure, String>;

/// A scenario: its name and the function that runs it against one build.
pub type StressScenario = (&'static str, fn(&Impl, Mode) -> StressResult);

/// Scenarios that must not run beside another one (they measure whole-user
/// process counts or load the machine), in this order, first.
const HEAVY: &[&str] = &["load::64_clients"];

fn all_scenarios() -> Vec<StressScenario> {
    [load::SCENARIOS, faults::SCENARIOS, bad_input::SCENARIOS].concat()
}

struct Run {
    passed: bool,
    elapsed: Duration,
    figure: Figure,
    message: String,
}

fn run_job(name: &'static str, f: fn(&Impl, Mode) -> StressResult, imp: Impl, mode: Mode) -> Run {
    let started = Instant::now();
    let deadline = Duration::from_secs(mode.pick(60, 300));
    let label = format!("{name} [{}]", imp.name);
    let result = common::run_with_deadline(label, deadline, move || f(&imp, mode));
    let elapsed = started.elapsed();
    match result {
        Ok(figure) => Run {
            passed: true,
            elapsed,
            figure,
            message: String::new(),
        },
        Err(message) => Run {
            passed: false,
            elapsed,
            figure: Figure::default(),
            message,
        },
    }
}

fn cell(run: Option<&Run>) -> String {
    match run {
        Some(r) if r.passed => format!("pass {:>6.2}s", r.elapsed.as_secs_f64()),
        Some(r) => format!("FAIL {:>6.2}s", r.elapsed.as_secs_f64()),
        None => "-".to_owned(),
    }
}

fn main() -> ExitCode {
    common::install_panic_hook();
    let mut filters = Vec::new();
    let mut list = false;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--list" => list = true,
            _ if a.starts_with('-') => {}
            _ => filters.push(a),
        }
    }
    let mode = match std::env::var("STRESS").as_deref() {
        Ok("full") => Mode::Full,
        _ => Mode::Fast,
    };
    let all = all_scenarios();
    let selected: Vec<StressScenario> = all
        .iter()
        .copied()
        .filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
        .collect();
    if list {
        for (name, _) in &selected {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let impls: Vec<Impl> = match std::env::var("IMPL").as_deref().unwrap_or("both") {
        "c" => vec![Impl::new("c")],
        "rust" => vec![Impl::new("rust")],
        "c-asan" => vec![Impl::new("c-asan")],
        "both" | "" => vec![Impl::new("c"), Impl::new("rust")],
        other => {
            eprintln!("IMPL must be c, rust, both or c-asan, not '{other}'");
            return ExitCode::from(2);
        }
    };
    let threads = std::env::var("STRESS_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(2);
    println!(
        "\nrunning {} stress scenarios x {} implementation(s), {} mode, {threads} threads",
        selected.len(),
        impls.len(),
        if mode == Mode::Full { "full" } else { "fast" }
    );
    let started = Instant::now();

    // Heavy scenarios run alone, one implementation at a time; then the pool.
    let is_heavy = |n: &str| HEAVY.iter().any(|h| n.starts_with(h));
    let mut results: Vec<(&'static str, &'static str, Run)> = Vec::new();
    let report = |name: &str, imp: &str, run: &Run| {
        let verdict = if run.passed { "ok" } else { "FAILED" };
        println!(
            "test {name} [{imp}] ... {verdict} ({:.2}s) {}",
            run.elapsed.as_secs_f64(),
            run.figure.text
        );
        if !run.passed {
            for l in run.message.lines() {
                println!("    {l}");
            }
        }
    };
    for &(name, f) in selected.iter().filter(|(n, _)| is_heavy(n)) {
        for imp in &impls {
            let run = run_job(name, f, imp.clone(), mode);
            report(name, imp.name, &run);
            results.push((name, imp.name, run));
        }
    }
    let jobs: VecDeque<(StressScenario, Impl)> = selected
        .iter()
        .filter(|(n, _)| !is_heavy(n))
        .flat_map(|&s| impls.iter().map(move |i| (s, i.clone())))
        .collect();
    let queue = Arc::new(Mutex::new(jobs));
    let (done_tx, done_rx) = mpsc::channel();
    for _ in 0..threads {
        let queue = queue.clone();
        let done_tx = done_tx.clone();
        thread::spawn(move || {
            loop {
                let job = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let Some(((name, f), imp)) = job else { break };
                let run = run_job(name, f, imp.clone(), mode);
                if done_tx.send((name, imp.name, run)).is_err() {
                    break;
                }
            }
        });
    }
    drop(done_tx);
    for (name, imp, run) in done_rx {
        report(name, imp, &run);
        results.push((name, imp, run));
    }
    common::remove_run_dir();

    // The table: scenario | C | Rust | figure.
    let find = |name: &str, imp: &str| {
        results
            .iter()
            .find(|(n, i, _)| *n == name && *i == imp)
            .map(|r| &r.2)
    };
    let first_impl = impls[0].name;
    let mut rows = vec![[
        "scenario".to_owned(),
        if first_impl == "c-asan" {
            "C (asan)"
        } else {
            "C"
        }
        .to_owned(),
        "Rust".to_owned(),
        "figure".to_owned(),
    ]];
    for (name, _) in &selected {
        let c = find(
            name,
            if first_impl == "c-asan" {
                "c-asan"
            } else {
                "c"
            },
        );
        let r = find(name, "rust");
        let fig = match (c.filter(|r| r.passed), r.filter(|r| r.passed)) {
            (Some(a), Some(b)) if a.figure.text != b.figure.text => {
                format!("C: {} / Rust: {}", a.figure.text, b.figure.text)
            }
            (Some(a), _) => a.figure.text.clone(),
            (None, Some(b)) => b.figure.text.clone(),
            (None, None) => "-".to_owned(),
        };
        rows.push([(*name).to_owned(), cell(c), cell(r), fig]);
    }
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    println!();
    for (k, r) in rows.iter().enumerate() {
        println!(
            "{:<w0$} | {:<w1$} | {:<w2$} | {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        if k == 0 {
            println!(
                "{}-|-{}-|-{}-|-{}",
                "-".repeat(widths[0]),
                "-".repeat(widths[1]),
                "-".repeat(widths[2]),
                "-".repeat(6)
            );
        }
    }

    // Closing note: the figures summed over both implementations.
    let mut sum = Figure::default();
    for (_, _, run) in &results {
        sum.bytes += run.figure.bytes;
        sum.connections += run.figure.connections;
        sum.faults += run.figure.faults;
        sum.bad_inputs += run.figure.bad_inputs;
        sum.zombies += run.figure.zombies;
        sum.leaks += run.figure.leaks;
    }
    println!(
        "\nfigures (all implementations): {} bytes checked ({:.1} MiB), {} connections, {} faults injected, {} bad inputs tried, {} zombies, {} leaks",
        sum.bytes,
        sum.bytes as f64 / 1048576.0,
        sum.connections,
        sum.faults,
        sum.bad_inputs,
        sum.zombies,
        sum.leaks
    );
    let passed = results.iter().filter(|r| r.2.passed).count();
    let failed = results.len() - passed;
    if failed > 0 {
        println!("\nfailures:");
        for (name, imp, _) in results.iter().filter(|r| !r.2.passed) {
            println!("    {name} [{imp}]");
        }
    }
    let filtered_out = (all.len() - selected.len()) * impls.len();
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s",
        if failed > 0 { "FAILED" } else { "ok" },
        started.elapsed().as_secs_f64()
    );
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
