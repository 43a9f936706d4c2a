//! OSCORE (RFC 8613): object security for CoAP, interoperable with other implementations.
//!
//! The second framing of the engine. Where the compact frame fixes its own format, OSCORE
//! protects CoAP messages exactly as the RFC specifies, so a meshseal device can talk to
//! existing CoAP/Thread deployments. It reuses the engine's pieces: the AEAD seam
//! ([`crate::crypto::AeadBackend`], AES-CCM-16-64-128 = COSE algorithm 10), HKDF-SHA256, the
//! persistent [`crate::counter::Counter`] for sender sequence numbers and the
//! [`crate::replay::ReplayWindow`] for requests.
//!
//! Layers, as in the rest of the crate:
//! - [`coap`]: a minimal CoAP message view and emitter, with the option classes of §4.1;
//! - [`option`]: the OSCORE option view and `Repr` (§6.1);
//! - [`cose`]: CBOR `info`, external AAD and `Enc_structure` (built with `minicbor`), nonce;
//! - [`context`]: security context derivation (§3.2);
//! - [`endpoint`]: protection and verification of requests and responses with the sender
//!   counter, replay window and Echo-based window recovery (Appendix B.1.2).
//!
//! Heap-free and `no_std`. Not supported (see `docs/oscore.md`): Observe, Proxy-Uri
//! decomposition, outer block-wise, Group OSCORE, algorithms other than AES-CCM-16-64-128,
//! the Appendix B.2 context re-derivation.

pub mod coap;
pub mod context;
pub mod cose;
pub mod endpoint;
#[cfg(feature = "group-oscore")]
pub mod group;
#[cfg(feature = "group-oscore")]
pub mod group_endpoint;
pub mod option;

use core::fmt;

pub use context::{Params, SecurityContext};
pub use endpoint::{Endpoint, Outer, Plain, RequestId, Verified, ECHO_LEN};

/// COSE algorithm AES-CCM-16-64-128 (16-byte key, 13-byte nonce, 8-byte tag).
pub const ALG_AES_CCM_16_64_128: i8 = 10;
/// Longest sender/recipient id: nonce length minus 6.
pub const MAX_ID_LEN: usize = crate::NONCE_LEN - 6;
/// Longest id context this implementation accepts.
pub const MAX_ID_CONTEXT_LEN: usize = 32;

/// Why an OSCORE message could not be protected or was refused.
///
/// Each variant has a stable snake_case name ([`Error::reason`]) for logs and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The CoAP message (or a decrypted plaintext) is not well formed.
    Malformed,
    /// The OSCORE option value is not well formed (reserved bits, lengths).
    MalformedOption,
    /// The message carries no OSCORE option.
    NotProtected,
    /// The kid does not name the peer of this context (or is missing from a request).
    UnknownKid,
    /// The kid context does not match this context's id context.
    UnknownKidContext,
    /// A request without a Partial IV.
    MissingPartialIv,
    /// The tag did not verify: tampered, wrong key, or not bound to this request.
    DecryptFailed,
    /// The request's Partial IV was already accepted.
    Replay,
    /// The request's Partial IV is older than the replay window.
    TooOld,
    /// An option this implementation cannot protect (Observe, Proxy-Uri, or OSCORE itself).
    UnsupportedOption,
    /// Options given out of order.
    UnsortedOptions,
    /// The 2^40 sequence numbers of the sender context are used up.
    CounterExhausted,
    /// The counter reservation could not be persisted; nothing may be sent.
    CounterStore,
    /// The output buffer is too small.
    BufferTooSmall,
    /// A parameter is out of range (id length, secret length, equal ids, wrong code class).
    InvalidConfig,
    /// The sender context has no counter record: it was never provisioned, or it lost its
    /// counter and must not start again from 0 under the same Master Secret.
    NoCounterRecord,
    /// A Group OSCORE countersignature did not verify under the sender's public key.
    BadSignature,
}

impl Error {
    /// Every reason, in declaration order.
    pub const ALL: [Error; 17] = [
        Error::Malformed,
        Error::MalformedOption,
        Error::NotProtected,
        Error::UnknownKid,
        Error::UnknownKidContext,
        Error::MissingPartialIv,
        Error::DecryptFailed,
        Error::Replay,
        Error::TooOld,
        Error::UnsupportedOption,
        Error::UnsortedOptions,
        Error::CounterExhausted,
        Error::CounterStore,
        Error::BufferTooSmall,
        Error::InvalidConfig,
        Error::NoCounterRecord,
        Error::BadSignature,
    ];

    /// Stable snake_case name.
    pub const fn reason(&self) -> &'static str {
        match self {
            Error::Malformed => "malformed",
            Error::MalformedOption => "malformed_option",
            Error::NotProtected => "not_protected",
            Error::UnknownKid => "unknown_kid",
            Error::UnknownKidContext => "unknown_kid_context",
            Error::MissingPartialIv => "missing_partial_iv",
            Error::DecryptFailed => "decrypt_failed",
            Error::Replay => "replay",
            Error::TooOld => "too_old",
            Error::UnsupportedOption => "unsupported_option",
            Error::UnsortedOptions => "unsorted_options",
            Error::CounterExhausted => "counter_exhausted",
            Error::CounterStore => "counter_store",
            Error::BufferTooSmall => "buffer_too_small",
            Error::InvalidConfig => "invalid_config",
            Error::NoCounterRecord => "no_counter_record",
            Error::BadSignature => "bad_signature",
        }
    }

    /// The CoAP error a server answers with (unprotected, §8.2), if it answers at all.
    pub const fn response_code(&self) -> u8 {
        match self {
            Error::Malformed | Error::MissingPartialIv | Error::DecryptFailed => {
                coap::code::BAD_REQUEST
            }
            Error::MalformedOption | Error::UnsupportedOption => coap::code::BAD_OPTION,
            Error::UnknownKid
            | Error::UnknownKidContext
            | Error::Replay
            | Error::TooOld
            | Error::BadSignature => coap::code::UNAUTHORIZED,
            _ => coap::code::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Malformed => "malformed CoAP message",
            Error::MalformedOption => "malformed OSCORE option",
            Error::NotProtected => "no OSCORE option",
            Error::UnknownKid => "security context not found (kid)",
            Error::UnknownKidContext => "security context not found (kid context)",
            Error::MissingPartialIv => "request without Partial IV",
            Error::DecryptFailed => "decryption failed",
            Error::Replay => "replay detected",
            Error::TooOld => "Partial IV older than the replay window",
            Error::UnsupportedOption => "option not supported by this OSCORE implementation",
            Error::UnsortedOptions => "options not sorted by number",
            Error::CounterExhausted => "sender sequence numbers exhausted",
            Error::CounterStore => "sequence number reservation could not be persisted",
            Error::BufferTooSmall => "buffer too small",
            Error::InvalidConfig => "invalid OSCORE parameter",
            Error::NoCounterRecord => "no counter record for the sender context",
            Error::BadSignature => "countersignature does not verify",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_distinct() {
        for (i, a) in Error::ALL.iter().enumerate() {
            for b in &Error::ALL[i + 1..] {
                assert_ne!(a.reason(), b.reason());
            }
        }
    }
}
