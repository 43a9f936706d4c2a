//! Simulator speed: frame deliveries (one per hop) per second of wall-clock time, on one core.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use meshseal_sim::{run, Attack, Config, EnergyModel};

fn energy() -> EnergyModel {
    // Any consistent figures: speed does not depend on them.
    EnergyModel {
        bitrate_bps: 250_000.0,
        frame_overhead_bytes: 17,
        tx_uj_per_byte: 2.3,
        rx_uj_per_byte: 1.9,
        tx_attempt_uj: 30.0,
        rx_attempt_uj: 30.0,
        check_uj: 20.0,
        sleep_uw: 4.0,
        seal_uj: 0.1,
        open_uj: 0.1,
        supply_v: 3.0,
    }
}

fn bench(c: &mut Criterion) {
    let mut cfg = Config::new(100, 24.0, 0.1, 7, energy());
    cfg.attacks = vec![Attack::Replay, Attack::Tamper, Attack::Delay];
    let deliveries = run(&cfg).expect("valid config").hop_deliveries;
    let mut g = c.benchmark_group("simulate");
    g.throughput(Throughput::Elements(deliveries));
    g.sample_size(10);
    g.bench_function("100 nodes, 24 h, 10% loss, attacker", |b| {
        b.iter(|| run(&cfg).expect("valid config"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
