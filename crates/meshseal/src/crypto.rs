//! The cryptographic seam: AEAD backend trait, key schedule and nonce construction.
//!
//! Nothing here is home-made: AES-128-CCM with an 8-byte tag and a 13-byte nonce comes from
//! RustCrypto's `aes` and `ccm` (tag comparison in constant time, buffer wiped on failure), and
//! keys come from HKDF-SHA256 (`hkdf`, `sha2`). Firmware with a hardware CCM engine implements
//! [`AeadBackend`] and keeps every protocol layer unchanged.
//!
//! Binding (see `docs/wire-format.md`): the group id and key epoch select the key and common IV
//! through the HKDF `info`; the header byte, extension byte, key epoch, sender id and full
//! sequence number form the nonce, which CCM authenticates in its first MAC block. An ordinary
//! frame thus has empty associated data, so a small payload costs no extra AES block; frames
//! with an extension (fragments, responses, challenges, echoes) authenticate what the
//! extension refers to as associated data (see `context`).

use ccm::aead::generic_array::GenericArray;
use ccm::aead::{AeadInPlace, KeyInit};
use ccm::consts::{U13, U8};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{Error, KEY_LEN, NONCE_LEN, TAG_LEN};

/// Length of the common IV (equal to the nonce length).
pub const IV_LEN: usize = NONCE_LEN;
/// Shortest accepted master secret.
pub const MASTER_SECRET_MIN: usize = 16;
/// Longest accepted master secret.
pub const MASTER_SECRET_MAX: usize = 64;
/// Prefix of every HKDF `info` of this format version.
pub const INFO_PREFIX: &[u8; 11] = b"meshseal/v1";
/// HKDF `info` label of the AEAD key.
pub const LABEL_KEY: u8 = 0x01;
/// HKDF `info` label of the common IV.
pub const LABEL_IV: u8 = 0x02;

/// AES-CCM with a 16-byte key, 13-byte nonce and 8-byte tag, in place.
///
/// Implementations must compare tags in constant time and must not release plaintext on
/// failure; the caller additionally wipes the buffer when `open_in_place` fails.
pub trait AeadBackend {
    /// Encrypts `buf` in place and returns the tag.
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Error>;

    /// Decrypts `buf` in place if, and only if, `tag` verifies.
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Error>;

    /// Header privacy (spec §20): `block` encrypted with AES-128 under the group's privacy key,
    /// or `None` for a group without header privacy (the default). See [`crate::privacy`].
    /// When [`AeadBackend::header_privacy`] is true, `None` means the backend failed: the
    /// frame is refused as [`Error::Backend`], never sent or read with a header in clear.
    fn privacy_mask(&self, block: &[u8; 16]) -> Option<[u8; 16]> {
        let _ = block;
        None
    }

    /// Whether [`AeadBackend::privacy_mask`] gives masks: the group uses header privacy.
    fn header_privacy(&self) -> bool {
        false
    }
}

type Aes128Ccm8 = ccm::Ccm<aes::Aes128, U8, U13>;

/// The default backend: RustCrypto `ccm` over `aes`. Round keys are zeroized on drop.
#[derive(Clone)]
pub struct RustCryptoCcm(Aes128Ccm8);

impl RustCryptoCcm {
    /// Expands `key` into the cipher's round keys.
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        RustCryptoCcm(Aes128Ccm8::new(GenericArray::from_slice(key)))
    }
}

impl core::fmt::Debug for RustCryptoCcm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RustCryptoCcm(..)")
    }
}

impl AeadBackend for RustCryptoCcm {
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Error> {
        let tag = self
            .0
            .encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, buf)
            .map_err(|_| Error::PayloadTooLarge)?;
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(&tag);
        Ok(out)
    }

    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Error> {
        self.0
            .decrypt_in_place_detached(
                GenericArray::from_slice(nonce),
                aad,
                buf,
                GenericArray::from_slice(tag),
            )
            .map_err(|_| Error::BadTag)
    }
}

/// A backend borrowed: a member that sends and receives under one group key shares one key
/// schedule between its [`crate::Sender`] and [`crate::Recipient`] (with RustCrypto's AES, 352
/// bytes of RAM saved), and firmware can keep the schedule in a `static`.
impl<A: AeadBackend + ?Sized> AeadBackend for &A {
    #[inline]
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Error> {
        (**self).seal_in_place(nonce, aad, buf)
    }

    #[inline]
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Error> {
        (**self).open_in_place(nonce, aad, buf, tag)
    }

    #[inline]
    fn privacy_mask(&self, block: &[u8; 16]) -> Option<[u8; 16]> {
        (**self).privacy_mask(block)
    }

    #[inline]
    fn header_privacy(&self) -> bool {
        (**self).header_privacy()
    }
}

/// Key material derived for one group and key epoch. Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DerivedKeys {
    /// The AES-128 group key.
    pub key: [u8; KEY_LEN],
    /// The common IV, XORed into every nonce.
    pub iv: [u8; IV_LEN],
}

impl core::fmt::Debug for DerivedKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DerivedKeys(..)")
    }
}

/// The HKDF `info` for `label`: prefix, label, group id (u32 BE), epoch (u16 BE), output length.
pub fn hkdf_info(label: u8, group_id: u32, epoch: u16, len: u8) -> [u8; 19] {
    let mut info = [0u8; 19];
    info[..11].copy_from_slice(INFO_PREFIX);
    info[11] = label;
    info[12..16].copy_from_slice(&group_id.to_be_bytes());
    info[16..18].copy_from_slice(&epoch.to_be_bytes());
    info[18] = len;
    info
}

/// Derives the group key and common IV: HKDF-SHA256 with `salt` (empty means none) over a
/// 16–64 byte `master_secret`, expanded once per label.
#[cfg(feature = "hkdf")]
pub fn derive(
    master_secret: &[u8],
    salt: &[u8],
    group_id: u32,
    epoch: u16,
) -> Result<DerivedKeys, Error> {
    if !(MASTER_SECRET_MIN..=MASTER_SECRET_MAX).contains(&master_secret.len()) {
        return Err(Error::InvalidConfig);
    }
    let salt = if salt.is_empty() { None } else { Some(salt) };
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(salt, master_secret);
    let mut out = DerivedKeys {
        key: [0; KEY_LEN],
        iv: [0; IV_LEN],
    };
    hk.expand(
        &hkdf_info(LABEL_KEY, group_id, epoch, KEY_LEN as u8),
        &mut out.key,
    )
    .map_err(|_| Error::InvalidConfig)?;
    hk.expand(
        &hkdf_info(LABEL_IV, group_id, epoch, IV_LEN as u8),
        &mut out.iv,
    )
    .map_err(|_| Error::InvalidConfig)?;
    Ok(out)
}

/// What the nonce of one frame is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonceInput {
    /// The header byte as sent.
    pub header: u8,
    /// The extension byte as sent, 0 for a frame without one.
    pub ext: u8,
    /// The full key epoch.
    pub epoch: u16,
    /// The sender id (also when the link layer supplies it).
    pub sender: u32,
    /// The full 40-bit sequence number.
    pub seq: u64,
}

impl NonceInput {
    /// `iv XOR (header ‖ extension ‖ epoch:2 ‖ sender:4 ‖ seq:5)`.
    ///
    /// Distinct (sender, seq) pairs give distinct nonces whatever the other fields, so the
    /// sender's counter alone guarantees nonce uniqueness under one key.
    pub fn nonce(&self, iv: &[u8; IV_LEN]) -> [u8; NONCE_LEN] {
        self.nonce_words(iv_words(iv))
    }

    /// The same, with the IV as two big-endian words (bytes 0–7, and 8–12 in the top five
    /// bytes of the second): two XORs instead of a loop over bytes.
    #[inline]
    fn nonce_words(&self, (iv_hi, iv_lo): (u64, u64)) -> [u8; NONCE_LEN] {
        let hi = u64::from(self.header) << 56
            | u64::from(self.ext) << 48
            | u64::from(self.epoch) << 32
            | u64::from(self.sender);
        let lo = (self.seq & 0xff_ffff_ffff) << 24;
        let [a, b, c, d, e, f, g, h] = (hi ^ iv_hi).to_be_bytes();
        let [i, j, k, l, m, ..] = (lo ^ iv_lo).to_be_bytes();
        [a, b, c, d, e, f, g, h, i, j, k, l, m]
    }
}

/// The IV as the two words [`NonceInput::nonce_words`] uses.
fn iv_words(iv: &[u8; IV_LEN]) -> (u64, u64) {
    let [a, b, c, d, e, f, g, h, i, j, k, l, m] = *iv;
    (
        u64::from_be_bytes([a, b, c, d, e, f, g, h]),
        u64::from_be_bytes([i, j, k, l, m, 0, 0, 0]),
    )
}

/// An AEAD backend and common IV for one group and key epoch.
pub struct GroupKeys<A: AeadBackend = RustCryptoCcm> {
    aead: A,
    /// The common IV as two words (see [`NonceInput::nonce`]).
    iv: (u64, u64),
    group_id: u32,
    epoch: u16,
}

impl<A: AeadBackend> Drop for GroupKeys<A> {
    fn drop(&mut self) {
        self.iv.0.zeroize();
        self.iv.1.zeroize();
    }
}

impl<A: AeadBackend> core::fmt::Debug for GroupKeys<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupKeys")
            .field("group_id", &self.group_id)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl GroupKeys<RustCryptoCcm> {
    /// Keys from derived material, with the RustCrypto backend.
    pub fn from_derived(k: &DerivedKeys, group_id: u32, epoch: u16) -> Self {
        GroupKeys::with_backend(RustCryptoCcm::new(&k.key), k.iv, group_id, epoch)
    }

    /// Derives keys with HKDF-SHA256 (see [`fn@derive`]).
    #[cfg(feature = "hkdf")]
    pub fn derive(
        master_secret: &[u8],
        salt: &[u8],
        group_id: u32,
        epoch: u16,
    ) -> Result<Self, Error> {
        let k = derive(master_secret, salt, group_id, epoch)?;
        Ok(Self::from_derived(&k, group_id, epoch))
    }
}

impl<A: AeadBackend> GroupKeys<A> {
    /// Keys over any backend (e.g. a hardware CCM engine already loaded with the group key).
    pub fn with_backend(aead: A, iv: [u8; IV_LEN], group_id: u32, epoch: u16) -> Self {
        let words = iv_words(&iv);
        let mut iv = iv;
        iv.zeroize();
        GroupKeys {
            aead,
            iv: words,
            group_id,
            epoch,
        }
    }

    /// The group id these keys were derived for.
    pub fn group_id(&self) -> u32 {
        self.group_id
    }

    /// The key epoch these keys belong to.
    pub fn epoch(&self) -> u16 {
        self.epoch
    }

    /// Whether the group uses header privacy (spec §20, [`crate::privacy`]).
    pub fn header_privacy(&self) -> bool {
        self.aead.header_privacy()
    }

    #[inline]
    pub(crate) fn nonce(&self, input: &NonceInput) -> [u8; NONCE_LEN] {
        input.nonce_words(self.iv)
    }

    pub(crate) fn aead(&self) -> &A {
        &self.aead
    }

    /// The AEAD backend, for a platform integration that keeps state in it (an engine handle,
    /// the last platform error code).
    pub fn backend(&self) -> &A {
        &self.aead
    }
}

#[cfg(all(test, feature = "hkdf"))]
mod tests {
    use super::*;

    #[test]
    fn derive_checks_secret_length() {
        assert_eq!(
            derive(&[0; 15], b"", 1, 0).err(),
            Some(Error::InvalidConfig)
        );
        assert_eq!(
            derive(&[0; 65], b"", 1, 0).err(),
            Some(Error::InvalidConfig)
        );
        assert!(derive(&[0; 16], b"", 1, 0).is_ok());
        assert!(derive(&[0; 64], b"salt", 1, 0).is_ok());
    }

    #[test]
    fn group_and_epoch_separate_keys() {
        let a = derive(&[7; 32], b"", 1, 0).unwrap();
        let b = derive(&[7; 32], b"", 2, 0).unwrap();
        let c = derive(&[7; 32], b"", 1, 1).unwrap();
        let d = derive(&[7; 32], b"x", 1, 0).unwrap();
        for other in [&b, &c, &d] {
            assert_ne!(a.key, other.key);
            assert_ne!(a.iv, other.iv);
        }
    }

    #[test]
    fn rfc5869_empty_salt_equals_zero_salt() {
        // RFC 5869 §2.2: a missing salt is HashLen zero bytes.
        let a = derive(&[9; 16], b"", 5, 3).unwrap();
        let b = derive(&[9; 16], &[0; 32], 5, 3).unwrap();
        assert_eq!(a.key, b.key);
    }

    #[test]
    fn nonce_layout() {
        let iv = [0u8; IV_LEN];
        let n = NonceInput {
            header: 0x31,
            ext: 0x24,
            epoch: 0x0102,
            sender: 0x0a0b0c0d,
            seq: 0x11_2233_4455,
        }
        .nonce(&iv);
        assert_eq!(
            n,
            [0x31, 0x24, 1, 2, 0x0a, 0x0b, 0x0c, 0x0d, 0x11, 0x22, 0x33, 0x44, 0x55]
        );
    }

    #[test]
    fn open_rejects_modified_tag_and_wipes() {
        let k = RustCryptoCcm::new(&[1; 16]);
        let nonce = [2u8; 13];
        let mut buf = *b"temp=21";
        let mut tag = k.seal_in_place(&nonce, b"", &mut buf).unwrap();
        tag[0] ^= 1;
        assert_eq!(
            k.open_in_place(&nonce, b"", &mut buf, &tag),
            Err(Error::BadTag)
        );
        assert_eq!(buf, [0; 7]);
    }
}
