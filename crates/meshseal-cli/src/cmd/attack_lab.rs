//! `meshseal attack-lab`: runs the threat model as attacks and prints the results.
//!
//! Exit codes: 0 when every result is the one the scheme's design predicts (naive schemes
//! fall where expected, meshseal holds where its mode claims), 1 otherwise or on bad input.

use std::path::PathBuf;
use std::time::Instant;

use meshseal_lab::scheme::Threat;
use meshseal_lab::{report, Config};

use crate::{CliError, Outcome};

/// Flags of `meshseal attack-lab`.
#[derive(clap::Args)]
pub struct AttackLabArgs {
    /// Seed of every key, IV and scenario choice: equal seeds give equal output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write a Markdown report with the evidence in full.
    #[arg(long, value_name = "FILE.md")]
    report: Option<PathBuf>,
    /// Only these threats (T1 … T15; repeat or separate with commas).
    #[arg(long = "threat", value_delimiter = ',')]
    threats: Vec<String>,
    /// Only these schemes (ids as in the JSON output; repeat or separate with commas).
    #[arg(long = "scheme", value_delimiter = ',')]
    schemes: Vec<String>,
}

/// Runs the lab.
pub fn attack_lab(args: AttackLabArgs) -> Result<Outcome, CliError> {
    let threats = args
        .threats
        .iter()
        .map(|t| {
            Threat::parse(t)
                .ok_or_else(|| CliError::usage(format!("unknown threat {t} (T1 … T15)")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cfg = Config {
        seed: args.seed,
        threats,
        schemes: args.schemes,
    };
    let started = Instant::now();
    let run = meshseal_lab::run(&cfg).map_err(CliError::usage)?;
    let elapsed = started.elapsed();
    if args.json {
        let text = serde_json::to_string_pretty(&report::json(&run))
            .map_err(|e| CliError(format!("json: {e}")))?;
        outln!("{text}");
    } else {
        out!("{}", report::table(&run));
    }
    if let Some(path) = &args.report {
        std::fs::write(path, report::markdown(&run))
            .map_err(|e| CliError::io(format!("writing {}", path.display()), e))?;
    }
    eprintln!(
        "{} attacks in {:.1} ms",
        run.findings.len(),
        elapsed.as_secs_f64() * 1000.0
    );
    if run.all_match() {
        Ok(Outcome::Done)
    } else {
        let n = run.findings.iter().filter(|f| !f.matches()).count();
        Err(CliError(format!(
            "{n} results differ from their expectation"
        )))
    }
}
