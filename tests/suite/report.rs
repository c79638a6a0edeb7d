//! The `--compare` table: one row per scenario, one column per
//! implementation. Columns are data ([`COLUMNS`]), so another one (e.g.
//! syscall counts) is one more entry plus the field it reads.

use std::time::Duration;

/// How one scenario went against one implementation.
#[derive(Clone, Debug)]
pub struct Run {
    /// Passed?
    pub passed: bool,
    /// Wall time.
    pub elapsed: Duration,
    /// Failure message (empty when passed).
    pub message: String,
}

/// One table row: a scenario and its run against each implementation.
pub struct Row {
    /// Scenario name.
    pub scenario: &'static str,
    /// Against build/c.
    pub c: Option<Run>,
    /// Against build/rust.
    pub rust: Option<Run>,
    /// Syscall-trace verdict from tests/trace/compare.py (`same`, `differs`,
    /// `allowlisted`), `None` when not traced.
    pub syscalls: Option<String>,
}

impl Row {
    /// C and Rust disagree on pass/fail, or on their normalised syscalls.
    pub fn differs(&self) -> bool {
        self.c.as_ref().map(|r| r.passed) != self.rust.as_ref().map(|r| r.passed)
            || self.syscalls.as_deref() == Some("differs")
    }

    /// Some run failed or is missing.
    pub fn any_failed(&self) -> bool {
        [&self.c, &self.rust]
            .iter()
            .any(|r| !r.as_ref().is_some_and(|r| r.passed))
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

/// A column: its title and how to fill it from a row.
pub struct Column {
    /// Header text.
    pub title: &'static str,
    /// Cell for a row.
    pub cell: fn(&Row) -> Cell,
}

fn run_cell(run: &Option<Run>) -> Cell {
    match run {
        Some(r) if r.passed => Cell {
            text: format!("pass {:>6.2}s", r.elapsed.as_secs_f64()),
            color: Some(Color::Green),
        },
        Some(r) => Cell {
            text: format!("FAIL {:>6.2}s", r.elapsed.as_secs_f64()),
            color: Some(Color::Red),
        },
        None => Cell {
            text: "-".to_owned(),
            color: None,
        },
    }
}

/// The columns of the comparison table, left to right.
pub const COLUMNS: &[Column] = &[
    Column {
        title: "scenario",
        cell: |row| Cell {
            text: if row.differs() {
                format!("{}  <- differs", row.scenario)
            } else {
                row.scenario.to_owned()
            },
            color: row.differs().then_some(Color::Yellow),
        },
    },
    Column {
        title: "C",
        cell: |row| run_cell(&row.c),
    },
    Column {
        title: "Rust",
        cell: |row| run_cell(&row.rust),
    },
    Column {
        title: "syscalls",
        cell: |row| match row.syscalls.as_deref() {
            Some(v) => Cell {
                text: v.to_owned(),
                color: Some(match v {
                    "same" => Color::Green,
                    "differs" => Color::Red,
                    _ => Color::Yellow,
                }),
            },
            None => Cell {
                text: "-".to_owned(),
                color: None,
            },
        },
    },
];

/// Renders `rows` as a `|`-separated table; ANSI colours only if `color`.
pub fn render(rows: &[Row], color: bool) -> String {
    let cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|row| COLUMNS.iter().map(|c| (c.cell)(row)).collect())
        .collect();
    let widths: Vec<usize> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, col)| {
            cells
                .iter()
                .map(|r| r[i].text.chars().count())
                .chain([col.title.len()])
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
    let header: Vec<String> = COLUMNS
        .iter()
        .zip(&widths)
        .map(|(c, &w)| format!("{:<w$}", c.title))
        .collect();
    out.push_str(header.join(" | ").trim_end());
    out.push('\n');
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    out.push_str(&rule.join("-|-"));
    out.push('\n');
    for row in &cells {
        let line: Vec<String> = row.iter().zip(&widths).map(|(c, &w)| paint(c, w)).collect();
        out.push_str(line.join(" | ").trim_end());
        out.push('\n');
    }
    out
}

/// `N scenarios, N same, M differ`
pub fn summary(rows: &[Row]) -> String {
    let differ = rows.iter().filter(|r| r.differs()).count();
    format!(
        "{} scenarios, {} same, {} differ",
        rows.len(),
        rows.len() - differ,
        differ
    )
}
