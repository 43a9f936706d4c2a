//! Footprint: `seal` and `open_plain` (plain group frames only, one shared key schedule) with
//! the keys derived on the device (HKDF-SHA256).
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use meshseal::RustCryptoCcm;
use meshseal_qemu_m4 as fw;

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fw::exit(false)
    };
    fw::start_timer(&mut p.SYST);
    fw::member::plain(
        "plain_hkdf",
        || {
            let secret = black_box([0x42u8; 32]);
            match meshseal::crypto::derive(&secret, b"", fw::FP_GROUP.0, fw::FP_GROUP.1) {
                Ok(k) => k,
                Err(_) => fw::exit(false),
            }
        },
        |d| RustCryptoCcm::new(&d.key),
    )
}
