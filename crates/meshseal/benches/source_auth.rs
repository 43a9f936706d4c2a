//! Cost of source authentication: seal and open of a 16-byte payload as a group frame, a
//! pairwise frame and a signed frame.

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use meshseal::counter::MemoryStore;
use meshseal::replay::PeerTable;
use meshseal::source::{
    derive_pairwise, SigningKey, SourceKeys, VerifyingKey, X25519Public, X25519Secret,
};
use meshseal::Open;
use meshseal::Seal;
use meshseal::{GroupKeys, Recipient, RecipientConfig, Sender, SenderConfig, Source, TrafficClass};

const SECRET: [u8; 32] = [0x42; 32];
const PAYLOAD: [u8; 16] = [0xa5; 16];

fn keys() -> GroupKeys {
    GroupKeys::derive(&SECRET, b"", 7, 0).unwrap()
}

struct Keys {
    pair: GroupKeys,
    vk: VerifyingKey,
}

impl SourceKeys for Keys {
    fn pairwise(&self, _: u32) -> Option<&GroupKeys> {
        Some(&self.pair)
    }
    fn verifying_key(&self, _: u32) -> Option<&VerifyingKey> {
        Some(&self.vk)
    }
}

fn pair(own: u32, own_dh: &X25519Secret, peer: u32, peer_dh: &X25519Secret) -> GroupKeys {
    derive_pairwise(
        &SECRET,
        b"",
        7,
        0,
        own,
        own_dh,
        peer,
        &X25519Public::from(peer_dh),
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let (dh1, dh2) = (X25519Secret::from([1; 32]), X25519Secret::from([2; 32]));
    let sk = SigningKey::from_bytes(&[9; 32]);
    let tx_pair = pair(1, &dh1, 2, &dh2);
    let rx_keys = Keys {
        pair: pair(2, &dh2, 1, &dh1),
        vk: sk.verifying_key(),
    };
    c.bench_function("derive_pairwise", |b| {
        b.iter(|| pair(1, black_box(&dh1), 2, &dh2))
    });
    for source in [Source::Group, Source::Pairwise, Source::Signed] {
        let seal = |tx: &mut Sender<MemoryStore>, out: &mut [u8]| match source {
            Source::Group => tx.seal(&PAYLOAD, out),
            Source::Pairwise => tx.seal_with(&PAYLOAD, &Seal::default().pairwise(&tx_pair), out),
            _ => tx.seal_with(&PAYLOAD, &Seal::default().signed(&sk), out),
        };
        let mut tx =
            Sender::provision(keys(), SenderConfig::new(1), MemoryStore::default()).unwrap();
        let mut out = [0u8; 128];
        c.bench_function(&format!("seal_16B/{}", source.name()), |b| {
            b.iter(|| seal(&mut tx, black_box(&mut out)).unwrap())
        });
        let mut tx =
            Sender::provision(keys(), SenderConfig::new(1), MemoryStore::default()).unwrap();
        let mut rx = Recipient::new(
            keys(),
            RecipientConfig::default(),
            0..=10,
            PeerTable::<8>::new(),
        );
        rx.provision(1);
        c.bench_function(&format!("open_16B/{}", source.name()), |b| {
            b.iter_custom(|iters| {
                // Frames are sealed untimed in chunks, then each opened once, in order.
                let mut spent = Duration::ZERO;
                let mut left = iters;
                let mut frames = vec![[0u8; 128]; 1024];
                let mut lens = vec![0usize; 1024];
                while left > 0 {
                    let chunk = left.min(1024) as usize;
                    for i in 0..chunk {
                        lens[i] = seal(&mut tx, &mut frames[i]).unwrap();
                    }
                    let start = Instant::now();
                    for i in 0..chunk {
                        let f = &mut frames[i][..lens[i]];
                        black_box(
                            rx.open_with(
                                f,
                                &Open::default()
                                    .class(TrafficClass::Telemetry)
                                    .keys(&rx_keys),
                            )
                            .unwrap(),
                        );
                    }
                    spent += start.elapsed();
                    left -= chunk as u64;
                }
                spent
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
