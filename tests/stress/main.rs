//! Stress, fault and bad-input scenarios, run against the implementations `IMPL` names, as
//! in the suite (default both: `c` compiled by the test build and `rust` built by cargo;
//! `c-asan` after `make c-asan`), one test per scenario and implementation, `SCENARIO::IMPL`.
//!
//! `STRESS=full` (make stress) runs the full sizes (64 clients x 16 MiB, 1,000 churned
//! connections, ...); the default is the fast subset `make test` runs (64 x 1 MiB, 200
//! connections). Every scenario returns a [`Figure`]: what it counted (bytes checked,
//! connections, faults, bad inputs, zombies, leaks); after the run one table, scenario | C |
//! Rust | figure, and the figures summed. The harness is libtest-mimic's, so the arguments
//! are libtest's (filter, `--exact`, `--list`, `--test-threads`, ...); `--test-threads`
//! defaults to 2 (or `RUST_TEST_THREADS`): this is a load test, and the machine is shared.
//!
//! Needs `strace` (slow reader), `prlimit` (fd limits), and root with `setpriv` (process
//! limits as user nobody); a scenario whose tool is missing is reported `ignored` with
//! what is missing and the make target that runs it (`make stress-fast`).

#[allow(dead_code)]
#[path = "../suite/common.rs"]
mod common;
#[allow(dead_code)]
#[path = "../suite/report.rs"]
mod report;

mod bad_input;
mod faults;
mod load;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, FormatSetting, Trial};

use common::{Impl, Verdict};
use report::{Cell, Run, Status};

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
/// process counts or load the machine): they run first, one at a time.
const HEAVY: &[&str] = &["load::64_clients"];

/// Taken shared by every scenario, exclusively by a heavy one.
static ALONE: RwLock<()> = RwLock::new(());

fn all_scenarios() -> Vec<StressScenario> {
    [load::SCENARIOS, faults::SCENARIOS, bad_input::SCENARIOS].concat()
}

/// Each scenario's run and figure against each implementation.
type Results = Arc<Mutex<HashMap<(&'static str, &'static str), (Run, Option<Figure>)>>>;

/// The table (scenario | one column per implementation | figure) and the summed figures.
fn print_table(scenarios: &[StressScenario], impls: &[Impl], results: &Results) {
    let results = results.lock().unwrap_or_else(|e| e.into_inner());
    let mut titles = vec!["scenario".to_owned()];
    titles.extend(impls.iter().map(|i| report::impl_title(i.name)));
    titles.push("figure".to_owned());
    let mut rows = Vec::new();
    for &(name, _) in scenarios {
        let runs: Vec<Option<&(Run, Option<Figure>)>> =
            impls.iter().map(|i| results.get(&(name, i.name))).collect();
        if runs.iter().all(Option::is_none) {
            continue;
        }
        // One figure when the implementations agree, else each one's.
        let figures: Vec<(&str, &str)> = impls
            .iter()
            .zip(&runs)
            .filter_map(|(i, r)| Some((i.name, r.and_then(|r| r.1.as_ref())?.text.as_str())))
            .collect();
        let figure = match figures.first() {
            None => "-".to_owned(),
            Some((_, first)) if figures.iter().all(|(_, f)| f == first) => (*first).to_owned(),
            Some(_) => figures
                .iter()
                .map(|(i, f)| format!("{}: {f}", report::impl_title(i)))
                .collect::<Vec<_>>()
                .join(" / "),
        };
        let mut row = vec![Cell::plain(name)];
        row.extend(runs.iter().map(|r| report::run_cell(r.map(|r| &r.0))));
        row.push(Cell::plain(figure));
        rows.push(row);
    }
    println!();
    print!(
        "{}",
        report::render(&titles, &rows, std::io::stdout().is_terminal())
    );

    // Closing note: the figures summed over the implementations.
    let mut sum = Figure::default();
    for f in results.values().filter_map(|r| r.1.as_ref()) {
        sum.bytes += f.bytes;
        sum.connections += f.connections;
        sum.faults += f.faults;
        sum.bad_inputs += f.bad_inputs;
        sum.zombies += f.zombies;
        sum.leaks += f.leaks;
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
}

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    common::default_test_threads(&mut args, 2);
    let impls = match Impl::from_env("both") {
        Ok(impls) => impls,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if !args.list {
        for imp in &impls {
            if let Some(missing) = imp.missing() {
                eprintln!("warning: IMPL {}: {missing}", imp.name);
            }
        }
    }
    let mode = match std::env::var("STRESS").as_deref() {
        Ok("full") => Mode::Full,
        _ => Mode::Fast,
    };
    common::set_make_target(mode.pick("make stress-fast", "make stress"));
    common::install_panic_hook();
    let deadline = Duration::from_secs(mode.pick(60, 300));
    let results: Results = Arc::default();

    let scenarios = all_scenarios();
    let is_heavy = |n: &str| HEAVY.iter().any(|h| n.starts_with(h));
    let mut order = scenarios.clone();
    if args.list {
        order.sort_by_key(|(name, _)| *name);
    } else {
        order.sort_by_key(|(name, _)| !is_heavy(name));
    }
    let trials: Vec<Trial> = order
        .iter()
        .flat_map(|&(name, f)| {
            let results = &results;
            let heavy = is_heavy(name);
            impls.iter().map(move |imp| {
                let test = format!("{name}::{}", imp.name);
                let (imp, results, label) = (imp.clone(), results.clone(), test.clone());
                Trial::ignorable_test(test, move || {
                    let (_shared, _alone) = if heavy {
                        (None, Some(ALONE.write().unwrap_or_else(|e| e.into_inner())))
                    } else {
                        (Some(ALONE.read().unwrap_or_else(|e| e.into_inner())), None)
                    };
                    let started = Instant::now();
                    let key = (name, imp.name);
                    let verdict = common::run_with_deadline(label, deadline, move || f(&imp, mode));
                    let elapsed = started.elapsed();
                    let (status, figure, note) = match &verdict {
                        Verdict::Passed(figure) => (Status::Pass, Some(figure.clone()), None),
                        Verdict::Failed(msg) => (Status::Fail, None, Run::note_for(msg)),
                        Verdict::Skipped(_) => (Status::Skip, None, None),
                    };
                    let run = Run {
                        status,
                        elapsed,
                        note,
                    };
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key, (run, figure));
                    verdict.outcome()
                })
            })
        })
        .collect();

    let conclusion = libtest_mimic::run(&args, trials);
    common::remove_run_dir();
    if !args.list && !matches!(args.format, Some(FormatSetting::Json)) {
        print_table(&scenarios, &impls, &results);
    }
    if conclusion.has_failed() {
        ExitCode::from(101)
    } else {
        ExitCode::SUCCESS
    }
}
