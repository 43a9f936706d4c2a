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

#[test]
fn signed_and_pairwise_frames_of_a_private_group_open_with_their_source() {
    let e = private_env();
    let seal = |extra: &[&str], hex: &str| {
        let (group, state) = (e.group(), e.p("ctl"));
        let mut args = vec![
            "seal", "--group", &group, "--sender", "1", "--state", &state,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--hex", hex, "--json"]);
        let v = ok_json(&args);
        assert!(v["seq_form"].is_string(), "{v}");
        v["frame"].as_str().unwrap().to_string()
    };
    let signed = seal(&["--sign"], "5e");
    let pairwise = seal(&["--to", "2"], "5f");
    for (frame, payload, source) in [(&signed, "5e", "signed"), (&pairwise, "5f", "pairwise")] {
        let v = ok_json(&[
            "open",
            "--group",
            &e.group(),
            "--receiver",
            "2",
            "--state",
            &e.p("lamp"),
            "--require-source",
            "--json",
            frame,
        ]);
        assert_eq!(
            (v["payload"].as_str(), v["source"].as_str()),
            (Some(payload), Some(source)),
            "{v}"
        );
    }
}
