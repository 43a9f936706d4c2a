//! A radio profile's figures as the simulator's energy model (`meshseal simulate` and
//! `meshseal plan` use the same one).

use meshseal_sim::EnergyModel;

use crate::model::{Crypto, Radio};
use crate::profile::{crypto_profile, open_ns, radio_profile, seal_ns};
use crate::CostError;

/// Channel check of a sleepy receiver: one CCA-length listen after the wake-up (802.15.4 CSL
/// style), from the profile's timing and currents.
pub fn energy_model(radio: &Radio, crypto: &Crypto, payload: usize) -> EnergyModel {
    let p = &radio.power;
    let l = &radio.link;
    let uj = |ma: f64, us: f64| ma * us * p.supply_v / 1000.0;
    let byte_us = 8.0 / l.bitrate_bps * 1e6;
    let ack_us = l.ack_bytes as f64 * byte_us;
    let per_target = |ns: f64| ns * crypto.target.host_to_target / 1000.0;
    let on_air_overhead =
        l.phy_overhead_bytes + l.mac_header_bytes + l.mac_footer_bytes + l.network_header_bytes;
    EnergyModel {
        bitrate_bps: l.bitrate_bps,
        frame_overhead_bytes: on_air_overhead as u32,
        tx_uj_per_byte: uj(p.tx_ma, byte_us),
        rx_uj_per_byte: uj(p.rx_ma, byte_us),
        tx_attempt_uj: uj(p.rx_ma, l.cca_us + l.turnaround_us + ack_us)
            + uj(p.wakeup_ma, p.wakeup_us),
        rx_attempt_uj: uj(p.rx_ma, l.turnaround_us) + uj(p.tx_ma, ack_us),
        check_uj: uj(p.wakeup_ma, p.wakeup_us)
            + uj(p.rx_ma, l.cca_us.max(byte_us * l.phy_overhead_bytes as f64)),
        sleep_uw: p.sleep_ua * p.supply_v,
        seal_uj: uj(p.cpu_ma, per_target(seal_ns(crypto, payload))),
        open_uj: uj(p.cpu_ma, per_target(open_ns(crypto, payload))),
        supply_v: p.supply_v,
    }
}

/// The radio profile `radio` (built-in name or TOML file) and its energy model for frames of
/// `payload` bytes, with the built-in crypto timing.
pub fn radio_energy(radio: &str, payload: usize) -> Result<(Radio, EnergyModel), CostError> {
    let radio = radio_profile(radio)?;
    let crypto = crypto_profile()?;
    let e = energy_model(&radio, &crypto, payload);
    Ok((radio, e))
}
