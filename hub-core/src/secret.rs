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
}
