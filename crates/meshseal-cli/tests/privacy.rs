//! Header privacy from the command line: `group new --privacy` makes a group whose frames hide
//! their headers; seal, open and inspect (with the group file) read them; inspect without it
//! shows only the clear bits and the length; tools that cannot read them yet refuse the group.

mod common;
use common::*;

/// A group of 3 with header privacy, members 1 and 2 provisioned.
fn private_env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let e = Env { dir };
    let o = run(&[
        "group",
        "new",
        "--members",
        "3",
        "--out",
        &e.group(),
        "--privacy",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    e.provision("1", "ctl");
    e.provision("2", "lamp");
    e
}

#[test]
fn private_frames_seal_open_and_inspect() {
    let e = private_env();
    let show = json(&run(&["group", "show", "--group", &e.group(), "--json"]));
    assert_eq!(show["policy"]["privacy"], true);
    let mut frames = Vec::new();
    for payload in ["01", "0a0b", "ff"] {
        frames.push(e.seal("1", "ctl", payload));
    }
    for (f, payload) in frames.iter().zip(["01", "0a0b", "ff"]) {
        let v = json(&e.open("2", "lamp", f));
        assert_eq!(v["status"], "ok", "{v}");
        assert_eq!(v["sender"], 1);
        assert_eq!(v["payload"], payload, "{v}");
    }
    // With the group file, inspect unmasks and verifies.
    let v = json(&run(&[
        "inspect",
        "--group",
        &e.group(),
        "--json",
        &frames[0],
    ]));
    assert_eq!(
        (&v["private"], &v["sender"], &v["authentic"]),
        (&true.into(), &1.into(), &true.into()),
        "{v}"
    );
    // Without it, only the clear bits and the length.
    let v = json(&run(&["inspect", "--private", "--json", &frames[1]]));
    assert_eq!(v["private"], true);
    assert_eq!(v["length"], frames[1].len() / 2);
    assert!(v.get("sender").is_none(), "{v}");
}

#[test]
fn a_private_frame_shows_no_sender_id_in_clear() {
    let e = private_env();
    let plain = Env::new("3");
    plain.provision("1", "ctl");
    let mut private_ids = std::collections::BTreeSet::new();
    for i in 0..40u8 {
        let hex = format!("{i:02x}");
        let p = plain.seal("1", "ctl", &hex);
        let f = e.seal("1", "ctl", &hex);
        assert_eq!(p.len(), f.len(), "no extra byte");
        assert_eq!(&p[2..4], "01", "in clear the sender id is byte 1");
        private_ids.insert(f[2..4].to_string());
    }
    assert!(private_ids.len() > 20, "{private_ids:?}");
}

#[test]
fn the_gateway_refuses_a_private_group_it_cannot_read() {
    let e = private_env();
    let o = run(&[
        "gateway",
        "--group",
        &e.group(),
        "--store",
        &e.p("gw.redb"),
        "--bind",
        "127.0.0.1:0",
    ]);
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("header privacy"));
}

#[test]
fn the_simulator_runs_a_private_network_with_the_same_delivery() {
    let args = [
        "simulate",
        "--nodes",
        "20",
        "--hours",
        "2",
        "--loss",
        "0.1",
        "--seed",
        "5",
        "--attacker",
        "replay,tamper,forge",
        "--json",
    ];
    let plain = ok_json(&args);
    let mut with = args.to_vec();
    with.push("--privacy");
    let private = ok_json(&with);
    let field = |v: &serde_json::Value, k: &str| v.get("report").unwrap_or(v)[k].clone();
    assert_eq!(field(&private, "delivered"), field(&plain, "delivered"));
    assert_eq!(field(&private, "attacks")["accepted_total"], 0);
}
