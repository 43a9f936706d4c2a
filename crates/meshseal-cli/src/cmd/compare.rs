//! `meshseal compare`: what each way of protecting a sensor's messages costs on air, in energy
//! and in months of battery (and, with `--receivers N`, for one command to N receivers): DTLS 1.2 PSK (session kept, or a new handshake after each sleep),
//! DTLS 1.3 (wolfSSL, measured), OSCORE, and meshseal compact frames (explicit or implicit sender).
//!
//! Baselines come from recorded measurement files (`bench/results/*.json`, built into the
//! binary, or `--results DIR`); `--measure` measures them again on loopback (OpenSSL through
//! the project's relay, aiocoap) and writes the files. meshseal frames are always sealed by the
//! core at the time of the comparison. Radio, battery and crypto figures are data files
//! (`data/`) with their datasheet sources. The model, the measurements and the profiles are the
//! `meshseal-cost` crate; this module reads the flags and prints.

use std::path::PathBuf;

use meshseal_cost::compare::{self as cost, table};
use meshseal_cost::{fanout, plot, profile};

use crate::cli_util::{parse_interval, CliError, Outcome};

/// `meshseal compare` options.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Application payload bytes per message.
    #[arg(long, default_value_t = 4)]
    pub payload: usize,
    /// Time between messages (e.g. 60s, 5m, 1h; a bare number is seconds).
    #[arg(long, default_value = "60s", value_parser = parse_interval)]
    pub interval: f64,
    /// Radio profile: a name from data/radios (ieee802154, ble, lora) or a TOML file.
    #[arg(long, default_value = "ieee802154")]
    pub radio: String,
    /// Battery profile: a name from data/batteries (cr2032, aa-lithium-2) or a TOML file.
    #[arg(long, default_value = "cr2032")]
    pub battery: String,
    /// Print the table as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also cost one command from a controller to N receivers (1-64): one group frame against
    /// N records, handshakes or requests, and the controller's state per receiver.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub receivers: Option<u16>,
    /// Copies of each meshseal frame for sleepy receivers (as `seal --repeat`), in the
    /// fan-out figures.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
    pub repeat: u8,
    /// Draw two panels (SVG): battery life relative to DTLS 1.2 with a kept session against
    /// message interval, and bytes on air per command against the number of receivers.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Measure the baselines again on loopback (needs openssl and python3 with aiocoap) and
    /// write them to --results.
    #[arg(long)]
    pub measure: bool,
    /// Directory of recorded baselines: read instead of the built-in copy, or written by
    /// --measure (default bench/results).
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// Directory holding the measurement scripts (oscore_sizes.py).
    #[arg(long, default_value = "bench")]
    pub bench_dir: PathBuf,
}

/// Runs `meshseal compare`.
pub fn run(args: CompareArgs) -> Result<Outcome, CliError> {
    let radio = profile::radio_profile(&args.radio)?;
    let battery = profile::battery_profile(&args.battery)?;
    let crypto = profile::crypto_profile()?;
    let loaded = if args.measure {
        cost::measure_all(args.results.as_deref(), &args.bench_dir)?
    } else {
        cost::load_recorded(args.results.as_deref())?
    };
    let (cmp, traffic) =
        cost::compute(args.payload, args.interval, &loaded, radio, battery, crypto)?;
    let ram = fanout::SessionRam::recorded()?;
    let fan = args
        .receivers
        .map(|n| fanout::fanout(&cmp, &traffic, usize::from(n), args.repeat, &ram))
        .transpose()?;
    if let Some(path) = &args.plot {
        let title = format!(
            "{}-byte payload, {}, {}",
            args.payload, cmp.radio.title, cmp.battery.title
        );
        let receivers = args.receivers.map(usize::from);
        let (left, right, notes) = cost::plot_panels(&cmp, &traffic, receivers, args.repeat, &ram)?;
        plot::draw(path, &title, &left, &right, &notes)?;
        if !args.json {
            eprintln!("plot written to {}", path.display());
        }
    }
    if args.json {
        let mut v = serde_json::to_value(&cmp).map_err(|e| CliError(e.to_string()))?;
        if let Some(f) = &fan {
            v["fanout"] = serde_json::to_value(f).map_err(|e| CliError(e.to_string()))?;
        }
        outln!("{v:#}");
    } else {
        out!("{}", table(&cmp));
        if let Some(f) = &fan {
            out!("\n{}", fanout::table(f));
        }
    }
    Ok(Outcome::Done)
}
