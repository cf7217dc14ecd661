//! Credentials: what a client proves itself with ([`Credential`]) and what a
//! host checks the proof against ([`Verifier`]); their text forms, as in key
//! files and auth files.

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroize as _;

use crate::protocol::{AuthMethod, Proof};
use crate::{Error, ErrorKind, Result};

/// A client's secret, which proves its name to a host that requires it
/// ([`ClientBuilder::credential`](crate::ClientBuilder::credential)). The
/// secret never crosses the wire: the client answers the host's fresh
/// challenge with a proof made from it. Its `Debug` shows the kind, never
/// the secret.
///
/// ```
/// use socketengine::Credential;
///
/// let key = Credential::generate()?;
/// // The line the host's auth file lists for this key.
/// assert!(key.verifier().to_string().starts_with("ed25519:"));
/// # Ok::<(), socketengine::Error>(())
/// ```
#[derive(Clone)]
pub struct Credential(Secret);

#[derive(Clone)]
enum Secret {
    /// A shared token, kept as its SHA-256 (what the proof is keyed with).
    Token([u8; 32]),
    /// A key, which wipes itself when dropped (ed25519-dalek's `zeroize`).
    Ed25519(SigningKey),
}

impl Drop for Secret {
    /// Wipes a token's digest: it proves the name as the token does.
    fn drop(&mut self) {
        if let Secret::Token(digest) = self {
            digest.zeroize();
        }
    }
}

impl Credential {
    /// A shared token: the host's auth file lists its SHA-256
    /// (`token-sha256:…`, see [`Credential::verifier`]). Simple to hand out,
    /// but weaker than a key: anyone who reads the host's file can prove the
    /// name, and anyone who sees a handshake (or a fake host) can try to
    /// guess the token offline, so make it long and random (32 random
    /// bytes, say), never a password.
    pub fn token(secret: impl AsRef<[u8]>) -> Credential {
        Credential(Secret::Token(Sha256::digest(secret.as_ref()).into()))
    }

    /// An Ed25519 key from its 32-byte seed: the host lists only the public
    /// half (`ed25519:…`), so its auth file holds no secret.
    pub fn ed25519(seed: [u8; 32]) -> Credential {
        Credential(Secret::Ed25519(SigningKey::from_bytes(&seed)))
    }

    /// A new Ed25519 key from the system's random source.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Credential`] when the system's random source fails: no
    /// key is made from anything weaker.
    pub fn generate() -> Result<Credential> {
        crate::random::system_bytes()
            .map(Credential::ed25519)
            .ok_or_else(|| credential_error("the system's random source failed".into()))
    }

    /// Reads a key file: one line, `ed25519:` and the base64 seed (as
    /// [`to_key_file`](Self::to_key_file) writes, and `socketengine keygen`),
    /// or `token:` and the token; `#` lines are comments.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Credential`] naming the file when it cannot be read or
    /// holds no such line (the error never quotes the file's content).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Credential> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| credential_error(format!("{}: {e}", path.display())))?;
        Credential::parse(&text).map_err(|e| match e.into_kind() {
            ErrorKind::Credential(why) => credential_error(format!("{}: {why}", path.display())),
            other => Error::new(other),
        })
    }

    /// Reads a key file's text (see [`from_file`](Self::from_file)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Credential`] when it holds no key line.
    pub fn parse(text: &str) -> Result<Credential> {
        let mut lines = text.lines().map(str::trim);
        let line = lines
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .ok_or_else(|| credential_error("no key line".into()))?;
        match line.split_once(':') {
            Some(("ed25519", seed)) => {
                let seed = decode_base64::<32>(seed.trim())
                    .ok_or_else(|| credential_error("not a base64 32-byte ed25519 seed".into()))?;
                Ok(Credential::ed25519(seed))
            }
            Some(("token", token)) if !token.is_empty() => Ok(Credential::token(token)),
            _ => Err(credential_error(
                "expected `ed25519:<base64 seed>` or `token:<secret>`".into(),
            )),
        }
    }

    /// The key file's text for an Ed25519 key (`None` for a token, which the
    /// caller already has). Keep it secret: it is the key.
    pub fn to_key_file(&self) -> Option<String> {
        match &self.0 {
            Secret::Ed25519(key) => Some(format!(
                "# socketengine key: keep it secret\ned25519:{}\n",
                BASE64.encode(key.to_bytes())
            )),
            Secret::Token(_) => None,
        }
    }

    /// What a host checks this credential's proofs against: the public key,
    /// or the token's SHA-256. Its text form goes in the host's auth file.
    pub fn verifier(&self) -> Verifier {
        match &self.0 {
            Secret::Token(hash) => Verifier::TokenSha256(*hash),
            Secret::Ed25519(key) => Verifier::Ed25519(key.verifying_key()),
        }
    }

    /// The method a hello names for this credential.
    pub(crate) fn method(&self) -> AuthMethod {
        match &self.0 {
            Secret::Token(_) => AuthMethod::Token,
            Secret::Ed25519(_) => AuthMethod::Ed25519,
        }
    }

    /// The proof of `transcript`.
    pub(crate) fn prove(&self, transcript: &[u8]) -> Proof {
        match &self.0 {
            Secret::Token(key) => {
                Proof(token_mac(key, transcript).finalize().into_bytes().to_vec())
            }
            Secret::Ed25519(key) => Proof(key.sign(transcript).to_bytes().to_vec()),
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Secret::Token(_) => f.write_str("Credential::Token(..)"),
            Secret::Ed25519(_) => f.write_str("Credential::Ed25519(..)"),
        }
    }
}

/// What a host checks a client's proof against, as listed in its auth file:
/// `ed25519:<base64 public key>`, `token-sha256:<hex>`, or
/// `x509-sha256:<hex>` for a client that proves itself with its certificate
/// over mutual TLS (the SHA-256 of the certificate's DER, as `openssl x509
/// -noout -fingerprint -sha256` prints it, colons allowed).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verifier {
    /// The SHA-256 of a shared token. It proves the name as the token
    /// does, so an auth file listing one is as secret as the token.
    TokenSha256([u8; 32]),
    /// An Ed25519 public key.
    Ed25519(VerifyingKey),
    /// The SHA-256 of a client certificate the host's mutual TLS verified.
    Certificate([u8; 32]),
}

impl Verifier {
    /// Parses the text form (see the type's docs).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Credential`] saying what is wrong.
    pub fn parse(text: &str) -> Result<Verifier> {
        match text.split_once(':') {
            Some(("ed25519", key)) => decode_base64::<32>(key)
                .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
                .map(Verifier::Ed25519)
                .ok_or_else(|| credential_error("not a base64 ed25519 public key".into())),
            Some(("token-sha256", hash)) => decode_hex(hash)
                .map(Verifier::TokenSha256)
                .ok_or_else(|| credential_error("not a 64-digit hex SHA-256".into())),
            Some(("x509-sha256", hash)) => decode_hex(hash)
                .map(Verifier::Certificate)
                .ok_or_else(|| credential_error("not a 64-digit hex SHA-256".into())),
            _ => Err(credential_error(
                "expected `ed25519:<base64>`, `token-sha256:<hex>` or `x509-sha256:<hex>`".into(),
            )),
        }
    }

    /// The method a client proves this credential with.
    pub(crate) fn method(&self) -> AuthMethod {
        match self {
            Verifier::TokenSha256(_) => AuthMethod::Token,
            Verifier::Ed25519(_) => AuthMethod::Ed25519,
            // Proven by the TLS handshake, not in the hello.
            Verifier::Certificate(_) => AuthMethod::None,
        }
    }

    /// Whether `proof`, made by `method`, proves `transcript`. The token's
    /// code is compared in constant time; a signature is checked strictly
    /// (no malleable encodings).
    pub(crate) fn verify(&self, method: AuthMethod, transcript: &[u8], proof: &Proof) -> bool {
        if method != self.method() {
            return false;
        }
        match self {
            Verifier::TokenSha256(key) => token_mac(key, transcript).verify_slice(&proof.0).is_ok(),
            Verifier::Ed25519(key) => Signature::from_slice(&proof.0)
                .is_ok_and(|sig| key.verify_strict(transcript, &sig).is_ok()),
            Verifier::Certificate(_) => false,
        }
    }
}

impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verifier::TokenSha256(hash) => {
                f.write_str("token-sha256:")?;
                hash.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
            Verifier::Ed25519(key) => write!(f, "ed25519:{}", BASE64.encode(key.as_bytes())),
            Verifier::Certificate(hash) => {
                f.write_str("x509-sha256:")?;
                hash.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

impl fmt::Debug for Verifier {
    /// A public key is shown; a token's hash is not (it proves the name).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verifier::TokenSha256(_) => f.write_str("Verifier::TokenSha256(..)"),
            Verifier::Ed25519(_) | Verifier::Certificate(_) => write!(f, "Verifier({self})"),
        }
    }
}

/// A verifier of `method` that admits no one, checked instead of a listed
/// one when a hello names no listed credential, so that both take as long.
pub(super) fn decoy(method: AuthMethod) -> &'static Verifier {
    static KEY: OnceLock<Verifier> = OnceLock::new();
    static TOKEN: Verifier = Verifier::TokenSha256([0x5a; 32]);
    match method {
        AuthMethod::Ed25519 => KEY.get_or_init(|| Credential::ed25519([0x5a; 32]).verifier()),
        AuthMethod::Token | AuthMethod::None => &TOKEN,
    }
}

fn token_mac(key: &[u8; 32], transcript: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; 32 bytes cannot fail.
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(transcript);
    mac
}

pub(super) fn credential_error(why: String) -> Error {
    Error::new(ErrorKind::Credential(why))
}

fn decode_base64<const N: usize>(text: &str) -> Option<[u8; N]> {
    BASE64.decode(text.trim()).ok()?.try_into().ok()
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    let text: Vec<u8> = text.trim().bytes().filter(|&b| b != b':').collect();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.chunks(2)) {
        let digit = |c: u8| (c as char).to_digit(16);
        *byte = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{NONCE_LEN, transcript};

    fn proves(credential: &Credential, verifier: &Verifier, name: &str) -> bool {
        let nonce = [9u8; NONCE_LEN];
        let proof = credential.prove(&transcript(&nonce, name, b""));
        verifier.verify(credential.method(), &transcript(&nonce, "arm", b""), &proof)
    }

    #[test]
    fn a_credential_proves_its_name_and_nothing_else() {
        let (key, token) = (
            Credential::generate().expect("a key"),
            Credential::token("s3cret"),
        );
        let others = [
            Credential::generate().expect("a key").verifier(),
            Credential::token("s3cret!").verifier(),
        ];
        for credential in [&key, &token] {
            let verifier = credential.verifier();
            assert!(proves(credential, &verifier, "arm"));
            assert!(!proves(credential, &verifier, "arm2"), "another name");
            for other in &others {
                assert!(!proves(credential, other, "arm"), "another credential");
            }
        }
        // A proof on one nonce is none on another (a replay).
        let proof = key.prove(&transcript(&[1; NONCE_LEN], "arm", b""));
        let replayed = transcript(&[2; NONCE_LEN], "arm", b"");
        assert!(
            !key.verifier()
                .verify(AuthMethod::Ed25519, &replayed, &proof)
        );
        // A token's proof offered as a signature, and the reverse.
        let mac = token.prove(&transcript(&[1; NONCE_LEN], "arm", b""));
        let fake = Verifier::TokenSha256([0; 32]);
        assert!(!fake.verify(AuthMethod::Ed25519, b"x", &mac));
    }

    #[test]
    fn text_forms_round_trip_and_hide_secrets() {
        let key = Credential::generate().expect("a key");
        let file = key.to_key_file().expect("a key has a file");
        let again = Credential::parse(&file).expect("reads back");
        assert!(again.verifier() == key.verifier());
        let verifier = key.verifier();
        assert!(Verifier::parse(&verifier.to_string()).expect("parses") == verifier);
        let token = Credential::token("s3cret").verifier();
        assert!(Verifier::parse(&token.to_string()).expect("parses") == token);
        let hash = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0";
        assert_eq!(token.to_string(), format!("token-sha256:{hash}"));
        let secret_free = format!("{key:?} {:?} {token:?}", Credential::token("s3cret"));
        assert!(!secret_free.contains("s3cret") && !file.lines().any(|l| secret_free.contains(l)));
        for bad in [
            "",
            "rsa:abc",
            "ed25519:",
            "ed25519:!!!",
            "token-sha256:12",
            "token-sha256:zz",
        ] {
            assert!(Verifier::parse(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "",
            "# only a comment",
            "ed25519:short",
            "token:",
            "password:x",
        ] {
            assert!(Credential::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Credential::parse("# mine\n token:abc \n").is_ok());
    }
}
