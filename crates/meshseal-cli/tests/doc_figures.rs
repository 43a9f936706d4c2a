//! The figures of `docs/cost.md` are what `meshseal compare` computes today: each table row is
//! recomputed and compared at the precision the document prints, so a change of model,
//! profile or measurement that moves a figure fails here until the document is updated.

mod common;

use common::{json, run};
use serde_json::Value;

fn doc() -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cost.md");
    std::fs::read_to_string(p).unwrap()
}

fn compare(radio: &str, interval: &str) -> Value {
    let o = run(&[
        "compare",
        "--payload",
        "4",
        "--interval",
        interval,
        "--radio",
        radio,
        "--battery",
        "cr2032",
        "--json",
    ]);
    json(&o)
}

fn scheme<'a>(v: &'a Value, key: &str) -> &'a Value {
    v["schemes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no scheme {key}"))
}

/// The cells of the table row whose first cell is `name`.
fn row(doc: &str, name: &str) -> Vec<String> {
    let line = doc
        .lines()
        .find(|l| l.starts_with(&format!("| {name} |")))
        .unwrap_or_else(|| panic!("no row {name:?} in docs/cost.md"));
    line.trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_owned())
        .skip(1)
        .collect()
}

/// A printed number matches `value` when they agree to the printed precision.
fn agrees(printed: &str, value: f64) -> bool {
    let decimals = printed.split('.').nth(1).map_or(0, str::len) as i32;
    let p: f64 = printed.replace(' ', "").parse().unwrap();
    (p - value).abs() <= 0.5 * 10f64.powi(-decimals) + 1e-9
}

/// "15.4 µJ (2 PDUs), 138.8" or "8.36 mJ, 5.8": energy in µJ and months.
fn energy_months(cell: &str) -> (String, f64, String) {
    let (energy, months) = cell.rsplit_once(", ").unwrap();
    let mut parts = energy.split_whitespace();
    let number = parts.next().unwrap().to_owned();
    let scale = match parts.next() {
        Some("µJ") => 1.0,
        Some("mJ") => 1000.0,
        other => panic!("unit {other:?} in {cell:?}"),
    };
    (number, scale, months.to_owned())
}

#[test]
fn other_radios_table_matches_compare() {
    let doc = doc();
    let (ble, lora) = (compare("ble", "60s"), compare("lora", "60s"));
    for (name, key) in [
        ("DTLS 1.2 kept", "dtls12"),
        ("DTLS 1.2 full handshake each sleep", "dtls12_handshake"),
        ("DTLS 1.3 kept (wolfSSL)", "dtls13"),
        ("DTLS 1.3 full handshake each sleep", "dtls13_handshake"),
        ("OSCORE", "oscore"),
        ("meshseal", "meshseal"),
        ("meshseal implicit", "meshseal_implicit"),
    ] {
        let cells = row(&doc, name);
        for (cell, v) in cells.iter().zip([&ble, &lora]) {
            let s = scheme(v, key);
            let (energy, scale, months) = energy_months(cell);
            let uj = s["energy_uj"]["total"].as_f64().unwrap();
            assert!(agrees(&energy, uj / scale), "{name}: {cell} vs {uj} µJ");
            let m = s["battery_months"].as_f64().unwrap();
            assert!(agrees(&months, m), "{name}: {cell} vs {m} months");
        }
    }
}

#[test]
fn main_table_matches_compare() {
    let doc = doc();
    let v = compare("ieee802154", "60s");
    for (name, key) in [
        ("DTLS 1.2 PSK CCM_8, session kept", "dtls12"),
        (
            "DTLS 1.2, full handshake after each sleep (OpenSSL)",
            "dtls12_handshake",
        ),
        (
            "DTLS 1.2, resumed handshake after each sleep (OpenSSL)",
            "dtls12_resumed",
        ),
        (
            "DTLS 1.2, full handshake after each sleep (Mbed TLS)",
            "dtls12_handshake_mbedtls",
        ),
        ("DTLS 1.3 PSK CCM_8, session kept (wolfSSL)", "dtls13"),
        (
            "DTLS 1.3, full handshake after each sleep (wolfSSL)",
            "dtls13_handshake",
        ),
        ("OSCORE (CoAP request)", "oscore"),
        ("meshseal compact", "meshseal"),
        ("meshseal compact, implicit sender", "meshseal_implicit"),
    ] {
        let cells = row(&doc, name);
        let s = scheme(&v, key);
        let energy = cells[6].trim_end_matches(" µJ");
        let uj = s["energy_uj"]["total"].as_f64().unwrap();
        assert!(agrees(energy, uj), "{name}: {energy} vs {uj}");
        let months = cells[8].trim_end_matches(" months");
        let m = s["battery_months"].as_f64().unwrap();
        assert!(agrees(months, m), "{name}: {months} vs {m}");
    }
}

#[test]
fn battery_by_interval_table_matches_compare() {
    let doc = doc();
    let keys = [
        "dtls12",
        "dtls12_handshake",
        "dtls13",
        "dtls13_handshake",
        "oscore",
        "meshseal",
        "meshseal_implicit",
    ];
    for (name, interval) in [
        ("10 s", "10s"),
        ("60 s", "60s"),
        ("5 min", "5m"),
        ("1 h", "1h"),
    ] {
        let cells = row(&doc, name);
        let v = compare("ieee802154", interval);
        for (cell, key) in cells.iter().zip(keys) {
            let m = scheme(&v, key)["battery_months"].as_f64().unwrap();
            assert!(agrees(cell, m), "{name} {key}: {cell} vs {m}");
        }
    }
}

#[test]
fn fan_out_table_matches_compare() {
    let doc = doc();
    let o = run(&["compare", "--receivers", "16", "--json"]);
    let v = json(&o);
    for (name, key) in [
        ("fan-out DTLS 1.2 kept", "dtls12"),
        ("fan-out DTLS 1.2 handshake", "dtls12_handshake"),
        ("fan-out DTLS 1.3 kept", "dtls13"),
        ("fan-out OSCORE", "oscore"),
        ("fan-out meshseal", "meshseal"),
    ] {
        let cells = row(&doc, name);
        let r = v["fanout"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .unwrap();
        for (cell, field) in cells.iter().zip([
            "datagrams_tx",
            "air_bytes",
            "energy_uj",
            "controller_ram_bytes",
        ]) {
            let printed = cell.trim_end_matches(" µJ").trim_end_matches(" B");
            let value = r[field].as_f64().unwrap();
            assert!(agrees(printed, value), "{name} {field}: {cell} vs {value}");
        }
    }
}

#[test]
fn group_oscore_overhead_table_matches_compare() {
    let doc = doc();
    let v = compare("ieee802154", "60");
    for (name, key) in [
        (
            "meshseal compact frame (steady traffic, explicit sender id)",
            "meshseal",
        ),
        ("OSCORE (RFC 8613)", "oscore"),
        (
            "Group OSCORE, group mode (signed request, pairwise response)",
            "group_oscore_group",
        ),
        ("Group OSCORE, pairwise mode", "group_oscore_pairwise"),
    ] {
        let cells = row(&doc, name);
        let r = v["message_overhead"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("no overhead row {key}"));
        assert_eq!(r["name"], name);
        assert_eq!(cells[0], r["request_added"].to_string(), "{name} request");
        assert_eq!(cells[1], r["response_added"].to_string(), "{name} response");
    }
}
