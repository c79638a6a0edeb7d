//! The comparison tables: one row per scenario, one column per implementation
//! (`make compare`: scenario | C | Rust | syscalls; the stress test: scenario | C | Rust |
//! figure). The implementation columns are whatever implementations ran, in their order.

use std::time::Duration;

/// How one scenario went against one implementation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Ran and passed.
    Pass,
    /// Ran and failed (or overran its deadline).
    Fail,
    /// Did not run: a tool it needs is missing.
    Skip,
    /// The chapter's code failed as tests/pitfalls/pitfalls.toml declares: this pitfall.
    Expected(i64),
    /// Declared to fail against the chapter's code, but passed (a stale declaration).
    Stale(i64),
}

/// One scenario against one implementation.
#[derive(Clone, Debug)]
pub struct Run {
    /// How it went.
    pub status: Status,
    /// Wall time.
    pub elapsed: Duration,
    /// How a failure ended, when it is not an ordinary failed check: `hang` (the deadline
    /// killed it) or the signal that killed the program (`SIGSEGV`, ...).
    pub note: Option<String>,
}

impl Run {
    /// The `note` for a failure message: a hang or a signal death, if the message says so.
    pub fn note_for(message: &str) -> Option<String> {
        if message.contains("did not finish within") {
            return Some("hang".to_owned());
        }
        let at = message.find("killed by signal ")?;
        let name = message[at..].split(['(', ')']).nth(1)?;
        Some(name.to_owned())
    }
}

/// A colour for a cell (used only on a terminal).
#[derive(Clone, Copy)]
pub enum Color {
    Green,
    Red,
    Yellow,
}

impl Color {
    fn code(self) -> &'static str {
        match self {
            Color::Green => "32",
            Color::Red => "31;1",
            Color::Yellow => "33;1",
        }
    }
}

/// One table cell.
pub struct Cell {
    /// Plain text (no escape codes).
    pub text: String,
    /// Optional colour.
    pub color: Option<Color>,
}

impl Cell {
    /// A cell without colour.
    pub fn plain(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            color: None,
        }
    }
}

/// The column title of an implementation.
pub fn impl_title(name: &str) -> String {
    match name {
        "c" => "C".to_owned(),
        "rust" => "Rust".to_owned(),
        "c-asan" => "C (asan)".to_owned(),
        other => other.to_owned(),
    }
}

/// `pass 1.23s`, `FAIL 1.23s`, `skip`, or `-` when it did not run.
pub fn run_cell(run: Option<&Run>) -> Cell {
    match run {
        Some(r) => match r.status {
            Status::Pass => Cell {
                text: format!("pass {:>6.2}s", r.elapsed.as_secs_f64()),
                color: Some(Color::Green),
            },
            Status::Fail => Cell {
                text: match &r.note {
                    Some(note) => format!("FAIL {note}"),
                    None => format!("FAIL {:>6.2}s", r.elapsed.as_secs_f64()),
                },
                color: Some(Color::Red),
            },
            Status::Expected(n) => Cell {
                text: match &r.note {
                    Some(note) => format!("fails: pitfall {n}, {note}"),
                    None => format!("fails: pitfall {n}"),
                },
                color: Some(Color::Yellow),
            },
            Status::Stale(n) => Cell {
                text: format!("PASS, not pitfall {n}?"),
                color: Some(Color::Red),
            },
            Status::Skip => Cell {
                text: "skip".to_owned(),
                color: Some(Color::Yellow),
            },
        },
        None => Cell::plain("-"),
    }
}

/// One row of `make compare`: a scenario, its run against each implementation (in the
/// table's column order) and its syscall-trace verdict.
pub struct Row {
    /// Scenario name.
    pub scenario: &'static str,
    /// One per implementation column: its name and its run (`None` if it did not run).
    pub runs: Vec<(&'static str, Option<Run>)>,
    /// Syscall-trace verdict from tests/trace/compare.py (`same`, `differs`,
    /// `allowlisted`), `None` when not traced.
    pub syscalls: Option<String>,
}

impl Row {
    /// Our implementations (every column but the chapter's code as printed) disagree on
    /// pass/fail, or on their normalised syscalls.
    pub fn differs(&self) -> bool {
        let ours: Vec<Option<Status>> = self
            .runs
            .iter()
            .filter(|(name, _)| *name != "chapter")
            .map(|(_, r)| r.as_ref().map(|r| r.status.clone()))
            .collect();
        ours.windows(2).any(|w| w[0] != w[1]) || self.syscalls.as_deref() == Some("differs")
    }

    /// Some run failed, passed where a failure was declared, or is missing (a skip is
    /// neither: it shows as `skip`; a declared failure of the chapter's code is a result).
    pub fn any_failed(&self) -> bool {
        self.runs.iter().any(|(_, r)| {
            r.as_ref()
                .is_none_or(|r| matches!(r.status, Status::Fail | Status::Stale(_)))
        })
    }

    /// The row's cells: scenario, one per implementation, syscalls.
    pub fn cells(&self) -> Vec<Cell> {
        let mut cells = vec![Cell {
            text: if self.differs() {
                format!("{}  <- differs", self.scenario)
            } else {
                self.scenario.to_owned()
            },
            color: self.differs().then_some(Color::Yellow),
        }];
        cells.extend(self.runs.iter().map(|(_, r)| run_cell(r.as_ref())));
        cells.push(match self.syscalls.as_deref() {
            Some(v) => Cell {
                text: v.to_owned(),
                color: Some(match v {
                    "same" => Color::Green,
                    "differs" => Color::Red,
                    _ => Color::Yellow,
                }),
            },
            None => Cell::plain("-"),
        });
        cells
    }
}

/// The `make compare` table: scenario | one column per implementation | syscalls.
pub fn compare_table(impls: &[&str], rows: &[Row], color: bool) -> String {
    let mut titles = vec!["scenario".to_owned()];
    titles.extend(impls.iter().map(|i| impl_title(i)));
    titles.push("syscalls".to_owned());
    let cells: Vec<Vec<Cell>> = rows.iter().map(Row::cells).collect();
    render(&titles, &cells, color)
}

/// Renders a `|`-separated table with a rule under the titles; ANSI colours only if `color`.
pub fn render(titles: &[String], rows: &[Vec<Cell>], color: bool) -> String {
    let widths: Vec<usize> = titles
        .iter()
        .enumerate()
        .map(|(i, title)| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.text.chars().count())
                .chain([title.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let paint = |cell: &Cell, width: usize| {
        let padded = format!("{:<width$}", cell.text);
        match (color, cell.color) {
            (true, Some(c)) => format!("\x1b[{}m{padded}\x1b[0m", c.code()),
            _ => padded,
        }
    };
    let mut out = String::new();
    let header: Vec<String> = titles
        .iter()
        .zip(&widths)
        .map(|(t, &w)| format!("{t:<w$}"))
        .collect();
    out.push_str(header.join(" | ").trim_end());
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    out.push_str(&rule.join("-|-"));
    out.push('\n');
    for row in rows {
        let line: Vec<String> = row.iter().zip(&widths).map(|(c, &w)| paint(c, w)).collect();
        out.push_str(line.join(" | ").trim_end());
        out.push('\n');
    }
    out
}

/// `N scenarios, N same, M differ` (C against Rust), then, when the chapter's code ran, how
/// many scenarios it fails for each pitfall.
pub fn summary(rows: &[Row], pitfall_title: impl Fn(i64) -> String) -> String {
    let differ = rows.iter().filter(|r| r.differs()).count();
    let mut out = format!(
        "{} scenarios, {} same, {} differ (C against Rust: result and system calls)",
        rows.len(),
        rows.len() - differ,
        differ
    );
    let chapter: Vec<&Run> = rows
        .iter()
        .flat_map(|r| &r.runs)
        .filter(|(name, _)| *name == "chapter")
        .filter_map(|(_, r)| r.as_ref())
        .collect();
    if !chapter.is_empty() {
        let mut by_pitfall = std::collections::BTreeMap::new();
        for r in &chapter {
            if let Status::Expected(n) = r.status {
                *by_pitfall.entry(n).or_insert(0usize) += 1;
            }
        }
        let failing: usize = by_pitfall.values().sum();
        let passing = chapter.iter().filter(|r| r.status == Status::Pass).count();
        out.push_str(&format!(
            "\nthe chapter's code as printed: {passing} pass, {failing} fail as \
             tests/pitfalls/pitfalls.toml declares{}",
            if failing > 0 {
                " (docs/pitfalls.md; see one with make pitfall N=...):"
            } else {
                ""
            }
        ));
        for (n, count) in by_pitfall {
            out.push_str(&format!(
                "\n  pitfall {n:>2}: {count:>2} scenario{}  {}",
                if count == 1 { " " } else { "s" },
                pitfall_title(n)
            ));
        }
    }
    out
}
