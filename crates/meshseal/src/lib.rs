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
//! # The API: one way to seal, one way to open
//!
//! The common case is one call on each side: [`Sender::seal`] and [`Recipient::open`] (a plain
//! group frame, judged as telemetry). Every variant is one options value: [`Seal`] (source:
//! group, pairwise or signed; binding: a response or an echo; a coarse timestamp; a repeat
//! announcement) for [`Sender::seal_with`], and [`Open`] (sender id from the link layer, traffic
//! class, the request a response must answer, source keys, "require a source") for
//! [`Recipient::open_with`]. Combinations the wire cannot carry are refused with a typed error
//! before a number is used. Messages larger than a frame have their own small API:
//! [`Sender::seal_message`] and [`fragment::Reassembler`].
//!
//! ```
//! use meshseal::counter::MemoryStore;
//! use meshseal::fragment::Reassembler;
//! use meshseal::replay::PeerTable;
//! use meshseal::{GroupKeys, Open, Recipient, RecipientConfig, Repeat, Seal, Sender, SenderConfig,
//!     TrafficClass};
//!
//! let keys = || GroupKeys::derive(&[0x42; 32], b"", 7, 0);
//! // Member 1 starts a new identity; member 2 expects it (a provisioned window).
//! let mut tx = Sender::provision(keys()?, SenderConfig::new(1), MemoryStore::default())?;
//! let mut rx = Recipient::new(keys()?, RecipientConfig::default(), 1..=10, PeerTable::<8>::new());
//! rx.provision(1);
//!
//! // The common case: a reading, sealed and opened in place.
//! let mut frame = [0u8; 64];
//! let n = tx.seal(b"21.5C", &mut frame)?;
//! assert_eq!(rx.open(&mut frame[..n])?.payload, b"21.5C");
//!
//! // A command for sleepy receivers, sent 3 times over 30 s, acted on as a command.
//! let n = tx.seal_with(b"on", &Seal::default().repeated(Repeat { copies: 3, window: 30 }), &mut frame)?;
//! let mut copy = frame;
//! let how = Open::default().class(TrafficClass::Actuation);
//! assert_eq!(rx.open_with(&mut frame[..n], &how)?.payload, b"on");
//! assert_eq!(rx.open_with(&mut copy[..n], &how).err(), Some(meshseal::Error::Duplicate));
//!
//! // A message larger than the link's 40-byte frames: fragments, reassembled all or nothing.
//! let message = [7u8; 100];
//! let (mut frames, mut scratch) = (Vec::new(), [0u8; 40]);
//! tx.seal_message(&message, 40, &mut scratch, |f| frames.push(f.to_vec()))?;
//! let mut reassembler = Reassembler::<2, 256>::new(10);
//! let mut whole = None;
//! for f in &mut frames {
//!     let opened = rx.open(f)?;
//!     if let Some(m) = reassembler.push(&opened, 0)? {
//!         whole = Some(m.payload.to_vec());
//!     }
//! }
//! assert_eq!(whole.as_deref(), Some(&message[..]));
//! # Ok::<(), meshseal::Error>(())
//! ```
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
pub mod privacy;
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
