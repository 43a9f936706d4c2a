//! Result codes: one positive code per refusal reason of the core, negative codes for misuse
//! of the C API.
//!
//! Refusal codes follow the core's stable reason index (`code = Error::index() + 1`), so a
//! firmware can store or transmit them. [`NAMES`] and [`MESHSEAL_REASONS`] have exactly
//! `Error::COUNT` entries: a reason added to the core fails this crate's build until it gets
//! its code here (add the variant to [`MeshsealResult`], to [`code`] and to [`NAMES`], then
//! regenerate the header); a test holds every code to its index.

use core::ffi::{c_char, CStr};

use meshseal::Error;

/// Refusal reasons: `MeshsealStats::refused` has one counter per reason.
pub const MESHSEAL_REASONS: usize = 25;

const _: () = assert!(MESHSEAL_REASONS == Error::COUNT);

/// What a call did: `MESHSEAL_RESULT_OK`, a refusal (positive) or an API misuse (negative).
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshsealResult {
    /// Success.
    Ok = 0,
    /// The bytes are not a well-formed frame.
    Malformed = 1,
    /// The frame uses a format version this build does not speak.
    UnsupportedVersion = 2,
    /// The frame's key epoch is not one the receiver holds keys for.
    UnknownEpoch = 3,
    /// The sender id is not a member of the group.
    UnknownSender = 4,
    /// The frame claims to come from the receiver itself.
    Reflected = 5,
    /// A truncated number from a sender without state; wait for a full-length frame.
    Unsynchronized = 6,
    /// The authentication tag did not verify.
    BadTag = 7,
    /// This sequence number was already accepted from this sender.
    Replay = 8,
    /// The sequence number is older than the replay window can judge.
    TooOld = 9,
    /// Below the highest accepted number under the strict order policy.
    OutOfOrder = 10,
    /// The sender's sequence space is used up; rekey.
    CounterExhausted = 11,
    /// The counter store callback failed; no number was used.
    CounterStore = 12,
    /// The output buffer cannot hold the frame.
    BufferTooSmall = 13,
    /// The payload exceeds what one frame may carry.
    PayloadTooLarge = 14,
    /// A key, secret or configuration value is out of range.
    InvalidConfig = 15,
    /// Authentic but of unknown freshness where the class demands it; challenge the sender.
    Stale = 16,
    /// A response, challenge or echo nothing outstanding asked for.
    Unsolicited = 17,
    /// Fragments of one message disagree.
    FragmentMismatch = 18,
    /// A reassembled message would exceed the buffer.
    MessageTooLarge = 19,
    /// A pairwise or signed frame from a sender without a pairwise or verifying key.
    UnknownKey = 20,
    /// The sender's signature on a signed frame does not verify.
    BadSignature = 21,
    /// A group frame where source authentication is required.
    Unauthenticated = 22,
    /// An expected copy of a repeated frame already accepted (not an attack).
    Duplicate = 23,
    /// The counter store holds no record: provision a new identity explicitly
    /// (`meshseal_sender_provision`), or re-join under a fresh id or epoch; never restart a
    /// used identity at 0.
    NoCounterRecord = 24,
    /// The platform's AEAD or mask callback ([`crate::MeshsealAead`]) failed; nothing was
    /// released (a sealed frame's buffer is wiped, its number is not used again).
    Backend = 25,
    /// A required pointer was null.
    NullPointer = -1,
    /// A pointer was not aligned for its type.
    Misaligned = -2,
    /// The context was not initialized (or was cleared).
    NotInitialized = -3,
    /// An argument is out of range (unknown constant, overlapping buffers, huge length).
    BadArgument = -4,
    /// The library was built without this function's feature.
    Unsupported = -5,
    /// Nothing to report (e.g. no stale frame).
    NotFound = -6,
}

/// The core's reason names, NUL-terminated, indexed by `Error::index()` (a refusal's code
/// less one).
const NAMES: [&CStr; Error::COUNT] = [
    c"malformed",
    c"unsupported_version",
    c"unknown_epoch",
    c"unknown_sender",
    c"reflected",
    c"unsynchronized",
    c"bad_tag",
    c"replay",
    c"too_old",
    c"out_of_order",
    c"counter_exhausted",
    c"counter_store",
    c"buffer_too_small",
    c"payload_too_large",
    c"invalid_config",
    c"stale",
    c"unsolicited",
    c"fragment_mismatch",
    c"message_too_large",
    c"unknown_key",
    c"bad_signature",
    c"unauthenticated",
    c"duplicate",
    c"no_counter_record",
    c"backend",
];

/// The result code of a core refusal: `Error::index() + 1` (a test holds every reason to it),
/// as a match the compiler reduces to arithmetic on the reason, without a table in flash. Out
/// of line, as every `?` on a core result converts through it; a reason this build does not
/// know is `BAD_ARGUMENT`.
#[inline(never)]
pub(crate) fn code(e: Error) -> MeshsealResult {
    match e {
        Error::Malformed(_) => MeshsealResult::Malformed,
        Error::UnsupportedVersion => MeshsealResult::UnsupportedVersion,
        Error::UnknownEpoch => MeshsealResult::UnknownEpoch,
        Error::UnknownSender => MeshsealResult::UnknownSender,
        Error::Reflected => MeshsealResult::Reflected,
        Error::Unsynchronized => MeshsealResult::Unsynchronized,
        Error::BadTag => MeshsealResult::BadTag,
        Error::Replay => MeshsealResult::Replay,
        Error::TooOld => MeshsealResult::TooOld,
        Error::OutOfOrder => MeshsealResult::OutOfOrder,
        Error::CounterExhausted => MeshsealResult::CounterExhausted,
        Error::CounterStore => MeshsealResult::CounterStore,
        Error::BufferTooSmall => MeshsealResult::BufferTooSmall,
        Error::PayloadTooLarge => MeshsealResult::PayloadTooLarge,
        Error::InvalidConfig => MeshsealResult::InvalidConfig,
        Error::Stale => MeshsealResult::Stale,
        Error::Unsolicited => MeshsealResult::Unsolicited,
        Error::FragmentMismatch => MeshsealResult::FragmentMismatch,
        Error::MessageTooLarge => MeshsealResult::MessageTooLarge,
        Error::UnknownKey => MeshsealResult::UnknownKey,
        Error::BadSignature => MeshsealResult::BadSignature,
        Error::Unauthenticated => MeshsealResult::Unauthenticated,
        Error::Duplicate => MeshsealResult::Duplicate,
        Error::NoCounterRecord => MeshsealResult::NoCounterRecord,
        Error::Backend => MeshsealResult::Backend,
        _ => MeshsealResult::BadArgument,
    }
}

fn name(code: i32) -> &'static CStr {
    match code {
        0 => c"ok",
        -1 => c"null_pointer",
        -2 => c"misaligned",
        -3 => c"not_initialized",
        -4 => c"bad_argument",
        -5 => c"unsupported",
        -6 => c"not_found",
        c => c
            .checked_sub(1)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| NAMES.get(i))
            .copied()
            .unwrap_or(c"unknown"),
    }
}

/// The stable snake_case name of a result code (the core's reason name for a refusal), as a
/// static NUL-terminated string; `"unknown"` for a code this build does not define.
#[no_mangle]
pub extern "C" fn meshseal_result_name(code: i32) -> *const c_char {
    name(code).as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_core_reason_index_and_names() {
        for (i, e) in Error::ALL.into_iter().enumerate() {
            let c = code(e);
            assert_eq!(c as i32, i as i32 + 1, "{e:?}");
            assert_eq!(name(c as i32).to_str().unwrap(), e.reason(), "{e:?}");
        }
    }

    #[test]
    fn misuse_codes_are_negative_and_named() {
        for c in [
            MeshsealResult::NullPointer,
            MeshsealResult::Misaligned,
            MeshsealResult::NotInitialized,
            MeshsealResult::BadArgument,
            MeshsealResult::Unsupported,
            MeshsealResult::NotFound,
        ] {
            assert!((c as i32) < 0);
            assert_ne!(name(c as i32).to_str().unwrap(), "unknown");
        }
        assert_eq!(name(1000).to_str().unwrap(), "unknown");
        assert_eq!(name(i32::MIN).to_str().unwrap(), "unknown");
    }
}
