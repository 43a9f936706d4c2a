//! Helpers shared by the command-line tests: run the binary, read its exit code and JSON.
#![allow(dead_code)]

use std::process::{Command, Output};

use serde_json::Value;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meshseal"))
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .trim()
        .to_owned()
}

pub fn json(o: &Output) -> Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new(members: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let e = Env { dir };
        let o = run(&[
            "group",
            "new",
            "--members",
            members,
            "--out",
            &e.p("group.toml"),
            "--name",
            "test",
        ]);
        assert_eq!(code(&o), 0, "{o:?}");
        e
    }
    pub fn p(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
    pub fn group(&self) -> String {
        self.p("group.toml")
    }
    pub fn seal(&self, sender: &str, state: &str, hex: &str) -> String {
        let o = run(&[
            "seal",
            "--group",
            &self.group(),
            "--sender",
            sender,
            "--state",
            &self.p(state),
            "--hex",
            hex,
        ]);
        assert_eq!(code(&o), 0, "{o:?}");
        stdout(&o)
    }
    /// Opens `frame` at receiver 3 (state `r3`) as actuation.
    pub fn actuate(&self, frame: &str) -> Output {
        run(&[
            "open",
            "--group",
            &self.group(),
            "--receiver",
            "3",
            "--state",
            &self.p("r3"),
            "--class",
            "actuation",
            "--json",
            frame,
        ])
    }
    pub fn open(&self, receiver: &str, state: &str, frame: &str) -> Output {
        run(&[
            "open",
            "--group",
            &self.group(),
            "--receiver",
            receiver,
            "--state",
            &self.p(state),
            "--json",
            frame,
        ])
    }
}

/// Runs the binary: `(exit code, stdout, stderr)`.
pub fn meshseal(args: &[&str]) -> (i32, String, String) {
    let out = bin().args(args).output().expect("run meshseal");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the binary, requires exit 0 and returns its stdout as JSON.
pub fn ok_json(args: &[&str]) -> Value {
    let (code, out, err) = meshseal(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}\n{out}"))
}

impl Env {
    /// `meshseal provision` of `member` into state directory `state`, with `group`.
    /// `seal` as member 1 from state `s1` with `args`, the payload fed on stdin (a refused
    /// input may be dropped unread: a broken pipe here is part of the caller's test).
    pub fn seal_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = bin()
            .args([
                "seal",
                "--group",
                &self.group(),
                "--sender",
                "1",
                "--state",
                &self.p("s1"),
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(input);
        child.wait_with_output().unwrap()
    }

    pub fn provision_with(&self, group: &str, member: &str, state: &str) -> Output {
        run(&[
            "provision",
            "--group",
            group,
            "--member",
            member,
            "--state",
            &self.p(state),
        ])
    }

    /// Provisions `member` into `state` with the group file; requires success.
    pub fn provision(&self, member: &str, state: &str) {
        let o = self.provision_with(&self.group(), member, state);
        assert_eq!(code(&o), 0, "{o:?}");
    }

    /// Provisions `member` into `state`, then removes its replay windows: a receiver that lost
    /// its replay state (a reboot without it), which holds no verified state for any sender.
    pub fn provision_without_windows(&self, member: &str, state: &str) {
        self.provision(member, state);
        std::fs::remove_file(
            std::path::Path::new(&self.p(state)).join(format!("replay-{member}.json")),
        )
        .unwrap();
    }

    /// Seals `hex` with `--json` and returns the output as JSON (exit 0 required).
    pub fn seal_json(&self, group: &str, sender: &str, state: &str, hex: &str) -> Value {
        let o = run(&[
            "seal",
            "--group",
            group,
            "--sender",
            sender,
            "--state",
            &self.p(state),
            "--hex",
            hex,
            "--json",
        ]);
        assert_eq!(code(&o), 0, "{o:?}");
        json(&o)
    }

    /// Opens `frame` with `group` at `receiver` (state `state`), with `--json`.
    pub fn open_with(&self, group: &str, receiver: &str, state: &str, frame: &str) -> Output {
        run(&[
            "open",
            "--group",
            group,
            "--receiver",
            receiver,
            "--state",
            &self.p(state),
            "--json",
            frame,
        ])
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
