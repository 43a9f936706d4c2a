//! The CBOR structures and the nonce of RFC 8613 §3.2.1, §5.2 and §5.4.
//!
//! Every CBOR byte is produced by `minicbor` into a stack buffer; nothing here is hand-encoded
//! CBOR. These functions hold no keys and no state.

use minicbor::encode::write::Cursor;
use minicbor::Encoder;

use super::option::MAX_PIV_LEN;
use super::{Error, ALG_AES_CCM_16_64_128, MAX_ID_CONTEXT_LEN, MAX_ID_LEN};
use crate::NONCE_LEN;

/// The OSCORE version in the external AAD.
pub const OSCORE_VERSION: u8 = 1;

/// Room for the largest external AAD this implementation builds (class I options are empty).
pub const MAX_EXTERNAL_AAD_LEN: usize = 1 + 1 + 2 + (1 + MAX_ID_LEN) + (1 + MAX_PIV_LEN) + 1;
/// Room for the largest `Enc_structure` (the AEAD associated data).
pub const MAX_AAD_LEN: usize = 1 + 9 + 1 + 2 + MAX_EXTERNAL_AAD_LEN;
/// Room for the largest HKDF `info`.
pub const MAX_INFO_LEN: usize = 1 + (1 + MAX_ID_LEN) + (2 + MAX_ID_CONTEXT_LEN) + 1 + 6 + 1;

fn cbor<const N: usize>(
    out: &mut [u8; N],
    f: impl FnOnce(
        &mut Encoder<Cursor<&mut [u8]>>,
    ) -> Result<(), minicbor::encode::Error<minicbor::encode::write::EndOfSlice>>,
) -> Result<usize, Error> {
    let mut e = Encoder::new(Cursor::new(&mut out[..]));
    f(&mut e).map_err(|_| Error::BufferTooSmall)?;
    Ok(e.writer().position())
}

/// The external AAD (§5.4): `[oscore_version, [alg_aead], request_kid, request_piv, options]`
/// with no class I options. Returns its length in `out`.
pub fn external_aad(
    request_kid: &[u8],
    request_piv: &[u8],
    out: &mut [u8; MAX_EXTERNAL_AAD_LEN],
) -> Result<usize, Error> {
    cbor(out, |e| {
        e.array(5)?
            .u8(OSCORE_VERSION)?
            .array(1)?
            .i8(ALG_AES_CCM_16_64_128)?
            .bytes(request_kid)?
            .bytes(request_piv)?
            .bytes(&[])?;
        Ok(())
    })
}

/// The AEAD associated data (§5.3 and RFC 9052 §5.3):
/// `["Encrypt0", h'', external_aad]`. Returns its length in `out`.
pub fn aad(
    request_kid: &[u8],
    request_piv: &[u8],
    out: &mut [u8; MAX_AAD_LEN],
) -> Result<usize, Error> {
    let mut ext = [0u8; MAX_EXTERNAL_AAD_LEN];
    let n = external_aad(request_kid, request_piv, &mut ext)?;
    cbor(out, |e| {
        e.array(3)?.str("Encrypt0")?.bytes(&[])?.bytes(&ext[..n])?;
        Ok(())
    })
}

/// What an HKDF output is for (`type` in §3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfoType {
    /// A sender or recipient key.
    Key,
    /// The common IV.
    Iv,
    /// Group OSCORE's Signature Encryption Key.
    SeKey,
}

/// The HKDF `info` (§3.2.1): `[id, id_context, alg_aead, type, L]`, `id_context` `nil` when
/// absent. Returns its length in `out`.
pub fn hkdf_info(
    id: &[u8],
    id_context: Option<&[u8]>,
    ty: InfoType,
    len: u8,
    out: &mut [u8; MAX_INFO_LEN],
) -> Result<usize, Error> {
    cbor(out, |e| {
        e.array(5)?.bytes(id)?;
        match id_context {
            Some(c) => e.bytes(c)?,
            None => e.null()?,
        };
        e.i8(ALG_AES_CCM_16_64_128)?
            .str(match ty {
                InfoType::Key => "Key",
                InfoType::Iv => "IV",
                InfoType::SeKey => "SEKey",
            })?
            .u8(len)?;
        Ok(())
    })
}

/// A Partial IV: a sequence number as big-endian bytes without leading zeros, at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialIv {
    bytes: [u8; MAX_PIV_LEN],
    len: u8,
}

impl PartialIv {
    /// The Partial IV of sequence number `seq` (at most 2^40 - 1).
    pub fn from_seq(seq: u64) -> Result<Self, Error> {
        if seq >> 40 != 0 {
            return Err(Error::CounterExhausted);
        }
        let be = seq.to_be_bytes();
        let mut bytes = [0u8; MAX_PIV_LEN];
        bytes.copy_from_slice(&be[3..]);
        let zeros = bytes
            .iter()
            .take(MAX_PIV_LEN - 1)
            .take_while(|&&b| b == 0)
            .count();
        let len = MAX_PIV_LEN - zeros;
        let mut out = [0u8; MAX_PIV_LEN];
        out[..len].copy_from_slice(&bytes[zeros..]);
        Ok(PartialIv {
            bytes: out,
            len: len as u8,
        })
    }

    /// A received Partial IV (1–5 bytes, leading zeros allowed).
    pub fn from_bytes(b: &[u8]) -> Result<Self, Error> {
        if b.is_empty() || b.len() > MAX_PIV_LEN {
            return Err(Error::MalformedOption);
        }
        let mut bytes = [0u8; MAX_PIV_LEN];
        bytes[..b.len()].copy_from_slice(b);
        Ok(PartialIv {
            bytes,
            len: b.len() as u8,
        })
    }

    /// The bytes as sent.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.as_bytes()
            .iter()
            .fold(0u64, |acc, &b| acc << 8 | u64::from(b))
    }
}

/// The AEAD nonce (§5.2): `common_iv XOR (len(id_piv) ‖ id_piv left-padded to 7 bytes ‖
/// piv left-padded to 5 bytes)`.
pub fn nonce(
    common_iv: &[u8; NONCE_LEN],
    id_piv: &[u8],
    piv: &PartialIv,
) -> Result<[u8; NONCE_LEN], Error> {
    if id_piv.len() > MAX_ID_LEN {
        return Err(Error::InvalidConfig);
    }
    let mut n = [0u8; NONCE_LEN];
    n[0] = id_piv.len() as u8;
    n[1 + MAX_ID_LEN - id_piv.len()..1 + MAX_ID_LEN].copy_from_slice(id_piv);
    let p = piv.as_bytes();
    n[NONCE_LEN - p.len()..].copy_from_slice(p);
    for (b, iv) in n.iter_mut().zip(common_iv) {
        *b ^= iv;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> heapless::Vec<u8, 64> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn partial_iv_is_minimal() {
        assert_eq!(PartialIv::from_seq(0).unwrap().as_bytes(), [0]);
        assert_eq!(PartialIv::from_seq(20).unwrap().as_bytes(), [0x14]);
        assert_eq!(PartialIv::from_seq(0x0100).unwrap().as_bytes(), [1, 0]);
        assert_eq!(
            PartialIv::from_seq((1 << 40) - 1).unwrap().as_bytes(),
            [0xff; 5]
        );
        assert_eq!(PartialIv::from_seq(1 << 40), Err(Error::CounterExhausted));
        assert_eq!(PartialIv::from_bytes(&[0, 0, 7]).unwrap().seq(), 7);
        assert!(PartialIv::from_bytes(&[]).is_err());
        assert!(PartialIv::from_bytes(&[1; 6]).is_err());
    }

    #[test]
    fn info_and_aad_match_rfc8613_appendix_c() {
        let mut info = [0u8; MAX_INFO_LEN];
        // C.1.1: sender key of the client (empty id), no id context.
        let n = hkdf_info(&[], None, InfoType::Key, 16, &mut info).unwrap();
        assert_eq!(&info[..n], &hex("8540f60a634b657910")[..]);
        let n = hkdf_info(&[], None, InfoType::Iv, 13, &mut info).unwrap();
        assert_eq!(&info[..n], &hex("8540f60a6249560d")[..]);
        // C.3.1: with id context.
        let ctx = hex("37cbf3210017a2d3");
        let n = hkdf_info(&[1], Some(&ctx), InfoType::Key, 16, &mut info).unwrap();
        assert_eq!(&info[..n], &hex("8541014837cbf3210017a2d30a634b657910")[..]);
        // C.4 / C.5.
        let mut aad_buf = [0u8; MAX_AAD_LEN];
        let n = aad(&[], &[0x14], &mut aad_buf).unwrap();
        assert_eq!(
            &aad_buf[..n],
            &hex("8368456e63727970743040488501810a40411440")[..]
        );
        let n = aad(&[0], &[0x14], &mut aad_buf).unwrap();
        assert_eq!(
            &aad_buf[..n],
            &hex("8368456e63727970743040498501810a4100411440")[..]
        );
    }

    #[test]
    fn longest_fields_fit() {
        let mut info = [0u8; MAX_INFO_LEN];
        hkdf_info(
            &[9; MAX_ID_LEN],
            Some(&[8; MAX_ID_CONTEXT_LEN]),
            InfoType::Key,
            16,
            &mut info,
        )
        .unwrap();
        let mut a = [0u8; MAX_AAD_LEN];
        aad(&[9; MAX_ID_LEN], &[0xff; MAX_PIV_LEN], &mut a).unwrap();
    }
}
