//! Sealing secrets at rest with XChaCha20-Poly1305.
//!
//! Webhook secrets and ERP tokens are sealed before they are written to the database, so
//! a copied database file reveals nothing without the key. The key comes from
//! `ERP_SYNC_SECRET_KEY` (32 bytes, hex or base64); when it is absent a random key is
//! generated once into `<data dir>/secret.key` with 0600 permissions, and a warning says
//! that this is for development only.
//!
//! Each sealed value is `version byte || 24-byte nonce || ciphertext+tag`, and binds
//! associated data (the owning row's id) so a sealed value cannot be moved to another row.

use std::path::{Path, PathBuf};

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const KEY_FILE: &str = "secret.key";

/// Why a key could not be loaded or a sealed value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(
        "ERP_SYNC_SECRET_KEY must be 32 bytes written as 64 hex digits or base64; got {0} bytes"
    )]
    BadKeyLength(usize),
    #[error("ERP_SYNC_SECRET_KEY is neither hex nor base64")]
    BadKeyEncoding,
    #[error("reading or writing the key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "a sealed secret could not be opened: it was sealed with another key (was ERP_SYNC_SECRET_KEY changed?) or is corrupt"
    )]
    Open,
}

/// Where the sealing key came from, so start-up can warn about a development key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    DevKeyFile(PathBuf),
}

/// Seals and opens secrets with one process-wide key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

fn decode_key(text: &str) -> Result<[u8; 32], SealError> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).map_err(|_| SealError::BadKeyEncoding)?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| SealError::BadKeyEncoding)?
    };
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| SealError::BadKeyLength(bytes.len()))
}

impl Sealer {
    /// A sealer for a raw 32-byte key.
    pub fn from_key(key: [u8; 32]) -> Self {
        Sealer {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// The key from the environment value when given, else the data dir's dev key file,
    /// created on first use.
    pub fn load(env_key: Option<&str>, data_dir: &Path) -> Result<(Self, KeySource), SealError> {
        if let Some(text) = env_key.filter(|t| !t.trim().is_empty()) {
            return Ok((Self::from_key(decode_key(text)?), KeySource::Environment));
        }
        let path = data_dir.join(KEY_FILE);
        let key_err = |source| SealError::KeyFile {
            path: path.clone(),
            source,
        };
        let key = match std::fs::read_to_string(&path) {
            Ok(text) => decode_key(&text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                write_private(&path, hex::encode(key).as_bytes()).map_err(key_err)?;
                key
            }
            Err(e) => return Err(key_err(e)),
        };
        Ok((Self::from_key(key), KeySource::DevKeyFile(path)))
    }

    /// Encrypts `plaintext`, bound to `aad` (e.g. the owning connection's id).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts a value produced by [`Sealer::seal`] with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            return Err(SealError::Open);
        }
        let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| SealError::Open)
    }
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let sealer = Sealer::from_key([7; 32]);
        let sealed = sealer.seal(b"whsec_abc", b"conn_1");
        assert!(!sealed.windows(9).any(|w| w == b"whsec_abc"));
        assert_eq!(sealer.open(&sealed, b"conn_1").unwrap(), b"whsec_abc");
        assert!(sealer.open(&sealed, b"conn_2").is_err());
        assert!(Sealer::from_key([8; 32]).open(&sealed, b"conn_1").is_err());
    }

    #[test]
    fn key_from_env_and_dev_file() {
        let dir = tempfile::tempdir().unwrap();
        let hex_key = "11".repeat(32);
        let (_, source) = Sealer::load(Some(&hex_key), dir.path()).unwrap();
        assert_eq!(source, KeySource::Environment);
        assert!(matches!(
            Sealer::load(Some("abcd"), dir.path()),
            Err(SealError::BadKeyLength(_)) | Err(SealError::BadKeyEncoding)
        ));

        let (a, source) = Sealer::load(None, dir.path()).unwrap();
        assert!(matches!(source, KeySource::DevKeyFile(_)));
        let (b, _) = Sealer::load(None, dir.path()).unwrap();
        let sealed = a.seal(b"x", b"");
        assert_eq!(b.open(&sealed, b"").unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
