//! What the chapter's code as printed (`IMPL=chapter`) is expected to fail, read from the one
//! place that declares it: `tests/pitfalls/pitfalls.toml` (`chapter_fails` of each pitfall).
//!
//! An expected failure is a result, not an error: the run passes when the scenario fails AND
//! its failure message holds the declared evidence (the stated reason). A scenario expected to
//! fail that passes, or fails for another reason, fails the run, so the list cannot go stale.
//! Every other scenario must pass against the chapter's code as against ours.

use std::collections::HashMap;
use std::sync::OnceLock;

/// One declared failure of the chapter's code.
#[derive(Clone, Debug)]
pub struct Expected {
    /// The pitfall it shows (its number in docs/pitfalls.md).
    pub pitfall: i64,
    /// The pitfall's title.
    pub title: String,
    /// Text the failure message must contain.
    pub evidence: String,
}

/// scenario -> its declared failure, for the chapter's code.
pub fn chapter_failures() -> &'static HashMap<String, Expected> {
    static MAP: OnceLock<HashMap<String, Expected>> = OnceLock::new();
    MAP.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pitfalls/pitfalls.toml");
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        let doc: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("{path} is not valid TOML: {e}"));
        let mut map = HashMap::new();
        let pitfalls = doc.get("pitfall").and_then(|p| p.as_array());
        for p in pitfalls.into_iter().flatten() {
            let n = p.get("n").and_then(|n| n.as_integer()).unwrap_or(0);
            let title = p.get("title").and_then(|t| t.as_str()).unwrap_or("");
            let fails = p.get("chapter_fails").and_then(|f| f.as_array());
            for f in fails.into_iter().flatten() {
                let field = |k: &str| f.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
                let scenario = field("scenario");
                let previous = map.insert(
                    scenario.clone(),
                    Expected {
                        pitfall: n,
                        title: title.to_owned(),
                        evidence: field("evidence"),
                    },
                );
                assert!(
                    previous.is_none(),
                    "{path}: scenario {scenario} is declared twice in chapter_fails"
                );
            }
        }
        map
    })
}

/// How a run turned out once expectations are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Passed, as expected.
    Pass,
    /// Failed for its declared reason (the chapter's code): the run counts as passed.
    ExpectedFailure(i64),
    /// Failed (and was not expected to, or not for this reason).
    Fail,
    /// Declared to fail, but passed: the declaration is stale.
    UnexpectedPass(i64),
}

/// The verdict for `scenario` against implementation `imp`, given whether it passed and its
/// failure message.
pub fn judge(imp: &str, scenario: &str, passed: bool, message: &str) -> Verdict {
    let expected = (imp == "chapter")
        .then(|| chapter_failures().get(scenario))
        .flatten();
    match (expected, passed) {
        (None, true) => Verdict::Pass,
        (None, false) => Verdict::Fail,
        (Some(e), true) => Verdict::UnexpectedPass(e.pitfall),
        (Some(e), false) if message.contains(&e.evidence) => Verdict::ExpectedFailure(e.pitfall),
        (Some(_), false) => Verdict::Fail,
    }
}

/// The failure message of a run that is not ok: `message`, and what was declared for it.
/// An empty `message` means the run passed.
pub fn explain(imp: &str, scenario: &str, message: &str) -> String {
    let declared = (imp == "chapter")
        .then(|| chapter_failures().get(scenario))
        .flatten();
    match declared {
        Some(e) if message.is_empty() => format!(
            "declared in tests/pitfalls/pitfalls.toml to fail against the chapter's code \
             (pitfall {}: {}), but it passed: the declaration is stale",
            e.pitfall, e.title
        ),
        Some(e) => format!(
            "declared to fail for pitfall {} ({}) with '{}' in its message, but it failed \
             otherwise:\n{message}",
            e.pitfall, e.title, e.evidence
        ),
        None => message.to_owned(),
    }
}

/// The title of pitfall `n`, from the registry.
pub fn pitfall_title(n: i64) -> String {
    chapter_failures()
        .values()
        .find(|e| e.pitfall == n)
        .map(|e| e.title.clone())
        .unwrap_or_default()
}

/// Every scenario the registry names must exist, or its declaration would never be checked.
pub fn check_names(scenarios: &[crate::common::Scenario]) -> Result<(), String> {
    let unknown: Vec<&String> = chapter_failures()
        .keys()
        .filter(|k| !scenarios.iter().any(|(name, _)| name == k))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "tests/pitfalls/pitfalls.toml declares chapter failures of scenarios that do not \
             exist: {unknown:?}"
        ))
    }
}
