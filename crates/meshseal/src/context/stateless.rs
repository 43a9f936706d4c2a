//! Verification without replay state, for diagnostic tools (no replay protection).

use super::shared::{associated_data, decrypt, unmask_header, FrameId, MAX_AAD};
use crate::crypto::{AeadBackend, GroupKeys};
use crate::frame::{Frame, SenderIdMode, Source};
use crate::seq::reconstruct;
use crate::{Error, TAG_LEN};

/// A frame verified without any replay state (diagnostics only: no replay protection).
#[derive(Debug, PartialEq, Eq)]
pub struct Verified<'a> {
    /// Who sent it.
    pub sender: u32,
    /// Its full sequence number, reconstructed against the given expectation.
    pub seq: u64,
    /// The plaintext.
    pub payload: &'a [u8],
}

/// Verifies and decrypts `buf` in place without replay state, reconstructing a truncated
/// sequence number against `expected`; `bound` is the frame a response, challenge or echo is
/// bound to. A header masked for privacy (spec §20) is unmasked in place. For tools such as
/// `meshseal inspect`; a receiver must use [`Recipient`](super::Recipient).
pub fn open_stateless<'b, A: AeadBackend>(
    keys: &GroupKeys<A>,
    buf: &'b mut [u8],
    mode: SenderIdMode,
    link_sender: Option<u32>,
    expected: u64,
    bound: Option<FrameId>,
) -> Result<Verified<'b>, Error> {
    // The epoch bits stay in clear under header privacy; the rest of a private header is
    // unmasked in place.
    match buf.first() {
        Some(&h) if h & 0x80 == 0 && (h & 0x60) >> 5 != (keys.epoch() & 3) as u8 => {
            return Err(Error::UnknownEpoch)
        }
        Some(&h) if h & 0x80 == 0 => {
            unmask_header(keys, buf, mode)?;
        }
        _ => {}
    }
    let mut frame = Frame::new_checked(&mut *buf, mode)?;
    if frame.epoch_bits() != (keys.epoch() & 3) as u8 {
        return Err(Error::UnknownEpoch);
    }
    let sender = frame
        .sender_id()
        .or(link_sender)
        .ok_or(Error::UnknownSender)?;
    if frame.source() != Source::Group {
        return Err(Error::UnknownKey);
    }
    let seq = reconstruct(expected, frame.truncated_seq());
    let mut aad = [0u8; MAX_AAD];
    let aad_len = associated_data(
        &mut aad,
        frame.ext_byte(),
        seq,
        frame.fragment(),
        bound,
        frame.time(),
        frame.repeat(),
    );
    decrypt(keys, &mut frame, sender, seq, &aad[..aad_len])?;
    let range = frame.header_len()..frame.bytes().len() - TAG_LEN;
    Ok(Verified {
        sender,
        seq,
        payload: &buf[range],
    })
}
