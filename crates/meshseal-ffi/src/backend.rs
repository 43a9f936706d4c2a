//! The AEAD a context seals and opens with: meshseal's own AES-128-CCM-8 (RustCrypto, feature
//! `software-aes`), or the platform's, through C callbacks ([`MeshsealAead`]): PSA Crypto with
//! an opaque key id, Mbed TLS's CCM, a hardware engine. With the platform's, the group key need
//! never sit in meshseal's RAM, and a firmware that already links an AES pays for it once.
//!
//! Header privacy (spec §20) needs one more AES-128 block operation per frame under the group's
//! privacy key: in software from [`MeshsealKeys::privacy_key`], or through the platform's
//! [`MeshsealAead::mask`] callback.

use core::ffi::c_void;

#[cfg(feature = "privacy")]
use meshseal::privacy::Private;

/// The software AEAD: with the header-privacy key schedule when the feature is on.
#[cfg(feature = "privacy")]
type Software = Private<meshseal::RustCryptoCcm>;
#[cfg(all(feature = "software-aes", not(feature = "privacy")))]
type Software = meshseal::RustCryptoCcm;
use meshseal::{AeadBackend, Error, GroupKeys, NONCE_LEN, TAG_LEN};

use crate::raw::{self, Checked};
use crate::{flag, size_t, MeshsealKeys, MeshsealResult};

/// Platform AES-128-CCM with an 8-byte tag and a 13-byte nonce: encrypts `len` bytes of `buf` in
/// place, authenticating `aad_len` bytes of `aad` too, and writes the 8-byte tag to `tag`.
/// Returns 0 on success, any other value on a platform failure (the seal is then refused as
/// `MESHSEAL_RESULT_BACKEND`, its buffer wiped, its sequence number never used again).
pub type MeshsealAeadSealFn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        nonce: *const u8,
        aad: *const u8,
        aad_len: size_t,
        buf: *mut u8,
        len: size_t,
        tag: *mut u8,
    ) -> i32,
>;

/// Platform AES-128-CCM-8 decryption: returns 0 when `tag` verifies over `aad` and the `len`
/// ciphertext bytes of `buf`, with `buf` then decrypted in place; 1 when the tag does not
/// verify; any other value on a platform failure. Unless it returns 0 it must leave `buf`
/// unchanged: no byte of unverified plaintext may reach it (with PSA, decrypt into a scratch
/// buffer and copy on success).
pub type MeshsealAeadOpenFn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        nonce: *const u8,
        aad: *const u8,
        aad_len: size_t,
        buf: *mut u8,
        len: size_t,
        tag: *const u8,
    ) -> i32,
>;

/// Platform AES-128 of one block under the group's privacy key (header privacy, spec §20):
/// writes the encryption of the 16 bytes at `block` to the 16 bytes at `out`. Returns 0 on
/// success, any other value on a platform failure (the frame is then refused as
/// `MESHSEAL_RESULT_BACKEND`: a private group never sends or reads a header in clear).
pub type MeshsealMaskFn =
    Option<unsafe extern "C" fn(user: *mut c_void, block: *const u8, out: *mut u8) -> i32>;

/// The platform's AEAD, for [`MeshsealKeys::aead`]. The context copies the function pointers
/// and `user` when it is initialized; `user` (a key handle, an engine) must stay valid until the
/// context is cleared. Callbacks run inside the seal or open call that needs them, on its
/// thread, and must not call back into the library with the context they serve.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MeshsealAead {
    /// Seals; required.
    pub seal: MeshsealAeadSealFn,
    /// Opens; required.
    pub open: MeshsealAeadOpenFn,
    /// The header-privacy mask; required when [`MeshsealKeys::privacy`] is 1, else ignored.
    pub mask: MeshsealMaskFn,
    /// Passed to every callback.
    pub user: *mut c_void,
}

type SealFn = unsafe extern "C" fn(
    *mut c_void,
    *const u8,
    *const u8,
    size_t,
    *mut u8,
    size_t,
    *mut u8,
) -> i32;
type OpenFn = unsafe extern "C" fn(
    *mut c_void,
    *const u8,
    *const u8,
    size_t,
    *mut u8,
    size_t,
    *const u8,
) -> i32;
type MaskFn = unsafe extern "C" fn(*mut c_void, *const u8, *mut u8) -> i32;

/// The platform's callbacks, checked non-null.
#[derive(Clone, Copy)]
pub(crate) struct Platform {
    seal: SealFn,
    open: OpenFn,
    /// Present exactly when the group uses header privacy.
    mask: Option<MaskFn>,
    user: *mut c_void,
}

impl AeadBackend for Platform {
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Error> {
        let mut tag = [0u8; TAG_LEN];
        // SAFETY: `seal` is a non-null function pointer the caller registered with the
        // documented signature; every pointer addresses memory valid for the length passed
        // with it (13 nonce bytes, `aad.len()` and `buf.len()` bytes, 8 tag bytes), `buf` and
        // `tag` writable and not aliased by anything else during the call.
        let r = unsafe {
            (self.seal)(
                self.user,
                nonce.as_ptr(),
                aad.as_ptr(),
                aad.len(),
                buf.as_mut_ptr(),
                buf.len(),
                tag.as_mut_ptr(),
            )
        };
        if r == 0 {
            Ok(tag)
        } else {
            buf.fill(0);
            Err(Error::Backend)
        }
    }

    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Error> {
        // SAFETY: as for `seal`: a registered, non-null callback, and pointers valid for the
        // lengths passed with them (`tag` 8 readable bytes).
        let r = unsafe {
            (self.open)(
                self.user,
                nonce.as_ptr(),
                aad.as_ptr(),
                aad.len(),
                buf.as_mut_ptr(),
                buf.len(),
                tag.as_ptr(),
            )
        };
        match r {
            0 => Ok(()),
            1 => Err(Error::BadTag),
            _ => Err(Error::Backend),
        }
    }

    fn privacy_mask(&self, block: &[u8; 16]) -> Option<[u8; 16]> {
        if !cfg!(feature = "header-privacy") {
            return None;
        }
        let mask = self.mask?;
        let mut out = [0u8; 16];
        // SAFETY: a registered, non-null callback; `block` and `out` are 16 bytes each, `out`
        // writable and distinct from `block`.
        (unsafe { mask(self.user, block.as_ptr(), out.as_mut_ptr()) } == 0).then_some(out)
    }

    fn header_privacy(&self) -> bool {
        cfg!(feature = "header-privacy") && self.mask.is_some()
    }
}

/// The AEAD of one context: the software one or the platform's. The software variant's key
/// schedules are inline (there is no heap); a build without `software-aes` has only the
/// platform's, a few words.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Backend {
    /// RustCrypto AES-128-CCM-8, with header privacy when the keys ask for it.
    #[cfg(feature = "software-aes")]
    Software(Software),
    /// The platform's, through [`MeshsealAead`].
    Platform(Platform),
}

impl AeadBackend for Backend {
    #[inline]
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Error> {
        match self {
            #[cfg(feature = "software-aes")]
            Backend::Software(a) => a.seal_in_place(nonce, aad, buf),
            Backend::Platform(a) => a.seal_in_place(nonce, aad, buf),
        }
    }

    #[inline]
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Error> {
        match self {
            #[cfg(feature = "software-aes")]
            Backend::Software(a) => a.open_in_place(nonce, aad, buf, tag),
            Backend::Platform(a) => a.open_in_place(nonce, aad, buf, tag),
        }
    }

    #[inline]
    fn privacy_mask(&self, block: &[u8; 16]) -> Option<[u8; 16]> {
        match self {
            #[cfg(feature = "software-aes")]
            Backend::Software(a) => a.privacy_mask(block),
            Backend::Platform(a) => a.privacy_mask(block),
        }
    }

    #[inline]
    fn header_privacy(&self) -> bool {
        match self {
            #[cfg(feature = "software-aes")]
            Backend::Software(a) => a.header_privacy(),
            Backend::Platform(a) => a.header_privacy(),
        }
    }
}

/// The keys the core uses for `k`: its AEAD (the platform's when `k.aead` is set, else the
/// software one over `k.key`), header privacy as `k.privacy` says, and its IV, group and
/// epoch. A platform AEAD without its seal or open callback, or without a mask callback for a
/// private group, is refused (`NULL_POINTER`); the software AEAD in a build without it, and a
/// private group in a build without `header-privacy`, are `UNSUPPORTED`.
///
/// # Safety
/// `k.aead` is null or points to a readable [`MeshsealAead`].
pub(crate) unsafe fn core_keys(k: &MeshsealKeys) -> Checked<GroupKeys<Backend>> {
    let private = flag(k.privacy)?;
    if private && !cfg!(feature = "header-privacy") {
        return Err(MeshsealResult::Unsupported);
    }
    // SAFETY: forwarded from this function's contract.
    let platform = unsafe { raw::opt_ref(k.aead)? };
    let backend = match platform {
        Some(p) => {
            let (Some(seal), Some(open)) = (p.seal, p.open) else {
                return Err(MeshsealResult::NullPointer);
            };
            let mask = match (private, p.mask) {
                (true, None) => return Err(MeshsealResult::NullPointer),
                (true, mask) => mask,
                (false, _) => None,
            };
            Backend::Platform(Platform {
                seal,
                open,
                mask,
                user: p.user,
            })
        }
        None => software(k, private)?,
    };
    Ok(GroupKeys::with_backend(backend, k.iv, k.group_id, k.epoch))
}

#[cfg(feature = "privacy")]
fn software(k: &MeshsealKeys, private: bool) -> Checked<Backend> {
    let ccm = meshseal::RustCryptoCcm::new(&k.key);
    Ok(Backend::Software(if private {
        Private::new(ccm, &k.privacy_key)
    } else {
        Private::off(ccm)
    }))
}

#[cfg(all(feature = "software-aes", not(feature = "privacy")))]
fn software(k: &MeshsealKeys, private: bool) -> Checked<Backend> {
    if private {
        return Err(MeshsealResult::Unsupported);
    }
    Ok(Backend::Software(meshseal::RustCryptoCcm::new(&k.key)))
}

#[cfg(not(feature = "software-aes"))]
fn software(_: &MeshsealKeys, _: bool) -> Checked<Backend> {
    Err(MeshsealResult::Unsupported)
}
