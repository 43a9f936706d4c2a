//! `meshseal loadgen` seals under the real group key and real member ids: it must never use a
//! (sender, sequence number) twice, across runs and whatever flags are given, nor one a real
//! device uses. The datagrams are captured on a UDP socket of the test and opened with the
//! core to read their full numbers.

mod common;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::time::Duration;

use common::{code, run, stderr, Env};
use meshseal::replay::PeerTable;
use meshseal::{GroupKeys, Recipient, RecipientConfig};
use serde_json::Value;

fn keys(group: &str) -> (GroupKeys, Vec<u32>) {
    let text = std::fs::read_to_string(group).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    let secret = hex::decode(v["master_secret"].as_str().unwrap()).unwrap();
    let salt = hex::decode(v["salt"].as_str().unwrap()).unwrap();
    let gid = v["group_id"].as_integer().unwrap() as u32;
    let epoch = v["epoch"].as_integer().unwrap() as u16;
    let members = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_integer().unwrap() as u32)
        .collect();
    (
        GroupKeys::derive(&secret, &salt, gid, epoch).unwrap(),
        members,
    )
}

/// Runs loadgen against the capture socket; returns its report and the (sender, seq) of every
/// datagram received.
fn loadgen(e: &Env, sock: &UdpSocket, extra: &[&str]) -> (i32, Value, Vec<(u32, u64)>, String) {
    let target = sock.local_addr().unwrap().to_string();
    let g = e.group();
    let mut args = vec![
        "loadgen",
        "--group",
        &g,
        "--target",
        &target,
        "--rate",
        "2000",
        "--duration",
        "10",
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    let report = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    // Open what arrived with a receiver without state: every run's first frame per sender
    // carries the full number.
    let (k, members) = keys(&g);
    let mut rx = Recipient::new(
        k,
        RecipientConfig::default(),
        members.as_slice(),
        PeerTable::<8>::new(),
    );
    let mut ids = vec![];
    let mut buf = [0u8; 2048];
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    while let Ok(n) = sock.recv(&mut buf) {
        let opened = rx.open(&mut buf[..n]).expect("an authentic fresh frame");
        ids.push((opened.sender, opened.seq));
    }
    (code(&o), report, ids, stderr(&o))
}

#[test]
fn two_loadgen_runs_never_repeat_a_sender_sequence() {
    let e = Env::new("3");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut seen: BTreeSet<(u32, u64)> = BTreeSet::new();
    // The same flags twice, then with a fresh --state directory (earlier versions started
    // each new state directory, and every run without one, at 0).
    let state = e.p("lg-state");
    for extra in [
        &["--senders", "2", "--count", "100"][..],
        &["--senders", "2", "--count", "100"][..],
        &["--senders", "2", "--count", "100", "--state", &state][..],
    ] {
        let (c, report, ids, err) = loadgen(&e, &sock, extra);
        assert_eq!(c, 0, "{err}");
        assert_eq!(report["fresh"], 100, "{report}");
        assert!(ids.len() >= 90, "{} of 100 arrived", ids.len());
        for id in ids {
            assert!(seen.insert(id), "{id:?} sent twice");
        }
    }
    let top1 = seen
        .iter()
        .filter(|(s, _)| *s == 1)
        .map(|(_, q)| *q)
        .max()
        .unwrap();
    // A device provisioned as member 1 afterwards starts above every number loadgen used.
    e.provision("1", "dev1");
    let v = e.seal_json(&e.group(), "1", "dev1", "01");
    assert!(v["seq"].as_u64().unwrap() > top1, "{v} vs {top1}");
    // From now on loadgen never seals as member 1: too few senders left, or the others.
    let (c, _, ids, err) = loadgen(&e, &sock, &["--senders", "3", "--count", "10"]);
    assert_eq!(c, 1, "{err}");
    assert!(
        err.contains("member 1") || err.contains("provisioned"),
        "{err}"
    );
    assert!(ids.is_empty());
    let (c, report, ids, err) = loadgen(&e, &sock, &["--senders", "2", "--count", "60"]);
    assert_eq!(c, 0, "{err}");
    assert_eq!(report["senders"], serde_json::json!([2, 3]), "{report}");
    assert!(!ids.is_empty());
    for id in ids {
        assert_ne!(id.0, 1);
        assert!(seen.insert(id), "{id:?} sent twice");
    }
}
