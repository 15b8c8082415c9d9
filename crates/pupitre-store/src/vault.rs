//! Secrets at rest: credentials are sealed with AES-256-GCM under a key the database never
//! holds (a file of the data directory, or one the administrator provides), so a copy of the
//! database or of a backup gives no community and no password.
//!
//! A sealed value reads `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The key id (the
//! first 8 hex digits of the key's SHA-256) lets a server with the wrong key say so instead of
//! failing obscurely. The context a value was sealed for (`credential:snmp_v3:main`) is
//! authenticated with it, so a sealed value copied into another column or kind does not open.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// The length of a key, in bytes.
pub const KEY_LEN: usize = 32;

/// Why a sealed value or a key cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("the key must be {} hexadecimal digits (e.g. `openssl rand -hex 32`)", KEY_LEN * 2)]
    KeyFormat,
    #[error("the sealed value is malformed")]
    Malformed,
    #[error(
        "it was sealed with key {sealed_with}, and this server has key {have}: give this server \
         the same credentials key as the server that stored it"
    )]
    OtherKey { sealed_with: String, have: String },
    #[error("it does not open with this server's key: the stored value was altered")]
    Altered,
    #[error("the system's random number generator failed")]
    Random,
}

/// A key that seals and opens secrets. `Debug` shows the key id only.
pub struct Vault {
    key: LessSafeKey,
    /// Signs links (acknowledge from an e-mail), derived from the key.
    signing: ring::hmac::Key,
    id: String,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault").field("key_id", &self.id).finish()
    }
}

impl Vault {
    pub fn new(key: &[u8; KEY_LEN]) -> Vault {
        let digest = ring::digest::digest(&ring::digest::SHA256, key);
        let id = digest.as_ref()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut context = b"pupitre signing key\0".to_vec();
        context.extend_from_slice(key);
        let signing = ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            ring::digest::digest(&ring::digest::SHA256, &context).as_ref(),
        );
        let key = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key suits AES-256-GCM");
        Vault {
            key: LessSafeKey::new(key),
            signing,
            id,
        }
    }

    /// An HMAC-SHA256 of `message` under a key derived from this one, as lowercase hex.
    pub fn sign(&self, message: &str) -> String {
        ring::hmac::sign(&self.signing, message.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `signature` is [`Vault::sign`]'s for `message` (compared in constant time).
    pub fn verify(&self, message: &str, signature: &str) -> bool {
        let bytes: Option<Vec<u8>> = (0..signature.len())
            .step_by(2)
            .map(|i| {
                signature
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        bytes.is_some_and(|b| ring::hmac::verify(&self.signing, message.as_bytes(), &b).is_ok())
    }

    /// A new random key, as the text [`Vault::parse_key`] reads.
    pub fn generate_key() -> Result<String, VaultError> {
        let mut key = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| VaultError::Random)?;
        Ok(key.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Reads a key written as 64 hexadecimal digits (surrounding white space ignored).
    pub fn parse_key(text: &str) -> Result<[u8; KEY_LEN], VaultError> {
        let text = text.trim();
        if text.len() != KEY_LEN * 2 || !text.is_ascii() {
            return Err(VaultError::KeyFormat);
        }
        let mut key = [0u8; KEY_LEN];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
                .map_err(|_| VaultError::KeyFormat)?;
        }
        Ok(key)
    }

    /// The key's id: the first 8 hex digits of its SHA-256.
    pub fn key_id(&self) -> &str {
        &self.id
    }

    /// Seals `secret` for `context`.
    pub fn seal(&self, context: &str, secret: &str) -> Result<String, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| VaultError::Random)?;
        let mut sealed = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| VaultError::Random)?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("v1.{}.{}", self.id, URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Opens a value [`Vault::seal`] sealed for the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<String, VaultError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(VaultError::Malformed);
        };
        if key_id != self.id {
            return Err(VaultError::OtherKey {
                sealed_with: key_id.to_owned(),
                have: self.id.clone(),
            });
        }
        let mut bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| VaultError::Malformed)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(VaultError::Malformed);
        }
        let mut ciphertext = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| VaultError::Malformed)?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut ciphertext)
            .map_err(|_| VaultError::Altered)?;
        String::from_utf8(plain.to_vec()).map_err(|_| VaultError::Altered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        Vault::new(&Vault::parse_key(&Vault::generate_key().unwrap()).unwrap())
    }

    #[test]
    fn seals_and_opens() {
        let v = vault();
        let sealed = v.seal("credential:password:main", "hunter2").unwrap();
        assert!(!sealed.contains("hunter2"));
        assert!(sealed.starts_with(&format!("v1.{}.", v.key_id())));
        assert_eq!(
            v.open("credential:password:main", &sealed).unwrap(),
            "hunter2"
        );
        // Same secret, new nonce.
        assert_ne!(
            sealed,
            v.seal("credential:password:main", "hunter2").unwrap()
        );
    }

    #[test]
    fn refuses_another_context_key_or_alteration() {
        let v = vault();
        let sealed = v.seal("credential:password:main", "hunter2").unwrap();
        assert_eq!(
            v.open("credential:snmp_v3:main", &sealed),
            Err(VaultError::Altered)
        );
        let other = vault();
        let err = other.open("credential:password:main", &sealed).unwrap_err();
        assert!(matches!(err, VaultError::OtherKey { .. }), "{err}");
        assert!(err.to_string().contains(v.key_id()), "{err}");
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert_eq!(
            v.open("credential:password:main", &altered),
            Err(VaultError::Altered)
        );
        assert_eq!(v.open("x", "v2.abc.def"), Err(VaultError::Malformed));
        assert_eq!(v.open("x", "garbage"), Err(VaultError::Malformed));
    }

    #[test]
    fn keys_are_64_hex_digits() {
        assert!(Vault::parse_key(&"ab".repeat(32)).is_ok());
        assert!(Vault::parse_key(&format!("{}\n", "AB".repeat(32))).is_ok());
        assert_eq!(Vault::parse_key("abcd"), Err(VaultError::KeyFormat));
        assert_eq!(
            Vault::parse_key(&"zz".repeat(32)),
            Err(VaultError::KeyFormat)
        );
        assert_eq!(
            format!("{:?}", vault()).len(),
            "Vault { key_id: \"00000000\" }".len()
        );
    }
}
