//! seal+open of a compact frame against raw AES-128-CCM (8-byte tag, 13-byte nonce, no AAD)
//! encrypt+decrypt of the same payload, measured interleaved: each round times a batch of
//! one, then a batch of the other, in the same process, so load on a shared machine hits
//! both sides alike. Prints the median ratio over the rounds and its spread.
//!
//! `cargo bench -p meshseal --bench ratio [-- PAYLOAD_BYTES ROUNDS]` (defaults: 16, 41).

use std::hint::black_box;
use std::time::Instant;

use ccm::aead::generic_array::GenericArray;
use ccm::aead::{AeadInPlace, KeyInit};
use ccm::consts::{U13, U8};
use meshseal::counter::MemoryStore;
use meshseal::replay::PeerTable;
use meshseal::{GroupKeys, Recipient, RecipientConfig, Sender, SenderConfig};

/// Frames per timed batch.
const BATCH: usize = 20_000;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(16);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(41);
    let payload = vec![0xa5u8; n];
    let keys = || GroupKeys::derive(&[0x42; 32], b"", 7, 0).expect("keys");
    let mut tx =
        Sender::provision(keys(), SenderConfig::new(3), MemoryStore::default()).expect("sender");
    let mut rx = Recipient::new(
        keys(),
        RecipientConfig::default(),
        0..=10,
        PeerTable::<8>::new(),
    );
    rx.provision(3);
    let raw = ccm::Ccm::<aes::Aes128, U8, U13>::new(GenericArray::from_slice(&[0x11; 16]));
    let mut frame = [0u8; 512];
    let mut body = vec![0u8; n];
    let mut nonce = [0u8; 13];
    let mut counter = 0u64;

    let mut meshseal_batch = || {
        let start = Instant::now();
        for _ in 0..BATCH {
            let len = tx.seal(black_box(&payload), &mut frame).expect("seal");
            let opened = rx.open(&mut frame[..len]).expect("open");
            black_box(opened.payload);
        }
        start.elapsed().as_nanos() as f64 / BATCH as f64
    };
    let mut raw_batch = || {
        let start = Instant::now();
        for _ in 0..BATCH {
            counter += 1;
            nonce[5..].copy_from_slice(&counter.to_be_bytes());
            body.copy_from_slice(black_box(&payload));
            let nonce = GenericArray::from_slice(&nonce);
            let tag = raw
                .encrypt_in_place_detached(nonce, &[], &mut body)
                .expect("encrypt");
            raw.decrypt_in_place_detached(nonce, &[], &mut body, &tag)
                .expect("decrypt");
            black_box(&body);
        }
        start.elapsed().as_nanos() as f64 / BATCH as f64
    };
    // Warm-up, then interleaved rounds (the order alternates too).
    meshseal_batch();
    raw_batch();
    let mut ratios = Vec::with_capacity(rounds);
    let (mut ms, mut rw) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        let (a, b) = if r % 2 == 0 {
            let a = meshseal_batch();
            (a, raw_batch())
        } else {
            let b = raw_batch();
            (meshseal_batch(), b)
        };
        ms.push(a);
        rw.push(b);
        ratios.push(a / b);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let q = |v: &Vec<f64>, p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    let (m_ms, m_rw) = (median(&mut ms), median(&mut rw));
    let m = median(&mut ratios);
    println!(
        "payload {n} B, {rounds} interleaved rounds of {BATCH}: seal+open {m_ms:.1} ns, raw CCM \
         encrypt+decrypt {m_rw:.1} ns (medians); ratio median {m:.3} (quartiles {:.3}..{:.3}, \
         min {:.3}, max {:.3})",
        q(&ratios, 0.25),
        q(&ratios, 0.75),
        ratios[0],
        ratios[ratios.len() - 1]
    );
}
