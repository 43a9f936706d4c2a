//! Footprint: seal and open with the keys derived on the device (HKDF-SHA256).
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use meshseal::GroupKeys;
use meshseal_qemu_m4 as fw;

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fw::exit(false)
    };
    fw::start_timer(&mut p.SYST);
    fw::member::both("both_hkdf", || {
        let secret = black_box([0x42u8; 32]);
        match GroupKeys::derive(&secret, b"", fw::FP_GROUP.0, fw::FP_GROUP.1) {
            Ok(k) => k,
            Err(_) => fw::exit(false),
        }
    })
}
