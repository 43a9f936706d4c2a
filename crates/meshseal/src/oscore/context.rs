//! The OSCORE security context (RFC 8613 §3): derivation and the keys it holds.
//!
//! Sender key, recipient key and common IV are HKDF-SHA256 outputs over the master secret and
//! salt, with the CBOR `info` of [`super::cose::hkdf_info`]. The keys end up inside two AEAD
//! backends (the core's [`AeadBackend`] seam, so a hardware CCM engine can hold them) and the
//! intermediate bytes are zeroized. Mutable state (sequence numbers, replay window) lives in
//! [`super::Endpoint`], not here.

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::cose::{hkdf_info, InfoType, MAX_INFO_LEN};
use super::{Error, MAX_ID_CONTEXT_LEN, MAX_ID_LEN};
use crate::crypto::{AeadBackend, RustCryptoCcm};
use crate::{KEY_LEN, NONCE_LEN};

/// A sender or recipient id (at most 7 bytes with a 13-byte nonce).
pub type Id = heapless::Vec<u8, MAX_ID_LEN>;
/// An id context.
pub type IdContext = heapless::Vec<u8, MAX_ID_CONTEXT_LEN>;

/// Longest accepted master secret.
pub const MASTER_SECRET_MAX: usize = 64;
/// Longest accepted master salt.
pub const MASTER_SALT_MAX: usize = 64;

/// The input parameters of a security context (§3.2), as both peers configure them.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    /// Master secret (1–64 bytes).
    pub master_secret: &'a [u8],
    /// Master salt (may be empty).
    pub master_salt: &'a [u8],
    /// This endpoint's sender id.
    pub sender_id: &'a [u8],
    /// The peer's sender id.
    pub recipient_id: &'a [u8],
    /// ID context, if the deployment uses one.
    pub id_context: Option<&'a [u8]>,
}

/// Derived key material. Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DerivedKeys {
    /// Key protecting what this endpoint sends.
    pub sender_key: [u8; KEY_LEN],
    /// Key verifying what the peer sends.
    pub recipient_key: [u8; KEY_LEN],
    /// Common IV.
    pub common_iv: [u8; NONCE_LEN],
}

impl core::fmt::Debug for DerivedKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DerivedKeys(..)")
    }
}

fn expand(
    hk: &hkdf::Hkdf<sha2::Sha256>,
    id: &[u8],
    id_context: Option<&[u8]>,
    ty: InfoType,
    out: &mut [u8],
) -> Result<(), Error> {
    let mut info = [0u8; MAX_INFO_LEN];
    let n = hkdf_info(id, id_context, ty, out.len() as u8, &mut info)?;
    hk.expand(&info[..n], out).map_err(|_| Error::InvalidConfig)
}

impl Params<'_> {
    fn check(&self) -> Result<(), Error> {
        if self.master_secret.is_empty()
            || self.master_secret.len() > MASTER_SECRET_MAX
            || self.master_salt.len() > MASTER_SALT_MAX
            || self.sender_id.len() > MAX_ID_LEN
            || self.recipient_id.len() > MAX_ID_LEN
            || self.sender_id == self.recipient_id
            || self
                .id_context
                .is_some_and(|c| c.len() > MAX_ID_CONTEXT_LEN)
        {
            return Err(Error::InvalidConfig);
        }
        Ok(())
    }

    /// Derives sender key, recipient key and common IV (§3.2.1). An empty salt is the RFC's
    /// default (HKDF's zero salt).
    pub fn derive(&self) -> Result<DerivedKeys, Error> {
        self.check()?;
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(self.master_salt), self.master_secret);
        let mut k = DerivedKeys {
            sender_key: [0; KEY_LEN],
            recipient_key: [0; KEY_LEN],
            common_iv: [0; NONCE_LEN],
        };
        expand(
            &hk,
            self.sender_id,
            self.id_context,
            InfoType::Key,
            &mut k.sender_key,
        )?;
        expand(
            &hk,
            self.recipient_id,
            self.id_context,
            InfoType::Key,
            &mut k.recipient_key,
        )?;
        expand(&hk, &[], self.id_context, InfoType::Iv, &mut k.common_iv)?;
        Ok(k)
    }
}

/// The immutable part of a security context: ids, common IV and the two keys inside AEAD
/// backends.
pub struct SecurityContext<A: AeadBackend = RustCryptoCcm> {
    pub(crate) sender_id: Id,
    pub(crate) recipient_id: Id,
    pub(crate) id_context: Option<IdContext>,
    pub(crate) common_iv: [u8; NONCE_LEN],
    pub(crate) sender: A,
    pub(crate) recipient: A,
}

impl<A: AeadBackend> Drop for SecurityContext<A> {
    fn drop(&mut self) {
        self.common_iv.zeroize();
    }
}

impl<A: AeadBackend> core::fmt::Debug for SecurityContext<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecurityContext")
            .field("sender_id", &self.sender_id)
            .field("recipient_id", &self.recipient_id)
            .field("id_context", &self.id_context)
            .finish_non_exhaustive()
    }
}

impl SecurityContext<RustCryptoCcm> {
    /// Derives a context with the RustCrypto AES-CCM backend.
    pub fn derive(p: &Params<'_>) -> Result<Self, Error> {
        let k = p.derive()?;
        Self::with_backends(
            p,
            RustCryptoCcm::new(&k.sender_key),
            RustCryptoCcm::new(&k.recipient_key),
            k.common_iv,
        )
    }
}

impl<A: AeadBackend> SecurityContext<A> {
    /// A context over backends already loaded with the sender and recipient keys (e.g. keys
    /// derived on a host and installed in a hardware engine). Secrets in `p` are not used.
    pub fn with_backends(
        p: &Params<'_>,
        sender: A,
        recipient: A,
        common_iv: [u8; NONCE_LEN],
    ) -> Result<Self, Error> {
        let copy = |b: &[u8]| Id::from_slice(b).map_err(|_| Error::InvalidConfig);
        if p.sender_id == p.recipient_id {
            return Err(Error::InvalidConfig);
        }
        Ok(SecurityContext {
            sender_id: copy(p.sender_id)?,
            recipient_id: copy(p.recipient_id)?,
            id_context: p
                .id_context
                .map(|c| IdContext::from_slice(c).map_err(|_| Error::InvalidConfig))
                .transpose()?,
            common_iv,
            sender,
            recipient,
        })
    }

    /// This endpoint's sender id.
    pub fn sender_id(&self) -> &[u8] {
        &self.sender_id
    }

    /// The peer's sender id.
    pub fn recipient_id(&self) -> &[u8] {
        &self.recipient_id
    }

    /// The id context, if any.
    pub fn id_context(&self) -> Option<&[u8]> {
        self.id_context.as_deref()
    }

    /// The common IV.
    pub fn common_iv(&self) -> &[u8; NONCE_LEN] {
        &self.common_iv
    }
}
