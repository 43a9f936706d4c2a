//! `meshseal plan`: how many copies of a command a controller repeats, over which window, for a
//! target delivery probability (the sleepy-receiver mode of `meshseal simulate` checks it with
//! the real core). The model lives in `meshseal-sim` (`plan`), the radio's energy figures in
//! `meshseal-cost`; this module only reads flags and prints.

use std::fmt::Write as _;

use meshseal_cost::energy::radio_energy;
use meshseal_sim::plan::{plan, Plan, PlanRequest, SleepyLink};
use serde_json::json;

use crate::cli_util::{micros, parse_interval, parse_short_duration, CliError, Outcome};

/// `meshseal plan` options.
#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// Time between two wake-ups of the receiver (e.g. 60s, 500ms).
    #[arg(long, value_parser = parse_interval)]
    pub wake: f64,
    /// How long the receiver listens after each wake-up, with its unit (e.g. 20ms).
    #[arg(long, value_parser = parse_short_duration)]
    pub listen: f64,
    /// Probability that the link loses one copy.
    #[arg(long)]
    pub loss: f64,
    /// Delivery probability to reach.
    #[arg(long, default_value_t = 0.999)]
    pub target: f64,
    /// Width of the error of the controller's estimate of a wake-up time (clock drift since
    /// the last synchronisation), e.g. 10ms; 0: known exactly.
    #[arg(long, default_value = "0ms", value_parser = parse_short_duration)]
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

/// Runs `meshseal plan`.
pub fn run(a: PlanArgs) -> Result<Outcome, CliError> {
    let (radio, e) = radio_energy(&a.radio, a.payload)?;
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
        outln!("{v:#}");
    } else {
        out!("{}", plan_summary(&a, &p, &radio.name, &simulate));
    }
    Ok(Outcome::Done)
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
