//! `meshseal simulate`: runs the mesh simulator (`meshseal-sim`) with the energy figures of a
//! radio profile and prints its report; a progress bar on a terminal. With `--commands`, the
//! sleepy-receiver mode instead (repeated commands to receivers that wake now and then, the
//! plan of `meshseal plan` checked with the real core). The simulations live in `meshseal-sim`,
//! the radio's energy figures in `meshseal-cost`.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Instant;

use meshseal_cost::energy::radio_energy;
use meshseal_cost::Radio;
use meshseal_sim::plan::{window_for, SleepyLink, MAX_WINDOW_S};
use meshseal_sim::sleepy::{run_sleepy, SleepyConfig, SleepyReport};
use meshseal_sim::{Attack, Config, ReceiverKind, Report};
use serde_json::json;

use crate::cli_util::{
    micros, parse_interval, parse_short_duration, parse_window_s, CliError, Outcome,
};

/// `meshseal simulate` options.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Sensor nodes (the gateway comes in addition).
    #[arg(long, default_value_t = 50)]
    pub nodes: u32,
    /// Simulated hours.
    #[arg(long, default_value_t = 24.0)]
    pub hours: f64,
    /// Probability that one transmission attempt is lost.
    #[arg(long, default_value_t = 0.05)]
    pub loss: f64,
    /// Seed of every random choice (same seed, same report).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Attacker capabilities on the links it controls, comma-separated:
    /// replay, delay, tamper, drop, forge, reorder.
    #[arg(long, value_delimiter = ',')]
    pub attacker: Vec<Attack>,
    /// Share of links the attacker controls.
    #[arg(long, default_value_t = 0.25)]
    pub attacked_share: f64,
    /// Probability per frame that the attacker applies each capability.
    #[arg(long, default_value_t = 0.05)]
    pub attack_rate: f64,
    /// Time between two readings of a node (e.g. 60s, 5m).
    #[arg(long, default_value = "60s", value_parser = parse_interval)]
    pub interval: f64,
    /// Bytes per reading.
    #[arg(long, default_value_t = 4)]
    pub payload: usize,
    /// Time between two channel checks of a sleepy node (e.g. 500ms, 2s).
    #[arg(long, default_value = "500ms", value_parser = crate::cli_util::parse_period_ms)]
    pub wake_period: u32,
    /// The same in bare milliseconds (older spelling, kept for scripts).
    #[arg(long, hide = true, conflicts_with = "wake_period")]
    pub wake_period_ms: Option<u32>,
    /// Header privacy on every frame (spec §20): no byte more on air.
    #[arg(long)]
    pub privacy: bool,
    /// Radio profile for the energy figures (name or TOML file, as for compare).
    #[arg(long, default_value = "ieee802154")]
    pub radio: String,
    /// The gateway checks tags but keeps no replay state (a deliberately broken receiver,
    /// to see what the attacker gets through).
    #[arg(long)]
    pub weak_receiver: bool,
    /// Also print the wall-clock speed (frame deliveries per second).
    #[arg(long)]
    pub bench: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Sleepy-receiver mode: instead of the mesh, a controller issues this many commands,
    /// each sealed once and repeated (--repeat, --window) to receivers that wake every --wake
    /// and listen --listen (see `meshseal plan`).
    #[arg(long)]
    pub commands: Option<u32>,
    /// Sleepy mode: copies of each command (the frame's announced count).
    #[arg(long, default_value_t = 1, requires = "commands")]
    pub repeat: u8,
    /// Sleepy mode: the announced transmit window in whole seconds (e.g. 30s, 4m); the copies
    /// are spread evenly over it like `meshseal seal --repeat`. Default: one copy per wake-up.
    #[arg(long, requires = "commands", value_parser = parse_window_s)]
    pub window: Option<u8>,
    /// Sleepy mode: time between two copies, overriding the even spread over the window.
    #[arg(long, requires = "commands", value_parser = parse_interval)]
    pub spacing: Option<f64>,
    /// Sleepy mode: time between two wake-ups of a receiver.
    #[arg(long, default_value = "60s", requires = "commands", value_parser = parse_interval)]
    pub wake: f64,
    /// Sleepy mode: how long a receiver listens after each wake-up.
    #[arg(long, default_value = "20ms", requires = "commands", value_parser = parse_short_duration)]
    pub listen: f64,
    /// Sleepy mode: width of the error of the controller's estimate of a wake-up (e.g. 10ms).
    #[arg(long, default_value = "0ms", requires = "commands", value_parser = parse_short_duration)]
    pub jitter: f64,
    /// Sleepy mode: receivers (commands go to each in turn).
    #[arg(long, default_value_t = 1, requires = "commands")]
    pub receivers: u32,
    /// Sleepy mode: the controller does not know the wake schedules and transmits the first
    /// copy when the command is issued.
    #[arg(long, requires = "commands")]
    pub unsynchronized: bool,
    /// Sleepy mode: frames carry the window's start and receivers keep a clock in seconds with
    /// this tolerance (`open --max-age`).
    #[arg(long, requires = "commands")]
    pub clock_tolerance: Option<u16>,
    /// Sleepy mode: the controller writes its full sequence number into every frame (for
    /// receivers that miss more than 127 of its frames in a row, e.g. many receivers).
    #[arg(long, requires = "commands")]
    pub full_sequence: bool,
}

/// Runs `meshseal simulate`.
pub fn run(args: SimulateArgs) -> Result<Outcome, CliError> {
    if let Some(commands) = args.commands {
        return sleepy(&args, commands).map(|()| Outcome::Done);
    }
    let (radio, energy) = radio_energy(&args.radio, args.payload)?;
    let mut cfg = Config::new(args.nodes, args.hours, args.loss, args.seed, energy);
    cfg.attacks = args.attacker.clone();
    cfg.attacked_share = args.attacked_share;
    cfg.attack_rate = args.attack_rate;
    cfg.interval_s = args.interval;
    cfg.payload = args.payload;
    cfg.wake_period_ms = args.wake_period_ms.unwrap_or(args.wake_period);
    cfg.privacy = args.privacy;
    if args.weak_receiver {
        cfg.receiver = ReceiverKind::TagOnly;
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(1000);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {percent:>3}% simulated, {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let started = Instant::now();
    let report = meshseal_sim::run_with_progress(&cfg, &mut |f| {
        if let Some(b) = &bar {
            b.set_position((f * 1000.0) as u64);
        }
    })
    .map_err(|e| CliError::usage(format!("simulate: {e}")))?;
    let wall = started.elapsed().as_secs_f64();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let speed = report.hop_deliveries as f64 / wall.max(1e-9);
    if args.json {
        let mut v = json!({ "radio": radio.name, "report": report });
        if args.bench {
            v["bench"] = json!({"wall_seconds": wall, "deliveries_per_second": speed});
        }
        outln!("{v:#}");
    } else {
        out!("{}", summary(&report, &radio));
        if args.bench {
            outln!(
                "speed: {} frame deliveries in {:.3} s = {:.0} deliveries/s (one core)",
                report.hop_deliveries,
                wall,
                speed
            );
        }
    }
    Ok(Outcome::Done)
}

fn summary(r: &Report, radio: &Radio) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} nodes ({} hops max), {} h, loss {}, seed {}, radio {}, receiver {:?}",
        r.nodes, r.max_hops, r.hours, r.loss, r.seed, radio.name, r.receiver
    );
    let _ = writeln!(
        s,
        "readings: {} sealed, {} delivered (ratio {:.4}); {} hop deliveries, {} link losses, {} dropped after retries",
        r.generated, r.delivered, r.delivery_ratio, r.hop_deliveries, r.link_losses, r.retries_exhausted
    );
    let _ = writeln!(s, "gateway: {} accepted", r.accepted);
    for (reason, n) in &r.refusals {
        let _ = writeln!(s, "  refused {reason}: {n}");
    }
    if r.attacks.links > 0 {
        let _ = writeln!(s, "attacker on {} links:", r.attacks.links);
        for (a, n) in &r.attacks.attempted {
            let got = r.attacks.accepted.get(a).copied().unwrap_or(0);
            let _ = writeln!(s, "  {a}: {n} attempts, {got} accepted");
        }
    }
    let _ = writeln!(s, "attacks accepted: {}", r.attacks.accepted_total);
    let _ = writeln!(
        s,
        "node current: mean {:.2} µA, max {:.2} µA",
        r.mean_node_current_ua, r.max_node_current_ua
    );
    let busiest = r.per_node[1..]
        .iter()
        .max_by(|a, b| a.energy_mj.total_cmp(&b.energy_mj));
    if let Some(n) = busiest {
        let _ = writeln!(
            s,
            "busiest node {}: {} hops, {} sealed, {} forwarded, {} B sent, {} B received, {:.1} mJ",
            n.id, n.hops, n.sealed, n.forwarded, n.tx_bytes, n.rx_bytes, n.energy_mj
        );
    }
    s
}

/// The sleepy-receiver mode (with `--commands`).
fn sleepy(args: &SimulateArgs, commands: u32) -> Result<(), CliError> {
    let (radio, e) = radio_energy(&args.radio, args.payload)?;
    let link = SleepyLink {
        wake: micros(args.wake),
        listen: micros(args.listen),
        loss: args.loss,
        jitter: micros(args.jitter),
    };
    let copies = args.repeat;
    let window_s = match args.window {
        Some(w) => w,
        None => {
            let w = window_for(u32::from(copies), link.wake);
            if w > f64::from(MAX_WINDOW_S) {
                return Err(CliError::usage(format!(
                    "simulate: {copies} copies one wake interval apart need {w} s, more than the frame's {MAX_WINDOW_S} s; give --window"
                )));
            }
            w as u8
        }
    };
    let spacing = match (args.spacing, args.window) {
        (Some(s), _) => Some(micros(s)),
        // Without a window: one copy per wake-up.
        (None, None) => Some(link.wake),
        // With a window: spread evenly, as `meshseal seal --repeat` schedules the copies.
        (None, Some(_)) => None,
    };
    let cfg = SleepyConfig {
        receivers: args.receivers,
        commands,
        copies,
        window_s,
        spacing,
        link,
        synchronized: !args.unsynchronized,
        clock_tolerance_s: args.clock_tolerance,
        full_sequence: args.full_sequence,
        payload: args.payload,
        seed: args.seed,
        energy: e,
    };
    let r = run_sleepy(&cfg).map_err(|e| CliError::usage(format!("simulate: {e}")))?;
    if args.json {
        let v = json!({
            "radio": radio.name,
            "mode": "sleepy",
            "wake_s": args.wake,
            "listen_s": args.listen,
            "loss": args.loss,
            "jitter_s": args.jitter,
            "synchronized": !args.unsynchronized,
            "report": r,
        });
        outln!("{v:#}");
    } else {
        out!("{}", sleepy_summary(args, &r, &radio.name));
    }
    Ok(())
}

fn sleepy_summary(a: &SimulateArgs, r: &SleepyReport, radio: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} commands to {} receiver(s) waking every {} s, listening {} ms; loss {}, seed {}, radio {radio}, controller {}",
        r.commands,
        r.receivers,
        a.wake,
        a.listen * 1000.0,
        a.loss,
        r.seed,
        if a.unsynchronized { "unsynchronised" } else { "aims at the listen windows" }
    );
    let _ = writeln!(
        s,
        "each command sealed once, {} copies over {} s ({} s apart): {} sent, {} in a listen window, {} heard",
        r.copies, r.window_s, r.spacing_s, r.copies_sent, r.copies_in_window, r.copies_heard
    );
    let _ = writeln!(
        s,
        "delivery (acted on exactly once): {} of {} = {:.6} (99 % interval {:.6} to {:.6})",
        r.delivered, r.commands, r.delivery_probability, r.delivery_ci99[0], r.delivery_ci99[1]
    );
    let _ = writeln!(
        s,
        "acted on twice: {}; duplicates refused: {} (copies heard after the one acted on: {})",
        r.acted_twice, r.duplicates, r.heard_after_first
    );
    for (reason, n) in &r.refusals {
        let _ = writeln!(s, "  refused {reason}: {n}");
    }
    let _ = writeln!(
        s,
        "latency (issue to action): mean {:.1} s, max {:.1} s",
        r.mean_latency_s, r.max_latency_s
    );
    let _ = writeln!(
        s,
        "per command: frame {:.1} B, {:.1} B on air; controller {:.1} µJ, receiver {:.1} µJ; per delivered command: controller {:.1} µJ, receiver {:.1} µJ",
        r.frame_bytes,
        r.bytes_on_air_per_command,
        r.controller_uj_per_command,
        r.receiver_uj_per_command,
        r.controller_uj_per_delivered,
        r.receiver_uj_per_delivered
    );
    s
}
