//! `meshseal demo`: a short demonstration that runs the `meshseal` binary itself: provision a
//! group, seal, open, and refuse a replay and a forgery.

use std::path::PathBuf;

use serde_json::Value;

use crate::cli_util::{parse_hex, CliError, Outcome};

/// `meshseal demo` options.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Directory for the demo's files (default: a new temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Runs `meshseal demo`.
pub fn run(a: DemoArgs) -> Result<Outcome, CliError> {
    let dir = match a.dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("meshseal-demo-{}", std::process::id())),
    };
    if dir.join("group.toml").exists() {
        return Err(CliError::usage(format!(
            "{} already holds a demo; pick another --dir",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir).map_err(|e| CliError::io("cannot create demo dir".into(), e))?;
    let exe = std::env::current_exe()
        .map_err(|e| CliError::io("cannot find own executable".into(), e))?;
    let d = |p: &str| dir.join(p).display().to_string();
    let run = |args: &[&str]| -> Result<(i32, String), CliError> {
        outln!("$ meshseal {}", args.join(" "));
        let out = std::process::Command::new(&exe)
            .args(args)
            .output()
            .map_err(|e| CliError::io("cannot run meshseal".into(), e))?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        for line in stdout
            .lines()
            .chain(String::from_utf8_lossy(&out.stderr).lines())
        {
            outln!("  {line}");
        }
        Ok((out.status.code().unwrap_or(-1), stdout))
    };
    let group = d("group.toml");
    outln!("1. Provision a group of three devices: 1 = controller, 2 = lamp, 3 = thermometer.");
    run(&[
        "group",
        "new",
        "--members",
        "3",
        "--name",
        "demo-home",
        "--out",
        &group,
    ])?;
    for (member, dir) in [("1", "controller"), ("2", "lamp")] {
        run(&[
            "provision",
            "--group",
            &group,
            "--member",
            member,
            "--state",
            &d(dir),
        ])?;
    }
    let ctl = d("controller");
    let lamp = d("lamp");
    let seal = |hex: &str| -> Result<String, CliError> {
        let (_, out) = run(&[
            "seal", "--group", &group, "--sender", "1", "--state", &ctl, "--hex", hex, "--json",
        ])?;
        Ok(serde_json::from_str::<Value>(&out)
            .ok()
            .and_then(|v| v["frame"].as_str().map(str::to_owned))
            .unwrap_or_default())
    };
    let open = |frame: &str| -> Result<i32, CliError> {
        Ok(run(&[
            "open",
            "--group",
            &group,
            "--receiver",
            "2",
            "--state",
            &lamp,
            "--json",
            frame,
        ])?
        .0)
    };
    outln!("\n2. The controller seals \"lamp on\" (payload 01); the first frame after boot carries the full sequence number.");
    let f1 = seal("01")?;
    outln!("\n3. The lamp opens it.");
    let c1 = open(&f1)?;
    outln!("\n4. Steady traffic: the next frame adds 10 bytes to its payload.");
    let f2 = seal("00")?;
    let c2 = open(&f2)?;
    outln!("\n5. An attacker replays the recorded \"lamp on\" frame: refused, exit code 2.");
    let c3 = open(&f1)?;
    outln!("\n6. An attacker flips a bit of a fresh frame: refused.");
    let mut t = parse_hex("frame", &seal("01")?)?;
    if let Some(b) = t.get_mut(2) {
        *b ^= 0x01;
    }
    let c4 = open(&hex::encode(t))?;
    let ok = (c1, c2, c3, c4) == (0, 0, 2, 2);
    outln!(
        "\n{} (files in {})",
        if ok {
            "demo finished: accepted, accepted, replay refused, forgery refused"
        } else {
            "demo FAILED"
        },
        dir.display()
    );
    if ok {
        Ok(Outcome::Done)
    } else {
        Err(CliError::usage(
            "the demo did not behave as expected".into(),
        ))
    }
}
