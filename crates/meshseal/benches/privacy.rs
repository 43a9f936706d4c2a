//! Seal+open of a compact frame with and without header privacy (spec §20), measured
//! interleaved like `ratio`: each round times a batch of one, then a batch of the other, in the
//! same process. Prints the medians and the median cost of privacy per seal+open.
//!
//! `cargo bench -p meshseal --bench privacy [-- PAYLOAD_BYTES ROUNDS]` (defaults: 16, 41).

use std::hint::black_box;
use std::time::Instant;

use meshseal::counter::MemoryStore;
use meshseal::replay::PeerTable;
use meshseal::{AeadBackend, GroupKeys, Recipient, RecipientConfig, Sender, SenderConfig};

/// Frames per timed batch.
const BATCH: usize = 20_000;

/// A sender and a recipient of one group, and a closure timing a batch of seal+open.
fn pair<A: AeadBackend>(
    keys: impl Fn() -> GroupKeys<A>,
) -> (
    Sender<MemoryStore, A>,
    Recipient<PeerTable<8>, core::ops::RangeInclusive<u32>, A>,
) {
    let tx = Sender::provision(keys(), SenderConfig::new(3), MemoryStore::default()).expect("tx");
    let mut rx = Recipient::new(keys(), RecipientConfig::default(), 0..=10, PeerTable::new());
    rx.provision(3);
    (tx, rx)
}

fn batch<A: AeadBackend>(
    tx: &mut Sender<MemoryStore, A>,
    rx: &mut Recipient<PeerTable<8>, core::ops::RangeInclusive<u32>, A>,
    payload: &[u8],
) -> f64 {
    let mut frame = [0u8; 512];
    let start = Instant::now();
    for _ in 0..BATCH {
        let len = tx.seal(black_box(payload), &mut frame).expect("seal");
        let opened = rx.open(&mut frame[..len]).expect("open");
        black_box(opened.payload);
    }
    start.elapsed().as_nanos() as f64 / BATCH as f64
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(16);
    let rounds: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(41);
    let payload = vec![0xa5u8; n];
    let (mut tx, mut rx) = pair(|| GroupKeys::derive(&[0x42; 32], b"", 7, 0).expect("keys"));
    let (mut ptx, mut prx) =
        pair(|| GroupKeys::derive_private(&[0x42; 32], b"", 7, 0).expect("keys"));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    batch(&mut tx, &mut rx, &payload);
    batch(&mut ptx, &mut prx, &payload);
    for r in 0..rounds {
        if r % 2 == 0 {
            a.push(batch(&mut tx, &mut rx, &payload));
            b.push(batch(&mut ptx, &mut prx, &payload));
        } else {
            b.push(batch(&mut ptx, &mut prx, &payload));
            a.push(batch(&mut tx, &mut rx, &payload));
        }
    }
    let mut diff: Vec<f64> = a.iter().zip(&b).map(|(x, y)| y - x).collect();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (ma, mb, md) = (median(&mut a), median(&mut b), median(&mut diff));
    let mut f = [0u8; 64];
    let plain_len = tx.seal(&payload, &mut f).expect("seal");
    let private_len = ptx.seal(&payload, &mut f).expect("seal");
    println!(
        "payload {n} B, {rounds} interleaved rounds of {BATCH}: seal+open {ma:.1} ns without \
         header privacy, {mb:.1} ns with (medians); privacy costs {md:.1} ns per seal+open \
         (median of per-round differences); frame {plain_len} B without, {private_len} B with"
    );
}
