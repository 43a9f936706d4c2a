//! Radio, battery and crypto profiles: the built-in data files (`data/`, with their datasheet
//! sources) or a TOML file of the same shape.

use std::path::Path;

use crate::model::{interpolate, Battery, Crypto, Radio};
use crate::CostError;

pub(crate) const RADIOS: [(&str, &str); 3] = [
    (
        "ieee802154",
        include_str!("../../../data/radios/ieee802154.toml"),
    ),
    ("ble", include_str!("../../../data/radios/ble.toml")),
    ("lora", include_str!("../../../data/radios/lora.toml")),
];
pub(crate) const BATTERIES: [(&str, &str); 2] = [
    (
        "cr2032",
        include_str!("../../../data/batteries/cr2032.toml"),
    ),
    (
        "aa-lithium-2",
        include_str!("../../../data/batteries/aa-lithium-2.toml"),
    ),
];
pub(crate) const CRYPTO: &str = include_str!("../../../data/crypto.toml");

/// A profile by built-in name or from a TOML file.
fn profile<T: serde::de::DeserializeOwned>(
    what: &str,
    arg: &str,
    builtin: &[(&str, &str)],
) -> Result<T, CostError> {
    let text = match builtin.iter().find(|(n, _)| *n == arg) {
        Some((_, t)) => (*t).to_string(),
        None if Path::new(arg).is_file() => {
            std::fs::read_to_string(arg).map_err(|e| CostError::io(format!("reading {arg}"), e))?
        }
        None => {
            let names: Vec<_> = builtin.iter().map(|(n, _)| *n).collect();
            return Err(CostError::Usage(format!(
                "unknown {what} {arg:?}: use one of {} or a TOML file",
                names.join(", ")
            )));
        }
    };
    toml::from_str(&text).map_err(|e| CostError::Profile(format!("{what} profile {arg}: {e}")))
}

/// A radio profile by built-in name (`ieee802154`, `ble`, `lora`) or TOML file.
pub fn radio_profile(arg: &str) -> Result<Radio, CostError> {
    profile("radio", arg, &RADIOS)
}

/// A battery profile by built-in name (`cr2032`, `aa-lithium-2`) or TOML file.
pub fn battery_profile(arg: &str) -> Result<Battery, CostError> {
    profile("battery", arg, &BATTERIES)
}

/// The crypto timing profile.
pub fn crypto_profile() -> Result<Crypto, CostError> {
    toml::from_str(CRYPTO).map_err(|e| CostError::Profile(format!("data/crypto.toml: {e}")))
}

/// Host ns to seal `payload` bytes (recorded benchmark, interpolated).
pub fn seal_ns(c: &Crypto, payload: usize) -> f64 {
    interpolate(&c.seal_ns, payload)
}

/// Host ns to open a frame of `payload` bytes (recorded benchmark, interpolated).
pub fn open_ns(c: &Crypto, payload: usize) -> f64 {
    interpolate(&c.open_ns, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_parses() {
        for (n, t) in RADIOS {
            let r: Radio = toml::from_str(t).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!(r.name, n);
            assert!(!r.sources.is_empty());
        }
        for (n, t) in BATTERIES {
            let b: Battery = toml::from_str(t).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!(b.name, n);
            assert!(!b.sources.is_empty());
        }
        let _: Crypto = toml::from_str(CRYPTO).unwrap();
    }
}
