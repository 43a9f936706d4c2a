//! Payloads off the command line (`--in FILE`, `--hex -`, stdin, bounded), raw output of an
//! opened payload, and durations that need a unit.

mod common;

use common::{code, run, stderr, stdout, Env};

fn open_raw(e: &Env, frame: &str) -> Vec<u8> {
    let o = run(&[
        "open",
        "--group",
        &e.group(),
        "--receiver",
        "2",
        "--state",
        &e.p("s2"),
        "--raw",
        frame,
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    o.stdout
}

#[test]
fn payloads_come_from_a_file_or_stdin_and_open_raw() {
    let e = Env::new("3");
    e.provision("1", "s1");
    e.provision("2", "s2");
    let file = e.p("secret.txt");
    std::fs::write(&file, b"pin=4711").unwrap();
    let o = run(&[
        "seal",
        "--group",
        &e.group(),
        "--sender",
        "1",
        "--state",
        &e.p("s1"),
        "--in",
        &file,
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(open_raw(&e, &stdout(&o)), b"pin=4711");
    let o = e.seal_stdin(&["--hex", "-"], b"lamp on");
    assert_eq!(code(&o), 0, "{o:?}");
    assert_eq!(open_raw(&e, &stdout(&o)), b"lamp on");
    let o = e.seal_stdin(&[], &[0, 1, 2, 255]);
    assert_eq!(open_raw(&e, &stdout(&o)), [0, 1, 2, 255]);
    // Both sources at once are refused.
    let o = run(&[
        "seal",
        "--group",
        &e.group(),
        "--sender",
        "1",
        "--state",
        &e.p("s1"),
        "--in",
        &file,
        "--hex",
        "01",
    ]);
    assert_eq!(code(&o), 1, "{o:?}");
}

#[test]
fn an_oversized_payload_on_stdin_is_refused_without_a_number() {
    let e = Env::new("3");
    e.provision("1", "s1");
    let first = e.seal_stdin(&["--json"], b"a");
    let o = e.seal_stdin(&[], &vec![0u8; 1 << 20]);
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(stderr(&o).contains("65535"), "{}", stderr(&o));
    let next = e.seal_stdin(&["--json"], b"b");
    let seq = |o: &std::process::Output| {
        serde_json::from_str::<serde_json::Value>(&stdout(o)).unwrap()["seq"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(seq(&next), seq(&first) + 1);
}

#[test]
fn a_sub_second_duration_needs_a_unit() {
    let o = run(&["plan", "--wake", "60s", "--listen", "20", "--loss", "0.2"]);
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(stderr(&o).contains("give a unit"), "{}", stderr(&o));
    let o = run(&[
        "plan", "--wake", "60s", "--listen", "20ms", "--loss", "0.2", "--json",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
}

#[test]
fn a_grace_period_takes_a_unit_or_bare_seconds() {
    let e = Env::new("3");
    for (grace, secs, out) in [("10m", 600, "g1.toml"), ("900", 900, "g2.toml")] {
        let o = run(&[
            "group",
            "rekey",
            "--group",
            &e.group(),
            "--remove",
            "3",
            "--out",
            &e.p(out),
            "--grace",
            grace,
            "--json",
        ]);
        assert_eq!(code(&o), 0, "{o:?}");
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(v["grace"], secs, "{v}");
    }
    let o = run(&[
        "group",
        "rekey",
        "--group",
        &e.group(),
        "--remove",
        "3",
        "--out",
        &e.p("g3.toml"),
        "--grace",
        "1.5s",
    ]);
    assert_eq!(code(&o), 1, "{o:?}");
}
