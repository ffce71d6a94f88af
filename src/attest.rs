//! Deploy's own record, signed: an in-toto Statement in a DSSE envelope, signed by an AWS KMS asymmetric key
//! (ECDSA P-256 or RSA) that only the deploy role may use (`kms:Sign`). Anyone verifies it offline with the
//! public key (`bbgate attest verify --key PUB.pem FILE`, or any DSSE verifier), so no BB can forge it: the
//! judged party never holds the key, unlike the HMAC key verify's evidence once carried.

use crate::error::{Error, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub(crate) const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub(crate) const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub(crate) const DEPLOY_PREDICATE: &str = "https://govstack.global/sandbox/bbgate/deploy/v1";
/// KMS signs at most 4096 bytes of RAW message; a longer PAE is signed as its SHA-256 digest.
const KMS_RAW_MAX: usize = 4096;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Envelope {
    #[serde(rename = "payloadType")]
    pub(crate) payload_type: String,
    pub(crate) payload: String,
    pub(crate) signatures: Vec<Signature>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Signature {
    #[serde(default)]
    pub(crate) keyid: String,
    pub(crate) sig: String,
}

/// DSSE's pre-authentication encoding: `DSSEv1 SP len(type) SP type SP len(body) SP body`.
pub(crate) fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Sign `statement` (its exact bytes become the payload) with KMS key `key_id`.
pub(crate) async fn sign_kms(client: &aws_sdk_kms::Client, key_id: &str, statement: &[u8]) -> Result<Envelope> {
    use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
    let kms_error = |op: &str, e: &dyn std::fmt::Display| {
        Error::Undecidable(format!(
            "KMS {op} with key {key_id} failed: {e} (the deploy role needs kms:GetPublicKey and kms:Sign on it)"
        ))
    };
    let pk = client
        .get_public_key()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| kms_error("GetPublicKey", &crate::aws::ecr::describe_sdk_error(&e)))?;
    // The algorithm from what the key offers (KMS lists them for every asymmetric signing key): ECDSA P-256,
    // else RSA PKCS#1 v1.5, both with SHA-256, which `verify` and common DSSE verifiers check.
    let offered = pk.signing_algorithms();
    let algorithm = [
        SigningAlgorithmSpec::EcdsaSha256,
        SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
    ]
    .into_iter()
    .find(|a| offered.contains(a))
    .ok_or_else(|| {
        Error::invalid(format!(
            "KMS key {key_id} offers signing algorithms {offered:?}: deploy attestations need a SIGN_VERIFY key of \
             spec ECC_NIST_P256 (ECDSA_SHA_256) or RSA_2048/3072/4096 (RSASSA_PKCS1_V1_5_SHA_256)"
        ))
    })?;
    let keyid = pk.key_id().unwrap_or(key_id).to_owned();
    let message = pae(PAYLOAD_TYPE, statement);
    let (message, message_type) = if message.len() <= KMS_RAW_MAX {
        (message, MessageType::Raw)
    } else {
        (Sha256::digest(&message).to_vec(), MessageType::Digest)
    };
    let out = client
        .sign()
        .key_id(key_id)
        .message(aws_smithy_types::Blob::new(message))
        .message_type(message_type)
        .signing_algorithm(algorithm)
        .send()
        .await
        .map_err(|e| kms_error("Sign", &crate::aws::ecr::describe_sdk_error(&e)))?;
    let sig = out
        .signature()
        .ok_or_else(|| Error::Undecidable(format!("KMS Sign with key {key_id} returned no signature")))?;
    Ok(Envelope {
        payload_type: PAYLOAD_TYPE.into(),
        payload: B64.encode(statement),
        signatures: vec![Signature {
            keyid,
            sig: B64.encode(sig.as_ref()),
        }],
    })
}

/// A public key file: PEM (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo) or the DER that
/// `aws kms get-public-key` returns.
pub(crate) fn read_public_key(path: &std::path::Path) -> Result<Vec<u8>> {
    let bytes = crate::input::read(path, crate::input::KEY)?;
    let der = pem_or_der(path, bytes)?;
    // A file that is no public key is invalid input (exit 2), never "no signature verifies" (exit 1): a
    // SubjectPublicKeyInfo is a DER SEQUENCE naming id-ecPublicKey or rsaEncryption.
    const EC: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    const RSA: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let names = |oid: &[u8]| der.windows(oid.len()).take(32).any(|w| w == oid);
    if der.first() != Some(&0x30) || !(names(EC) || names(RSA)) {
        return Err(Error::invalid(format!(
            "{}: not a public key (a SubjectPublicKeyInfo of an EC P-256 or RSA key, PEM or DER): give the KMS \
             key's public key (aws kms get-public-key)",
            path.display()
        )));
    }
    Ok(der)
}

fn pem_or_der(path: &std::path::Path, bytes: Vec<u8>) -> Result<Vec<u8>> {
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(bytes);
    };
    if !text.contains("-----BEGIN") {
        return Ok(bytes);
    }
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN PUBLIC KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .flat_map(|l| l.trim().chars())
        .collect();
    if body.is_empty() {
        return Err(Error::invalid(format!(
            "{}: no `-----BEGIN PUBLIC KEY-----` block (give the KMS key's public key as PEM or DER)",
            path.display()
        )));
    }
    B64.decode(body)
        .map_err(|e| Error::invalid(format!("{}: the PEM block is not base64: {e}", path.display())))
}

/// Check an envelope against a public key (SubjectPublicKeyInfo DER). Returns the statement on success;
/// `Denied` when no signature verifies (altered, or signed by another key); `Invalid` when the file is not an
/// in-toto DSSE envelope.
pub(crate) fn verify(path: &str, envelope: &[u8], spki_der: &[u8]) -> Result<serde_json::Value> {
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_ASN1, RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, UnparsedPublicKey,
        VerificationAlgorithm,
    };
    let env: Envelope =
        serde_json::from_slice(envelope).map_err(|e| Error::invalid(format!("{path}: not a DSSE envelope ({e})")))?;
    if env.payload_type != PAYLOAD_TYPE {
        return Err(Error::invalid(format!(
            "{path}: payloadType {:?} is not {PAYLOAD_TYPE}",
            env.payload_type
        )));
    }
    let payload = B64
        .decode(&env.payload)
        .map_err(|e| Error::invalid(format!("{path}: payload is not base64: {e}")))?;
    if env.signatures.is_empty() {
        return Err(Error::Denied(format!("{path}: the envelope carries no signature")));
    }
    let message = pae(&env.payload_type, &payload);
    let algorithms: [&'static dyn VerificationAlgorithm; 3] = [
        &ECDSA_P256_SHA256_ASN1,
        &RSA_PKCS1_2048_8192_SHA256,
        &RSA_PSS_2048_8192_SHA256,
    ];
    let verified = env.signatures.iter().any(|s| {
        B64.decode(&s.sig).is_ok_and(|sig| {
            algorithms
                .iter()
                .any(|alg| UnparsedPublicKey::new(*alg, spki_der).verify(&message, &sig).is_ok())
        })
    });
    if !verified {
        return Err(Error::Denied(format!(
            "{path}: no signature verifies with this key: the file was altered, or signed by another key"
        )));
    }
    let statement: serde_json::Value = serde_json::from_slice(&payload)
        .map_err(|e| Error::invalid(format!("{path}: the signed payload is not JSON: {e}")))?;
    if statement["_type"] != STATEMENT_TYPE {
        return Err(Error::invalid(format!(
            "{path}: the signed payload is not an in-toto Statement v1"
        )));
    }
    Ok(statement)
}

/// `bbgate attest verify --key PUB FILE`.
pub fn run_verify(args: &crate::cli::AttestVerifyArgs) -> Result<u8> {
    let key = read_public_key(&args.key)?;
    let bytes = crate::input::read(&args.file, crate::input::ATTESTATION)?;
    let path = args.file.display().to_string();
    let statement = verify(&path, &bytes, &key)?;
    let subjects: Vec<String> = statement["subject"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|s| {
                    format!(
                        "{}@sha256:{}",
                        s["name"].as_str().unwrap_or("?"),
                        s["digest"]["sha256"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // The signature is good; what it says must be a bbgate deploy record with a status the caller accepts.
    let predicate = statement["predicateType"].as_str().unwrap_or("?");
    let status = statement["predicate"]["status"].as_str().unwrap_or("?");
    let refusal = if predicate != DEPLOY_PREDICATE {
        Some(format!(
            "signed, but its predicate type is {predicate:?}, not bbgate's deploy record ({DEPLOY_PREDICATE})"
        ))
    } else if !args.status.iter().any(|s| s == status) {
        Some(format!(
            "signed, but it records a deploy whose status is {status:?}, not {} (--status to accept it)",
            args.status.join(" or ")
        ))
    } else {
        None
    };
    let out = match args.format {
        crate::cli::Format::Json => serde_json::to_string_pretty(&serde_json::json!({
            "file": path,
            "verified": refusal.is_none(),
            "refused": refusal,
            "statement": statement,
        }))
        .unwrap_or_default(),
        crate::cli::Format::Human => format!(
            "{}: {path} is signed by the key in {}{}\n  predicate: {predicate}\n  subject: {}\n  status: {status}",
            if refusal.is_some() { "NOT VERIFIED" } else { "VERIFIED" },
            args.key.display(),
            refusal.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
            subjects.join(", "),
        ),
    };
    crate::output::human(&out)?;
    Ok(if refusal.is_some() {
        crate::error::exit::DENY
    } else {
        crate::error::exit::PASS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_specification_example() {
        // The DSSE spec's example: PAE("http://example.com/HelloWorld", "hello world").
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }
}
