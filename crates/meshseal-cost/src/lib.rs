//! meshseal-cost: what each way of protecting a sensor's messages costs on air, in energy and
//! in months of battery: DTLS 1.2 PSK (session kept, or a new handshake after each sleep),
//! DTLS 1.3 (measured with wolfSSL; the model when no measurement is recorded), OSCORE, and
//! meshseal compact frames (explicit or implicit sender).
//!
//! - [`profile`]: radio, battery and crypto profiles, built in from `data/` (with their
//!   datasheet sources) or read from TOML files.
//! - [`model`]: link-layer framing, airtime, energy per message and battery life per scheme.
//! - [`measure`]: the baselines measured live on loopback (OpenSSL and Mbed TLS DTLS 1.2 through
//!   the [`relay`], OSCORE with aiocoap, the host's HMAC timing, meshseal frames sealed by the
//!   core); [`compare`] loads the recorded copies or measures them again and costs every
//!   scheme.
//! - [`dtls13`]: DTLS 1.3 measured between two wolfSSL peers through the relay.
//! - [`fanout`]: one command to N receivers (`compare --receivers`): one group frame against
//!   N sessions, handshakes or requests, and the controller's per-receiver state.
//! - [`plot`]: battery life relative to DTLS with a kept session against message interval, and
//!   bytes on air per command against the number of receivers, as SVG.
//! - [`energy`]: a radio profile as the simulator's energy model (`meshseal-sim`).
//!
//! The `meshseal` command (`compare`, `simulate`, `plan`) is a thin layer over this crate.
//! Every error is a [`CostError`].

#![warn(missing_docs)]

pub mod compare;
pub mod dtls13;
pub mod energy;
mod error;
pub mod fanout;
pub mod measure;
pub mod model;
pub mod plot;
pub mod profile;
pub mod relay;

pub use error::CostError;
pub use model::{Battery, Crypto, Radio};
