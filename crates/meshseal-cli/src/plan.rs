//! `meshseal plan` and the sleepy-receiver mode of `meshseal simulate`: how many copies of a
//! command a controller repeats, over which window, for a target delivery probability, and a
//! simulation that checks it with the real core. The model and the simulation live in
//! `meshseal-sim` (`plan`, `sleepy`); this module only reads flags and the radio profile and
//! prints.

use std::fmt::Write as _;

use meshseal_sim::plan::{plan, window_for, Plan, PlanRequest, SleepyLink, MAX_WINDOW_S};
use meshseal_sim::sleepy::{run_sleepy, SleepyConfig, SleepyReport};
use serde_json::json;

use crate::compare::{parse_interval, Crypto, Radio};
use crate::simulate::SimulateArgs;
use crate::CliError;

/// `meshseal plan` options.
#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Time between two wake-ups of the receiver (e.g. 60s, 500ms).
    #[arg(long, value_parser = parse_interval)]
    pub wake: f64,
    /// How long the receiver listens after each wake-up (e.g. 20ms).
    #[arg(long, value_parser = parse_interval)]
    pub listen: f64,
    /// Probability that the link loses one copy.
    #[arg(long)]
    pub loss: f64,
    /// Delivery probability to reach.
    #[arg(long, default_value_t = 0.999)]
    pub target: f64,
    /// Width of the error of the controller's estimate of a wake-up time (clock drift since
    /// the last synchronisation), e.g. 10ms; 0: known exactly.
    #[arg(long, default_value = "0ms", value_parser = parse_duration_or_zero)]
    pub jitter: f64,
    /// Command payload in bytes.
    #[arg(long, default_value_t = 4)]
    pub payload: usize,
    /// Frames carry the window's start (receivers keep a coarse clock in seconds).
    #[arg(long)]
    pub timed: bool,
    /// The receivers' clock tolerance in seconds (`open --max-age`), for the lateness bound.
    #[arg(long, default_value_t = 2)]
    pub clock_tolerance: u16,
    /// The controller writes its full sequence number into every frame (needed when a
    /// receiver may miss more than 127 of the controller's frames in a row).
    #[arg(long)]
    pub full_sequence: bool,
    /// Radio profile for the energy figures (name or TOML file, as for compare).
    #[arg(long, default_value = "ieee802154")]
    pub radio: String,
    /// Print the recommendation as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A duration like `parse_interval`, which also accepts zero.
pub fn parse_duration_or_zero(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if digits.parse::<f64>().is_ok_and(|v| v == 0.0) {
        return Ok(0.0);
    }
    parse_interval(s)
}

/// A window in whole seconds that fits the frame's byte (`30s`, `4m`).
pub fn parse_window_s(s: &str) -> Result<u8, String> {
    let v = parse_duration_or_zero(s)?;
    if v.fract() != 0.0 || v > f64::from(MAX_WINDOW_S) {
        return Err(format!(
            "window must be whole seconds, at most {MAX_WINDOW_S} s; found {s:?}"
        ));
    }
    Ok(v as u8)
}

fn micros(seconds: f64) -> u64 {
    (seconds * 1e6).round() as u64
}

fn energy(radio: &str, payload: usize) -> Result<(Radio, meshseal_sim::EnergyModel), CliError> {
    let radio: Radio = crate::compare::radio_profile(radio)?;
    let crypto: Crypto = crate::compare::crypto_profile()?;
    let e = crate::simulate::energy_model(&radio, &crypto, payload);
    Ok((radio, e))
}

/// Runs `meshseal plan`.
pub fn run(a: PlanArgs) -> Result<(), CliError> {
    let (radio, e) = energy(&a.radio, a.payload)?;
    let link = SleepyLink {
        wake: micros(a.wake),
        listen: micros(a.listen),
        loss: a.loss,
        jitter: micros(a.jitter),
    };
    let req = PlanRequest {
        link,
        target: a.target,
        payload: a.payload,
        timed: a.timed,
        full_sequence: a.full_sequence,
        clock_tolerance_s: a.clock_tolerance,
        energy: e,
    };
    let p = plan(&req).map_err(|e| CliError::usage(format!("plan: {e}")))?;
    let simulate = simulate_line(&a, &p);
    if a.json {
        let v = json!({
            "radio": radio.name,
            "wake_s": a.wake,
            "listen_s": a.listen,
            "loss": a.loss,
            "jitter_s": a.jitter,
            "timed": a.timed,
            "plan": p,
            "lateness_bound_without_clock": null,
            "simulate": simulate,
        });
        println!("{v:#}");
    } else {
        print!("{}", plan_summary(&a, &p, &radio.name, &simulate));
    }
    Ok(())
}

fn simulate_line(a: &PlanArgs, p: &Plan) -> String {
    let mut s = format!(
        "meshseal simulate --commands 10000 --repeat {} --window {}s --wake {}s --listen {}ms --loss {} --payload {} --radio {}",
        p.copies,
        p.window_s,
        a.wake,
        a.listen * 1000.0,
        a.loss,
        a.payload,
        a.radio
    );
    if (p.spacing_s * f64::from(p.copies.saturating_sub(1))) != f64::from(p.window_s) {
        let _ = write!(s, " --spacing {}s", p.spacing_s);
    }
    if a.jitter > 0.0 {
        let _ = write!(s, " --jitter {}ms", a.jitter * 1000.0);
    }
    if a.timed {
        let _ = write!(s, " --clock-tolerance {}", a.clock_tolerance);
    }
    if a.full_sequence {
        s.push_str(" --full-sequence");
    }
    s
}

fn plan_summary(a: &PlanArgs, p: &Plan, radio: &str, simulate: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "receiver wakes every {} s and listens {} ms; loss {}; timing error {} ms; target {}; radio {radio}",
        a.wake,
        a.listen * 1000.0,
        a.loss,
        a.jitter * 1000.0,
        a.target
    );
    let _ = writeln!(
        s,
        "recommendation: {} copies over a {} s window, one per wake-up ({} s apart), each aimed at the middle of a listen window",
        p.copies, p.window_s, p.spacing_s
    );
    let _ = writeln!(
        s,
        "  transmit at +{} ms",
        p.schedule_ms
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", +")
    );
    let _ = writeln!(
        s,
        "model: a copy lands in the listen window with p = {:.4}, is heard with p = {:.4}; predicted delivery {:.6}",
        p.in_window_probability, p.hear_probability, p.predicted_delivery
    );
    let _ = writeln!(
        s,
        "latency (issue to action): mean {:.1} s, at most {:.1} s",
        p.mean_latency_s, p.max_latency_s
    );
    let _ = writeln!(
        s,
        "frame: {} B (ordinary {} B; W adds {} B, {} B with the timestamp; {} B with the full sequence number); {} B on air per copy, {} B per command",
        p.frame_bytes,
        p.frame.plain,
        p.frame.w_added(),
        p.frame.w_timed_added(),
        p.frame.repeated_full,
        p.on_air_bytes_per_copy,
        p.bytes_on_air
    );
    let _ = writeln!(
        s,
        "energy per command: controller {:.1} µJ, receiver {:.1} µJ ({:.2} copies heard); per delivered command: controller {:.1} µJ, receiver {:.1} µJ",
        p.controller_uj,
        p.receiver_uj,
        p.expected_copies_heard,
        p.controller_uj_per_delivered,
        p.receiver_uj_per_delivered
    );
    let _ = writeln!(
        s,
        "receiver's own listening: {:.1} µJ per wake-up ({:.2} µW), spent with or without commands",
        p.receiver_listen_uj_per_wake,
        p.receiver_listen_uj_per_wake / a.wake
    );
    let _ = writeln!(
        s,
        "lateness: with a receiver clock (--timed, tolerance {} s) no copy acts later than {} s after the window's start; without one, no time bound (strict order or a challenge bounds it)",
        a.clock_tolerance, p.lateness_bound_with_clock_s
    );
    let _ = writeln!(s, "check it: {simulate}");
    s
}

/// The sleepy-receiver mode of `meshseal simulate` (with `--commands`).
pub fn simulate(args: &SimulateArgs, commands: u32) -> Result<(), CliError> {
    let (radio, e) = energy(&args.radio, args.payload)?;
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
        println!("{v:#}");
    } else {
        print!("{}", sleepy_summary(args, &r, &radio.name));
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
