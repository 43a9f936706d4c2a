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
    // Measured wolfSSL DTLS 1.3 record: 14 bytes, and a 4-byte message padded to the 7 bytes
    // wolfSSL sends at the least (a CCM_8 ciphertext under 16 bytes is refused).
    assert_eq!(added("dtls13"), 17.0);
    let v16 = ok_json(&["compare", "--payload", "16", "--json"]);
    assert_eq!(scheme(&v16, "dtls13")["overhead_bytes"], 14.0);
    assert!(
        scheme(&v, "dtls13_handshake")["handshake_bytes"]
            .as_f64()
            .unwrap()
            > 800.0
    );
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
    assert!(text.contains("<svg"));
    for part in [
        "battery life relative to DTLS 1.2 with a kept session",
        "one command to N receivers",
        "chosen: 60 s",
        "sleep current",
    ] {
        assert!(text.contains(part), "{part} missing from the plot");
    }
    // One legend serves both panels: each scheme named once.
    let named = |name: &str| text.lines().filter(|l| l.trim() == name).count();
    assert_eq!(named("meshseal compact, implicit sender"), 1);
    assert_eq!(named("OSCORE (CoAP request)"), 1);
    // LoRa: a 600-byte handshake needs several frames of at most 222 bytes.
    let v = ok_json(&["compare", "--radio", "lora", "--json"]);
    assert!(
        scheme(&v, "dtls12_handshake")["frames_tx"]
            .as_f64()
            .unwrap()
            >= 3.0
    );
}

fn fan_row<'a>(v: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    v["fanout"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no fan-out row {key}"))
}

#[test]
fn compare_fans_one_command_out_to_n_receivers() {
    let one = ok_json(&["compare", "--receivers", "1", "--json"]);
    let many = ok_json(&["compare", "--receivers", "16", "--json"]);
    let f =
        |v: &serde_json::Value, key: &str, field: &str| fan_row(v, key)[field].as_f64().unwrap();
    // One group frame whatever the number of receivers; one record (request) per receiver.
    for key in ["meshseal", "meshseal_implicit"] {
        assert_eq!(f(&many, key, "datagrams_tx"), 1.0);
        assert_eq!(f(&many, key, "air_bytes"), f(&one, key, "air_bytes"));
        assert_eq!(f(&many, key, "controller_ram_bytes"), 496.0);
    }
    for key in ["dtls12", "dtls13", "oscore"] {
        assert_eq!(f(&many, key, "datagrams_tx"), 16.0, "{key}");
        let ratio = f(&many, key, "air_bytes") / f(&one, key, "air_bytes");
        assert!((ratio - 16.0).abs() < 1e-9, "{key}: {ratio}");
    }
    // Per-receiver state measured on the M4: a kept Mbed TLS session, an OSCORE endpoint.
    assert_eq!(
        f(&many, "dtls12", "controller_ram_bytes"),
        16.0 * (224.0 + 1560.0)
    );
    assert_eq!(f(&many, "oscore", "controller_ram_bytes"), 16.0 * 872.0);
    assert!(f(&many, "dtls12_handshake", "air_bytes") > 10.0 * f(&many, "dtls12", "air_bytes"));
    // Sleepy receivers: K copies of one repeated frame (the full number, so a little longer).
    let sleepy = ok_json(&["compare", "--receivers", "16", "--repeat", "4", "--json"]);
    assert_eq!(f(&sleepy, "meshseal", "datagrams_tx"), 4.0);
    let frame = sleepy["fanout"]["repeated_frame_bytes"].as_f64().unwrap();
    assert!(
        frame
            > scheme(&sleepy, "meshseal")["message_bytes"]
                .as_f64()
                .unwrap()
    );
    assert!(f(&sleepy, "meshseal", "air_bytes") < f(&sleepy, "dtls12", "air_bytes"));
    // Without --receivers there is no fan-out; out-of-range values are refused.
    assert!(ok_json(&["compare", "--json"]).get("fanout").is_none());
    for bad in [
        ["--receivers", "0"],
        ["--receivers", "65"],
        ["--repeat", "0"],
    ] {
        assert_eq!(
            meshseal(&[&["compare"][..], &bad[..]].concat()).0,
            1,
            "{bad:?}"
        );
    }
    let (code, out, _) = meshseal(&["compare", "--receivers", "8"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("one command to 8 receivers") && out.contains("controller RAM"),
        "{out}"
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
