//! Group OSCORE (RFC 10021) key material: what every member of an OSCORE group derives from
//! the group's master secret, salt and Group Identifier (Gid, the ID Context), and the
//! pairwise keys two members derive from it and their Ed25519 keys.
//!
//! The profile: group encryption algorithm and pairwise AEAD algorithm AES-CCM-16-64-128 (COSE
//! 10), HKDF SHA-256, signatures EdDSA with Ed25519, pairwise key agreement ECDH-SS +
//! HKDF-256 over the members' Ed25519 keys taken as X25519 keys. Every derivation uses the
//! `info` of RFC 8613 §3.2.1, `[id, Gid, 10, type, L]`:
//! - a member's group-mode Sender Key (each peer's Recipient Key): its Sender ID, `"Key"`, 16;
//! - the Common IV: empty id, `"IV"`, 13;
//! - the Signature Encryption Key, which encrypts countersignatures: empty id, `"SEKey"`, 16;
//! - a pairwise key: HKDF with the group-mode key of the member that sends with it as salt and
//!   `credential of that member | credential of the other | ECDH shared secret` as input key
//!   material, `info` with that member's Sender ID and `"Key"`.
//!
//! Derived bytes are zeroized when dropped. The frozen vectors
//! (`tests/vectors/group-oscore-v1.json`) are aiocoap's derivation of fixed inputs.

use ed25519_dalek::{SigningKey, VerifyingKey};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::context::MASTER_SALT_MAX;
use super::context::MASTER_SECRET_MAX;
use super::cose::{hkdf_info, InfoType, MAX_INFO_LEN};
use super::{Error, MAX_ID_CONTEXT_LEN, MAX_ID_LEN};
use crate::{KEY_LEN, NONCE_LEN};

/// What every member of a group configures alike.
#[derive(Debug, Clone, Copy)]
pub struct GroupParams<'a> {
    /// Master secret (1–64 bytes).
    pub master_secret: &'a [u8],
    /// Master salt (may be empty).
    pub master_salt: &'a [u8],
    /// Group Identifier, the ID Context of every message of the group.
    pub gid: &'a [u8],
}

/// Key material common to the whole group.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct GroupCommon {
    /// Common IV.
    pub common_iv: [u8; NONCE_LEN],
    /// Signature Encryption Key (the keystream that hides countersignatures).
    pub signature_encryption_key: [u8; KEY_LEN],
}

impl core::fmt::Debug for GroupCommon {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("GroupCommon(..)")
    }
}

/// A pair of members' pairwise keys, as one of them holds them.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PairwiseKeys {
    /// Protects what this member sends to the peer.
    pub sender_key: [u8; KEY_LEN],
    /// Verifies what the peer sends to this member.
    pub recipient_key: [u8; KEY_LEN],
}

impl core::fmt::Debug for PairwiseKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PairwiseKeys(..)")
    }
}

fn expand(
    hk: &hkdf::Hkdf<sha2::Sha256>,
    id: &[u8],
    gid: &[u8],
    ty: InfoType,
    out: &mut [u8],
) -> Result<(), Error> {
    let mut info = [0u8; MAX_INFO_LEN];
    let n = hkdf_info(id, Some(gid), ty, out.len() as u8, &mut info)?;
    hk.expand(&info[..n], out).map_err(|_| Error::InvalidConfig)
}

fn check_id(id: &[u8]) -> Result<(), Error> {
    if id.len() > MAX_ID_LEN {
        return Err(Error::InvalidConfig);
    }
    Ok(())
}

impl GroupParams<'_> {
    fn hkdf(&self) -> Result<hkdf::Hkdf<sha2::Sha256>, Error> {
        if self.master_secret.is_empty()
            || self.master_secret.len() > MASTER_SECRET_MAX
            || self.master_salt.len() > MASTER_SALT_MAX
            || self.gid.len() > MAX_ID_CONTEXT_LEN
        {
            return Err(Error::InvalidConfig);
        }
        Ok(hkdf::Hkdf::new(Some(self.master_salt), self.master_secret))
    }

    /// The Common IV and the Signature Encryption Key.
    pub fn common(&self) -> Result<GroupCommon, Error> {
        let hk = self.hkdf()?;
        let mut c = GroupCommon {
            common_iv: [0; NONCE_LEN],
            signature_encryption_key: [0; KEY_LEN],
        };
        expand(&hk, &[], self.gid, InfoType::Iv, &mut c.common_iv)?;
        expand(
            &hk,
            &[],
            self.gid,
            InfoType::SeKey,
            &mut c.signature_encryption_key,
        )?;
        Ok(c)
    }

    /// The group-mode Sender Key of the member with Sender ID `id` (the Recipient Key of every
    /// other member for its messages).
    pub fn member_key(&self, id: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>, Error> {
        check_id(id)?;
        let hk = self.hkdf()?;
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        expand(&hk, id, self.gid, InfoType::Key, &mut k[..])?;
        Ok(k)
    }
}

/// The ECDH-SS shared secret of two members from their Ed25519 keys taken as X25519 keys
/// (the secret scalar of the signing key; the Montgomery form of the peer's public key).
pub fn shared_secret(own: &SigningKey, peer: &VerifyingKey) -> Zeroizing<[u8; 32]> {
    let scalar = Zeroizing::new(own.to_scalar_bytes());
    let secret = x25519_dalek::StaticSecret::from(*scalar);
    let public = x25519_dalek::PublicKey::from(peer.to_montgomery().to_bytes());
    Zeroizing::new(secret.diffie_hellman(&public).to_bytes())
}

/// One side of a pair: a member's Sender ID, its group-mode Sender Key and its credential
/// (the authentication credential the group distributes, byte for byte).
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// Sender ID.
    pub id: &'a [u8],
    /// Group-mode Sender Key ([`GroupParams::member_key`] of `id`).
    pub group_key: &'a [u8; KEY_LEN],
    /// Authentication credential.
    pub credential: &'a [u8],
}

fn pairwise_key(
    gid: &[u8],
    from: &Side<'_>,
    to: &Side<'_>,
    shared: &[u8; 32],
) -> Result<[u8; KEY_LEN], Error> {
    check_id(from.id)?;
    if gid.len() > MAX_ID_CONTEXT_LEN {
        return Err(Error::InvalidConfig);
    }
    let mut extract = hkdf::HkdfExtract::<sha2::Sha256>::new(Some(&from.group_key[..]));
    extract.input_ikm(from.credential);
    extract.input_ikm(to.credential);
    extract.input_ikm(shared);
    let (_, hk) = extract.finalize();
    let mut k = [0u8; KEY_LEN];
    expand(&hk, from.id, gid, InfoType::Key, &mut k)?;
    Ok(k)
}

/// The pairwise keys `own` holds with `peer` in group `gid`, from their ECDH `shared` secret.
pub fn pairwise_keys(
    gid: &[u8],
    own: &Side<'_>,
    peer: &Side<'_>,
    shared: &[u8; 32],
) -> Result<PairwiseKeys, Error> {
    Ok(PairwiseKeys {
        sender_key: pairwise_key(gid, own, peer, shared)?,
        recipient_key: pairwise_key(gid, peer, own, shared)?,
    })
}

// ---------------------------------------------------------------------------------------------
// Group mode: the external AAD, the countersignature and its keystream.

/// The `algorithms` of the group external AAD: AEAD Algorithm, Group Encryption Algorithm,
/// Signature Algorithm, Pairwise Key Agreement Algorithm (AES-CCM-16-64-128 twice, EdDSA,
/// ECDH-SS + HKDF-256).
pub const ALGORITHMS: [i8; 4] = [10, 10, -8, -27];
/// Length of an Ed25519 countersignature, and of its keystream.
pub const SIGNATURE_LEN: usize = 64;

type Enc<'b> = minicbor::Encoder<minicbor::encode::write::Cursor<&'b mut [u8]>>;

fn encode(
    out: &mut [u8],
    f: impl FnOnce(
        &mut Enc<'_>,
    ) -> Result<(), minicbor::encode::Error<minicbor::encode::write::EndOfSlice>>,
) -> Result<usize, Error> {
    let mut e = minicbor::Encoder::new(minicbor::encode::write::Cursor::new(out));
    f(&mut e).map_err(|_| Error::BufferTooSmall)?;
    Ok(e.writer().position())
}

/// Longest credential [`ccs_credential`] writes.
pub const CCS_CREDENTIAL_LEN: usize = 48;

/// A member's authentication credential for its Ed25519 public key: a CWT Claims Set holding
/// only a confirmation claim with the COSE_Key, `{8: {1: {1: 1 (OKP), 3: -8 (EdDSA), -1: 6
/// (Ed25519), -2: x}}}` (a KCCS, as RFC 10021's examples and aiocoap's tools write it). Its
/// bytes enter the external AAD and the pairwise keys, so every member must build them alike;
/// returns the length written to `out`.
pub fn ccs_credential(public: &VerifyingKey, out: &mut [u8]) -> Result<usize, Error> {
    encode(out, |e| {
        e.map(1)?.u8(8)?.map(1)?.u8(1)?.map(4)?;
        e.u8(1)?.u8(1)?.u8(3)?.i8(-8)?.i8(-1)?.u8(6)?.i8(-2)?;
        e.bytes(public.as_bytes())?;
        Ok(())
    })
}

/// What a group-mode message's external AAD binds (RFC 10021 §4.3): the request it belongs to,
/// the group, the message's own OSCORE option, and the sender's credential.
#[derive(Debug, Clone, Copy)]
pub struct ExternalAad<'a> {
    /// Sender ID of the request (for a request: its own).
    pub request_kid: &'a [u8],
    /// Partial IV of the request.
    pub request_piv: &'a [u8],
    /// The group's Gid (`request_kid_context`).
    pub gid: &'a [u8],
    /// The value of this message's OSCORE option, as sent.
    pub oscore_option: &'a [u8],
    /// The authentication credential of the message's sender.
    pub sender_credential: &'a [u8],
}

impl ExternalAad<'_> {
    /// `[1, algorithms, request_kid, request_piv, h'' (no class I options), request_kid_context,
    /// OSCORE_option, sender_cred, gm_cred (null: no Group Manager credential)]`, written to
    /// `out`; returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        encode(out, |e| {
            e.array(9)?.u8(1)?.array(4)?;
            for a in ALGORITHMS {
                e.i8(a)?;
            }
            e.bytes(self.request_kid)?
                .bytes(self.request_piv)?
                .bytes(&[])?
                .bytes(self.gid)?
                .bytes(self.oscore_option)?
                .bytes(self.sender_credential)?
                .null()?;
            Ok(())
        })
    }
}

/// The AEAD associated data of a group-mode message: `["Encrypt0", h'', external_aad]`.
pub fn encrypt0(external_aad: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    encode(out, |e| {
        e.array(3)?
            .str("Encrypt0")?
            .bytes(&[])?
            .bytes(external_aad)?;
        Ok(())
    })
}

/// What the countersignature signs: `["CounterSignature0", h'', h'', external_aad,
/// ciphertext]`.
pub fn to_be_signed(
    external_aad: &[u8],
    ciphertext: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    encode(out, |e| {
        e.array(5)?
            .str("CounterSignature0")?
            .bytes(&[])?
            .bytes(&[])?
            .bytes(external_aad)?
            .bytes(ciphertext)?;
        Ok(())
    })
}

/// The keystream that encrypts a countersignature: HKDF with the Partial IV as salt, the
/// Signature Encryption Key as input key material, and `info` `[id of the Partial IV's
/// generator, Gid, request (true) or response (false), 64]`.
pub fn keystream(
    common: &GroupCommon,
    piv_generated_by: &[u8],
    piv: &[u8],
    gid: &[u8],
    request: bool,
) -> Result<Zeroizing<[u8; SIGNATURE_LEN]>, Error> {
    check_id(piv_generated_by)?;
    if gid.len() > MAX_ID_CONTEXT_LEN {
        return Err(Error::InvalidConfig);
    }
    let mut info = [0u8; 1 + (1 + MAX_ID_LEN) + (2 + MAX_ID_CONTEXT_LEN) + 1 + 2];
    let n = encode(&mut info, |e| {
        e.array(4)?
            .bytes(piv_generated_by)?
            .bytes(gid)?
            .bool(request)?
            .u8(SIGNATURE_LEN as u8)?;
        Ok(())
    })?;
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(piv), &common.signature_encryption_key);
    let mut ks = Zeroizing::new([0u8; SIGNATURE_LEN]);
    hk.expand(&info[..n], &mut ks[..])
        .map_err(|_| Error::InvalidConfig)?;
    Ok(ks)
}

/// Signs `to_be_signed` as `signer` and encrypts the signature with `keystream`.
pub fn countersign(
    signer: &SigningKey,
    to_be_signed: &[u8],
    keystream: &[u8; SIGNATURE_LEN],
) -> [u8; SIGNATURE_LEN] {
    use ed25519_dalek::Signer;
    let mut s = signer.sign(to_be_signed).to_bytes();
    for (b, k) in s.iter_mut().zip(keystream) {
        *b ^= k;
    }
    s
}

/// Decrypts `encrypted` with `keystream` and verifies it as `sender`'s signature of
/// `to_be_signed` (strict verification: no malleable or small-order encodings).
pub fn verify_countersignature(
    sender: &VerifyingKey,
    to_be_signed: &[u8],
    encrypted: &[u8; SIGNATURE_LEN],
    keystream: &[u8; SIGNATURE_LEN],
) -> Result<(), Error> {
    let mut s = [0u8; SIGNATURE_LEN];
    for ((b, e), k) in s.iter_mut().zip(encrypted).zip(keystream) {
        *b = e ^ k;
    }
    let sig = ed25519_dalek::Signature::from_bytes(&s);
    sender
        .verify_strict(to_be_signed, &sig)
        .map_err(|_| Error::BadSignature)
}
