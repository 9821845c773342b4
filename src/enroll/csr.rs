//! The agent's certificate request (PKCS#10, PEM): only the public key is
//! taken from it, after its signature proved that the agent holds the
//! private key. The key must be ECDSA P-256 (what `x2gobroker keygen` and
//! the agent make), signed with ECDSA-SHA256. The names in the request are
//! ignored: the broker names the certificate after the server the token
//! was redeemed for.

use rcgen::{PublicKeyData, SignatureAlgorithm};
use yasna::models::ObjectIdentifier;

/// The largest request accepted (PEM text); a P-256 request is ~500 bytes.
pub const MAX_CSR_PEM: usize = 8 * 1024;

/// Why a certificate request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrError {
    #[error("the certificate request is larger than {MAX_CSR_PEM} bytes")]
    TooLarge,
    #[error("no PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----) found")]
    NoPem,
    #[error("the certificate request is not valid DER: {0}")]
    BadDer(String),
    #[error("the certificate request's key is not ECDSA P-256")]
    NotP256,
    #[error("the certificate request is not signed with ECDSA-SHA256")]
    NotEcdsaSha256,
    #[error("the certificate request's signature does not verify")]
    BadSignature,
}

/// An ECDSA P-256 public key (the uncompressed point) a request proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P256Key(Vec<u8>);

impl PublicKeyData for P256Key {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

/// id-ecPublicKey, prime256v1 and ecdsa-with-SHA256.
fn oid(components: &[u64]) -> ObjectIdentifier {
    ObjectIdentifier::from_slice(components)
}
const EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
const PRIME256V1: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];
const ECDSA_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];

/// The parts of a request: the signed bytes, the key, the algorithm and the signature.
struct Parsed {
    info: Vec<u8>,
    key: Vec<u8>,
    algorithm: ObjectIdentifier,
    signature: Vec<u8>,
}

fn der_error(e: yasna::ASN1Error) -> CsrError {
    CsrError::BadDer(e.to_string())
}

/// The key of a SubjectPublicKeyInfo, when it is a P-256 key.
fn p256_of(spki: &[u8]) -> Result<Vec<u8>, CsrError> {
    let (algorithm, curve, key) = yasna::parse_der(spki, |r| {
        r.read_sequence(|r| {
            let (algorithm, curve) = r.next().read_sequence(|r| {
                let algorithm = r.next().read_oid()?;
                let curve = r.read_optional(|r| r.read_oid())?;
                Ok((algorithm, curve))
            })?;
            let (key, _bits) = r.next().read_bitvec_bytes()?;
            Ok((algorithm, curve, key))
        })
    })
    .map_err(der_error)?;
    let is_p256 = algorithm == oid(EC_PUBLIC_KEY) && curve == Some(oid(PRIME256V1));
    if !is_p256 || key.len() != 65 || key[0] != 4 {
        return Err(CsrError::NotP256);
    }
    Ok(key)
}

fn parse(der: &[u8]) -> Result<Parsed, CsrError> {
    let (info, algorithm, signature) = yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let info = r.next().read_der()?;
            let algorithm = r.next().read_sequence(|r| {
                let oid = r.next().read_oid()?;
                // ECDSA algorithm identifiers carry no parameters.
                Ok(oid)
            })?;
            let (signature, _bits) = r.next().read_bitvec_bytes()?;
            Ok((info, algorithm, signature))
        })
    })
    .map_err(der_error)?;
    let spki = yasna::parse_der(&info, |r| {
        r.read_sequence(|r| {
            let _version = r.next().read_u8()?;
            let _subject = r.next().read_der()?;
            let spki = r.next().read_der()?;
            let _attributes = r.read_optional(|r| r.read_der())?;
            Ok(spki)
        })
    })
    .map_err(der_error)?;
    Ok(Parsed {
        key: p256_of(&spki)?,
        info,
        algorithm,
        signature,
    })
}

/// The public key of a PEM certificate request whose signature verifies.
pub fn verified_key(pem: &str) -> Result<P256Key, CsrError> {
    if pem.len() > MAX_CSR_PEM {
        return Err(CsrError::TooLarge);
    }
    let der = rustls_pemfile::csr(&mut pem.as_bytes())
        .ok()
        .flatten()
        .ok_or(CsrError::NoPem)?;
    let parsed = parse(der.as_ref())?;
    if parsed.algorithm != oid(ECDSA_SHA256) {
        return Err(CsrError::NotEcdsaSha256);
    }
    webpki::ring::ECDSA_P256_SHA256
        .verify_signature(&parsed.key, &parsed.info, &parsed.signature)
        .map_err(|_| CsrError::BadSignature)?;
    Ok(P256Key(parsed.key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    fn request(key: &KeyPair) -> String {
        let params = CertificateParams::new(vec!["x2go1".to_string()]).unwrap();
        params.serialize_request(key).unwrap().pem().unwrap()
    }

    #[test]
    fn a_p256_request_gives_its_key() {
        let key = KeyPair::generate().unwrap();
        let got = verified_key(&request(&key)).unwrap();
        assert_eq!(got.der_bytes(), key.public_key_raw());
    }

    #[test]
    fn a_tampered_request_does_not_verify() {
        let key = KeyPair::generate().unwrap();
        let pem = request(&key);
        let der = rustls_pemfile::csr(&mut pem.as_bytes()).unwrap().unwrap();
        let mut bytes = der.as_ref().to_vec();
        // Change one byte inside the signed part's subject.
        let at = bytes.windows(5).position(|w| w == b"x2go1").unwrap();
        bytes[at] = b'y';
        assert_eq!(parse(&bytes).map(|_| ()), Ok(()));
        let text = pem_of(&bytes);
        assert_eq!(verified_key(&text), Err(CsrError::BadSignature));
    }

    fn pem_of(der: &[u8]) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn other_keys_and_garbage_are_refused() {
        let rsa = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        assert_eq!(verified_key(&request(&rsa)), Err(CsrError::NotP256));
        assert_eq!(verified_key("hello"), Err(CsrError::NoPem));
        assert!(matches!(
            verified_key(&pem_of(b"\x30\x03\x02\x01\x00")),
            Err(CsrError::BadDer(_))
        ));
        assert_eq!(
            verified_key(&"x".repeat(MAX_CSR_PEM + 1)),
            Err(CsrError::TooLarge)
        );
    }
}
