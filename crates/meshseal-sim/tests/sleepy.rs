//! Sleepy receivers: the planner's model against the simulator that runs the real core, the
//! at-most-once rule (duplicates equal to copies heard after the first), and the planner's
//! properties (monotone in loss and target, the recommendation meets the target).

use meshseal_sim::plan::{
    delivery_probability, frame_sizes, plan, Plan, PlanError, PlanRequest, SleepyLink,
};
use meshseal_sim::sleepy::{run_sleepy, wilson99, SleepyConfig, SleepyReport};
use meshseal_sim::EnergyModel;
use proptest::prelude::*;

const S: u64 = 1_000_000;
const MS: u64 = 1_000;

fn energy() -> EnergyModel {
    EnergyModel {
        bitrate_bps: 250_000.0,
        frame_overhead_bytes: 24,
        tx_uj_per_byte: 2.3,
        rx_uj_per_byte: 1.9,
        tx_attempt_uj: 30.0,
        rx_attempt_uj: 10.0,
        check_uj: 20.0,
        sleep_uw: 4.0,
        seal_uj: 0.5,
        open_uj: 0.25,
        supply_v: 3.0,
    }
}

fn link(wake_s: u64, listen_ms: u64, loss: f64, jitter_ms: u64) -> SleepyLink {
    SleepyLink {
        wake: wake_s * S,
        listen: listen_ms * MS,
        loss,
        jitter: jitter_ms * MS,
    }
}

fn request(link: SleepyLink, target: f64) -> PlanRequest {
    PlanRequest {
        link,
        target,
        payload: 4,
        timed: false,
        full_sequence: false,
        clock_tolerance_s: 2,
        energy: energy(),
    }
}

/// Simulates the plan's recommendation: copies one wake interval apart, aimed at the listen
/// windows.
fn simulate(
    p: &Plan,
    link: SleepyLink,
    commands: u32,
    seed: u64,
    clock: Option<u16>,
) -> SleepyReport {
    run_sleepy(&SleepyConfig {
        receivers: 3,
        commands,
        copies: p.copies,
        window_s: p.window_s,
        spacing: Some(link.wake),
        link,
        synchronized: true,
        clock_tolerance_s: clock,
        full_sequence: false,
        payload: 4,
        seed,
        energy: energy(),
    })
    .unwrap()
}

fn assert_at_most_once(r: &SleepyReport) {
    assert_eq!(r.acted_twice, 0, "a command was acted on twice");
    assert_eq!(
        r.duplicates, r.heard_after_first,
        "every copy heard after the one acted on is refused as duplicate"
    );
}

/// Receivers that hear most of the controller's frames refuse nothing but duplicates.
fn assert_only_duplicates_refused(r: &SleepyReport) {
    assert_at_most_once(r);
    let refused: u64 = r.refusals.values().sum();
    assert_eq!(
        refused, r.duplicates,
        "no refusal other than duplicate: {:?}",
        r.refusals
    );
    assert_eq!(r.copies_heard, r.delivered + r.duplicates);
}

#[test]
fn worked_example_plan() {
    let p = plan(&request(link(60, 20, 0.2, 0), 0.999)).unwrap();
    assert_eq!((p.copies, p.window_s), (5, 240));
    assert!((p.predicted_delivery - (1.0 - 0.2f64.powi(5))).abs() < 1e-12);
    assert_eq!(p.schedule_ms, vec![0, 60_000, 120_000, 180_000, 240_000]);
    // Sizes are measured by the core: W with the full number adds 8 bytes to a steady frame, 10
    // with the timestamp.
    assert_eq!((p.frame.w_added(), p.frame.w_timed_added()), (8, 10));
    assert_eq!(p.bytes_on_air, 5 * p.on_air_bytes_per_copy);
    assert!(p.controller_uj_per_delivered > p.controller_uj);
    assert_eq!(p.lateness_bound_with_clock_s, 240 + 2 + 1);
}

#[test]
fn simulator_confirms_the_worked_example() {
    let l = link(60, 20, 0.2, 0);
    let p = plan(&request(l, 0.999)).unwrap();
    let r = simulate(&p, l, 20_000, 11, None);
    assert_only_duplicates_refused(&r);
    // The predicted probability lies in the simulated 99 % interval, or below it.
    assert!(
        r.delivery_ci99[1] >= p.predicted_delivery
            && r.delivery_ci99[0] <= p.target.max(p.predicted_delivery),
        "simulated {:?} against predicted {}",
        r.delivery_ci99,
        p.predicted_delivery
    );
    // Every copy was aimed inside a listen window; loss alone decides.
    assert_eq!(r.copies_in_window, r.copies_sent);
    let heard = r.copies_heard as f64 / r.copies_sent as f64;
    assert!((heard - 0.8).abs() < 0.02, "heard share {heard}");
    // Energy per command matches the model's expectation within the sampling error.
    assert!((r.controller_uj_per_command - p.controller_uj).abs() / p.controller_uj < 0.01);
    assert!((r.receiver_uj_per_command - p.receiver_uj).abs() / p.receiver_uj < 0.03);
    // Latency: standard error about 0.3 s over 20 000 commands.
    assert!(
        (r.mean_latency_s - p.mean_latency_s).abs() < 1.5,
        "{} against {}",
        r.mean_latency_s,
        p.mean_latency_s
    );
    assert!(r.max_latency_s <= p.max_latency_s);
}

#[test]
fn simulator_confirms_a_plan_where_timing_and_loss_both_matter() {
    // The controller knows each wake-up only within 40 ms: about half the aimed copies miss
    // the 20 ms listen window, and the link loses half of the rest.
    let l = link(10, 20, 0.5, 40);
    let p = plan(&request(l, 0.9)).unwrap();
    assert!(p.in_window_probability > 0.4 && p.in_window_probability < 0.5);
    let r = simulate(&p, l, 4000, 5, None);
    assert_only_duplicates_refused(&r);
    let [lo, hi] = r.delivery_ci99;
    assert!(
        lo <= p.predicted_delivery && p.predicted_delivery <= hi,
        "predicted {} outside the simulated 99 % interval [{lo}, {hi}]",
        p.predicted_delivery
    );
    // The per-copy probabilities too.
    let ci = wilson99(r.copies_in_window, r.copies_sent);
    assert!(
        ci[0] <= p.in_window_probability && p.in_window_probability <= ci[1],
        "{ci:?}"
    );
    // One copy fewer than recommended misses the target in simulation as well.
    let fewer = Plan {
        copies: p.copies - 1,
        window_s: p.window_s - 10,
        ..p.clone()
    };
    let r = simulate(&fewer, l, 4000, 6, None);
    assert!(r.delivery_ci99[1] < p.target + 0.02);
    assert!(
        (r.delivery_probability
            - delivery_probability(p.hear_probability, u32::from(fewer.copies)))
        .abs()
            < 0.02
    );
}

#[test]
fn timed_repeats_with_a_receiver_clock_deliver_the_same() {
    let l = link(60, 20, 0.2, 0);
    let mut req = request(l, 0.999);
    req.timed = true;
    let p = plan(&req).unwrap();
    assert_eq!(p.frame_bytes, p.frame.repeated_timed);
    let r = simulate(&p, l, 1000, 3, Some(2));
    assert_only_duplicates_refused(&r);
    assert!(r.delivery_ci99[1] >= p.predicted_delivery);
    // Every repeated frame carries its full number: all copies have the planned size.
    assert!(
        (r.frame_bytes - p.frame_bytes as f64).abs() < 1e-9,
        "{}",
        r.frame_bytes
    );
}

#[test]
fn the_customer_schedule_without_synchronisation_rarely_delivers() {
    // 5 copies over 30 s, sent whenever the command is issued: each copy lands in a 20 ms
    // listen window of a 60 s period with probability about 1/3000.
    let l = link(60, 20, 0.2, 0);
    let r = run_sleepy(&SleepyConfig {
        receivers: 1,
        commands: 3000,
        copies: 5,
        window_s: 30,
        spacing: None,
        link: l,
        synchronized: false,
        clock_tolerance_s: None,
        full_sequence: false,
        payload: 4,
        seed: 9,
        energy: energy(),
    })
    .unwrap();
    assert_at_most_once(&r);
    // A receiver that misses more than 127 of the controller's frames cannot rebuild a
    // short sequence number: the copy fails its tag until the next full-number frame (one in
    // 16). Nothing else is refused.
    let other: Vec<_> = r.refusals.keys().filter(|k| *k != "duplicate").collect();
    assert!(other.iter().all(|k| *k == "bad_tag"), "{:?}", r.refusals);
    let bound = 5.0 * 0.02 / 60.0;
    assert!(
        r.delivery_ci99[0] <= bound && r.delivery_probability < 0.01,
        "{r:?}"
    );
}

#[test]
fn same_seed_same_report() {
    let l = link(10, 20, 0.3, 30);
    let p = plan(&request(l, 0.99)).unwrap();
    let a = simulate(&p, l, 200, 1, Some(2));
    assert_eq!(a, simulate(&p, l, 200, 1, Some(2)));
    assert_ne!(a, simulate(&p, l, 200, 2, Some(2)));
}

#[test]
fn infeasible_targets_are_refused_with_the_best_plan() {
    // Five wake-ups of 60 s fit 255 s; a sixth copy would need 300 s.
    match plan(&request(link(60, 20, 0.2, 0), 0.99999)) {
        Err(PlanError::Infeasible {
            copies_needed,
            best_copies,
            best_delivery,
            ..
        }) => {
            assert_eq!((copies_needed, best_copies), (8, 5));
            assert!(best_delivery < 0.99999);
        }
        other => panic!("{other:?}"),
    }
    // A listen window shorter than a frame hears nothing.
    assert_eq!(
        plan(&request(link(60, 1, 0.2, 0), 0.9)),
        Err(PlanError::Unhearable)
    );
    assert!(plan(&request(link(60, 20, 1.0, 0), 0.9)).is_err());
    assert!(plan(&request(link(60, 20, 0.2, 0), 1.0)).is_err());
}

#[test]
fn frame_sizes_are_the_cores() {
    let s = frame_sizes(
        4,
        meshseal::Repeat {
            copies: 5,
            window: 30,
        },
    )
    .unwrap();
    assert_eq!((s.plain, s.repeated, s.repeated_timed), (14, 22, 24));
    // Repeated frames always carry the full number, whatever the sender's length rule.
    assert_eq!(s.repeated_full, s.repeated);
}

#[test]
fn many_receivers_are_served_because_repeats_carry_full_numbers() {
    // 200 receivers served in turn: each misses 199 of the controller's frames between two
    // of its own, more than a truncated number could bridge. Repeated frames carry the full
    // number, so the plan holds with the default length rule as with `full_sequence`.
    let l = link(60, 20, 0.2, 0);
    let p = plan(&request(l, 0.999)).unwrap();
    let mut cfg = SleepyConfig {
        receivers: 200,
        commands: 4000,
        copies: p.copies,
        window_s: p.window_s,
        spacing: Some(l.wake),
        link: l,
        synchronized: true,
        clock_tolerance_s: None,
        full_sequence: false,
        payload: 4,
        seed: 4,
        energy: energy(),
    };
    let default = run_sleepy(&cfg).unwrap();
    assert_only_duplicates_refused(&default);
    assert!(
        default.delivery_ci99[1] >= p.predicted_delivery,
        "{:?}",
        default.delivery_ci99
    );
    cfg.full_sequence = true;
    let full = run_sleepy(&cfg).unwrap();
    assert_only_duplicates_refused(&full);
    assert!(
        full.delivery_ci99[1] >= p.predicted_delivery,
        "{:?}",
        full.delivery_ci99
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The recommendation meets the target under the model, one copy fewer does not, and more
    /// loss or a higher target never asks for fewer copies.
    #[test]
    fn planner_is_minimal_and_monotone(
        wake_s in 1u64..120,
        listen_ms in 5u64..50,
        jitter_ms in 0u64..80,
        loss in 0.0f64..0.9,
        more_loss in 0.0f64..0.09,
        target in 0.5f64..0.9999,
        more_target in 0.0f64..0.00009,
    ) {
        let l = link(wake_s, listen_ms, loss, jitter_ms);
        let Ok(p) = plan(&request(l, target)) else { return Ok(()); };
        prop_assert!(p.predicted_delivery >= target);
        prop_assert!(u32::from(p.window_s) <= 255 && u64::from(p.window_s) * S >= u64::from(p.copies - 1) * l.wake);
        if p.copies > 1 {
            prop_assert!(delivery_probability(p.hear_probability, u32::from(p.copies) - 1) < target);
        }
        let lossier = SleepyLink { loss: loss + more_loss, ..l };
        match plan(&request(lossier, target)) {
            Ok(q) => prop_assert!(q.copies >= p.copies),
            Err(e) => prop_assert!(matches!(e, PlanError::Infeasible { .. }), "{e}"),
        }
        match plan(&request(l, target + more_target)) {
            Ok(q) => prop_assert!(q.copies >= p.copies),
            Err(e) => prop_assert!(matches!(e, PlanError::Infeasible { .. }), "{e}"),
        }
    }
}
