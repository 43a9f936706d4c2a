//! Renders a [`LabRun`]: a terminal table, JSON for machines, and a Markdown report.
//!
//! Output depends only on the run (no clocks, no paths), so equal seeds give equal bytes.

use std::fmt::Write;

use serde::Serialize;

use crate::scheme::{Threat, Verdict};
use crate::{Finding, LabRun};

/// Short column label of a scheme.
pub fn label(id: &str) -> &str {
    match id {
        "aes-ecb" => "ECB",
        "aes-cbc-fixed-iv" => "CBC-fixIV",
        "aes-cbc-random-iv" => "CBC-rndIV",
        "aes-ctr-boot-counter" => "CTR-boot",
        "aes-ccm-no-sender-id" => "CCM-noSID",
        "aes-ccm-no-replay-window" => "CCM-noRW",
        "meshseal-strong" => "ms-strong",
        "customer" => "customer",
        other => other,
    }
}

fn cell(f: &Finding) -> String {
    let v = match f.result {
        Verdict::Broken => "BROKEN",
        Verdict::Held => "held",
        Verdict::NotApplicable => "n/a",
    };
    if f.matches() {
        v.to_string()
    } else {
        format!("{v}!")
    }
}

fn trim_end(s: &mut String) {
    let keep = s.trim_end_matches(' ').len();
    s.truncate(keep);
}

/// Counts per verdict and mismatches.
fn counts(run: &LabRun) -> (usize, usize, usize, usize) {
    let n = |v: Verdict| run.findings.iter().filter(|f| f.result == v).count();
    let off = run.findings.iter().filter(|f| !f.matches()).count();
    (
        n(Verdict::Broken),
        n(Verdict::Held),
        n(Verdict::NotApplicable),
        off,
    )
}

fn summary_line(run: &LabRun) -> String {
    let (b, h, na, off) = counts(run);
    let total = run.findings.len();
    if off == 0 {
        format!(
            "{total} results, all as expected: {b} broken, {h} held, {na} not applicable (seed {})",
            run.seed
        )
    } else {
        format!(
            "{total} results, {off} NOT as expected (marked !): {b} broken, {h} held, {na} not applicable (seed {})",
            run.seed
        )
    }
}

/// The matrix (threat rows, scheme columns) followed by one evidence line per cell.
pub fn table(run: &LabRun) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "meshseal attack lab: {} threats x {} schemes, seed {}\n",
        run.threats.len(),
        run.schemes.len(),
        run.seed
    );
    let w = run
        .threats
        .iter()
        .map(|t| t.title().len() + 4)
        .max()
        .unwrap_or(0);
    let _ = write!(out, "{:<w$}", "threat");
    for (id, _) in &run.schemes {
        let _ = write!(out, " {:<10}", label(id));
    }
    trim_end(&mut out);
    let _ = writeln!(out);
    for &t in &run.threats {
        let _ = write!(out, "{:<w$}", format!("{:<4}{}", t.id(), t.title()));
        for (id, _) in &run.schemes {
            let c = run.get(id, t).map(cell).unwrap_or_default();
            let _ = write!(out, " {c:<10}");
        }
        trim_end(&mut out);
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "\n{}", summary_line(run));
    let _ = writeln!(out, "\nevidence:");
    for &t in &run.threats {
        let _ = writeln!(out, "{} {}", t.id(), t.title());
        for (id, _) in &run.schemes {
            if let Some(f) = run.get(id, t) {
                let _ = writeln!(out, "  {:<10} {:<7} {}", label(id), cell(f), f.evidence);
            }
        }
    }
    out
}

/// One cell in JSON.
#[derive(Debug, Serialize)]
pub struct JsonResult<'a> {
    /// Scheme id.
    pub scheme: &'a str,
    /// "T1" … "T13".
    pub threat: &'a str,
    /// Threat title.
    pub title: &'a str,
    /// `broken`, `held` or `not_applicable`.
    pub result: Verdict,
    /// The predicted result.
    pub expected: Verdict,
    /// Whether they agree.
    pub matches: bool,
    /// One line of evidence.
    pub evidence: &'a str,
    /// The attack's steps.
    pub details: &'a [String],
}

/// A scheme in JSON.
#[derive(Debug, Serialize)]
pub struct JsonScheme<'a> {
    /// Id.
    pub id: &'a str,
    /// Name.
    pub name: &'a str,
}

/// Totals in JSON.
#[derive(Debug, Serialize)]
pub struct JsonSummary {
    /// Results that were `broken`.
    pub broken: usize,
    /// Results that were `held`.
    pub held: usize,
    /// Results that were `not_applicable`.
    pub not_applicable: usize,
    /// Results that differ from their expectation.
    pub mismatches: usize,
    /// No mismatches (the command's exit code is 0 exactly then).
    pub all_match: bool,
}

/// The whole run in JSON.
#[derive(Debug, Serialize)]
pub struct JsonRun<'a> {
    /// The seed.
    pub seed: u64,
    /// Schemes in column order.
    pub schemes: Vec<JsonScheme<'a>>,
    /// Every cell, threat-major.
    pub results: Vec<JsonResult<'a>>,
    /// Totals.
    pub summary: JsonSummary,
}

/// The run as a serializable value.
pub fn json(run: &LabRun) -> JsonRun<'_> {
    let (broken, held, not_applicable, mismatches) = counts(run);
    JsonRun {
        seed: run.seed,
        schemes: run
            .schemes
            .iter()
            .map(|(id, name)| JsonScheme { id, name })
            .collect(),
        results: run
            .findings
            .iter()
            .map(|f| JsonResult {
                scheme: f.scheme,
                threat: f.threat.id(),
                title: f.threat.title(),
                result: f.result,
                expected: f.expected,
                matches: f.matches(),
                evidence: &f.evidence,
                details: &f.details,
            })
            .collect(),
        summary: JsonSummary {
            broken,
            held,
            not_applicable,
            mismatches,
            all_match: mismatches == 0,
        },
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The Markdown report with the evidence in full.
pub fn markdown(run: &LabRun) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# meshseal attack lab report\n");
    let _ = writeln!(
        out,
        "Seed {}: `meshseal attack-lab --seed {}` reproduces this report. {}\n",
        run.seed,
        run.seed,
        summary_line(run)
    );
    let _ = writeln!(out, "## Schemes\n");
    for (id, name) in &run.schemes {
        let _ = writeln!(out, "- `{id}` ({}): {name}", label(id));
    }
    let _ = writeln!(out, "\n## Results\n");
    let _ = write!(out, "| threat |");
    for (id, _) in &run.schemes {
        let _ = write!(out, " {} |", label(id));
    }
    let _ = write!(out, "\n|---|");
    for _ in &run.schemes {
        let _ = write!(out, "---|");
    }
    let _ = writeln!(out);
    for &t in &run.threats {
        let _ = write!(out, "| {} {} |", t.id(), t.title());
        for (id, _) in &run.schemes {
            let c = run.get(id, t).map(cell).unwrap_or_default();
            let _ = write!(out, " {c} |");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "\n`BROKEN`: the attack reached its goal; `held`: it was carried out and failed; `n/a`: \
         the scheme has nothing the attack targets; `!`: not the result the scheme's design \
         predicts."
    );
    for &t in &run.threats {
        write_threat(&mut out, run, t);
    }
    out
}

fn write_threat(out: &mut String, run: &LabRun, t: Threat) {
    let _ = writeln!(out, "\n## {} {}\n", t.id(), t.title());
    let _ = writeln!(
        out,
        "| scheme | result | expected | evidence |\n|---|---|---|---|"
    );
    for (id, _) in &run.schemes {
        if let Some(f) = run.get(id, t) {
            let _ = writeln!(
                out,
                "| {} | {} | {} ({}) | {} |",
                label(id),
                f.result.name(),
                f.expected.name(),
                md_escape(f.expected_why),
                md_escape(&f.evidence)
            );
        }
    }
    for (id, _) in &run.schemes {
        if let Some(f) = run.get(id, t) {
            if f.details.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{} steps:\n", label(id));
            for d in &f.details {
                let _ = writeln!(out, "- {}", d.replace('\n', " "));
            }
        }
    }
}
