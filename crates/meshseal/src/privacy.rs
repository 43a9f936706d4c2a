//! Header privacy (spec §20): the header of every frame, but for its version and epoch bits,
//! hidden from anyone without the group's keys, at no extra byte.
//!
//! In the style of Bluetooth Mesh's header obfuscation and Matter's privacy mode: after a frame
//! is sealed, its header is XORed with a mask `AES-128(privacy key, tag ‖ 0^8)`, where the
//! privacy key is derived for the purpose from the group's key schedule (HKDF label `0x07`) and
//! the tag is the frame's own 8-byte AEAD tag, itself pseudorandom. The first byte keeps its
//! version bit and epoch bits in clear (a receiver picks the epoch's keys from them); its five
//! other bits and every following header byte (sender id, sequence bytes, extension byte and
//! fields) are masked. A receiver computes the same mask from the tag, unmasks, and checks the
//! frame as any other: a changed header unmasks to another header, whose nonce or associated
//! data fail the tag. An observer still sees the frame's length, its timing and the epoch bits.
//!
//! A privacy group's headers are at most 16 bytes (one mask block): a sender refuses the one
//! combination that exceeds it (a sender id of 2^28 or more with fragment, timestamp and repeat
//! fields), a receiver refuses a longer header as malformed.
//!
//! The privacy key is a separate AES key, so a backend carries it: [`Private`] adds it to any
//! [`AeadBackend`] (a platform backend can implement [`AeadBackend::privacy_mask`] itself).

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;

#[cfg(feature = "hkdf")]
use crate::crypto::RustCryptoCcm;
use crate::crypto::{AeadBackend, GroupKeys};
use crate::{Error, KEY_LEN, NONCE_LEN, TAG_LEN};

/// HKDF `info` label of the header-privacy key.
pub const LABEL_PRIVACY: u8 = 0x07;
/// Longest header a privacy group sends: one mask block.
pub const MAX_PRIVATE_HEADER: usize = 16;
/// The header byte's bits that stay in clear: the version bit and the epoch bits.
pub const CLEAR_BITS: u8 = 0xe0;

/// Whether a group masks its frames' headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderPrivacy {
    /// Headers in clear (the default, and what spec 1.2 receivers read).
    #[default]
    Off,
    /// Headers masked (spec §20).
    On,
}

/// An AEAD backend that may carry header privacy: `A` for the frames and, when on, AES-128
/// under the privacy key for the masks. One type for groups with and without it, so a host
/// tool serves both; firmware without header privacy uses `A` alone and saves the mask's key
/// schedule. Both key schedules are zeroized on drop.
#[derive(Clone)]
pub struct Private<A: AeadBackend> {
    aead: A,
    mask: Option<Aes128>,
}

impl<A: AeadBackend> Private<A> {
    /// `aead` with header privacy under `privacy_key` (from [`derive_privacy_key`]).
    pub fn new(aead: A, privacy_key: &[u8; KEY_LEN]) -> Self {
        Private {
            aead,
            mask: Some(Aes128::new(privacy_key.into())),
        }
    }

    /// `aead` without header privacy.
    pub fn off(aead: A) -> Self {
        Private { aead, mask: None }
    }
}

impl<A: AeadBackend> core::fmt::Debug for Private<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Private(..)")
    }
}

impl<A: AeadBackend> AeadBackend for Private<A> {
    #[inline]
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Error> {
        self.aead.seal_in_place(nonce, aad, buf)
    }

    #[inline]
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Error> {
        self.aead.open_in_place(nonce, aad, buf, tag)
    }

    fn privacy_mask(&self, block: &[u8; 16]) -> Option<[u8; 16]> {
        let mask = self.mask.as_ref()?;
        let mut b = aes::Block::from(*block);
        mask.encrypt_block(&mut b);
        Some(b.into())
    }

    fn header_privacy(&self) -> bool {
        self.mask.is_some()
    }
}

#[cfg(feature = "hkdf")]
impl GroupKeys<Private<RustCryptoCcm>> {
    /// The keys of a group with header privacy: the group key and IV as
    /// [`GroupKeys::derive`], and the privacy key ([`derive_privacy_key`]).
    pub fn derive_private(
        master_secret: &[u8],
        salt: &[u8],
        group_id: u32,
        epoch: u16,
    ) -> Result<Self, Error> {
        Self::derive_with(master_secret, salt, group_id, epoch, HeaderPrivacy::On)
    }

    /// The keys of a group with or without header privacy, as `privacy` says.
    pub fn derive_with(
        master_secret: &[u8],
        salt: &[u8],
        group_id: u32,
        epoch: u16,
        privacy: HeaderPrivacy,
    ) -> Result<Self, Error> {
        let k = crate::crypto::derive(master_secret, salt, group_id, epoch)?;
        let ccm = RustCryptoCcm::new(&k.key);
        let aead = match privacy {
            HeaderPrivacy::Off => Private::off(ccm),
            HeaderPrivacy::On => {
                let pk = derive_privacy_key(master_secret, salt, group_id, epoch)?;
                let pk = zeroize::Zeroizing::new(pk);
                Private::new(ccm, &pk)
            }
        };
        Ok(GroupKeys::with_backend(aead, k.iv, group_id, epoch))
    }
}

/// The privacy key of a group and epoch: HKDF-SHA256 over the master secret like the group key
/// (spec §2), with label `0x07` (labels 3 to 6 are the member and pairwise keys') and 16 bytes of output.
#[cfg(feature = "hkdf")]
pub fn derive_privacy_key(
    master_secret: &[u8],
    salt: &[u8],
    group_id: u32,
    epoch: u16,
) -> Result<[u8; KEY_LEN], Error> {
    use crate::crypto::{hkdf_info, MASTER_SECRET_MAX, MASTER_SECRET_MIN};
    if !(MASTER_SECRET_MIN..=MASTER_SECRET_MAX).contains(&master_secret.len()) {
        return Err(Error::InvalidConfig);
    }
    let salt = if salt.is_empty() { None } else { Some(salt) };
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(salt, master_secret);
    let mut key = [0u8; KEY_LEN];
    hk.expand(
        &hkdf_info(LABEL_PRIVACY, group_id, epoch, KEY_LEN as u8),
        &mut key,
    )
    .map_err(|_| Error::InvalidConfig)?;
    Ok(key)
}

/// The mask of `frame`'s header under `keys`, or `None` when `keys` use no header privacy or
/// the frame cannot hold a header and a tag. For tools that show a private frame's header
/// (`meshseal inspect`); receivers unmask through [`crate::Recipient`].
pub fn header_mask<A: AeadBackend>(keys: &GroupKeys<A>, frame: &[u8]) -> Option<[u8; 16]> {
    if !keys.header_privacy() {
        return None;
    }
    mask_input(frame).and_then(|block| keys.aead().privacy_mask(&block))
}

/// Unmasks `frame`'s header in place under `keys` (spec §20), for tools that read a private
/// frame's header before (or without) opening it; returns the header's length, or `None` when
/// `keys` use no header privacy or the frame is too short to carry a masked header. A header
/// that does not parse, or is longer than one mask block, is refused as malformed and left
/// masked.
pub fn unmask<A: AeadBackend>(
    keys: &GroupKeys<A>,
    frame: &mut [u8],
    mode: crate::frame::SenderIdMode,
) -> Result<Option<usize>, Error> {
    crate::context::unmask_header(keys, frame, mode).map(|m| m.map(|(_, hlen)| hlen))
}

/// The block whose encryption masks a frame's header: its tag, then eight zero bytes. `None`
/// for a buffer too short to hold a header byte and a tag.
#[inline]
pub fn mask_input(frame: &[u8]) -> Option<[u8; 16]> {
    if frame.len() < 1 + TAG_LEN {
        return None;
    }
    let mut block = [0u8; 16];
    for (b, t) in block.iter_mut().zip(frame.get(frame.len() - TAG_LEN..)?) {
        *b = *t;
    }
    Some(block)
}

/// XORs the first `len` bytes of `frame` with `mask`, keeping the clear bits of the header
/// byte: masks a header, or unmasks it. `len` is at most 16 and at most the frame's length.
#[inline]
pub fn apply_mask(frame: &mut [u8], len: usize, mask: &[u8; 16]) {
    let len = len.min(MAX_PRIVATE_HEADER).min(frame.len());
    if len == 0 {
        return;
    }
    frame[0] ^= mask[0] & !CLEAR_BITS;
    for (b, m) in frame[1..len].iter_mut().zip(&mask[1..]) {
        *b ^= m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_twice_restores_and_keeps_the_clear_bits() {
        let mask = [0xffu8; 16];
        let mut f = [0x25u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        let orig = f;
        apply_mask(&mut f, 4, &mask);
        assert_eq!(f[0] & CLEAR_BITS, orig[0] & CLEAR_BITS);
        assert_ne!(f[..4], orig[..4]);
        assert_eq!(f[4..], orig[4..]);
        apply_mask(&mut f, 4, &mask);
        assert_eq!(f, orig);
        assert_eq!(mask_input(&f[..8]), None);
    }
}
