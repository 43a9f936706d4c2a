//! `meshseal gateway` as a process: replay refused across a `kill -9` restart (redb), across
//! two gateway processes sharing Redis, clean shutdown flushing exact state, and a garbage
//! flood survived.
//!
//! The Redis test starts its own `redis-server` on a free port. Without one installed it is
//! skipped with a message, unless `MESHSEAL_REQUIRE_REDIS=1` (set by CI), which makes it fail.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_meshseal"))
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new(members: u32) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let e = Env { dir };
        let o = bin()
            .args(["group", "new", "--members", &members.to_string(), "--out"])
            .arg(e.path("g.toml"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        e
    }

    /// A group with header privacy.
    fn private(members: u32) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let e = Env { dir };
        let o = bin()
            .args([
                "group",
                "new",
                "--privacy",
                "--members",
                &members.to_string(),
                "--out",
            ])
            .arg(e.path("g.toml"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        e
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Seals `n` frames from `sender` (its counter kept in its own state directory, provisioned
    /// on first use).
    fn seal(&self, sender: u32, n: usize) -> Vec<Vec<u8>> {
        let dir = self.path(&format!("device-{sender}"));
        if !dir.exists() {
            let o = bin()
                .args(["provision", "--group"])
                .arg(self.path("g.toml"))
                .args(["--member", &sender.to_string(), "--state"])
                .arg(&dir)
                .output()
                .unwrap();
            assert!(o.status.success(), "{o:?}");
        }
        (0..n)
            .map(|i| {
                let o = bin()
                    .args(["seal", "--group"])
                    .arg(self.path("g.toml"))
                    .args(["--sender", &sender.to_string(), "--state"])
                    .arg(&dir)
                    .args(["--hex", &format!("{i:04x}"), "--json"])
                    .output()
                    .unwrap();
                assert!(o.status.success(), "{o:?}");
                let v: Value = serde_json::from_slice(&o.stdout).unwrap();
                hex::decode(v["frame"].as_str().unwrap()).unwrap()
            })
            .collect()
    }
}

/// A running gateway: its process, its address, and its stderr lines as they come.
struct Gateway {
    child: Child,
    port: u16,
    err: mpsc::Receiver<String>,
    out: PathBuf,
}

impl Gateway {
    fn start(env: &Env, store: &str, extra: &[&str], out: &str) -> Gateway {
        let mut child = bin()
            .args(["gateway", "--group"])
            .arg(env.path("g.toml"))
            .args(["--bind", "127.0.0.1:0", "--store", store, "--out"])
            .arg(env.path(out))
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut port = None;
        let deadline = Instant::now() + Duration::from_secs(20);
        while port.is_none() && Instant::now() < deadline {
            let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) else {
                assert!(child.try_wait().unwrap().is_none(), "gateway exited early");
                continue;
            };
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["status"] == "listening" {
                    let bind = v["bind"].as_str().unwrap();
                    port = Some(bind.rsplit(':').next().unwrap().parse().unwrap());
                }
            }
        }
        Gateway {
            child,
            port: port.expect("gateway did not start listening"),
            err: rx,
            out: env.path(out),
        }
    }

    fn send(&self, frames: &[Vec<u8>]) {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        for f in frames {
            s.send_to(f, ("127.0.0.1", self.port)).unwrap();
            // Loopback does not drop at this pace; the gateway keeps up.
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Verified messages written so far.
    fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Asks for the counters (SIGUSR1) and waits until `received` reaches `n`.
    fn stats_after(&mut self, n: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            signal(&self.child, "USR1");
            let until = Instant::now() + Duration::from_millis(300);
            while let Ok(line) = self
                .err
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    // Every datagram received and judged: a batch is counted as received
                    // before its verdicts are, so waiting on `received` alone races them.
                    let judged = v["accepted"].as_u64().unwrap_or(0)
                        + v["refused_total"].as_u64().unwrap_or(0)
                        + v["rekeys"]["applied"].as_u64().unwrap_or(0)
                        + v["rekeys"]["ignored"].as_u64().unwrap_or(0);
                    if v["received"].as_u64().is_some_and(|r| r >= n) && judged >= n {
                        return v;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "gateway never counted {n} datagrams"
            );
        }
    }

    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM; returns the final counters.
    fn stop(mut self) -> Value {
        signal(&self.child, "TERM");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "gateway exit: {status:?}");
        let mut last = Value::Null;
        while let Ok(line) = self.err.recv_timeout(Duration::from_secs(2)) {
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v.get("received").is_some() {
                    last = v;
                }
            }
        }
        last
    }
}

fn signal(child: &Child, sig: &str) {
    use nix::sys::signal::{kill, Signal};
    let sig = match sig {
        "USR1" => Signal::SIGUSR1,
        _ => Signal::SIGTERM,
    };
    kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

fn refused(s: &Value, reasons: &[&str]) -> u64 {
    reasons
        .iter()
        .map(|r| s["refused"][*r].as_u64().unwrap())
        .sum()
}

fn seqs(msgs: &[Value]) -> Vec<u64> {
    msgs.iter().map(|m| m["seq"].as_u64().unwrap()).collect()
}

fn store(env: &Env) -> String {
    env.path("replay.redb").to_str().unwrap().to_owned()
}

#[test]
fn kill_9_loses_no_legitimate_frame_and_repeats_none() {
    let env = Env::new(3);
    let frames = env.seal(1, 20);
    let gw = Gateway::start(
        &env,
        &store(&env),
        &["--provision", "--ahead", "8"],
        "a.jsonl",
    );
    gw.send(&frames);
    let mut gw = gw;
    let s = gw.stats_after(20);
    assert_eq!(s["accepted"], 20, "{s}");
    let before = gw.messages();
    assert_eq!(seqs(&before), (0..20).collect::<Vec<_>>());
    assert!(before
        .iter()
        .all(|m| m["freshness"] == "fresh" && m["sender"] == 1));
    assert_eq!(before[3]["payload"], "0003");
    gw.kill9();

    // Restart on the same store: every delivered frame is refused (the exact window was
    // durable before its message was written): full-length ones as replays, truncated ones
    // far below the window rebuilt to another number, whose tag fails, as without a crash...
    let mut gw = Gateway::start(&env, &store(&env), &[], "b.jsonl");
    gw.send(&frames);
    let s = gw.stats_after(20);
    assert_eq!(s["accepted"], 0, "{s}");
    assert_eq!(refused(&s, &["replay", "bad_tag"]), 20, "{s}");
    assert!(refused(&s, &["replay"]) >= 1, "{s}");
    // ...and every new legitimate frame is delivered, still fresh: none is lost to a reserve.
    let next = env.seal(1, 12);
    gw.send(&next);
    gw.stats_after(32);
    assert_eq!(seqs(&gw.messages()), (20..32).collect::<Vec<_>>());
    assert!(gw.messages().iter().all(|m| m["freshness"] == "fresh"));
    let s = gw.stop();
    assert_eq!(s["accepted"], 12, "{s}");
}

#[test]
fn kill_9_mid_stream_delivers_every_frame_at_most_once() {
    let env = Env::new(3);
    let frames = env.seal(2, 300);
    let mut gw = Gateway::start(&env, &store(&env), &["--provision"], "a.jsonl");
    // Killed while frames are still arriving and being committed.
    let port = gw.port;
    let stream = frames.clone();
    let sender = std::thread::spawn(move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        for f in &stream {
            let _ = s.send_to(f, ("127.0.0.1", port));
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let _ = gw.stats_after(100);
    let out = gw.out.clone();
    gw.kill9();
    sender.join().unwrap();
    // What the first run wrote (a line cut by the kill is no delivery).
    let first: Vec<u64> = std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert!(
        first.len() < 300,
        "the kill came after the stream: {}",
        first.len()
    );
    // Everything sent again to the restarted gateway: it delivers what the first run did not
    // and refuses what it did.
    let mut gw = Gateway::start(&env, &store(&env), &[], "b.jsonl");
    gw.send(&frames);
    let s = gw.stats_after(300);
    let second = seqs(&gw.messages());
    let mut all: Vec<u64> = first.iter().chain(&second).copied().collect();
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n, "a frame was delivered twice: {s}");
    // Lost at most: the batch in flight at the kill (committed, its messages not yet written).
    let lost = 300 - n;
    assert!(lost <= 64, "lost {lost} frames: {s}");
    assert_eq!(
        s["accepted"].as_u64().unwrap() as usize,
        second.len(),
        "{s}"
    );
    gw.stop();
}

#[test]
fn clean_shutdown_flushes_exact_state() {
    let env = Env::new(2);
    let frames = env.seal(2, 10);
    let mut gw = Gateway::start(
        &env,
        &store(&env),
        &["--provision", "--ahead", "1000"],
        "a.jsonl",
    );
    gw.send(&frames[..6]);
    gw.stats_after(6);
    let s = gw.stop();
    assert_eq!(s["accepted"], 6, "{s}");
    // After SIGTERM the store holds the exact window: the next numbers are delivered at once
    // (after a crash the ceiling, 1005, would refuse them), and old ones are still refused.
    let mut gw = Gateway::start(&env, &store(&env), &[], "b.jsonl");
    gw.send(&frames[6..]);
    gw.send(&frames[..6]);
    let s = gw.stats_after(10);
    assert_eq!(seqs(&gw.messages()), vec![6, 7, 8, 9], "{s}");
    assert_eq!(refused(&s, &["replay", "bad_tag"]), 6, "{s}");
    assert_eq!(s["refused_total"], 6, "{s}");
    gw.stop();
}

#[test]
fn garbage_flood_survives() {
    let env = Env::new(21);
    let gw = Gateway::start(&env, &store(&env), &["--provision"], "a.jsonl");
    let lg = bin()
        .args(["loadgen", "--group"])
        .arg(env.path("g.toml"))
        .args(["--target", &format!("127.0.0.1:{}", gw.port)])
        .args(["--senders", "20", "--rate", "20000", "--duration", "10"])
        .args([
            "--count",
            "20000",
            "--garbage",
            "0.6",
            "--tamper",
            "0.2",
            "--replays",
            "0.1",
        ])
        .output()
        .unwrap();
    assert!(lg.status.success(), "{lg:?}");
    let report: Value = serde_json::from_slice(&lg.stdout).unwrap();
    assert_eq!(report["sent"], 20000, "{report}");
    // Empty, truncated and oversized datagrams on top.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for d in [
        vec![],
        vec![0x15],
        vec![0x15, 1, 2],
        vec![0xaa; 1281],
        vec![0; 60000],
    ] {
        s.send_to(&d, ("127.0.0.1", gw.port)).unwrap();
    }
    // Still alive and still verifying.
    let frame = env.seal(21, 1);
    std::thread::sleep(Duration::from_millis(200));
    gw.send(&frame);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gw
        .messages()
        .iter()
        .any(|m| m["sender"] == 21 && m["seq"] == 0)
    {
        assert!(
            Instant::now() < deadline,
            "real frame not delivered after the flood"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = gw.stop();
    let received = s["received"].as_u64().unwrap();
    let refused = s["refused_total"].as_u64().unwrap();
    let accepted = s["accepted"].as_u64().unwrap();
    // Random bytes that start like a well-formed rekey message are ignored (this gateway
    // holds no identity); everything else is refused by its reason.
    let ignored = s["rekeys"]["ignored"].as_u64().unwrap();
    assert_eq!(received, refused + accepted + ignored, "{s}");
    assert!(s["refused"]["oversized"].as_u64().unwrap() >= 2, "{s}");
    assert!(s["refused"]["malformed"].as_u64().unwrap() >= 1, "{s}");
    assert!(s["refused"]["bad_tag"].as_u64().unwrap() >= 1, "{s}");
    // No forged or replayed frame got through: every delivery is a distinct (sender, seq).
    let msgs = gw_messages(&env.path("a.jsonl"));
    let mut ids: Vec<_> = msgs
        .iter()
        .map(|m| (m["sender"].as_u64(), m["seq"].as_u64()))
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n);
    assert!(
        accepted as f64 <= report["fresh"].as_f64().unwrap() + 1.0,
        "{s} {report}"
    );
}

#[test]
fn loadgen_targets_loopback_only() {
    let env = Env::new(2);
    for (target, senders) in [("10.1.2.3:5683", "1"), ("127.0.0.1:9", "3")] {
        let o = bin()
            .args(["loadgen", "--group"])
            .arg(env.path("g.toml"))
            .args([
                "--target",
                target,
                "--senders",
                senders,
                "--rate",
                "10",
                "--duration",
                "1",
            ])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{o:?}");
    }
    let o = bin()
        .args(["loadgen", "--group"])
        .arg(env.path("g.toml"))
        .args(["--target", "127.0.0.1:9", "--senders", "2", "--rate", "0"])
        .args(["--duration", "5", "--count", "50"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["sent"], 50, "bounded by --count: {v}");
}

fn gw_messages(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A `redis-server` on a free port in a temporary directory, without persistence.
struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Option<Redis> {
        let required = std::env::var("MESHSEAL_REQUIRE_REDIS").is_ok_and(|v| v == "1");
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    !required,
                    "redis-server required (MESHSEAL_REQUIRE_REDIS=1) but cannot start: {e}"
                );
                eprintln!("SKIPPED: redis-server not available ({e}); install it to run this test");
                return None;
            }
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Redis {
            child,
            port,
            _dir: dir,
        })
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn replay_to_a_second_gateway_refused_through_redis() {
    let Some(redis) = Redis::start() else { return };
    let env = Env::new(4);
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let mut a = Gateway::start(&env, &url, &["--provision"], "a.jsonl");
    let mut b = Gateway::start(&env, &url, &[], "b.jsonl");
    // Provisioning existing shared state is refused.
    let again = bin()
        .args(["gateway", "--group"])
        .arg(env.path("g.toml"))
        .args(["--bind", "127.0.0.1:0", "--store", &url, "--provision"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1), "{again:?}");

    let frames = env.seal(3, 10);
    a.send(&frames);
    let s = a.stats_after(10);
    assert_eq!(s["accepted"], 10, "{s}");
    // The same frames at the other gateway: all refused as replays by the shared window.
    b.send(&frames);
    let s = b.stats_after(10);
    assert_eq!(s["accepted"], 0, "{s}");
    assert_eq!(s["refused"]["replay"], 10, "{s}");
    // And the other way round: new frames at B, replayed to A.
    let more = env.seal(3, 5);
    b.send(&more);
    b.stats_after(15);
    a.send(&more);
    let s = a.stats_after(15);
    assert_eq!(s["accepted"], 10, "{s}");
    assert_eq!(s["refused"]["replay"], 5, "{s}");
    assert_eq!(seqs(&b.messages()), vec![10, 11, 12, 13, 14]);
    assert!(b.messages().iter().all(|m| m["freshness"] == "fresh"));
    // A gateway restarted after a crash picks up the shared state.
    a.kill9();
    let mut c = Gateway::start(&env, &url, &[], "c.jsonl");
    c.send(&frames[..3]);
    let s = c.stats_after(3);
    assert_eq!(s["accepted"], 0, "{s}");
    c.stop();
    b.stop();
}

/// Counter requests (SIGUSR1) arriving while a batch waits for Redis never interrupt the
/// check: a handled signal makes a read on a socket with a timeout fail with EINTR even under
/// SA_RESTART, which refused the whole batch as `counter_store`.
#[test]
fn counter_requests_never_interrupt_the_redis_check() {
    let Some(redis) = Redis::start() else { return };
    let env = Env::new(2);
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let mut gw = Gateway::start(&env, &url, &["--provision"], "a.jsonl");
    let frames = env.seal(1, 300);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pid = gw.child.id();
    let pester = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            use nix::sys::signal::{kill, Signal};
            let mut sent = 0u32;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGUSR1).unwrap();
                sent += 1;
                std::thread::sleep(Duration::from_micros(100));
            }
            sent
        })
    };
    gw.send(&frames);
    let s = gw.stats_after(300);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let sent = pester.join().unwrap();
    assert!(sent > 100, "only {sent} signals sent");
    assert_eq!(s["refused"]["counter_store"], 0, "{s}");
    assert_eq!(s["accepted"], 300, "{s}");
    assert_eq!(seqs(&gw.messages()), (0..300).collect::<Vec<u64>>());
    gw.stop();
}

/// A group with header privacy: the gateway unmasks and verifies its frames like any other,
/// and refuses their replays and changed copies.
#[test]
fn private_group_frames_are_delivered_once() {
    let env = Env::private(2);
    let frames = env.seal(2, 8);
    let mut gw = Gateway::start(&env, &store(&env), &["--provision"], "a.jsonl");
    gw.send(&frames);
    gw.send(&frames[..3]);
    let mut changed = frames[5].clone();
    changed[1] ^= 0x40;
    gw.send(&[changed]);
    let s = gw.stats_after(12);
    let msgs = gw.messages();
    assert_eq!(seqs(&msgs), (0..8).collect::<Vec<u64>>(), "{s}");
    assert!(msgs.iter().all(|m| m["sender"] == 2), "{msgs:?}");
    assert_eq!(s["refused_total"], 4, "{s}");
    assert_eq!(s["refused"]["replay"], 3, "{s}");
    gw.stop();
}

/// `GET path` over plain HTTP/1.0: the status line and the body.
fn http_get(port: u16, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

#[test]
fn metrics_are_served_in_the_prometheus_text_format() {
    let env = Env::new(3);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut gw = Gateway::start(
        &env,
        &store(&env),
        &["--provision", "--metrics", &addr],
        "a.jsonl",
    );
    let frames = env.seal(1, 6);
    gw.send(&frames);
    gw.send(&frames[..2]); // two replays
    gw.send(&[vec![0u8; 3]]); // garbage
    gw.stats_after(9);
    let (status, body) = http_get(port, "/metrics");
    assert!(status.contains("200"), "{status}");
    let value = |name: &str| -> f64 {
        body.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in:\n{body}"))
    };
    assert_eq!(value("meshseal_gateway_received_total"), 9.0);
    assert_eq!(value("meshseal_gateway_accepted_total"), 6.0);
    assert_eq!(
        value("meshseal_gateway_refused_total{reason=\"replay\"}"),
        2.0
    );
    assert_eq!(
        value("meshseal_gateway_refused_total{reason=\"malformed\"}"),
        1.0
    );
    assert_eq!(
        value("meshseal_gateway_refused_total{reason=\"bad_tag\"}"),
        0.0
    );
    assert_eq!(
        value("meshseal_gateway_accepted_by_epoch_total{epoch=\"0\"}"),
        6.0
    );
    assert!(value("meshseal_gateway_store_commits_total") >= 1.0);
    assert!(
        body.contains("meshseal_gateway_store_commit_seconds_bucket"),
        "{body}"
    );
    assert!(body.contains("meshseal_gateway_batch_size_count"), "{body}");
    assert_eq!(value("meshseal_gateway_rekeys_total"), 0.0);
    assert_eq!(value("meshseal_gateway_epoch"), 0.0);
    let (status, _) = http_get(port, "/other");
    assert!(status.contains("404"), "{status}");
    gw.stop();
}

/// Provisions `member`'s state directory `dir` (the gateway's identity).
fn provision_identity(env: &Env, member: u32, dir: &Path) {
    let o = bin()
        .args(["provision", "--group"])
        .arg(env.path("g.toml"))
        .args(["--member", &member.to_string(), "--state"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
}

/// `group rekey` removing `remove`: the rekey message of each remaining member.
fn rekey(env: &Env, remove: &str, grace: &str) -> Vec<(u64, Vec<u8>)> {
    let o = bin()
        .args(["group", "rekey", "--group"])
        .arg(env.path("g.toml"))
        .args(["--remove", remove, "--grace", grace, "--json", "--out"])
        .arg(env.path("g-next.toml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["member"].as_u64().unwrap(),
                hex::decode(f["frame"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

/// A member device applies its rekey message (`meshseal open` with its state directory).
fn apply_rekey(env: &Env, member: u32, msg: &[u8]) {
    let o = bin()
        .args(["open", "--group"])
        .arg(env.path("g.toml"))
        .args(["--receiver", &member.to_string(), "--state"])
        .arg(env.path(&format!("device-{member}")))
        .args(["--json", &hex::encode(msg)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
}

/// The gateway holds member 4's identity: it applies its rekey message, follows the group
/// into epoch 1 (the old epoch through the grace period, the removed member refused), and a
/// `kill -9` in epoch 1 loses nothing and repeats nothing.
fn gateway_follows_a_rekey_across_a_crash(store: &str) {
    let env = Env::new(4);
    let id = env.path("gateway-4");
    provision_identity(&env, 4, &id);
    let ident = ["--member", "4", "--state", id.to_str().unwrap()];
    let before1 = env.seal(1, 3);
    let held2 = env.seal(2, 2);
    let before3 = env.seal(3, 1);
    let mut args = vec!["--provision"];
    args.extend_from_slice(&ident);
    let mut gw = Gateway::start(&env, store, &args, "a.jsonl");
    gw.send(&before1);
    gw.send(&before3);
    let s = gw.stats_after(4);
    assert_eq!(
        (s["accepted"].as_u64(), s["epoch"].as_u64()),
        (Some(4), Some(0)),
        "{s}"
    );

    let msgs = rekey(&env, "3", "3600");
    let msg = |m: u64| msgs.iter().find(|(id, _)| *id == m).unwrap().1.clone();
    assert_eq!(msgs.len(), 3, "members 1, 2 and the gateway's 4");
    apply_rekey(&env, 1, &msg(1));
    // Another member's message is ignored; the gateway's own is applied, then refused as a
    // replay when it comes again.
    gw.send(&[msg(1), msg(4), msg(4)]);
    let s = gw.stats_after(7);
    assert_eq!(s["rekeys"]["applied"], 1, "{s}");
    assert_eq!(s["rekeys"]["ignored"], 1, "{s}");
    assert_eq!(s["refused"]["replay"], 1, "{s}");
    assert_eq!(s["epoch"], 1, "{s}");
    let after1 = env.seal(1, 3);
    gw.send(&after1);
    // Member 2 has not moved yet: its epoch-0 frame is accepted through the grace period.
    gw.send(&held2[..1]);
    // The removed member is refused.
    let from3 = env.seal(3, 1);
    gw.send(&from3);
    let s = gw.stats_after(12);
    assert_eq!(s["accepted"], 8, "{s}");
    assert_eq!(s["refused"]["unknown_sender"], 1, "{s}");
    let epochs: Vec<(u64, u64)> = gw
        .messages()
        .iter()
        .map(|m| (m["sender"].as_u64().unwrap(), m["epoch"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        epochs,
        [
            (1, 0),
            (1, 0),
            (1, 0),
            (3, 0),
            (1, 1),
            (1, 1),
            (1, 1),
            (2, 0)
        ]
    );
    gw.kill9();

    // Restarted in epoch 1 from the member state: nothing delivered again, nothing legitimate
    // refused, the grace period resumed.
    let mut gw = Gateway::start(&env, store, &ident, "b.jsonl");
    gw.send(&after1);
    gw.send(&held2);
    let more1 = env.seal(1, 2);
    gw.send(&more1);
    gw.send(&[msg(4)]);
    let s = gw.stats_after(8);
    assert_eq!(s["epoch"], 1, "{s}");
    assert_eq!(s["accepted"], 3, "{s}");
    assert_eq!(refused(&s, &["replay"]), 5, "{s}");
    let got: Vec<(u64, u64, u64)> = gw
        .messages()
        .iter()
        .map(|m| {
            (
                m["sender"].as_u64().unwrap(),
                m["seq"].as_u64().unwrap(),
                m["epoch"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [(2, 1, 0), (1, 6, 1), (1, 7, 1)]);
    gw.stop();
}

#[test]
fn gateway_follows_a_rekey_across_a_crash_with_redb() {
    let env_store = tempfile::tempdir().unwrap();
    let path = env_store.path().join("replay.redb");
    gateway_follows_a_rekey_across_a_crash(path.to_str().unwrap());
}

#[test]
fn gateway_follows_a_rekey_across_a_crash_with_redis() {
    let Some(redis) = Redis::start() else { return };
    gateway_follows_a_rekey_across_a_crash(&format!("redis://127.0.0.1:{}", redis.port));
}

#[test]
fn a_gateway_without_identity_ignores_rekey_messages() {
    let env = Env::new(2);
    let id = env.path("gateway-1");
    provision_identity(&env, 1, &id);
    let mut gw = Gateway::start(&env, &store(&env), &["--provision"], "a.jsonl");
    let msgs = rekey(&env, "2", "0");
    gw.send(&msgs.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>());
    let s = gw.stats_after(1);
    assert_eq!(
        (s["rekeys"]["ignored"].as_u64(), s["epoch"].as_u64()),
        (Some(1), Some(0)),
        "{s}"
    );
    gw.stop();
    // --member needs --state, and the state directory must be the member's.
    let start = |extra: &[&str]| {
        bin()
            .args(["gateway", "--group"])
            .arg(env.path("g.toml"))
            .args(["--bind", "127.0.0.1:0", "--store", &store(&env)])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = start(&["--member", "1"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let o = start(&["--member", "2", "--state", id.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("member 1"),
        "{o:?}"
    );
}
