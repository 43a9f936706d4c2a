//! `meshseal compare` and `meshseal simulate` through the binary: the contract's command
//! lines, JSON fields, exit codes, determinism per seed and zero accepted attacks.

mod common;

use common::{meshseal, ok_json};
use serde_json::Value;

fn scheme<'a>(v: &'a Value, key: &str) -> &'a Value {
    v["schemes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("scheme {key} missing"))
}

#[test]
fn compare_the_issue_example() {
    let v = ok_json(&[
        "compare",
        "--payload",
        "4",
        "--interval",
        "60s",
        "--radio",
        "ieee802154",
        "--battery",
        "cr2032",
        "--json",
    ]);
    for key in [
        "dtls12",
        "dtls12_handshake",
        "dtls13",
        "oscore",
        "meshseal",
        "meshseal_implicit",
    ] {
        let s = scheme(&v, key);
        for field in [
            "message_bytes",
            "air_bytes_tx",
            "airtime_ms",
            "avg_current_ua",
            "battery_months",
        ] {
            assert!(s[field].as_f64().unwrap() > 0.0, "{key}.{field}");
        }
        assert!(s["energy_uj"]["total"].as_f64().unwrap() > 0.0);
    }
    let months = |k| scheme(&v, k)["battery_months"].as_f64().unwrap();
    let added = |k| scheme(&v, k)["overhead_bytes"].as_f64().unwrap();
    // Recorded OpenSSL record: 13-byte header + 8-byte explicit nonce + 8-byte tag.
    assert_eq!(added("dtls12"), 29.0);
    assert_eq!(added("dtls13"), 14.0);
    // meshseal: 10 bytes in steady traffic, 15 in the one full-length frame of 16.
    assert!((added("meshseal") - (15.0 * 10.0 + 15.0) / 16.0).abs() < 1e-9);
    assert!((added("meshseal_implicit") - (15.0 * 9.0 + 14.0) / 16.0).abs() < 1e-9);
    assert!(months("meshseal_implicit") > months("meshseal"));
    assert!(months("meshseal") > months("dtls13"));
    assert!(months("dtls13") > months("dtls12"));
    assert!(months("dtls12") > 5.0 * months("dtls12_handshake"));
    assert!(
        scheme(&v, "dtls12_handshake")["handshake_bytes"]
            .as_f64()
            .unwrap()
            > 500.0
    );
    assert_eq!(v["baselines"]["dtls12"]["cookie_exchange"], true);
}

#[test]
fn compare_other_radios_and_a_plot() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("months.svg");
    let (code, out, err) = meshseal(&[
        "compare",
        "--radio",
        "ble",
        "--battery",
        "aa-lithium-2",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("meshseal compact") && out.contains("Energizer"),
        "{out}"
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg") && text.contains("meshseal compact, implicit sender"));
    // LoRa: a 600-byte handshake needs several frames of at most 222 bytes.
    let v = ok_json(&["compare", "--radio", "lora", "--json"]);
    assert!(
        scheme(&v, "dtls12_handshake")["frames_tx"]
            .as_f64()
            .unwrap()
            >= 3.0
    );
}

#[test]
fn compare_reads_a_results_directory() {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    for f in [
        "dtls12-openssl.json",
        "oscore-aiocoap.json",
        "host-crypto.json",
    ] {
        std::fs::copy(repo.join(f), dir.path().join(f)).unwrap();
    }
    let d = dir.path().to_str().unwrap();
    let v = ok_json(&["compare", "--results", d, "--json"]);
    // Without the Mbed TLS file its row is left out; the others stay.
    assert!(v["schemes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["key"] != "dtls12_handshake_mbedtls"));
    assert_eq!(scheme(&v, "dtls12")["overhead_bytes"], 29.0);
    std::fs::remove_file(dir.path().join("oscore-aiocoap.json")).unwrap();
    assert_eq!(meshseal(&["compare", "--results", d]).0, 1);
}

#[test]
fn compare_refuses_unknown_profiles_and_intervals() {
    assert_eq!(meshseal(&["compare", "--radio", "zigbee-ish"]).0, 1);
    assert_eq!(meshseal(&["compare", "--battery", "potato"]).0, 1);
    assert_eq!(meshseal(&["compare", "--interval", "0s"]).0, 1);
    assert_eq!(meshseal(&["compare", "--payload", "0"]).0, 1);
}

#[test]
fn simulate_is_deterministic_and_accepts_no_attack() {
    let args = [
        "simulate",
        "--nodes",
        "30",
        "--hours",
        "6",
        "--loss",
        "0.1",
        "--seed",
        "11",
        "--attacker",
        "replay,delay,tamper,drop,forge,reorder",
        "--json",
    ];
    let a = ok_json(&args);
    let b = ok_json(&args);
    assert_eq!(a["report"], b["report"]);
    let r = &a["report"];
    assert_eq!(r["attacks"]["accepted_total"], 0);
    assert!(r["attacks"]["attempted"]["replay"].as_u64().unwrap() > 0);
    assert!(r["delivery_ratio"].as_f64().unwrap() > 0.5);
    assert!(r["refusals"]["replay"].as_u64().unwrap() > 0);
    assert_eq!(r["per_node"].as_array().unwrap().len(), 31);
}

#[test]
fn simulate_weak_receiver_lets_replays_through() {
    let v = ok_json(&[
        "simulate",
        "--nodes",
        "10",
        "--hours",
        "6",
        "--loss",
        "0",
        "--attacker",
        "replay",
        "--attacked-share",
        "1",
        "--attack-rate",
        "0.2",
        "--weak-receiver",
        "--json",
    ]);
    assert!(
        v["report"]["attacks"]["accepted"]["replay"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn simulate_wake_period_takes_a_unit_and_keeps_the_old_flag() {
    let base = [
        "simulate", "--nodes", "5", "--hours", "2", "--seed", "3", "--json",
    ];
    let with = |extra: &[&str]| ok_json(&[&base[..], extra].concat());
    let new = with(&["--wake-period", "250ms"]);
    assert_eq!(new["report"], with(&["--wake-period-ms", "250"])["report"]);
    assert_ne!(
        new["report"],
        with(&[])["report"],
        "the period changes nothing"
    );
    assert_eq!(
        with(&["--wake-period", "0.5s"])["report"],
        with(&[])["report"]
    );
    // A bare number could be ms or s; both spellings at once is ambiguous.
    assert_eq!(
        meshseal(&[&base[..], &["--wake-period", "250"]].concat()).0,
        1
    );
    let both = [&base[..], &["--wake-period", "1s", "--wake-period-ms", "9"]].concat();
    assert_eq!(meshseal(&both).0, 1);
}

#[test]
fn simulate_refuses_bad_input() {
    assert_eq!(meshseal(&["simulate", "--attacker", "sniff"]).0, 1);
    assert_eq!(meshseal(&["simulate", "--nodes", "0"]).0, 1);
    assert_eq!(meshseal(&["simulate", "--loss", "1.5"]).0, 1);
}
