//! PEM `PUBLIC KEY` blocks (SubjectPublicKeyInfo): the block is decoded and its algorithm
//! identifier read, which tells RSA, P-256 and Ed25519 apart. WebCrypto reads the rest.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::alg::Alg;
use super::keys::{KeyData, KeyError, PublicKey};

const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const END: &str = "-----END PUBLIC KEY-----";

/// DER of the algorithm OIDs: rsaEncryption, id-ecPublicKey, prime256v1, id-Ed25519.
const RSA: &[u8] = &[6, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 1];
const EC: &[u8] = &[6, 7, 0x2a, 0x86, 0x48, 0xce, 0x3d, 2, 1];
const P256: &[u8] = &[6, 8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 3, 1, 7];
const ED25519: &[u8] = &[6, 3, 0x2b, 0x65, 0x70];

/// Every `PUBLIC KEY` block of `text`.
pub fn parse_blocks(text: &str) -> Result<Vec<PublicKey>, KeyError> {
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN") {
        let block = &rest[start..];
        if !block.starts_with(BEGIN) {
            return Err("only \"PUBLIC KEY\" (SPKI) PEM blocks are supported".into());
        }
        let end = block.find(END).ok_or("PEM block without its END line")?;
        let body: String = block[BEGIN.len()..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = B64.decode(body).map_err(|_| "PEM body is not base64")?;
        keys.push(PublicKey {
            kid: None,
            alg: spki_alg(&der)?,
            data: KeyData::Spki(der),
        });
        rest = &block[end + END.len()..];
    }
    Ok(keys)
}

/// Reads one DER tag and length; returns the content and what follows it.
fn der_item(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = der.split_first()?;
    let (&len0, mut rest) = rest.split_first()?;
    if t != tag {
        return None;
    }
    let len = if len0 < 0x80 {
        len0 as usize
    } else {
        let n = (len0 & 0x7f) as usize;
        if n == 0 || n > 3 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        rest = &rest[n..];
        len
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// The algorithm of a SubjectPublicKeyInfo: `SEQUENCE { SEQUENCE { OID, params }, BIT STRING }`.
fn spki_alg(der: &[u8]) -> Result<Alg, KeyError> {
    let bad = || KeyError::from("not a DER SubjectPublicKeyInfo");
    let (spki, _) = der_item(der, 0x30).ok_or_else(bad)?;
    let (algid, key) = der_item(spki, 0x30).ok_or_else(bad)?;
    der_item(key, 0x03).ok_or_else(bad)?;
    if algid.starts_with(RSA) {
        Ok(Alg::Rs256)
    } else if algid.starts_with(EC) && algid[EC.len()..].starts_with(P256) {
        Ok(Alg::Es256)
    } else if algid == ED25519 {
        Ok(Alg::EdDsa)
    } else {
        Err("unsupported key algorithm (RSA, EC P-256 or Ed25519 expected)".into())
    }
}
