//! Source authentication inside the group (threat T12).
//!
//! With one shared group key every member can seal a frame that claims any sender id: the lamp
//! can unlock the door. Two optional modes close this where it matters, with the same framing,
//! sequence numbers and replay windows as group frames:
//!
//! - **pairwise** (feature `pairwise`), for unicast: the frame is sealed under a key only the
//!   sender and the one recipient can derive, from HKDF-SHA256 over the group master secret and
//!   their static X25519 shared secret (in the spirit of Group OSCORE's pairwise mode). A third
//!   member holding the group key can neither read nor forge it; a removed member, which still
//!   holds its X25519 key but not the new epoch's master secret, cannot either.
//! - **signed** (feature `signed`), for critical group commands: the group-sealed plaintext
//!   ends with the sender's Ed25519ph signature (RFC 8032, context `meshseal/v1`) over the
//!   group id, epoch, sender id, full sequence number, header, associated data and payload.
//!   Every member can check it; none can produce it for another. Costs 64 bytes.
//!
//! The extension bits P and S announce the mode on the wire. A recipient looks up the keys
//! through [`SourceKeys`]; a frame whose mode it has no key for is refused as
//! [`Error::UnknownKey`], a bad signature as [`Error::BadSignature`] (with the payload wiped and
//! the replay window untouched), and a plain group frame where the caller demands source
//! authentication as [`Error::Unauthenticated`].

#[allow(unused_imports)]
use crate::crypto::{AeadBackend, GroupKeys, RustCryptoCcm};
#[allow(unused_imports)]
use crate::Error;

/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Ed25519ph context string of signed frames.
pub const SIGNATURE_CONTEXT: &[u8] = b"meshseal/v1";
/// HKDF `info` label of a pairwise AEAD key.
pub const LABEL_PAIR_KEY: u8 = 0x05;
/// HKDF `info` label of a pairwise common IV.
pub const LABEL_PAIR_IV: u8 = 0x06;

#[cfg(feature = "pairwise")]
pub use x25519_dalek::{PublicKey as X25519Public, StaticSecret as X25519Secret};

#[cfg(feature = "signed")]
pub use ed25519_dalek::{SigningKey, VerifyingKey};

/// The keys a recipient holds to check a frame's source: pairwise keys per peer, and peers'
/// signature verifying keys. Both default to none.
pub trait SourceKeys<A: AeadBackend = RustCryptoCcm> {
    /// The pairwise keys shared with `sender`, for the current epoch.
    fn pairwise(&self, sender: u32) -> Option<&GroupKeys<A>> {
        let _ = sender;
        None
    }

    /// `sender`'s signature verifying key.
    #[cfg(feature = "signed")]
    fn verifying_key(&self, sender: u32) -> Option<&VerifyingKey> {
        let _ = sender;
        None
    }
}

/// No source keys: pairwise and signed frames are refused as [`Error::UnknownKey`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSourceKeys;

impl<A: AeadBackend> SourceKeys<A> for NoSourceKeys {}

/// The HKDF `info` of a pairwise key: prefix, label, group id, epoch, the lower and the higher
/// member id (u32 BE each), output length.
#[cfg(feature = "pairwise")]
fn pair_info(label: u8, group_id: u32, epoch: u16, ids: (u32, u32), len: u8) -> [u8; 27] {
    let mut info = [0u8; 27];
    info[..11].copy_from_slice(crate::crypto::INFO_PREFIX);
    info[11] = label;
    info[12..16].copy_from_slice(&group_id.to_be_bytes());
    info[16..18].copy_from_slice(&epoch.to_be_bytes());
    info[18..22].copy_from_slice(&ids.0.to_be_bytes());
    info[22..26].copy_from_slice(&ids.1.to_be_bytes());
    info[26] = len;
    info
}

/// Derives the pairwise keys of members `own_id` and `peer_id` for one group epoch: HKDF-SHA256
/// with the group `salt` over `master_secret ‖ X25519(own, peer)`, the info naming both ids in
/// ascending order, so both members derive the same keys. Refused as [`Error::InvalidConfig`]
/// for equal ids, a secret out of range, or a peer key of low order (no shared secret).
#[cfg(feature = "pairwise")]
#[allow(clippy::too_many_arguments)]
pub fn derive_pairwise(
    master_secret: &[u8],
    salt: &[u8],
    group_id: u32,
    epoch: u16,
    own_id: u32,
    own_secret: &X25519Secret,
    peer_id: u32,
    peer_public: &X25519Public,
) -> Result<GroupKeys, Error> {
    let d = derive_pairwise_keys(
        master_secret,
        salt,
        group_id,
        epoch,
        own_id,
        own_secret,
        peer_id,
        peer_public,
    )?;
    Ok(GroupKeys::from_derived(&d, group_id, epoch))
}

/// The key material of [`derive_pairwise`], for keys over another backend
/// ([`GroupKeys::with_backend`], e.g. the one of a group with header privacy).
#[cfg(feature = "pairwise")]
#[allow(clippy::too_many_arguments)]
pub fn derive_pairwise_keys(
    master_secret: &[u8],
    salt: &[u8],
    group_id: u32,
    epoch: u16,
    own_id: u32,
    own_secret: &X25519Secret,
    peer_id: u32,
    peer_public: &X25519Public,
) -> Result<crate::crypto::DerivedKeys, Error> {
    use crate::crypto::{DerivedKeys, IV_LEN, MASTER_SECRET_MAX, MASTER_SECRET_MIN};
    use crate::KEY_LEN;
    use zeroize::Zeroize;

    if own_id == peer_id || !(MASTER_SECRET_MIN..=MASTER_SECRET_MAX).contains(&master_secret.len())
    {
        return Err(Error::InvalidConfig);
    }
    let shared = own_secret.diffie_hellman(peer_public);
    if !shared.was_contributory() {
        return Err(Error::InvalidConfig);
    }
    let mut ikm = [0u8; MASTER_SECRET_MAX + 32];
    let n = master_secret.len();
    ikm[..n].copy_from_slice(master_secret);
    ikm[n..n + 32].copy_from_slice(shared.as_bytes());
    let salt = if salt.is_empty() { None } else { Some(salt) };
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(salt, &ikm[..n + 32]);
    ikm.zeroize();
    let ids = (own_id.min(peer_id), own_id.max(peer_id));
    let mut out = DerivedKeys {
        key: [0; KEY_LEN],
        iv: [0; IV_LEN],
    };
    hk.expand(
        &pair_info(LABEL_PAIR_KEY, group_id, epoch, ids, KEY_LEN as u8),
        &mut out.key,
    )
    .map_err(|_| Error::InvalidConfig)?;
    hk.expand(
        &pair_info(LABEL_PAIR_IV, group_id, epoch, ids, IV_LEN as u8),
        &mut out.iv,
    )
    .map_err(|_| Error::InvalidConfig)?;
    Ok(out)
}

/// What a signed frame's signature covers, fed to the Ed25519ph pre-hash (SHA-512).
#[cfg(feature = "signed")]
pub(crate) struct SignedInput<'a> {
    pub group_id: u32,
    pub epoch: u16,
    pub sender: u32,
    pub seq: u64,
    pub header: &'a [u8],
    pub aad: &'a [u8],
    pub payload: &'a [u8],
}

#[cfg(feature = "signed")]
impl SignedInput<'_> {
    fn prehash(&self) -> sha2::Sha512 {
        use sha2::Digest;
        let mut h = sha2::Sha512::new();
        h.update(self.group_id.to_be_bytes());
        h.update(self.epoch.to_be_bytes());
        h.update(self.sender.to_be_bytes());
        h.update(&self.seq.to_be_bytes()[3..]);
        h.update([self.header.len() as u8]);
        h.update(self.header);
        h.update([self.aad.len() as u8]);
        h.update(self.aad);
        h.update(self.payload);
        h
    }

    pub(crate) fn sign(&self, key: &SigningKey) -> Result<[u8; SIGNATURE_LEN], Error> {
        key.sign_prehashed(self.prehash(), Some(SIGNATURE_CONTEXT))
            .map(|s| s.to_bytes())
            .map_err(|_| Error::InvalidConfig)
    }

    pub(crate) fn verify(
        &self,
        key: &VerifyingKey,
        sig: &[u8; SIGNATURE_LEN],
    ) -> Result<(), Error> {
        let sig = ed25519_dalek::Signature::from_bytes(sig);
        key.verify_prehashed_strict(self.prehash(), Some(SIGNATURE_CONTEXT), &sig)
            .map_err(|_| Error::BadSignature)
    }
}
