//! `meshseal oscore server` and `client` against each other: resources, exit codes, JSON,
//! refusals, and Echo recovery after the server lost its replay window.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meshseal"))
}

fn context(path: &Path, secret: &str, sender: &str, recipient: &str, state: &str) {
    std::fs::write(
        path,
        format!(
            "master_secret = \"{secret}\"\nmaster_salt = \"9e7ca92223786340\"\nsender_id = \"{sender}\"\nrecipient_id = \"{recipient}\"\nid_context = \"0102\"\nstate = \"{state}\"\n"
        ),
    )
    .unwrap();
}

const SECRET: &str = "0102030405060708090a0b0c0d0e0f10";

struct Server {
    child: Child,
    port: u16,
    banner: String,
    stdout: BufReader<ChildStdout>,
}

impl Server {
    fn start(ctx: &Path) -> Server {
        let mut child = bin()
            .args(["oscore", "server", "--context"])
            .arg(ctx)
            .args(["--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut banner = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut banner)
            .unwrap();
        let addr = banner
            .split_whitespace()
            .nth(3)
            .unwrap()
            .trim_end_matches(',');
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Server {
            child,
            port,
            banner,
            stdout,
        }
    }

    fn next_event(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client(ctx: &Path, port: u16, args: &[&str], path: &str) -> (i32, Value, String) {
    let o = bin()
        .args(["oscore", "client", "--json", "--timeout", "10", "--context"])
        .arg(ctx)
        .args(args)
        .arg(format!("coap://127.0.0.1:{port}/{path}"))
        .output()
        .unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    let v = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
    (
        o.status.code().unwrap(),
        v,
        String::from_utf8(o.stderr).unwrap(),
    )
}

#[test]
fn server_and_client_talk_oscore() {
    let dir = tempfile::tempdir().unwrap();
    let srv = dir.path().join("srv.toml");
    let cli = dir.path().join("cli.toml");
    context(&srv, SECRET, "01", "", "srv-state");
    context(&cli, SECRET, "", "01", "cli-state");
    let mut s = Server::start(&srv);
    assert!(s.banner.contains("replay window known"), "{}", s.banner);

    // A client with another master secret (its first number, so the replay window passes
    // it): the server cannot decrypt and says so unprotected.
    let wrong = dir.path().join("wrong.toml");
    context(
        &wrong,
        "ffffffffffffffffffffffffffffffff",
        "",
        "01",
        "wrong-state",
    );
    let (code, v, _) = client(&wrong, s.port, &[], "temp");
    assert_eq!(code, 2);
    assert_eq!(v["status"], "refused");
    assert_eq!(v["code"], "4.00");
    assert_eq!(v["diagnostic"], "Decryption failed");

    // An unknown sender id.
    let stranger = dir.path().join("stranger.toml");
    context(&stranger, SECRET, "07", "01", "stranger-state");
    let (code, v, _) = client(&stranger, s.port, &[], "temp");
    assert_eq!((code, v["code"].as_str()), (2, Some("4.01")));
    assert_eq!(v["diagnostic"], "Security context not found");
    let e = s.next_event();
    assert_eq!(e["event"], "refused");
    assert_eq!(e["reason"], "decrypt_failed");
    assert_eq!(s.next_event()["reason"], "unknown_kid");

    let (code, v, _) = client(&cli, s.port, &[], "temp");
    assert_eq!(code, 0);
    assert_eq!(v["code"], "2.05");
    assert_eq!(v["payload"], hex::encode("21.5 C"));
    let e = s.next_event();
    assert_eq!(
        (e["event"].as_str(), e["path"].as_str()),
        (Some("request"), Some("/temp"))
    );

    let (code, v, _) = client(
        &cli,
        s.port,
        &["--method", "PUT", "--payload", "6f6e"],
        "lamp",
    );
    assert_eq!((code, v["code"].as_str()), (0, Some("2.04")));
    let (_, v, _) = client(&cli, s.port, &[], "lamp");
    assert_eq!(v["payload"], "6f6e");
    let big = "ab".repeat(512);
    let (code, v, _) = client(
        &cli,
        s.port,
        &["--method", "POST", "--payload", &big],
        "echo",
    );
    assert_eq!((code, v["payload"].as_str()), (0, Some(big.as_str())));

    // A verified error response exits 2.
    let (code, v, _) = client(&cli, s.port, &[], "nope");
    assert_eq!(code, 2);
    assert_eq!(v["status"], "error_response");
    assert_eq!(v["code"], "4.04");

    // The server loses its replay window: it challenges, the client repeats with Echo.
    drop(s);
    std::fs::remove_file(dir.path().join("srv-state/replay.json")).unwrap();
    let mut s = Server::start(&srv);
    assert!(s.banner.contains("lost"), "{}", s.banner);
    let (code, v, err) = client(&cli, s.port, &[], "temp");
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["payload"], hex::encode("21.5 C"));
    assert!(err.contains("Echo"), "{err}");
    assert_eq!(s.next_event()["event"], "echo_challenge");
    assert_eq!(s.next_event()["event"], "request");
    // From now on no challenge: the window is known again.
    let (code, _, err) = client(&cli, s.port, &[], "temp");
    assert_eq!(code, 0);
    assert!(!err.contains("Echo"), "{err}");
}

#[test]
fn bad_context_files_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("c.toml");
    std::fs::write(
        &ctx,
        "master_secret = \"zz\"\nsender_id = \"\"\nrecipient_id = \"01\"\nstate = \"s\"\n",
    )
    .unwrap();
    let (code, _, err) = client(&ctx, 9, &[], "temp");
    assert_eq!(code, 1, "{err}");
    context(&ctx, SECRET, "01", "01", "s");
    let (code, _, err) = client(&ctx, 9, &[], "temp");
    assert_eq!(code, 1, "equal ids: {err}");
    let missing = dir.path().join("missing.toml");
    let (code, _, _) = client(&missing, 9, &[], "temp");
    assert_eq!(code, 1);
}

#[test]
fn context_new_writes_a_matching_pair_that_talks() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ctx");
    let o = bin()
        .args(["oscore", "context", "new", "--out-dir"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    #[cfg(unix)]
    for f in ["server.toml", "client.toml"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let mut s = Server::start(&out.join("server.toml"));
    let (code, v, err) = client(&out.join("client.toml"), s.port, &[], "temp");
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["code"], "2.05", "{v}");
    assert_eq!(s.next_event()["path"], "/temp");
    // A second pair never overwrites the first unless asked to.
    let o = bin()
        .args(["oscore", "context", "new", "--out-dir"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
}
