//! Footprint: the smallest member that sends and receives: plain group frames only (`seal`,
//! `open_plain`) and one AES key schedule shared by its sender and recipient; keys derived on
//! the host.
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use meshseal::crypto::DerivedKeys;
use meshseal::RustCryptoCcm;
use meshseal_qemu_m4 as fw;

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fw::exit(false)
    };
    fw::start_timer(&mut p.SYST);
    fw::member::plain(
        "plain",
        || DerivedKeys {
            key: black_box(fw::FP_KEY),
            iv: black_box(fw::FP_IV),
        },
        |d| RustCryptoCcm::new(&d.key),
    )
}
