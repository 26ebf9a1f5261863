//! The hub's signing secret and the small crypto helpers built on it.
//! Several nodes share one secret (`HUB_SECRET`); a lone hub keeps a
//! generated one in its data dir, readable by its owner only.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// `HUB_SECRET` when given, else `<data-dir>/secret`, created (0600) on first use.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Secret> {
        if let Some(s) = configured {
            return Ok(Secret(s.as_bytes().to_vec()));
        }
        let path = data_dir.join("secret");
        match std::fs::read_to_string(&path) {
            Ok(s) if !s.trim().is_empty() => return Ok(Secret(s.trim().as_bytes().to_vec())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
        let fresh = random_token(32);
        // create_new: of two processes starting at once, one writes, the other re-reads.
        let tmp = data_dir.join(format!("secret.{}.tmp", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(fresh.as_bytes())?;
        file.sync_all()?;
        match std::fs::hard_link(&tmp, &path) {
            Ok(()) => {
                std::fs::remove_file(&tmp)?;
                Ok(Secret(fresh.into_bytes()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                std::fs::remove_file(&tmp)?;
                Secret::load(None, data_dir)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// HMAC-SHA256 of `message`, hex encoded.
    pub fn sign(&self, message: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of a signature made by [`Secret::sign`].
    pub fn verify(&self, message: &[u8], signature_hex: &str) -> bool {
        let Ok(sig) = hex::decode(signature_hex) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(message);
        mac.verify_slice(&sig).is_ok()
    }

    /// `plaintext` encrypted and authenticated (AES-256-GCM, a fresh nonce)
    /// under a key derived from this secret for `purpose`, base64: for
    /// credentials the hub must keep and use but never show (an upstream
    /// hub's token).
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> String {
        use aes_gcm::aead::{Aead, KeyInit};
        let cipher =
            aes_gcm::Aes256Gcm::new_from_slice(&self.derived_key(purpose)).expect("a 32-byte key");
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let mut sealed = nonce.to_vec();
        sealed.extend(
            cipher
                .encrypt(&nonce.into(), plaintext)
                .expect("AES-GCM encrypts any length we use"),
        );
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sealed)
    }

    /// What [`Secret::seal`] sealed for `purpose`; `None` when `sealed` was
    /// altered, or sealed under another secret or purpose.
    pub fn open(&self, purpose: &str, sealed: &str) -> Option<Vec<u8>> {
        use aes_gcm::aead::{Aead, KeyInit};
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sealed).ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, body) = bytes.split_at(12);
        let cipher =
            aes_gcm::Aes256Gcm::new_from_slice(&self.derived_key(purpose)).expect("a 32-byte key");
        cipher
            .decrypt(&aes_gcm::Nonce::try_from(nonce).ok()?, body)
            .ok()
    }

    fn derived_key(&self, purpose: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"kaiyuan-hub seal key: ");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// A random URL-safe token with `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, buf)
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_is_kept_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = Secret::load(None, dir.path()).unwrap();
        let b = Secret::load(None, dir.path()).unwrap();
        assert_eq!(a.0, b.0);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("secret"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let sig = a.sign(b"hello");
        assert!(b.verify(b"hello", &sig));
        assert!(!b.verify(b"hellO", &sig));
        assert!(!b.verify(b"hello", "zz"));
    }

    #[test]
    fn sealed_text_opens_only_unaltered_under_its_secret_and_purpose() {
        let a = Secret(b"one secret".to_vec());
        let sealed = a.seal("mirror token", b"hf_abc");
        assert!(!sealed.contains("hf_abc"));
        assert_eq!(a.open("mirror token", &sealed).unwrap(), b"hf_abc");
        assert_ne!(
            sealed,
            a.seal("mirror token", b"hf_abc"),
            "a fresh nonce each time"
        );
        assert!(a.open("other purpose", &sealed).is_none());
        assert!(
            Secret(b"another".to_vec())
                .open("mirror token", &sealed)
                .is_none()
        );
        let mut bytes =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &sealed).unwrap();
        bytes[14] ^= 1;
        let altered = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
        assert!(a.open("mirror token", &altered).is_none());
        assert!(a.open("mirror token", "not base64!").is_none());
    }
}
