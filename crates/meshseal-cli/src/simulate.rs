//! `meshseal simulate`: runs the mesh simulator (`meshseal-sim`) with the energy figures of a
//! radio profile and prints its report; a progress bar on a terminal. With `--commands`, the
//! sleepy-receiver mode instead (repeated commands, `crate::plan`).

use std::io::IsTerminal;
use std::time::Instant;

use meshseal_sim::{Attack, Config, EnergyModel, ReceiverKind, Report};
use serde_json::json;

use crate::compare::{Crypto, Radio};
use crate::CliError;

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
    #[arg(long, default_value = "60s", value_parser = crate::compare::parse_interval)]
    pub interval: f64,
    /// Bytes per reading.
    #[arg(long, default_value_t = 4)]
    pub payload: usize,
    /// Milliseconds between two channel checks of a sleepy node.
    #[arg(long, default_value_t = 500)]
    pub wake_period_ms: u32,
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
    #[arg(long, requires = "commands", value_parser = crate::plan::parse_window_s)]
    pub window: Option<u8>,
    /// Sleepy mode: time between two copies, overriding the even spread over the window.
    #[arg(long, requires = "commands", value_parser = crate::compare::parse_interval)]
    pub spacing: Option<f64>,
    /// Sleepy mode: time between two wake-ups of a receiver.
    #[arg(long, default_value = "60s", requires = "commands", value_parser = crate::compare::parse_interval)]
    pub wake: f64,
    /// Sleepy mode: how long a receiver listens after each wake-up.
    #[arg(long, default_value = "20ms", requires = "commands", value_parser = crate::compare::parse_interval)]
    pub listen: f64,
    /// Sleepy mode: width of the error of the controller's estimate of a wake-up (e.g. 10ms).
    #[arg(long, default_value = "0ms", requires = "commands", value_parser = crate::plan::parse_duration_or_zero)]
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

/// Channel check of a sleepy receiver: one CCA-length listen after the wake-up (802.15.4 CSL
/// style), from the profile's timing and currents.
pub(crate) fn energy_model(radio: &Radio, crypto: &Crypto, payload: usize) -> EnergyModel {
    let p = &radio.power;
    let l = &radio.link;
    let uj = |ma: f64, us: f64| ma * us * p.supply_v / 1000.0;
    let byte_us = 8.0 / l.bitrate_bps * 1e6;
    let ack_us = l.ack_bytes as f64 * byte_us;
    let per_target = |ns: f64| ns * crypto.target.host_to_target / 1000.0;
    let on_air_overhead =
        l.phy_overhead_bytes + l.mac_header_bytes + l.mac_footer_bytes + l.network_header_bytes;
    EnergyModel {
        bitrate_bps: l.bitrate_bps,
        frame_overhead_bytes: on_air_overhead as u32,
        tx_uj_per_byte: uj(p.tx_ma, byte_us),
        rx_uj_per_byte: uj(p.rx_ma, byte_us),
        tx_attempt_uj: uj(p.rx_ma, l.cca_us + l.turnaround_us + ack_us)
            + uj(p.wakeup_ma, p.wakeup_us),
        rx_attempt_uj: uj(p.rx_ma, l.turnaround_us) + uj(p.tx_ma, ack_us),
        check_uj: uj(p.wakeup_ma, p.wakeup_us)
            + uj(p.rx_ma, l.cca_us.max(byte_us * l.phy_overhead_bytes as f64)),
        sleep_uw: p.sleep_ua * p.supply_v,
        seal_uj: uj(
            p.cpu_ma,
            per_target(crate::compare::seal_ns(crypto, payload)),
        ),
        open_uj: uj(
            p.cpu_ma,
            per_target(crate::compare::open_ns(crypto, payload)),
        ),
        supply_v: p.supply_v,
    }
}

/// Runs `meshseal simulate`.
pub fn run(args: SimulateArgs) -> Result<(), CliError> {
    if let Some(commands) = args.commands {
        return crate::plan::simulate(&args, commands);
    }
    let radio: Radio = crate::compare::radio_profile(&args.radio)?;
    let crypto = crate::compare::crypto_profile()?;
    let mut cfg = Config::new(
        args.nodes,
        args.hours,
        args.loss,
        args.seed,
        energy_model(&radio, &crypto, args.payload),
    );
    cfg.attacks = args.attacker.clone();
    cfg.attacked_share = args.attacked_share;
    cfg.attack_rate = args.attack_rate;
    cfg.interval_s = args.interval;
    cfg.payload = args.payload;
    cfg.wake_period_ms = args.wake_period_ms;
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
        println!("{v:#}");
    } else {
        print!("{}", summary(&report, &radio));
        if args.bench {
            println!(
                "speed: {} frame deliveries in {:.3} s = {:.0} deliveries/s (one core)",
                report.hop_deliveries, wall, speed
            );
        }
    }
    Ok(())
}

fn summary(r: &Report, radio: &Radio) -> String {
    use std::fmt::Write as _;
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
