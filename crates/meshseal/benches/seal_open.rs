//! Seal and open of compact frames beside raw AES-128-CCM (8-byte tag, 13-byte nonce, no AAD)
//! of the same payloads: the ratio is the protocol's CPU overhead.

use std::time::{Duration, Instant};

use ccm::aead::generic_array::GenericArray;
use ccm::aead::{AeadInPlace, KeyInit};
use ccm::consts::{U13, U8};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use meshseal::counter::MemoryStore;
use meshseal::replay::PeerTable;
use meshseal::{GroupKeys, Recipient, RecipientConfig, Sender, SenderConfig};

const SIZES: [usize; 4] = [1, 16, 64, 256];
const SECRET: [u8; 32] = [0x42; 32];

fn keys() -> GroupKeys {
    GroupKeys::derive(&SECRET, b"", 7, 0).unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("seal");
    for &n in &SIZES {
        let payload = vec![0xa5u8; n];
        g.throughput(Throughput::Bytes(n as u64));
        let mut sender =
            Sender::provision(keys(), SenderConfig::new(3), MemoryStore::default()).unwrap();
        let mut out = [0u8; 512];
        g.bench_with_input(BenchmarkId::new("meshseal", n), &n, |b, _| {
            b.iter(|| sender.seal(black_box(&payload), &mut out).unwrap())
        });
        let raw = ccm::Ccm::<aes::Aes128, U8, U13>::new(GenericArray::from_slice(&[0x11; 16]));
        let nonce = GenericArray::from([3u8; 13]);
        g.bench_with_input(BenchmarkId::new("raw_ccm", n), &n, |b, _| {
            b.iter(|| {
                out[..n].copy_from_slice(black_box(&payload));
                raw.encrypt_in_place_detached(&nonce, &[], &mut out[..n])
                    .unwrap()
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("open");
    for &n in &SIZES {
        let payload = vec![0xa5u8; n];
        g.throughput(Throughput::Bytes(n as u64));
        let mut sender =
            Sender::provision(keys(), SenderConfig::new(3), MemoryStore::default()).unwrap();
        let mut recipient = Recipient::new(
            keys(),
            RecipientConfig::default(),
            0..=10,
            PeerTable::<8>::new(),
        );
        recipient.provision(3);
        g.bench_with_input(BenchmarkId::new("meshseal", n), &n, |b, _| {
            b.iter_custom(|iters| {
                // Frames are sealed untimed in chunks, then opened in order, each exactly once.
                let mut spent = Duration::ZERO;
                let mut left = iters;
                let len = sender.frame_len(n).max(n + 20);
                let mut frames = vec![0u8; 4096 * len];
                let mut lens = vec![0usize; 4096];
                while left > 0 {
                    let chunk = left.min(4096) as usize;
                    for (i, l) in lens.iter_mut().enumerate().take(chunk) {
                        *l = sender
                            .seal(&payload, &mut frames[i * len..(i + 1) * len])
                            .unwrap();
                    }
                    let start = Instant::now();
                    for (i, l) in lens.iter().enumerate().take(chunk) {
                        black_box(recipient.open(&mut frames[i * len..i * len + l]).unwrap());
                    }
                    spent += start.elapsed();
                    left -= chunk as u64;
                }
                spent
            })
        });
        let raw = ccm::Ccm::<aes::Aes128, U8, U13>::new(GenericArray::from_slice(&[0x11; 16]));
        g.bench_with_input(BenchmarkId::new("raw_ccm", n), &n, |b, _| {
            b.iter_custom(|iters| {
                // The same structure as above: distinct messages sealed untimed, each decrypted once.
                let mut spent = Duration::ZERO;
                let mut left = iters;
                let mut bufs = vec![0u8; 4096 * n];
                let mut meta = vec![([0u8; 13], [0u8; 8]); 4096];
                let mut counter = 0u64;
                while left > 0 {
                    let chunk = left.min(4096) as usize;
                    for (i, (nonce, tag)) in meta.iter_mut().enumerate().take(chunk) {
                        counter += 1;
                        nonce[5..].copy_from_slice(&counter.to_be_bytes());
                        let body = &mut bufs[i * n..(i + 1) * n];
                        body.copy_from_slice(&payload);
                        let t = raw
                            .encrypt_in_place_detached(GenericArray::from_slice(nonce), &[], body)
                            .unwrap();
                        tag.copy_from_slice(&t);
                    }
                    let start = Instant::now();
                    for (i, (nonce, tag)) in meta.iter().enumerate().take(chunk) {
                        let body = &mut bufs[i * n..(i + 1) * n];
                        raw.decrypt_in_place_detached(
                            GenericArray::from_slice(nonce),
                            &[],
                            body,
                            GenericArray::from_slice(tag),
                        )
                        .unwrap();
                        black_box(&body);
                    }
                    spent += start.elapsed();
                    left -= chunk as u64;
                }
                spent
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
