//! Footprint: the `plain` member with header privacy on (spec §20): the same calls, every header
//! masked under a privacy key (given, like the group key, by the host).
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use meshseal::crypto::DerivedKeys;
use meshseal::privacy::Private;
use meshseal::RustCryptoCcm;
use meshseal_qemu_m4 as fw;

/// The group's privacy key, as the host derives it for the device.
const PRIVACY_KEY: [u8; 16] = *b"meshseal-fp-priv";

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fw::exit(false)
    };
    fw::start_timer(&mut p.SYST);
    fw::member::plain(
        "private",
        || DerivedKeys {
            key: black_box(fw::FP_KEY),
            iv: black_box(fw::FP_IV),
        },
        |d| Private::new(RustCryptoCcm::new(&d.key), &black_box(PRIVACY_KEY)),
    )
}
