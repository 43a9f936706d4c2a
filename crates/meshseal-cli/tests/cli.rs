//! The command line contract: flags, exit codes (0 ok, 1 usage/config, 2 refused) and JSON.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{bin, code, json, run, stdout, Env};
use serde_json::Value;

#[test]
fn seal_open_replay_round_trip() {
    let e = Env::new("3");
    e.provision("1", "s1");
    e.provision("2", "s2");
    let f = e.seal("1", "s1", "68656c6c6f");
    let o = run(&[
        "open",
        "--group",
        &e.group(),
        "--receiver",
        "2",
        "--state",
        &e.p("s2"),
        &f,
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(stdout(&o), "68656c6c6f");
    // Same frame again: replay, exit 2, reason on stderr.
    let o = run(&[
        "open",
        "--group",
        &e.group(),
        "--receiver",
        "2",
        "--state",
        &e.p("s2"),
        &f,
    ]);
    assert_eq!(code(&o), 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("replay"));
    let o = e.open("2", "s2", &f);
    assert_eq!(code(&o), 2);
    assert_eq!(
        json(&o),
        serde_json::json!({"status": "refused", "reason": "replay"})
    );
}

#[test]
fn counter_persists_and_frames_shrink_in_steady_traffic() {
    let e = Env::new("2");
    e.provision("1", "s1");
    e.provision("2", "s2");
    let mut seqs = vec![];
    for i in 0..4 {
        let o = run(&[
            "seal",
            "--group",
            &e.group(),
            "--sender",
            "1",
            "--state",
            &e.p("s1"),
            "--hex",
            "00112233",
            "--json",
        ]);
        assert_eq!(code(&o), 0);
        let v = json(&o);
        assert_eq!(v["status"], "ok");
        seqs.push(v["seq"].as_u64().unwrap());
        let want = if i == 0 { 15 } else { 10 };
        assert_eq!(v["overhead"], want, "frame {i}: {v}");
        let o = e.open("2", "s2", v["frame"].as_str().unwrap());
        assert_eq!(json(&o)["seq"], seqs[i]);
    }
    assert_eq!(seqs, [0, 1, 2, 3]);
}

#[test]
fn payload_from_stdin() {
    let e = Env::new("2");
    e.provision("2", "s");
    e.provision("1", "r");
    let mut child = bin()
        .args([
            "seal",
            "--group",
            &e.group(),
            "--sender",
            "2",
            "--state",
            &e.p("s"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"temp=21").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 0);
    let o = e.open("1", "r", &stdout(&o));
    assert_eq!(json(&o)["payload"], hex::encode("temp=21"));
}

#[test]
fn freshness_is_fresh_only_for_provisioned_receivers() {
    let e = Env::new("3");
    let o = run(&[
        "provision",
        "--group",
        &e.group(),
        "--member",
        "2",
        "--state",
        &e.p("r2"),
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    e.provision("1", "s1");
    // Receiver 3 lost its replay windows: it holds no verified state.
    e.provision_without_windows("3", "r3");
    let f = e.seal("1", "s1", "01");
    assert_eq!(json(&e.open("2", "r2", &f))["freshness"], "fresh");
    assert_eq!(json(&e.open("3", "r3", &f))["freshness"], "unknown");
    // Provisioning twice is refused.
    let o = run(&[
        "provision",
        "--group",
        &e.group(),
        "--member",
        "2",
        "--state",
        &e.p("r2"),
    ]);
    assert_eq!(code(&o), 1);
}

#[test]
fn refusal_reasons() {
    let e = Env::new("3");
    e.provision("1", "s1");
    e.provision("2", "r");
    e.provision("3", "s3");
    let f = e.seal("1", "s1", "01");
    // bad_tag
    let mut b = hex::decode(&f).unwrap();
    let last = b.len() - 1;
    b[last] ^= 1;
    assert_eq!(
        json(&e.open("2", "r", &hex::encode(&b)))["reason"],
        "bad_tag"
    );
    // malformed
    assert_eq!(json(&e.open("2", "r", "00"))["reason"], "malformed");
    // unsupported_version
    let mut b = hex::decode(&f).unwrap();
    b[0] |= 0x80;
    assert_eq!(
        json(&e.open("2", "r", &hex::encode(&b)))["reason"],
        "unsupported_version"
    );
    // unknown_epoch
    let mut b = hex::decode(&f).unwrap();
    b[0] ^= 0x20;
    assert_eq!(
        json(&e.open("2", "r", &hex::encode(&b)))["reason"],
        "unknown_epoch"
    );
    // reflected: member 2's own frame
    let own = e.seal("2", "r", "01");
    assert_eq!(json(&e.open("2", "r", &own))["reason"], "reflected");
    // unknown_sender: a frame from a group with more members, same secrets
    let text = std::fs::read_to_string(e.group()).unwrap();
    let bigger = format!("{text}\n[[members]]\nid = 99\nname = \"intruder\"\n");
    std::fs::write(e.p("big.toml"), &bigger).unwrap();
    let o = e.provision_with(&e.p("big.toml"), "99", "s99");
    assert_eq!(code(&o), 0, "{o:?}");
    let o = run(&[
        "seal",
        "--group",
        &e.p("big.toml"),
        "--sender",
        "99",
        "--state",
        &e.p("s99"),
        "--hex",
        "01",
    ]);
    assert_eq!(code(&o), 0, "{o:?} {bigger}");
    assert_eq!(
        json(&e.open("2", "r", &stdout(&o)))["reason"],
        "unknown_sender"
    );
    // too_old: 70 frames later, frame 0 is out of the window
    let first = e.seal("3", "s3", "00");
    let mut full = String::new();
    for i in 1..=64 {
        let f = e.seal("3", "s3", "00");
        if i == 64 {
            full = f;
        }
    }
    assert_eq!(json(&e.open("1", "s1", &full))["status"], "ok");
    assert_eq!(json(&e.open("1", "s1", &first))["reason"], "too_old");
}

#[test]
fn bad_inputs_exit_1_never_panic() {
    let e = Env::new("2");
    let g = e.group();
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            "bad frame hex".into(),
            vec![
                "open",
                "--group",
                &g,
                "--receiver",
                "1",
                "--state",
                &e.p("r"),
                "zz",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
        ),
        (
            "bad payload hex".into(),
            vec![
                "seal",
                "--group",
                &g,
                "--sender",
                "1",
                "--state",
                &e.p("s"),
                "--hex",
                "0g",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
        ),
        (
            "non-member sender".into(),
            vec![
                "seal",
                "--group",
                &g,
                "--sender",
                "9",
                "--state",
                &e.p("s"),
                "--hex",
                "00",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
        ),
        (
            "missing group".into(),
            vec![
                "seal",
                "--group",
                &e.p("nope.toml"),
                "--sender",
                "1",
                "--state",
                &e.p("s"),
                "--hex",
                "00",
            ]
            .into_iter()
            .map(String::from)
            .collect(),
        ),
        (
            "unknown flag".into(),
            vec!["seal", "--bogus"]
                .into_iter()
                .map(String::from)
                .collect(),
        ),
        (
            "overwrite".into(),
            vec!["group", "new", "--members", "2", "--out", &g]
                .into_iter()
                .map(String::from)
                .collect(),
        ),
    ];
    for (what, args) in cases {
        let o = bin().args(&args).output().unwrap();
        assert_eq!(code(&o), 1, "{what}: {o:?}");
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains("panicked"),
            "{what}"
        );
    }
}

fn write_group(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn malformed_group_files_are_refused_with_exit_1() {
    let e = Env::new("2");
    let good = std::fs::read_to_string(e.group()).unwrap();
    let bad = [
        ("duplicate id", good.replace("id = 2", "id = 1")),
        (
            "secret not hex",
            good.replacen("master_secret = \"", "master_secret = \"zz", 1),
        ),
        ("secret too short", {
            let start = good.find("master_secret = \"").unwrap() + 17;
            format!("{}00112233\"{}", &good[..start], &good[start + 65..])
        }),
        (
            "unknown field",
            good.replace("epoch = 0", "epoch = 0\ncolour = \"red\""),
        ),
        (
            "bad order policy",
            good.replace("order = \"window\"", "order = \"random\""),
        ),
        (
            "full_every zero",
            good.replace("full_every = 16", "full_every = 0"),
        ),
        ("not toml", "\u{0}\u{1}garbage[[".to_string()),
        ("empty", String::new()),
    ];
    for (what, body) in bad {
        let p = write_group(e.dir.path(), "bad.toml", &body);
        let o = run(&[
            "seal",
            "--group",
            p.to_str().unwrap(),
            "--sender",
            "1",
            "--state",
            &e.p("s"),
            "--hex",
            "00",
        ]);
        assert_eq!(code(&o), 1, "{what}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.starts_with("error:") && !err.contains("panicked"),
            "{what}: {err}"
        );
        if what == "duplicate id" {
            assert!(err.contains("duplicate sender id 1"), "{err}");
        }
    }
}

#[test]
fn inspect_without_and_with_key() {
    let e = Env::new("2");
    e.provision("1", "s");
    let f = e.seal("1", "s", "cafe");
    let o = run(&["inspect", &f, "--json"]);
    assert_eq!(code(&o), 0);
    let v = json(&o);
    assert_eq!(v["sender"], 1);
    assert_eq!(v["seq_form"], "5_byte");
    assert_eq!(v["payload_len"], 2);
    assert!(v.get("plaintext").is_none());
    let o = run(&["inspect", &f, "--group", &e.group(), "--json"]);
    let v = json(&o);
    assert_eq!(
        (v["authentic"].clone(), v["plaintext"].clone()),
        (Value::Bool(true), Value::from("cafe"))
    );
    // Truncated frame: needs --near.
    let f2 = e.seal("1", "s", "beef");
    let v = json(&run(&["inspect", &f2, "--group", &e.group(), "--json"]));
    assert!(v["note"].as_str().unwrap().contains("--near"));
    let v = json(&run(&[
        "inspect",
        &f2,
        "--group",
        &e.group(),
        "--near",
        "1",
        "--json",
    ]));
    assert_eq!(v["plaintext"], "beef");
    // Garbage is refused as malformed, exit 2.
    let o = run(&["inspect", "ffff", "--json"]);
    assert_eq!(code(&o), 2);
    assert_eq!(json(&o)["reason"], "unsupported_version");
    let o = run(&["inspect", "0001", "--json"]);
    assert_eq!(json(&o)["reason"], "malformed");
}

#[test]
fn demo_runs() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["demo", "--dir", &dir.path().join("d").display().to_string()]);
    assert_eq!(code(&o), 0, "{}", String::from_utf8_lossy(&o.stdout));
    assert!(stdout(&o).contains("replay refused, forgery refused"));
}

#[test]
fn fragments_open_in_any_order_and_deliver_once() {
    let e = Env::new("2");
    e.provision("1", "s1");
    e.provision("2", "r");
    let payload = "ab".repeat(150);
    let o = run(&[
        "seal",
        "--group",
        &e.group(),
        "--sender",
        "1",
        "--state",
        &e.p("s1"),
        "--hex",
        &payload,
        "--mtu",
        "60",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let frames: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert!(frames.len() >= 4, "{frames:?}");
    assert!(frames.iter().all(|f| f.len() / 2 <= 60));
    let order: Vec<usize> = (0..frames.len()).rev().collect();
    for (k, &i) in order.iter().enumerate() {
        let v = json(&e.open("2", "r", &frames[i]));
        if k + 1 < order.len() {
            assert_eq!(v["status"], "fragment", "{v}");
            assert!(v.get("payload").is_none());
        } else {
            assert_eq!(v["status"], "ok", "{v}");
            assert_eq!(v["payload"], payload);
        }
    }
    // Every fragment again: replays, nothing delivered twice.
    for f in &frames {
        assert_eq!(json(&e.open("2", "r", f))["reason"], "replay");
    }
}

#[test]
fn challenge_flow_proves_freshness() {
    let e = Env::new("3");
    e.provision("1", "s1");
    // Receivers 2 and 3 hold no state for sender 1 (they lost their replay windows).
    e.provision_without_windows("2", "r2");
    e.provision_without_windows("3", "r3");
    let cmd = e.seal("1", "s1", "756e6c6f636b");
    let o = e.actuate(&cmd);
    assert_eq!(code(&o), 2);
    let v = json(&o);
    assert_eq!(
        (v["status"].as_str(), v["reason"].as_str()),
        (Some("challenge"), Some("stale"))
    );
    assert_eq!(v["request"], serde_json::json!({"sender": 1, "seq": 0}));
    let challenge = v["challenge"].as_str().unwrap().to_owned();
    // The same command as telemetry is delivered but flagged unknown.
    let t = json(&e.open("2", "r2", &cmd));
    assert_eq!(t["freshness"], "unknown");
    // Echo with a challenge that does not answer any request of sender 2: refused.
    let o = run(&[
        "seal",
        "--group",
        &e.group(),
        "--sender",
        "2",
        "--state",
        &e.p("r2"),
        "--hex",
        "00",
        "--echo",
        &challenge,
        "--json",
    ]);
    assert_eq!(code(&o), 2, "{o:?}");
    // The real requester echoes it.
    let o = run(&[
        "seal",
        "--group",
        &e.group(),
        "--sender",
        "1",
        "--state",
        &e.p("s1"),
        "--hex",
        "756e6c6f636b",
        "--echo",
        &challenge,
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let echo = json(&o)["frame"].as_str().unwrap().to_owned();
    let o = e.actuate(&echo);
    assert_eq!(code(&o), 0, "{o:?}");
    let v = json(&o);
    assert_eq!(
        (v["binding"].as_str(), v["freshness"].as_str()),
        (Some("echo"), Some("fresh"))
    );
    // The echo cannot be used again, and the original command never acts.
    let o = e.actuate(&echo);
    assert_eq!(code(&o), 2);
    let o = e.actuate(&cmd);
    assert_eq!(code(&o), 2);
    // From now on the receiver's state is verified: ordinary frames are fresh.
    let next = e.seal("1", "s1", "00");
    let o = e.actuate(&next);
    assert_eq!(json(&o)["freshness"], "fresh", "{o:?}");
}

#[test]
fn coarse_time_refuses_a_late_copy() {
    let e = Env::new("3");
    e.provision("1", "s1");
    // Receivers without replay state: only the time can tell a copy's age.
    e.provision_without_windows("2", "r2");
    e.provision_without_windows("3", "r3");
    // The first frame after boot: full-length, so receivers without state can rebuild it.
    let o = run(&[
        "seal",
        "--group",
        &e.group(),
        "--sender",
        "1",
        "--state",
        &e.p("s1"),
        "--hex",
        "01",
        "--time",
        "1000",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let timed = stdout(&o);
    let open_at = |clock: &str| {
        run(&[
            "open",
            "--group",
            &e.group(),
            "--receiver",
            "2",
            "--state",
            &e.p("r2"),
            "--class",
            "actuation",
            "--clock",
            clock,
            "--max-age",
            "5",
            "--json",
            &timed,
        ])
    };
    // Delivered an hour of units later: stale, answered with a challenge.
    let o = open_at("1060");
    assert_eq!(code(&o), 2);
    assert_eq!(json(&o)["status"], "challenge");
    // In time (a fresh receiver state dir): fresh.
    let o = run(&[
        "open",
        "--group",
        &e.group(),
        "--receiver",
        "3",
        "--state",
        &e.p("r3"),
        "--class",
        "actuation",
        "--clock",
        "1002",
        "--max-age",
        "5",
        "--json",
        &timed,
    ]);
    let v = json(&o);
    assert_eq!(
        (v["freshness"].as_str(), v["time"].as_u64()),
        (Some("fresh"), Some(1000)),
        "{v}"
    );
}
