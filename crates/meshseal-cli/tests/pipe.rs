//! A reader that closes the pipe early ends a command quietly: exit 0, no panic or backtrace,
//! and `seal`'s counter record stays consistent (the number it used is never used again).

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

use common::{bin, json, run, Env};

/// Runs `cmd` with stdout to a pipe that is closed after `keep` bytes were read.
fn with_closed_pipe(mut cmd: Command, keep: usize) -> (i32, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = vec![0u8; keep];
    let _ = stdout.read_exact(&mut buf);
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_pipe_ends_every_printing_command_quietly() {
    let e = Env::new("3");
    e.provision("1", "s1");
    let mut lab = bin();
    lab.args(["attack-lab", "--json"]);
    let mut show = bin();
    show.args(["group", "show", "--group", &e.group()]);
    let mut compare = bin();
    compare.args(["compare", "--payload", "4", "--interval", "60s", "--json"]);
    for (name, cmd, keep) in [
        ("attack-lab", lab, 100),
        ("group show", show, 1),
        ("compare", compare, 10),
    ] {
        let (code, stderr) = with_closed_pipe(cmd, keep);
        assert_eq!(code, 0, "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
}

#[test]
fn seal_into_a_closed_pipe_keeps_its_counter_consistent() {
    let e = Env::new("3");
    e.provision("1", "s1");
    e.provision("2", "s2");
    for _ in 0..3 {
        let mut seal = bin();
        seal.args([
            "seal",
            "--group",
            &e.group(),
            "--sender",
            "1",
            "--state",
            &e.p("s1"),
            "--hex",
            "01",
        ]);
        let (code, stderr) = with_closed_pipe(seal, 0);
        assert_eq!(code, 0, "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // The next frame carries a number above every one the lost frames may have used.
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
        "--json",
    ]);
    let v = json(&o);
    assert!(v["seq"].as_u64().unwrap() >= 1, "{v}");
    let f = v["frame"].as_str().unwrap().to_owned();
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
    assert_eq!(o.status.code(), Some(0), "{o:?}");
}
