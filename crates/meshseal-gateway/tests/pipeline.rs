//! The gateway library in threads: two pipelines racing on one Redis, Redis state loss failing
//! closed, the UDP loop surviving garbage and flushing on stop, and an unprovisioned store
//! delivering frames of unknown freshness.
//!
//! Redis tests start their own `redis-server`; without one they are skipped with a message,
//! unless `MESHSEAL_REQUIRE_REDIS=1` (set by CI), which makes them fail.

use std::io::Write;
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meshseal::counter::MemoryStore;
use meshseal::{GroupKeys, OrderPolicy, Sender, SenderConfig, SenderIdMode};
use meshseal_gateway::server::{serve, Control, ServeConfig};
use meshseal_gateway::store::embedded::Embedded;
use meshseal_gateway::store::shared::Shared;
use meshseal_gateway::verifier::{Batch, Verifier};
use meshseal_gateway::GroupSetup;
use serde_json::Value;

fn keys() -> GroupKeys {
    GroupKeys::derive(&[7; 32], b"t", 5, 2).unwrap()
}

fn setup(n: u32) -> GroupSetup {
    GroupSetup {
        group_id: 5,
        epoch: 2,
        members: (1..=n).collect(),
        order: OrderPolicy::Window,
        id_mode: SenderIdMode::Explicit,
        previous_epoch: None,
    }
}

/// `n` frames from each of `senders` senders, interleaved.
fn frames(senders: u32, n: usize) -> Vec<Vec<u8>> {
    let mut txs: Vec<_> = (1..=senders)
        .map(|id| Sender::provision(keys(), SenderConfig::new(id), MemoryStore::default()).unwrap())
        .collect();
    let mut out = Vec::new();
    for i in 0..n {
        for tx in &mut txs {
            out.push(tx.seal_to_vec(&(i as u32).to_be_bytes()).unwrap());
        }
    }
    out
}

fn lines(buf: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(buf)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The server, its port, its directory (removed on drop) and its persistence options.
struct Redis(Child, u16, tempfile::TempDir, &'static [&'static str]);

/// No persistence: enough for tests of live gateways on a live Redis.
const VOLATILE: &[&str] = &["--save", "", "--appendonly", "no"];
/// The settings docs/gateway.md requires for durability across a crash of Redis.
const DURABLE: &[&str] = &[
    "--save",
    "",
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--maxmemory-policy",
    "noeviction",
];

impl Redis {
    /// Starts a `redis-server` of this test's own. Tests run in parallel and each picks a free
    /// port the same way, so two could race for one; the server that answers must be ours (its
    /// working directory is this test's temporary directory), or another port is tried.
    fn start() -> Option<Redis> {
        Redis::start_with(VOLATILE)
    }

    fn start_with(persistence: &'static [&'static str]) -> Option<Redis> {
        let required = std::env::var("MESHSEAL_REQUIRE_REDIS").is_ok_and(|v| v == "1");
        for _ in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = spawn_redis(port, dir.path(), persistence);
            let mut child = match child {
                Ok(c) => c,
                Err(e) => {
                    assert!(!required, "redis-server required but cannot start: {e}");
                    eprintln!("SKIPPED: redis-server not available ({e})");
                    return None;
                }
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            let ours = loop {
                if child.try_wait().ok().flatten().is_some() {
                    break false;
                }
                let answer = redis::Client::open(format!("redis://127.0.0.1:{port}"))
                    .and_then(|c| c.get_connection())
                    .and_then(|mut c| {
                        redis::cmd("CONFIG")
                            .arg("GET")
                            .arg("dir")
                            .query::<Vec<String>>(&mut c)
                    });
                if let Ok(v) = answer {
                    let want = dir.path().canonicalize().unwrap();
                    break v.get(1).map(std::path::PathBuf::from).as_deref() == Some(&*want);
                }
                assert!(Instant::now() < deadline, "redis-server did not start");
                std::thread::sleep(Duration::from_millis(20));
            };
            if ours {
                return Some(Redis(child, port, dir, persistence));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("no free port for redis-server after 10 attempts");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.1)
    }

    /// `kill -9` and a start on the same port and directory: what a crash of Redis leaves.
    fn crash_and_restart(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
        self.0 = spawn_redis(self.1, self.2.path(), self.3).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_err()
        {
            assert!(Instant::now() < deadline, "redis-server did not restart");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn spawn_redis(port: u16, dir: &std::path::Path, persistence: &[&str]) -> std::io::Result<Child> {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(persistence)
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn two_pipelines_racing_on_redis_deliver_each_frame_once() {
    let Some(redis) = Redis::start() else { return };
    let all = frames(50, 40);
    let (a, wa) = Shared::open(&redis.url(), &setup(50), true).unwrap();
    let (b, wb) = Shared::open(&redis.url(), &setup(50), false).unwrap();
    let mut va = Verifier::new(keys(), &setup(50), wa, a).unwrap();
    let mut vb = Verifier::new(keys(), &setup(50), wb, b).unwrap();
    // Both gateways see every frame, in batches of different sizes, at the same time.
    let run = |v: &mut Verifier<Shared>, size: usize| {
        let mut out = Vec::new();
        for chunk in all.chunks(size) {
            let mut batch = Batch::new(size, 1280);
            for f in chunk {
                batch.push(f);
            }
            v.process(&mut batch, &mut out).unwrap();
        }
        out
    };
    let (oa, ob) = std::thread::scope(|s| {
        let ha = s.spawn(|| run(&mut va, 64));
        let hb = s.spawn(|| run(&mut vb, 17));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let mut ids: Vec<(u64, u64)> = lines(&oa)
        .iter()
        .chain(lines(&ob).iter())
        .map(|m| (m["sender"].as_u64().unwrap(), m["seq"].as_u64().unwrap()))
        .collect();
    ids.sort();
    let expect: Vec<(u64, u64)> = (1..=50)
        .flat_map(|s| (0..40).map(move |q| (s, q)))
        .collect();
    assert_eq!(
        ids, expect,
        "every frame delivered exactly once over both gateways"
    );
    let (sa, sb) = (va.stats(), vb.stats());
    assert_eq!(sa.accepted + sb.accepted, 2000);
    assert_eq!(sa.refused_total() + sb.refused_total(), 2000);
    // Which gateway wins each frame depends on thread timing (one may even take them all on a
    // loaded machine); the property is that no frame is delivered twice nor lost, above.
}

/// The Lua window against the core's `ReplayWindow` as the model: random batches of numbers
/// around each sender's highest (replays, reordering, jumps past the window) get the same verdict.
#[test]
fn redis_script_matches_the_core_window() {
    use meshseal::replay::ReplayWindow;
    use meshseal::FrameId;
    use meshseal_gateway::store::{Candidate, ReplayBackend};
    use rand::{Rng, SeedableRng};

    let Some(redis) = Redis::start() else { return };
    let (mut shared, _) = Shared::open(&redis.url(), &setup(3), true).unwrap();
    let mut model = [ReplayWindow::<1>::provisioned(); 3];
    let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
    let mut verdicts = Vec::new();
    let mut outcomes = [0u32; 3];
    for _ in 0..300 {
        let batch: Vec<Candidate> = (0..rng.gen_range(1..20))
            .map(|_| {
                let sender = rng.gen_range(1..=3u32);
                let top = model[sender as usize - 1].expected() as i64;
                let seq = match rng.gen_range(0..10) {
                    0 => top + rng.gen_range(60..200),
                    1..=3 => top + rng.gen_range(0..3),
                    _ => top - rng.gen_range(1..80),
                };
                Candidate {
                    id: FrameId {
                        sender,
                        seq: seq.max(0) as u64,
                    },
                    verified: true,
                    epoch: 0,
                }
            })
            .collect();
        shared.confirm(&batch, &Default::default(), &mut verdicts);
        for (c, got) in batch.iter().zip(&verdicts) {
            let w = &mut model[c.id.sender as usize - 1];
            let want = w.check(c.id.seq, OrderPolicy::Window);
            if want.is_ok() {
                w.accept(c.id.seq);
            }
            assert_eq!(*got, want, "{c:?}");
            outcomes[match want {
                Ok(()) => 0,
                Err(meshseal::Error::Replay) => 1,
                _ => 2,
            }] += 1;
        }
    }
    assert!(
        outcomes.iter().all(|&n| n > 100),
        "every verdict exercised: {outcomes:?}"
    );
}

#[test]
fn strict_order_holds_across_gateways() {
    let Some(redis) = Redis::start() else { return };
    let mut strict = setup(1);
    strict.order = OrderPolicy::Strict;
    let all = frames(1, 6);
    let (a, wa) = Shared::open(&redis.url(), &strict, true).unwrap();
    let (b, wb) = Shared::open(&redis.url(), &strict, false).unwrap();
    let mut va = Verifier::new(keys(), &strict, wa, a).unwrap();
    let mut vb = Verifier::new(keys(), &strict, wb, b).unwrap();
    let mut batch = Batch::new(8, 1280);
    let mut out = Vec::new();
    for i in [0, 1, 2, 5] {
        batch.push(&all[i]);
    }
    va.process(&mut batch, &mut out).unwrap();
    assert_eq!(lines(&out).len(), 4);
    // Gateway B never saw 5: locally 3 is in order, but the shared window knows better.
    batch.push(&all[3]);
    let mut out_b = Vec::new();
    vb.process(&mut batch, &mut out_b).unwrap();
    assert!(out_b.is_empty());
    assert_eq!(vb.stats().refused(meshseal::Error::OutOfOrder), 1);
}

#[test]
fn redis_state_loss_fails_closed() {
    let Some(redis) = Redis::start() else { return };
    let all = frames(2, 3);
    let (a, w) = Shared::open(&redis.url(), &setup(2), true).unwrap();
    let mut v = Verifier::new(keys(), &setup(2), w, a).unwrap();
    let mut batch = Batch::new(8, 1280);
    batch.push(&all[0]);
    let mut out = Vec::new();
    v.process(&mut batch, &mut out).unwrap();
    assert_eq!(lines(&out).len(), 1);
    // Redis restarted empty (or was flushed): nothing is accepted against the empty state.
    let c = redis::Client::open(redis.url()).unwrap();
    let mut conn = c.get_connection().unwrap();
    redis::cmd("FLUSHALL").query::<()>(&mut conn).unwrap();
    for f in &all[1..] {
        batch.push(f);
    }
    v.process(&mut batch, &mut out).unwrap();
    assert_eq!(lines(&out).len(), 1);
    assert_eq!(v.stats().refused(meshseal::Error::CounterStore), 5);
}

/// A `Write` the test can read while the loop owns it.
#[derive(Clone, Default)]
struct Shared2(Arc<Mutex<Vec<u8>>>);

impl Write for Shared2 {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn serve_survives_garbage_and_flushes_on_stop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.redb");
    let (backend, windows) = Embedded::open(&path, &setup(3), true, 500).unwrap();
    let mut v = Verifier::new(keys(), &setup(3), windows, backend).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let control = Control::default();
    let out = Shared2::default();
    let stats = Shared2::default();
    let cfg = ServeConfig {
        batch: 32,
        max_datagram: 200,
        stats_every: None,
        recv_buffer: 0,
    };
    let all = frames(3, 10);
    let handle = {
        let (control, mut out, mut stats) = (control.clone(), out.clone(), stats.clone());
        std::thread::spawn(move || {
            let r = serve(&socket, &mut v, &mut out, &mut stats, &control, cfg);
            (r, v)
        })
    };
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = 0x9e37_79b9_u32;
    for i in 0..3000u32 {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let len = (rng % 300) as usize;
        let mut d: Vec<u8> = (0..len)
            .map(|j| (rng >> (j % 24)) as u8 ^ i as u8)
            .collect();
        if i % 3 == 0 && !d.is_empty() {
            // Looks like a frame of this group: a header with epoch bits 2 and a member id.
            d[0] = 0x12;
        }
        tx.send_to(&d, addr).unwrap();
        // Paced, so that the kernel's receive buffer does not overflow on a busy machine.
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    for f in &all {
        tx.send_to(f, addr).unwrap();
        std::thread::sleep(Duration::from_micros(100));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while lines(&out.0.lock().unwrap()).len() < 30 {
        assert!(
            Instant::now() < deadline,
            "frames not delivered after garbage"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    control.dump.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(150));
    control.stop.store(true, Ordering::Relaxed);
    let (r, v) = handle.join().unwrap();
    r.unwrap();
    let s = v.stats();
    assert_eq!(s.accepted, 30);
    // UDP on loopback may still drop a few datagrams when the machine is loaded; every one
    // that arrived is accounted for exactly.
    assert!((3000..=3030).contains(&s.received), "{}", s.received);
    // Random bytes that start like a well-formed rekey message are ignored (no identity).
    assert_eq!(
        s.received,
        s.accepted + s.refused_total() + s.rekeys_ignored
    );
    assert!(s.oversized > 0);
    let dump: Value = serde_json::from_slice(&stats.0.lock().unwrap()).unwrap();
    assert_eq!(dump["accepted"], 30);
    drop(v);
    // The stop flushed exact windows: the next numbers are accepted without any refused.
    let (_, w) = Embedded::open(&path, &setup(3), false, 500).unwrap();
    for s in 1..=3 {
        assert_eq!(w.0[&s].highest(), Some(9));
        assert_eq!(w.0[&s].check(10, OrderPolicy::Window), Ok(()));
        assert!(w.0[&s].check(9, OrderPolicy::Window).is_err());
    }
}

#[test]
fn unprovisioned_store_delivers_unknown_freshness() {
    let dir = tempfile::tempdir().unwrap();
    let (backend, windows) =
        Embedded::open(&dir.path().join("r.redb"), &setup(2), false, 10).unwrap();
    let mut v = Verifier::new(keys(), &setup(2), windows, backend).unwrap();
    let all = frames(2, 2);
    let mut batch = Batch::new(8, 1280);
    for f in &all {
        batch.push(f);
    }
    let mut out = Vec::new();
    v.process(&mut batch, &mut out).unwrap();
    let msgs = lines(&out);
    assert_eq!(msgs.len(), 4);
    assert!(msgs.iter().all(|m| m["freshness"] == "unknown"));
    assert_eq!(v.stats().unknown_freshness, 4);
}

/// State written by the previous layout (a key per sender for the highest number, one for the
/// bitmap) is moved into the one-hash layout when a gateway attaches, bit for bit: what was
/// accepted before stays refused, what was not stays acceptable.
#[test]
fn redis_layout_1_state_is_migrated_exactly() {
    use meshseal::FrameId;
    use meshseal_gateway::store::{Candidate, ReplayBackend};

    let Some(redis) = Redis::start() else { return };
    let c = redis::Client::open(redis.url()).unwrap();
    let mut conn = c.get_connection().unwrap();
    let p = "meshseal:{7.0}";
    redis::cmd("HSET")
        .arg(format!("{p}:meta"))
        .arg(&["token", "abc", "provisioned", "1"])
        .query::<()>(&mut conn)
        .unwrap();
    // Sender 1 accepted 5..=10 and 70 (so 7..=69 is the window, 5 and 6 are too old by then);
    // sender 2 accepted 3 only.
    let mut set = |sender: u32, seqs: &[u64], high: u64| {
        redis::cmd("SET")
            .arg(format!("{p}:h:{sender}"))
            .arg(high)
            .query::<()>(&mut conn)
            .unwrap();
        for &n in seqs {
            redis::cmd("SETBIT")
                .arg(format!("{p}:b:{sender}"))
                .arg(n % 64)
                .arg(1)
                .query::<()>(&mut conn)
                .unwrap();
        }
    };
    set(1, &[7, 8, 9, 10, 70], 70);
    set(2, &[3], 3);
    let mut s = setup(3);
    s.group_id = 7;
    s.epoch = 0;
    let (mut shared, windows) = Shared::open(&redis.url(), &s, false).unwrap();
    assert!(windows.0.contains_key(&1) && windows.0.contains_key(&2));
    let cand = |sender, seq| Candidate {
        id: FrameId { sender, seq },
        verified: true,
        epoch: 0,
    };
    let batch = [
        cand(1, 70),
        cand(1, 9),
        cand(1, 11),
        cand(1, 6),
        cand(2, 3),
        cand(2, 2),
        cand(3, 0),
    ];
    let mut verdicts = Vec::new();
    shared.confirm(&batch, &Default::default(), &mut verdicts);
    use meshseal::Error::{Replay, TooOld};
    assert_eq!(
        verdicts,
        [
            Err(Replay),
            Err(Replay),
            Ok(()),
            Err(TooOld),
            Err(Replay),
            Ok(()),
            Ok(())
        ]
    );
    let old: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{p}:[hb]:*"))
        .query(&mut conn)
        .unwrap();
    assert!(old.is_empty(), "layout-1 keys left: {old:?}");
}

/// With the settings the docs require (`appendonly yes`, `appendfsync always`), a crash of
/// Redis forgets nothing: every number confirmed before the `kill -9` is still refused after
/// the restart, the token still matches, and new numbers are accepted.
#[test]
fn redis_crash_with_appendfsync_always_keeps_every_confirmed_number() {
    use meshseal::FrameId;
    use meshseal_gateway::store::{Candidate, ReplayBackend};

    let Some(mut redis) = Redis::start_with(DURABLE) else {
        return;
    };
    let cand = |sender, seq| Candidate {
        id: FrameId { sender, seq },
        verified: true,
        epoch: 0,
    };
    let batch: Vec<Candidate> = (1..=3)
        .flat_map(|s| (0..40).map(move |q| cand(s, q)))
        .collect();
    let (mut a, _) = Shared::open(&redis.url(), &setup(3), true).unwrap();
    let mut verdicts = Vec::new();
    a.confirm(&batch, &Default::default(), &mut verdicts);
    assert!(verdicts.iter().all(|v| v.is_ok()), "{verdicts:?}");
    drop(a);
    redis.crash_and_restart();
    let (mut b, windows) = Shared::open(&redis.url(), &setup(3), false).unwrap();
    assert_eq!(windows.0.len(), 3);
    b.confirm(&batch, &Default::default(), &mut verdicts);
    assert!(
        verdicts.iter().all(|v| *v == Err(meshseal::Error::Replay)),
        "{verdicts:?}"
    );
    b.confirm(
        &[cand(1, 40), cand(2, 41)],
        &Default::default(),
        &mut verdicts,
    );
    assert_eq!(verdicts, [Ok(()), Ok(())]);
}
