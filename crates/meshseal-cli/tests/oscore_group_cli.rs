//! `meshseal oscore group`: the context files `new` writes, a member serving group-mode requests
//! and members sending them, and the state rules (windows kept across a restart; a lost
//! counter or lost windows refused). Interop with aiocoap is `tests/interop/group_oscore/`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meshseal"))
}

fn new_group(dir: &Path, members: &str) -> std::process::Output {
    bin()
        .args(["oscore", "group", "new", "--members", members, "--out-dir"])
        .arg(dir)
        .output()
        .unwrap()
}

struct Server {
    child: Child,
    port: u16,
    banner: String,
}

impl Server {
    fn start(ctx: &Path) -> Server {
        let mut child = bin()
            .args(["oscore", "group", "server", "--context"])
            .arg(ctx)
            .args(["--bind", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Notes (a new key generation) may come before the banner.
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut banner = String::new();
        while !banner.starts_with("group oscore server on") {
            banner.clear();
            assert!(err.read_line(&mut banner).unwrap() > 0, "server exited");
        }
        let addr = banner
            .split_whitespace()
            .nth(4)
            .unwrap()
            .trim_end_matches(',');
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        Server {
            child,
            port,
            banner,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(ctx: &Path, port: u16, args: &[&str], path: &str) -> (i32, Value) {
    let o = bin()
        .args([
            "oscore",
            "group",
            "client",
            "--json",
            "--timeout",
            "10",
            "--context",
        ])
        .arg(ctx)
        .args(args)
        .arg(format!("coap://127.0.0.1:{port}/{path}"))
        .output()
        .unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    let v = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
    (o.status.code().unwrap(), v)
}

#[test]
fn members_talk_and_a_restarted_server_keeps_its_windows() {
    let dir = tempfile::tempdir().unwrap();
    let o = new_group(dir.path(), "3");
    assert!(o.status.success(), "{o:?}");
    for m in ["01", "02", "03"] {
        let p = dir.path().join(format!("member-{m}.toml"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
    let (m1, m2, m3) = (
        dir.path().join("member-01.toml"),
        dir.path().join("member-02.toml"),
        dir.path().join("member-03.toml"),
    );
    let server = Server::start(&m1);
    let (rc, v) = client(&m2, server.port, &[], "temp");
    assert_eq!(rc, 0, "{v}");
    assert_eq!(
        (v["code"].as_str(), v["responder"].as_str()),
        (Some("2.05"), Some("01"))
    );
    let (rc, v) = client(
        &m3,
        server.port,
        &["--method", "PUT", "--hex", "6f6e"],
        "lamp",
    );
    assert_eq!((rc, v["code"].as_str()), (0, Some("2.04")), "{v}");
    let (_, v) = client(&m2, server.port, &[], "lamp");
    assert_eq!(v["payload"], "6f6e");
    let (rc, v) = client(&m2, server.port, &["--method", "POST"], "temp");
    assert_eq!((rc, v["code"].as_str()), (2, Some("4.05")), "{v}");
    // Pairwise mode to member 01; a member the file does not name is refused before sending.
    let (rc, v) = client(
        &m3,
        server.port,
        &["--to", "01", "--method", "POST", "--hex", "0a"],
        "echo",
    );
    assert_eq!((rc, v["payload"].as_str()), (0, Some("0a")), "{v}");
    let (rc, _) = client(&m3, server.port, &["--to", "09"], "temp");
    assert_eq!(rc, 1);
    drop(server);

    // The windows were kept: member 02 sent numbers 0..=2, member 03 numbers 0 and 1 (one
    // sequence number space for both modes).
    let windows: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("member-01-state/replay.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(windows["02"]["highest"], 2, "{windows}");
    assert_eq!(windows["03"]["highest"], 1, "{windows}");
    let server = Server::start(&m1);
    let (rc, v) = client(&m2, server.port, &[], "temp");
    assert_eq!(rc, 0, "{v}");
    drop(server);

    // Lost windows: the server challenges with Echo before it acts, and the client repeats
    // its request with the Echo value once.
    std::fs::remove_file(dir.path().join("member-01-state/replay.json")).unwrap();
    let server = Server::start(&m1);
    assert!(
        server.banner.contains("2 replay window(s) lost"),
        "{}",
        server.banner
    );
    let o = bin()
        .args(["oscore", "group", "client", "--json", "--context"])
        .arg(&m2)
        .arg(format!("coap://127.0.0.1:{}/temp", server.port))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("asked for Echo"),
        "{o:?}"
    );
    let windows: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("member-01-state/replay.json")).unwrap(),
    )
    .unwrap();
    assert!(
        windows.get("02").is_some() && windows.get("03").is_none(),
        "{windows}"
    );
    drop(server);
    // Lost counter: the client refuses to send rather than reuse its numbers.
    std::fs::remove_file(dir.path().join("member-02-state/sender.counter")).unwrap();
    let (rc, _) = client(&m2, 9, &[], "temp");
    assert_eq!(rc, 1);
    // Nor does it serve: its Echo challenges would be numbered from a lost counter.
    let o = bin()
        .args(["oscore", "group", "server", "--context"])
        .arg(&m2)
        .args(["--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("never delete sender.counter"),
        "{o:?}"
    );
}

#[test]
fn new_refuses_bad_sizes_and_existing_files() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["1", "65"] {
        assert_eq!(new_group(dir.path(), bad).status.code(), Some(1), "{bad}");
    }
    assert!(new_group(dir.path(), "2").status.success());
    let before = std::fs::read(dir.path().join("member-01.toml")).unwrap();
    assert_eq!(new_group(dir.path(), "2").status.code(), Some(1));
    assert_eq!(
        std::fs::read(dir.path().join("member-01.toml")).unwrap(),
        before,
        "an existing group is not overwritten"
    );
    let o = bin()
        .args([
            "oscore",
            "group",
            "new",
            "--members",
            "2",
            "--force",
            "--out-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_ne!(
        std::fs::read(dir.path().join("member-01.toml")).unwrap(),
        before
    );
}

#[test]
fn a_new_key_generation_restarts_numbers_and_an_old_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(new_group(dir.path(), "2").status.success());
    let (m1, m2) = (
        dir.path().join("member-01.toml"),
        dir.path().join("member-02.toml"),
    );
    let old2 = std::fs::read(&m2).unwrap();
    let server = Server::start(&m1);
    for _ in 0..3 {
        assert_eq!(client(&m2, server.port, &[], "temp").0, 0);
    }
    drop(server);
    let seq_of_last = |m: &Path| -> u64 {
        let w: Value = serde_json::from_slice(
            &std::fs::read(m.parent().unwrap().join("member-01-state/replay.json")).unwrap(),
        )
        .unwrap();
        w["02"]["highest"].as_u64().unwrap()
    };
    assert_eq!(seq_of_last(&m1), 2);
    let o = bin()
        .args(["oscore", "group", "rekey", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let new2 = std::fs::read_to_string(&m2).unwrap();
    assert_ne!(new2.as_bytes(), &old2[..]);
    assert!(new2.contains("private_key"), "the members keep their keys");
    // The new generation: both members discard their old state; the client starts at 0 again
    // and the server, with fresh windows, takes it.
    let server = Server::start(&m1);
    assert_eq!(client(&m2, server.port, &[], "temp").0, 0);
    assert_eq!(seq_of_last(&m1), 0);
    assert_eq!(client(&m2, server.port, &[], "temp").0, 0);
    drop(server);
    // The old generation's file again: refused, its numbers under those keys may be in use.
    std::fs::write(&m2, &old2).unwrap();
    let (rc, _) = client(&m2, 9, &[], "temp");
    assert_eq!(rc, 1);
    let o = bin()
        .args(["oscore", "group", "client", "--context"])
        .arg(&m2)
        .arg("coap://127.0.0.1:9/temp")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("left this key generation"),
        "{o:?}"
    );
}
