//! meshseal: authenticated encryption for the group traffic of battery-powered mesh devices.
//!
//! One shared group key, no handshake, and a compact frame that adds 10 bytes to a payload in
//! steady traffic (9 when the link layer supplies the sender): a header byte, the sender id, the
//! low bits of a 40-bit sequence number, the AES-CCM ciphertext and an 8-byte tag.
//!
//! The crate is layered like a network stack:
//! - [`frame`]: zero-copy views over frame bytes and a `Repr` to parse/emit them. No keys, no state.
//! - [`seq`]: truncated sequence numbers: the receiver's reconstruction and the sender's length rule.
//! - [`crypto`]: the AEAD seam ([`crypto::AeadBackend`]), key schedule and nonce construction.
//! - [`counter`]: the sender's persistent counter ([`counter::CounterStore`]) with reservations.
//! - [`replay`]: per-sender replay windows and the fixed-capacity peer table.
//! - [`context`]: the sender and recipient state machines that tie the layers together,
//!   including request/response binding and freshness challenges.
//! - [`source`]: optional source authentication inside the group: pairwise keys (feature
//!   `pairwise`) and signed frames (feature `signed`).
//! - [`fragment`]: all-or-nothing reassembly of multi-fragment messages in fixed buffers.
//! - `rekey` (feature `hkdf`): rekey messages that move the remaining members to a new key
//!   epoch under their individual keys.
//!
//! Security rules kept throughout: no plaintext leaves [`context::Recipient::open`] unless the tag
//! verified (the buffer is wiped otherwise), keys are zeroized on drop, the tag comparison is
//! constant time (inside `ccm`), every parser is total, and a (sender, sequence) pair is never
//! sealed twice, even across power loss during a counter write.
//!
//! The wire format is specified in `docs/wire-format.md`.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod context;
pub mod counter;
pub mod crypto;
mod error;
pub mod fragment;
pub mod frame;
#[cfg(feature = "oscore")]
#[cfg_attr(docsrs, doc(cfg(feature = "oscore")))]
pub mod oscore;
#[cfg(feature = "hkdf")]
pub mod rekey;
pub mod replay;
pub mod seq;
pub mod source;

pub use context::{
    FrameId, Freshness, Grace, GraceSlot, LengthMode, NoGrace, Open, Opened, OrderPolicy,
    Recipient, RecipientConfig, Seal, SealBinding, SealSource, Sender, SenderConfig, TrafficClass,
};
pub use crypto::{AeadBackend, GroupKeys, RustCryptoCcm};
pub use error::{Error, Stats};
pub use frame::{Binding, Fragment, Repeat, SenderIdMode, Source};

/// Length of the AES-CCM authentication tag carried by every frame.
pub const TAG_LEN: usize = 8;
/// Length of the AES-CCM nonce.
pub const NONCE_LEN: usize = 13;
/// Length of the AES-128 group key.
pub const KEY_LEN: usize = 16;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
