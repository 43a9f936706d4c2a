//! `meshseal plan` and `meshseal simulate --commands` through the binary: the issue's command
//! lines, the plan confirmed by the simulation, at-most-once actions, exit codes.

mod common;

use common::{meshseal, ok_json};

#[test]
fn plan_the_issue_example_and_simulate_it() {
    let v = ok_json(&[
        "plan", "--wake", "60s", "--listen", "20ms", "--loss", "0.2", "--target", "0.999", "--json",
    ]);
    let p = &v["plan"];
    assert_eq!(
        (p["copies"].as_u64(), p["window_s"].as_u64()),
        (Some(5), Some(240))
    );
    let predicted = p["predicted_delivery"].as_f64().unwrap();
    assert!(predicted >= 0.999);
    assert_eq!(
        p["frame"]["plain"].as_u64().unwrap() + 8,
        p["frame_bytes"].as_u64().unwrap()
    );
    assert!(p["controller_uj_per_delivered"].as_f64().unwrap() > 0.0);
    assert!(p["receiver_uj_per_delivered"].as_f64().unwrap() > 0.0);
    assert!(v["lateness_bound_without_clock"].is_null());

    // The printed check, run as printed (with JSON): the simulation confirms the plan.
    let line = v["simulate"].as_str().unwrap().to_string();
    let mut args: Vec<&str> = line.split_whitespace().skip(1).collect();
    args.extend(["--seed", "3", "--json"]);
    let s = ok_json(&args);
    assert_eq!(s["mode"], "sleepy");
    let r = &s["report"];
    assert_eq!(r["commands"], 10000);
    assert_eq!(r["acted_twice"], 0);
    assert_eq!(r["duplicates"], r["heard_after_first"]);
    assert!(r["duplicates"].as_u64().unwrap() > 0);
    let ci = r["delivery_ci99"].as_array().unwrap();
    assert!(
        ci[1].as_f64().unwrap() >= predicted,
        "{ci:?} vs {predicted}"
    );
    assert_eq!(r["copies_sent"], 50000);
    // Same seed, same report.
    assert_eq!(ok_json(&args), s);
}

#[test]
fn plan_refuses_what_the_frame_cannot_announce() {
    let (code, _, err) = meshseal(&[
        "plan", "--wake", "60s", "--listen", "20ms", "--loss", "0.2", "--target", "0.99999",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("255 s"), "{err}");
    let (code, _, _) = meshseal(&["plan", "--wake", "60s", "--listen", "20ms", "--loss", "1.5"]);
    assert_eq!(code, 1);
}

#[test]
fn simulate_the_customer_window_and_a_timed_plan() {
    // The customer's first idea: 5 copies over 30 s, sent at once, unaware of the wake-ups.
    let s = ok_json(&[
        "simulate",
        "--commands",
        "2000",
        "--repeat",
        "5",
        "--window",
        "30s",
        "--wake",
        "60s",
        "--listen",
        "20ms",
        "--loss",
        "0.2",
        "--unsynchronized",
        "--json",
    ]);
    let r = &s["report"];
    assert!(r["delivery_probability"].as_f64().unwrap() < 0.01);
    assert_eq!(r["spacing_s"], 7.5);
    // Timed frames with a receiver clock: same at-most-once rule, 2 bytes more.
    let s = ok_json(&[
        "simulate",
        "--commands",
        "500",
        "--repeat",
        "3",
        "--wake",
        "10s",
        "--listen",
        "20ms",
        "--loss",
        "0.3",
        "--clock-tolerance",
        "2",
        "--receivers",
        "4",
        "--json",
    ]);
    let r = &s["report"];
    assert_eq!(r["window_s"], 20);
    assert_eq!(r["acted_twice"], 0);
    assert_eq!(r["duplicates"], r["heard_after_first"]);
    assert!(r["frame_bytes"].as_f64().unwrap() >= 20.0);
}

#[test]
fn mesh_mode_is_unchanged() {
    let v = ok_json(&["simulate", "--nodes", "5", "--hours", "0.5", "--json"]);
    assert!(v["report"]["generated"].as_u64().unwrap() > 0);
    assert!(v.get("mode").is_none());
}
