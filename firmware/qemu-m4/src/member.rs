//! The member the footprint binaries measure: a sender (id 1, new identity over a
//! `MemoryStore`) and a 4-peer recipient without a grace slot, over whatever backend and keys
//! a binary gives, measured by [`crate::measure_member`].

use core::hint::black_box;
use core::mem::size_of_val;

use meshseal::counter::MemoryStore;
use meshseal::crypto::{AeadBackend, DerivedKeys};
use meshseal::replay::PeerTable;
use meshseal::{
    context::AnySender, GroupKeys, NoGrace, Recipient, RecipientConfig, Sender, SenderConfig,
};

use crate::{exit, measure_member, setup_stack, FP_GROUP, FP_PAYLOAD};

/// A 4-peer recipient without a grace slot.
type Rx<A> = Recipient<PeerTable<4>, AnySender, A, 1, NoGrace>;

/// The member's sender and recipient under `keys`.
fn pair<A: AeadBackend>(
    keys: impl Fn() -> GroupKeys<A>,
) -> Option<(Sender<MemoryStore, A>, Rx<A>)> {
    let tx = Sender::provision(keys(), SenderConfig::new(1), MemoryStore::default()).ok()?;
    let mut rx = Recipient::new_without_grace(
        keys(),
        RecipientConfig::default(),
        AnySender,
        PeerTable::new(),
    );
    rx.provision(1);
    Some((tx, rx))
}

/// A member with its own keys in each context (`keys` builds them): `seal` and `open`.
pub fn both<A: AeadBackend>(what: &str, keys: impl Fn() -> GroupKeys<A>) -> ! {
    let (stack, ok) = setup_stack(|out| {
        pair(&keys).is_some_and(|(mut tx, mut rx)| {
            tx.seal(black_box(&FP_PAYLOAD), out)
                .is_ok_and(|n| rx.open(&mut out[..n]).is_ok())
        })
    });
    let Some((mut tx, mut rx)) = pair(&keys) else {
        exit(false)
    };
    let contexts = size_of_val(&tx) + size_of_val(&rx);
    measure_member(
        what,
        stack,
        contexts,
        ok,
        |p, out| tx.seal(p, out).ok(),
        |f| rx.open(f).is_ok_and(|o| o.payload == FP_PAYLOAD),
    )
}

/// The member's sender and recipient over one borrowed backend.
#[allow(clippy::type_complexity)]
fn shared<A: AeadBackend>(aead: &A, iv: [u8; 13]) -> Option<(Sender<MemoryStore, &A>, Rx<&A>)> {
    pair(|| GroupKeys::with_backend(aead, iv, FP_GROUP.0, FP_GROUP.1))
}

/// The smallest member: plain group frames only (`seal`, `open_plain`), one backend (`backend`
/// builds it from the derived keys) shared by its sender and recipient.
pub fn plain<A: AeadBackend>(
    what: &str,
    derived: impl Fn() -> DerivedKeys,
    backend: impl Fn(&DerivedKeys) -> A,
) -> ! {
    let (stack, ok) = setup_stack(|out| {
        let d = derived();
        let aead = backend(&d);
        shared(&aead, d.iv).is_some_and(|(mut tx, mut rx)| {
            let opened = tx
                .seal(black_box(&FP_PAYLOAD), out)
                .is_ok_and(|n| rx.open_plain(&mut out[..n]).is_ok());
            // The contexts stay whole in memory, as a device's would.
            black_box((&tx, &rx));
            opened
        })
    });
    let d = derived();
    let aead = backend(&d);
    let Some((mut tx, mut rx)) = shared(&aead, d.iv) else {
        exit(false)
    };
    let contexts = size_of_val(&tx) + size_of_val(&rx) + size_of_val(&aead);
    measure_member(
        what,
        stack,
        contexts,
        ok,
        |p, out| tx.seal(p, out).ok(),
        |f| rx.open_plain(f).is_ok_and(|o| o.payload == FP_PAYLOAD),
    )
}
