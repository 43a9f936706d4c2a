//! What sealing and opening share: frame ids, the associated data, the extension fields of a
//! frame being sealed, the order of key epochs, and tag verification.

use crate::crypto::{AeadBackend, GroupKeys, NonceInput};
use crate::frame::{Binding, Fragment, Frame, Repeat, SenderIdMode, SeqForm, Source, WireError};
use crate::privacy;
use crate::{Error, NONCE_LEN, TAG_LEN};

/// Largest payload of one frame (CCM with a 13-byte nonce has a 2-byte length field).
pub const MAX_PAYLOAD: usize = 0xffff;

/// Longest associated data: extension byte, fragment binding (first number, fragment byte),
/// one bound frame id (sender, number), a coarse timestamp and a repeat announcement.
pub const MAX_AAD: usize = 1 + 6 + 9 + 2 + 2;

/// A frame's identity within the group: who sealed it and under which number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameId {
    /// The sender id.
    pub sender: u32,
    /// The full sequence number.
    pub seq: u64,
}

/// What a frame being sealed carries beyond its payload.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ext {
    pub(super) fragment: Option<Fragment>,
    pub(super) binding: Binding,
    pub(super) bound: Option<FrameId>,
    pub(super) form: Option<SeqForm>,
    pub(super) time: Option<u16>,
    pub(super) repeat: Option<Repeat>,
    pub(super) source: Source,
}

impl Ext {
    pub(super) const NONE: Ext = Ext {
        fragment: None,
        binding: Binding::None,
        bound: None,
        form: None,
        time: None,
        repeat: None,
        source: Source::Group,
    };
}

/// Associated data of a frame: empty without an extension byte; otherwise the extension byte,
/// then for a fragment the message's first number (u40) and the fragment byte, then the bound
/// frame id (sender u32, number u40) for responses, challenges and echoes, then the timestamp
/// and the repeat announcement (copies, window) as sent.
pub(super) fn associated_data(
    out: &mut [u8; MAX_AAD],
    ext: u8,
    seq: u64,
    fragment: Option<Fragment>,
    bound: Option<FrameId>,
    time: Option<u16>,
    repeat: Option<Repeat>,
) -> usize {
    if ext == 0 {
        return 0;
    }
    out[0] = ext;
    let mut at = 1;
    if let Some(f) = fragment {
        let first = seq.wrapping_sub(u64::from(f.index)) & crate::frame::SEQ_MAX;
        out[at..at + 5].copy_from_slice(&first.to_be_bytes()[3..]);
        out[at + 5] = f.to_byte();
        at += 6;
    }
    if let Some(b) = bound {
        out[at..at + 4].copy_from_slice(&b.sender.to_be_bytes());
        out[at + 4..at + 9].copy_from_slice(&b.seq.to_be_bytes()[3..]);
        at += 9;
    }
    if let Some(t) = time {
        out[at..at + 2].copy_from_slice(&t.to_be_bytes());
        at += 2;
    }
    if let Some(r) = repeat {
        out[at] = r.copies;
        out[at + 1] = r.window;
        at += 2;
    }
    at
}

/// Whether key epoch `a` is newer than `b`: ahead by 1 to 2^15 - 1 in wrapping arithmetic, so
/// the 16-bit epoch may wrap around.
pub const fn epoch_is_newer(a: u16, b: u16) -> bool {
    let d = a.wrapping_sub(b);
    d != 0 && d < 0x8000
}

/// Verifies and decrypts a checked frame in place; wipes the payload on failure.
pub(super) fn decrypt<A: AeadBackend>(
    keys: &GroupKeys<A>,
    frame: &mut Frame<&mut [u8]>,
    sender: u32,
    seq: u64,
    aad: &[u8],
) -> Result<(), Error> {
    let (header, ext) = (frame.header(), frame.ext_byte());
    let tag = frame.tag();
    open_body(
        keys,
        header,
        ext,
        sender,
        seq,
        aad,
        frame.payload_mut(),
        &tag,
    )
}

/// The nonce of the frame (`header`, `ext`, `sender`, `seq`) under `keys`; one copy for the
/// seal and the open paths.
#[inline(never)]
fn nonce<A: AeadBackend>(
    keys: &GroupKeys<A>,
    header: u8,
    ext: u8,
    sender: u32,
    seq: u64,
) -> [u8; NONCE_LEN] {
    keys.nonce(&NonceInput {
        header,
        ext,
        epoch: keys.epoch(),
        sender,
        seq,
    })
}

/// Verifies and decrypts `body` in place against `tag`; wipes `body` on failure.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) fn open_body<A: AeadBackend>(
    keys: &GroupKeys<A>,
    header: u8,
    ext: u8,
    sender: u32,
    seq: u64,
    aad: &[u8],
    body: &mut [u8],
    tag: &[u8],
) -> Result<(), Error> {
    let Ok(t) = <[u8; TAG_LEN]>::try_from(tag) else {
        body.fill(0);
        return Err(Error::BadTag);
    };
    let result = keys
        .aead()
        .open_in_place(&nonce(keys, header, ext, sender, seq), aad, body, &t);
    if result.is_err() {
        body.fill(0);
    }
    // A backend that failed gave no verdict on the frame: that is not a bad tag.
    result.map_err(|e| match e {
        Error::Backend => Error::Backend,
        _ => Error::BadTag,
    })
}

/// Encrypts `body` in place and writes the tag to `tag_out`; wipes `body` if the backend fails.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(super) fn seal_body<A: AeadBackend>(
    keys: &GroupKeys<A>,
    header: u8,
    ext: u8,
    sender: u32,
    seq: u64,
    aad: &[u8],
    body: &mut [u8],
    tag_out: &mut [u8],
) -> Result<(), Error> {
    let sealed = keys
        .aead()
        .seal_in_place(&nonce(keys, header, ext, sender, seq), aad, body);
    match (sealed, <&mut [u8; TAG_LEN]>::try_from(tag_out)) {
        (Ok(tag), Ok(out)) => {
            *out = tag;
            Ok(())
        }
        (Ok(_), Err(_)) => {
            body.fill(0);
            Err(Error::BufferTooSmall)
        }
        (Err(e), _) => {
            body.fill(0);
            Err(e)
        }
    }
}

/// Masks the header of a sealed frame when the group uses header privacy (spec §20); the mask
/// comes from the group's keys (never a pairwise key: a receiver unmasks before it knows the
/// frame's mode). When the backend gives no mask, the frame is wiped and refused as
/// [`Error::Backend`]: a private group never sends a header in clear.
#[inline]
pub(super) fn mask_header<A: AeadBackend>(
    keys: &GroupKeys<A>,
    frame: &mut [u8],
    hlen: usize,
) -> Result<(), Error> {
    if !keys.aead().header_privacy() {
        return Ok(());
    }
    match crate::privacy::mask_input(frame).and_then(|b| keys.aead().privacy_mask(&b)) {
        Some(mask) => {
            crate::privacy::apply_mask(frame, hlen, &mask);
            Ok(())
        }
        None => {
            frame.fill(0);
            Err(Error::Backend)
        }
    }
}

/// Unmasks, in place, the header of a frame of a group with header privacy under `keys` (spec
/// §20): the mask and the header's length, or `None` when `keys` use no header privacy or the
/// frame is too short to hold a header and a tag (the parse refuses it then). A header that
/// does not parse, or is longer than one mask block, is refused as malformed and left masked.
pub(crate) fn unmask_header<A: AeadBackend>(
    keys: &GroupKeys<A>,
    frame: &mut [u8],
    mode: SenderIdMode,
) -> Result<Option<([u8; 16], usize)>, Error> {
    if !keys.aead().header_privacy() {
        return Ok(None);
    }
    let Some(block) = privacy::mask_input(frame) else {
        return Ok(None);
    };
    let Some(mask) = keys.aead().privacy_mask(&block) else {
        return Err(Error::Backend);
    };
    // Unmask what may be header (at most one block, never the tag), read the header's length,
    // and mask the ciphertext bytes of that span back.
    let span = frame
        .len()
        .saturating_sub(TAG_LEN)
        .min(privacy::MAX_PRIVATE_HEADER);
    privacy::apply_mask(frame, span, &mask);
    let parsed = match Frame::new_checked(&*frame, mode) {
        Ok(f) if f.header_len() <= privacy::MAX_PRIVATE_HEADER => Ok(f.header_len()),
        Ok(_) => Err(WireError::BadExtension),
        Err(e) => Err(e),
    };
    let hlen = match parsed {
        Ok(hlen) => hlen,
        Err(e) => {
            privacy::apply_mask(frame, span, &mask);
            return Err(Error::Malformed(e));
        }
    };
    if let (Some(rest), Some(m)) = (frame.get_mut(hlen..span), mask.get(hlen..)) {
        for (b, m) in rest.iter_mut().zip(m) {
            *b ^= m;
        }
    }
    Ok(Some((mask, hlen)))
}
