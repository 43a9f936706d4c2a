//! Simulator behaviour: determinism, zero accepted attacks against the meshseal receiver, a
//! weakened receiver that lets attacks through (so the counter can fire), delivery under loss,
//! and the energy bookkeeping against a hand computation.

use meshseal_sim::{run, Attack, Config, EnergyModel, ReceiverKind};

fn energy() -> EnergyModel {
    EnergyModel {
        bitrate_bps: 250_000.0,
        frame_overhead_bytes: 17,
        tx_uj_per_byte: 2.0,
        rx_uj_per_byte: 1.0,
        tx_attempt_uj: 30.0,
        rx_attempt_uj: 10.0,
        check_uj: 20.0,
        sleep_uw: 4.0,
        seal_uj: 0.5,
        open_uj: 0.25,
        supply_v: 3.0,
    }
}

fn all_attacks() -> Vec<Attack> {
    Attack::ALL.to_vec()
}

#[test]
fn same_seed_same_report() {
    let mut cfg = Config::new(30, 6.0, 0.2, 42, energy());
    cfg.attacks = all_attacks();
    let a = run(&cfg).unwrap();
    let b = run(&cfg).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    cfg.seed = 43;
    let c = run(&cfg).unwrap();
    assert_ne!(a, c, "a different seed gives a different run");
}

#[test]
fn meshseal_accepts_no_attack() {
    let mut cfg = Config::new(50, 24.0, 0.1, 7, energy());
    cfg.attacks = all_attacks();
    cfg.attacked_share = 0.5;
    cfg.attack_rate = 0.1;
    let r = run(&cfg).unwrap();
    for a in Attack::ALL {
        assert!(
            r.attacks.attempted[a.name()] > 50,
            "{a} exercised: {:?}",
            r.attacks.attempted
        );
    }
    assert_eq!(r.attacks.accepted_total, 0, "{:?}", r.attacks);
    // The attacks show up as refusals with their reasons.
    for reason in ["replay", "bad_tag", "out_of_order"] {
        assert!(
            r.refusals.get(reason).copied().unwrap_or(0) > 0,
            "{reason}: {:?}",
            r.refusals
        );
    }
    assert!(
        r.delivery_ratio > 0.5 && r.delivery_ratio < 1.0,
        "{}",
        r.delivery_ratio
    );
}

#[test]
fn weakened_receiver_lets_replays_through() {
    let mut cfg = Config::new(20, 12.0, 0.0, 3, energy());
    cfg.attacks = vec![Attack::Replay, Attack::Delay];
    cfg.attacked_share = 1.0;
    cfg.attack_rate = 0.1;
    let strong = run(&cfg).unwrap();
    assert_eq!(strong.attacks.accepted_total, 0);
    cfg.receiver = ReceiverKind::TagOnly;
    let weak = run(&cfg).unwrap();
    assert!(weak.attacks.accepted["replay"] > 0, "{:?}", weak.attacks);
    assert!(weak.attacks.accepted["delay"] > 0, "{:?}", weak.attacks);
    // A tag check alone still stops tampering.
    cfg.attacks = vec![Attack::Tamper, Attack::Forge];
    let weak = run(&cfg).unwrap();
    assert!(weak.attacks.attempted["tamper"] > 0);
    assert_eq!(weak.attacks.accepted_total, 0);
}

#[test]
fn lossless_network_delivers_everything() {
    // 24 nodes and the gateway fill a 5×5 grid with the gateway in the middle.
    let cfg = Config::new(24, 2.0, 0.0, 1, energy());
    let r = run(&cfg).unwrap();
    assert_eq!(r.generated, 24 * 120);
    assert_eq!(r.delivered, r.generated);
    assert_eq!(r.delivery_ratio, 1.0);
    assert!(r.refusals.is_empty(), "{:?}", r.refusals);
    assert_eq!(r.max_hops, 4);
    // Every hop of every reading is one delivery.
    let hops: u64 = r.per_node[1..]
        .iter()
        .map(|n| n.sealed * u64::from(n.hops))
        .sum();
    assert_eq!(r.hop_deliveries, hops);
}

#[test]
fn loss_costs_delivery_and_retries() {
    let clean = run(&Config::new(25, 4.0, 0.0, 9, energy())).unwrap();
    let lossy = run(&Config::new(25, 4.0, 0.3, 9, energy())).unwrap();
    assert!(lossy.link_losses > 0);
    assert!(lossy.delivery_ratio < 1.0);
    // With 3 retries at 30 % loss a hop fails with probability 0.3^4 < 1 %.
    assert!(lossy.delivery_ratio > 0.95, "{}", lossy.delivery_ratio);
    assert!(lossy.mean_node_current_ua > clean.mean_node_current_ua);
}

#[test]
fn energy_of_a_single_node_by_hand() {
    // One node next to the gateway, one reading a minute for one hour, no loss.
    let cfg = Config::new(1, 1.0, 0.0, 5, energy());
    let r = run(&cfg).unwrap();
    let node = &r.per_node[1];
    assert_eq!(node.sealed, 60);
    // Frame: 4-byte payload. Every 16th frame carries the full 40-bit number (5 bytes); the
    // others carry its low bits in the flags byte: 60 frames = 4 full (frames 0, 16, 32, 48)
    // + 56 short. Compact frame = flags 1 + sender id 1 + [seq 5] + payload 4 + tag 8.
    let frame_bytes = 4 * (1 + 1 + 5 + 4 + 8) + 56 * (1 + 1 + 4 + 8);
    let on_air = frame_bytes + 60 * 17;
    assert_eq!(node.tx_bytes, on_air as u64);
    let seconds = 3600.0;
    let expected_uj = 60.0 * 30.0 // attempts
        + 2.0 * on_air as f64 // bytes
        + 60.0 * 0.5 // seals
        + seconds * 2.0 * 20.0 // channel checks every 500 ms
        + 4.0 * seconds; // sleep
    assert!(
        (node.energy_mj * 1000.0 - expected_uj).abs() < 1e-6,
        "{} vs {}",
        node.energy_mj * 1000.0,
        expected_uj
    );
    assert!((node.avg_current_ua - expected_uj / seconds / 3.0).abs() < 1e-9);
}

#[test]
fn bad_configurations_are_refused() {
    assert!(run(&Config::new(0, 1.0, 0.0, 1, energy())).is_err());
    assert!(run(&Config::new(1, 1.0, 1.0, 1, energy())).is_err());
    assert!(run(&Config::new(1, -1.0, 0.0, 1, energy())).is_err());
}

/// Header privacy changes no byte on air: a private network delivers exactly what the same
/// network without it delivers, and accepts no attacker frame either.
#[test]
fn header_privacy_delivers_the_same_and_accepts_no_attack() {
    let mut cfg = Config::new(40, 12.0, 0.1, 11, energy());
    cfg.attacks = all_attacks();
    cfg.attacked_share = 0.5;
    cfg.attack_rate = 0.1;
    let plain = run(&cfg).unwrap();
    cfg.privacy = true;
    let private = run(&cfg).unwrap();
    assert_eq!(private.attacks.accepted_total, 0, "{:?}", private.attacks);
    assert_eq!(
        (
            private.generated,
            private.delivered,
            private.hop_deliveries,
            private.link_losses
        ),
        (
            plain.generated,
            plain.delivered,
            plain.hop_deliveries,
            plain.link_losses
        )
    );
    assert!(private.delivered > 1000);
    assert!(private.attacks.attempted.values().sum::<u64>() > 100);
}
