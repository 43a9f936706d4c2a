//! Footprint: the `plain` member with header privacy on (spec §20): the same calls, every header
//! masked under a privacy key (given, like the group key, by the host).
#![no_std]
#![no_main]

use core::hint::black_box;
use core::mem::size_of_val;
use cortex_m_rt::entry;
use meshseal::counter::MemoryStore;
use meshseal::crypto::DerivedKeys;
use meshseal::privacy::Private;
use meshseal::replay::PeerTable;
use meshseal::{
    context::AnySender, GroupKeys, NoGrace, Recipient, RecipientConfig, RustCryptoCcm, Sender,
    SenderConfig,
};
use meshseal_qemu_m4 as fw;

/// The group's privacy key, as the host derives it for the device.
const PRIVACY_KEY: [u8; 16] = *b"meshseal-fp-priv";

fn derived() -> DerivedKeys {
    DerivedKeys {
        key: black_box(fw::FP_KEY),
        iv: black_box(fw::FP_IV),
    }
}

/// A 4-peer recipient without a grace slot, over a borrowed key schedule.
type Rx<'k> = Recipient<PeerTable<4>, AnySender, &'k Ccm, 1, NoGrace>;

/// The backend with header privacy.
type Ccm = Private<RustCryptoCcm>;

fn pair<'k>(ccm: &'k Ccm, iv: [u8; 13]) -> Option<(Sender<MemoryStore, &'k Ccm>, Rx<'k>)> {
    let keys = || GroupKeys::with_backend(ccm, iv, fw::FP_GROUP.0, fw::FP_GROUP.1);
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

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fw::exit(false)
    };
    fw::start_timer(&mut p.SYST);
    let mut ok = true;
    let stack = fw::stack_high_water(|| {
        let mut out = [0u8; 64];
        let d = derived();
        let ccm = Private::new(RustCryptoCcm::new(&d.key), &black_box(PRIVACY_KEY));
        ok &= pair(&ccm, d.iv).is_some_and(|(mut tx, mut rx)| {
            let n = tx.seal(black_box(&fw::FP_PAYLOAD), &mut out);
            let opened = n.is_ok_and(|n| rx.open_plain(&mut out[..n]).is_ok());
            // The contexts stay whole in memory, as a device's would (no field optimised away).
            black_box((&tx, &rx));
            opened
        });
        black_box(out);
    });
    let d = derived();
    let ccm = Private::new(RustCryptoCcm::new(&d.key), &black_box(PRIVACY_KEY));
    let Some((mut tx, mut rx)) = pair(&ccm, d.iv) else {
        fw::exit(false)
    };
    let mut frames = [([0u8; 48], 0usize); fw::RUNS as usize];
    let mut first = [0u8; 48];
    ok &= tx
        .seal(&fw::FP_PAYLOAD, &mut first)
        .is_ok_and(|n| rx.open_plain(&mut first[..n]).is_ok());
    let (seal, seal_stack) = fw::timed(|| {
        for (f, n) in frames.iter_mut() {
            match tx.seal(black_box(&fw::FP_PAYLOAD), f) {
                Ok(len) => *n = len,
                Err(_) => ok = false,
            }
        }
    });
    let (open, open_stack) = fw::timed(|| {
        for (f, n) in frames.iter_mut() {
            ok &= rx
                .open_plain(black_box(&mut f[..*n]))
                .is_ok_and(|o| o.payload == fw::FP_PAYLOAD);
        }
    });
    fw::report(
        "plain",
        stack,
        size_of_val(&tx) + size_of_val(&rx) + size_of_val(&ccm),
        seal_stack.max(open_stack),
        seal,
        open,
    );
    fw::exit(ok)
}
