//! Black-box test suite for the chapter's three programs, run against each implementation:
//! `chapter` (the chapter's code as printed, `c_reference/chapter/`), `c` (`c_reference/`),
//! both compiled by the test build (see tests/cprogs), `rust` (the programs cargo built for
//! this test run) and, on demand, `c-asan` (`make c-asan`). Each scenario is one test per
//! implementation, named `SCENARIO::IMPL`.
//!
//! The chapter's code fails some scenarios by design: tests/pitfalls/pitfalls.toml declares
//! which, with the pitfall each shows and a piece of its failure message (expect.rs). Such a
//! test passes when it fails for that reason (it is listed as `[fails: pitfall N]`), and fails
//! when it passes or fails otherwise, so the declarations cannot go stale.
//!
//! The harness is libtest-mimic's (`harness = false`), so the arguments are libtest's: a
//! name filter, `--exact`, `--skip`, `--list`, `--ignored`, `--test-threads` (default 10 here,
//! or `RUST_TEST_THREADS`: most scenarios wait on I/O), `--format`, `-q`. Each scenario runs
//! under a deadline (`SUITE_DEADLINE_SECS`, default 60) after which every process it
//! spawned is killed and it fails (a hang is a result, never a harness hang). A scenario that
//! needs a tool that is not installed (`socat`, `python3`) is reported `ignored`, with the
//! tool and the make target that runs it.
//!
//!     cargo test --test suite                                # every implementation
//!     IMPL=c cargo test --release --test suite -- echo_64mib # one implementation, a filter
//!     cargo test --test suite -- --exact echo_server::echo_1b_via_socat::rust
//!     SUITE_COMPARE=1 cargo test --release --test suite      # the table (make compare)
//!
//! Environment: `IMPL` picks the implementations (see [`common::Impl::from_env`]: `chapter`,
//! `c`, `rust`, `both` (c and rust), `all` (the default: every one the test build makes),
//! `c-asan`, comma-separated); `SUITE_PROGRAMS_DIR=DIR` takes the three programs from DIR
//! instead (IMPL naming one implementation; make pitfall points it at a mutant's build);
//! `SUITE_COMPARE=1` prints one table after the run, scenario | chapter | C | Rust | syscalls
//! (report.rs), with every program traced under strace when it is installed;
//! `SUITE_STRACE_DIR=DIR` traces every program into DIR (make trace-compare).
//! `unshare` runs the unresolvable-name scenario without network, when it works.

mod closed_fds;
mod common;
mod echo_server;
mod expect;
mod http_get;
mod report;
mod tcp_client;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Trial};

use common::{Impl, Scenario, Verdict};
use report::{Row, Run, Status};

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

/// Each scenario's run against each implementation, by (scenario, implementation).
type Results = Arc<Mutex<HashMap<(&'static str, &'static str), Run>>>;

/// Runs tests/trace/compare.py on `dir`: prints its report of the
/// scenarios whose syscalls differ and returns scenario -> verdict.
fn syscall_verdicts(dir: &std::path::Path) -> HashMap<String, String> {
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
    let verdicts: HashMap<String, String> = run(true)
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

/// With `SUITE_COMPARE`, every program runs under strace (when strace and python3 are
/// here) into `SUITE_STRACE_DIR` or build/traces/compare; the directory, if tracing.
fn compare_trace_dir() -> Option<std::path::PathBuf> {
    if !common::on_path("strace") || !common::on_path("python3") {
        return None;
    }
    if std::env::var_os("SUITE_STRACE_DIR").is_some() {
        return common::strace_dir().map(|d| d.to_path_buf());
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("build/traces/compare");
    let _ = std::fs::remove_dir_all(&dir);
    common::trace_into(dir.clone()).then_some(dir)
}

/// The `SUITE_COMPARE` table of the scenarios that ran; false if a run failed or the
/// implementations differ.
fn print_compare(
    scenarios: &[Scenario],
    impls: &[Impl],
    results: &Results,
    trace_dir: Option<&std::path::Path>,
) -> bool {
    let results = results.lock().unwrap_or_else(|e| e.into_inner());
    let verdicts = trace_dir.map(syscall_verdicts).unwrap_or_default();
    let rows: Vec<Row> = scenarios
        .iter()
        .map(|&(name, _)| Row {
            scenario: name,
            runs: impls
                .iter()
                .map(|i| (i.name, results.get(&(name, i.name)).cloned()))
                .collect(),
            syscalls: verdicts.get(name).cloned(),
        })
        .filter(|row| row.runs.iter().any(|(_, r)| r.is_some()))
        .collect();
    let names: Vec<&str> = impls.iter().map(|i| i.name).collect();
    println!();
    print!(
        "{}",
        report::compare_table(&names, &rows, std::io::stdout().is_terminal())
    );
    println!("{}", report::summary(&rows, expect::pitfall_title));
    !rows.iter().any(|r| r.any_failed() || r.differs())
}

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    // Most scenarios wait (on a peer, a timeout, the chapter's code stuck on a buffered line):
    // 10 at once keep 2 cores busy without starving the few that copy 64 MiB.
    common::default_test_threads(&mut args, 10);
    let impls = match Impl::from_env("all") {
        Ok(impls) => impls,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let compare = std::env::var("SUITE_COMPARE").is_ok_and(|v| !v.is_empty() && v != "0");
    if compare && args.format.is_none() {
        // One character per test: the table after the run is the report.
        args.quiet = true;
    }
    if !args.list {
        for imp in &impls {
            if let Some(missing) = imp.missing() {
                eprintln!("warning: IMPL {}: {missing}", imp.name);
            }
        }
    }
    common::set_make_target("make test");
    common::install_panic_hook();
    let trace_dir = if compare && !args.list {
        compare_trace_dir()
    } else {
        None
    };
    let deadline = Duration::from_secs(common::env_number("SUITE_DEADLINE_SECS", 60));
    let results: Results = Arc::default();

    let scenarios = all_scenarios();
    if let Err(e) = expect::check_names(&scenarios) {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    let mut order = scenarios.clone();
    if args.list {
        order.sort_by_key(|(name, _)| *name);
    } else {
        order.sort_by_key(|(name, _)| !SLOW_FIRST.iter().any(|s| name.contains(s)));
    }
    let trials: Vec<Trial> = order
        .iter()
        .flat_map(|&(name, f)| {
            let results = &results;
            impls.iter().map(move |imp| {
                let test = format!("{name}::{}", imp.name);
                let (imp, results, label) = (imp.clone(), results.clone(), test.clone());
                let declared = (imp.name == "chapter")
                    .then(|| expect::chapter_failures().get(name))
                    .flatten();
                let trial = Trial::ignorable_test(test, move || {
                    let started = Instant::now();
                    let key = (name, imp.name);
                    let imp_name = imp.name;
                    let verdict = common::run_with_deadline(label, deadline, move || {
                        common::set_trace_scenario(name);
                        f(&imp)
                    });
                    // The chapter's code as printed: a declared failure is its result.
                    let (status, outcome) = match verdict {
                        Verdict::Passed(()) => match expect::judge(imp_name, name, true, "") {
                            expect::Verdict::UnexpectedPass(n) => (
                                Status::Stale(n),
                                Err(expect::explain(imp_name, name, "").into()),
                            ),
                            _ => (Status::Pass, Verdict::Passed(()).outcome()),
                        },
                        Verdict::Failed(ref msg) => match expect::judge(imp_name, name, false, msg)
                        {
                            expect::Verdict::ExpectedFailure(n) => (
                                Status::Expected(n),
                                Ok(libtest_mimic::Completion::Completed),
                            ),
                            _ => (
                                Status::Fail,
                                Err(expect::explain(imp_name, name, msg).into()),
                            ),
                        },
                        Verdict::Skipped(_) => (Status::Skip, verdict.outcome()),
                    };
                    let note = match &verdict {
                        Verdict::Failed(msg) => Run::note_for(msg),
                        _ => None,
                    };
                    let run = Run {
                        status,
                        elapsed: started.elapsed(),
                        note,
                    };
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key, run);
                    outcome
                });
                // Shown as `[fails: pitfall N]`: the chapter's code is expected to fail this.
                match declared {
                    Some(e) => trial.with_kind(format!("fails: pitfall {}", e.pitfall)),
                    None => trial,
                }
            })
        })
        .collect();

    let conclusion = libtest_mimic::run(&args, trials);
    common::remove_run_dir();
    let table_ok = if compare && !args.list {
        print_compare(&scenarios, &impls, &results, trace_dir.as_deref())
    } else {
        true
    };
    if conclusion.has_failed() || !table_ok {
        ExitCode::from(101)
    } else {
        ExitCode::SUCCESS
    }
}
