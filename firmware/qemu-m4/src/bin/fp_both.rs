//! Footprint: seal and open (a member that sends and receives), keys derived on the host.
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use meshseal::crypto::DerivedKeys;
use meshseal::GroupKeys;
use meshseal_qemu_m4 as fw;

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fw::exit(false)
    };
    fw::start_timer(&mut p.SYST);
    fw::member::both("both", || {
        let d = DerivedKeys {
            key: black_box(fw::FP_KEY),
            iv: black_box(fw::FP_IV),
        };
        GroupKeys::from_derived(&d, fw::FP_GROUP.0, fw::FP_GROUP.1)
    })
}
