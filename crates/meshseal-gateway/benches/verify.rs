//! Verified frames per second on one core through the gateway's pipeline: core verification
//! of a batch of 64 frames from 1000 senders, confirmation by the replay backend, and the JSON
//! line written (to a sink). Sockets are left out (the load generator measures them end to
//! end); frames are sealed in the untimed setup.
//!
//! `redb` commits a ceiling durably whenever a sender passes its ceiling (once per 1000 of its
//! frames); `redis` runs one script call per batch against a `redis-server` started on a free
//! port (skipped with a message if none is installed).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use meshseal::counter::MemoryStore;
use meshseal::{GroupKeys, OrderPolicy, Sender, SenderConfig, SenderIdMode};
use meshseal_gateway::store::embedded::Embedded;
use meshseal_gateway::store::shared::Shared;
use meshseal_gateway::store::ReplayBackend;
use meshseal_gateway::verifier::{Batch, Verifier};
use meshseal_gateway::GroupSetup;

const SENDERS: u32 = 1000;
const BATCH: usize = 64;

fn keys() -> GroupKeys {
    GroupKeys::derive(&[0x42; 32], b"bench", 9, 0).expect("keys")
}

fn setup() -> GroupSetup {
    GroupSetup {
        group_id: 9,
        epoch: 0,
        members: (1..=SENDERS).collect(),
        order: OrderPolicy::Window,
        id_mode: SenderIdMode::Explicit,
        previous_epoch: None,
    }
}

struct Fleet {
    senders: Vec<Sender<MemoryStore>>,
    next: usize,
    frame: [u8; 64],
}

impl Fleet {
    fn new() -> Fleet {
        let senders = (1..=SENDERS)
            .map(|id| Sender::provision(keys(), SenderConfig::new(id), MemoryStore::default()))
            .collect::<Result<_, _>>()
            .expect("senders");
        Fleet {
            senders,
            next: 0,
            frame: [0; 64],
        }
    }

    fn batch(&mut self) -> Batch {
        let mut b = Batch::new(BATCH, 1280);
        for _ in 0..BATCH {
            let tx = &mut self.senders[self.next];
            self.next = (self.next + 1) % SENDERS as usize;
            let n = tx.seal(&[0x5a; 16], &mut self.frame).expect("seal");
            b.push(&self.frame[..n]);
        }
        b
    }
}

fn run<B: ReplayBackend>(
    c: &mut Criterion,
    name: &str,
    backend: B,
    windows: meshseal_gateway::windows::Windows,
) {
    let mut v = Verifier::new(keys(), &setup(), windows, backend).expect("verifier");
    let mut fleet = Fleet::new();
    let mut g = c.benchmark_group("gateway_verify");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function(name, |b| {
        b.iter_batched_ref(
            || fleet.batch(),
            |batch| v.process(batch, &mut std::io::sink()).expect("sink"),
            BatchSize::SmallInput,
        )
    });
    g.finish();
    let s = v.stats();
    assert_eq!(s.refused_total(), 0, "benchmark frames must all verify");
    println!(
        "{name}: {} frames delivered, {} store calls",
        s.accepted, s.store_calls
    );
}

fn redb(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (backend, windows) =
        Embedded::open(&dir.path().join("bench.redb"), &setup(), true, 1000).expect("redb");
    run(c, "redb_1000_senders", backend, windows);
}

/// The server and its directory (removed on drop).
struct RedisServer(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        eprintln!("SKIPPED redis benchmark: redis-server not installed");
        return;
    };
    let _server = RedisServer(child, dir);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (backend, windows) =
        Shared::open(&format!("redis://127.0.0.1:{port}"), &setup(), true).expect("redis");
    run(c, "redis_1000_senders", backend, windows);
}

criterion_group!(benches, redb, redis);
criterion_main!(benches);
