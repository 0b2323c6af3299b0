//! The data directory: the SQLite database and the key material Consentry generates
//! for itself on first start.
//!
//! Every key file is owner-only (0600). A key another user can read is a key that may
//! have leaked, so start-up refuses it rather than carrying on quietly.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};
use secrecy::ExposeSecret;

/// Secret input of the per-purpose pseudonyms (HMAC key); never leaves the directory.
pub const PSEUDONYM_PEPPER_FILE: &str = "pseudonym-pepper.key";
/// Ed25519 key (PKCS#8) that signs audit-log checkpoints.
pub const AUDIT_SIGNING_KEY_FILE: &str = "audit-signing.ed25519";
/// age X25519 identity for encrypted exports.
pub const EXPORT_IDENTITY_FILE: &str = "export-identity.age";
/// Ed25519 key (PKCS#8) of the demo token issuer; exists only in demo data directories.
pub const DEMO_ISSUER_KEY_FILE: &str = "demo-issuer.ed25519";
/// The embedded SQLite database.
pub const SQLITE_FILE: &str = "consentry.db";

const OWNER_ONLY: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("{path} is readable by other users (mode {mode:04o}); run `chmod 600 {path}` and start again")]
    InsecurePermissions { path: PathBuf, mode: u32 },
    #[error("{path} does not hold a valid {what}; restore it from backup or remove it to generate a new one")]
    InvalidKey { path: PathBuf, what: &'static str },
    #[error(
        "{path} is not a demo data directory (it has no {DEMO_ISSUER_KEY_FILE}); start `consentry serve --demo` with it first"
    )]
    NotDemo { path: PathBuf },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("could not generate key material: the system random source failed")]
    Random,
}

impl DataDirError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io { path: path.to_path_buf(), source }
    }

    /// Problems an operator fixes in the set-up, as opposed to failures of the machine.
    pub fn is_configuration(&self) -> bool {
        !matches!(self, Self::Io { .. } | Self::Random)
    }
}

/// An opened data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    path: PathBuf,
}

impl DataDir {
    /// Opens the directory, creating it (owner-only) when it does not exist.
    pub fn open(path: &Path) -> Result<Self, DataDirError> {
        if !path.exists() {
            fs::create_dir_all(path).map_err(DataDirError::io(path))?;
            fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(DataDirError::io(path))?;
        }
        let path = fs::canonicalize(path).map_err(DataDirError::io(path))?;
        Ok(Self { path })
    }

    /// Opens an existing directory without creating anything in it.
    pub fn open_existing(path: &Path) -> Result<Self, DataDirError> {
        let path = fs::canonicalize(path).map_err(DataDirError::io(path))?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SQLite database file, created empty and owner-only if absent, because it
    /// holds personal data and SQLite would otherwise create it with the umask's mode.
    pub fn sqlite_file(&self) -> Result<PathBuf, DataDirError> {
        let path = self.path.join(SQLITE_FILE);
        if !path.exists() {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(OWNER_ONLY)
                .open(&path)
                .map_err(DataDirError::io(&path))?;
        }
        Ok(path)
    }

    /// Loads the key material, generating what is missing. The demo issuer key is
    /// generated only for a demo server.
    pub fn load_keys(&self, demo: bool) -> Result<Keys, DataDirError> {
        let rng = SystemRandom::new();
        let pepper = self.load_or_create(PSEUDONYM_PEPPER_FILE, || random_bytes::<32>(&rng).map(Vec::from))?;
        let pseudonym_pepper =
            Pepper(pepper.try_into().map_err(|_| self.invalid(PSEUDONYM_PEPPER_FILE, "32-byte pepper"))?);
        let audit_signing = self.signing_key(AUDIT_SIGNING_KEY_FILE, &rng)?;
        let identity = self.load_or_create(EXPORT_IDENTITY_FILE, || {
            Ok(age::x25519::Identity::generate().to_string().expose_secret().as_bytes().to_vec())
        })?;
        let export_identity = std::str::from_utf8(&identity)
            .ok()
            .and_then(|text| text.trim().parse::<age::x25519::Identity>().ok())
            .map(ExportIdentity)
            .ok_or_else(|| self.invalid(EXPORT_IDENTITY_FILE, "age identity"))?;
        // Outside demo mode the demo issuer must not exist for the server, even if its key does.
        let demo_issuer = if demo { Some(self.signing_key(DEMO_ISSUER_KEY_FILE, &rng)?) } else { None };
        Ok(Keys { pseudonym_pepper, audit_signing, export_identity, demo_issuer })
    }

    /// The audit signing key's public half, if the key exists; generates nothing.
    pub fn audit_public_key(&self) -> Option<Vec<u8>> {
        let pkcs8 = read_owner_only(&self.path.join(AUDIT_SIGNING_KEY_FILE)).ok()?;
        SigningKey::from_pkcs8(pkcs8).map(|key| key.public_key().to_vec())
    }

    /// The demo issuer's key, which only a demo server creates.
    pub fn demo_issuer_key(&self) -> Result<SigningKey, DataDirError> {
        let path = self.path.join(DEMO_ISSUER_KEY_FILE);
        if !path.exists() {
            return Err(DataDirError::NotDemo { path: self.path.clone() });
        }
        let pkcs8 = read_owner_only(&path)?;
        SigningKey::from_pkcs8(pkcs8).ok_or_else(|| self.invalid(DEMO_ISSUER_KEY_FILE, "Ed25519 key"))
    }

    fn signing_key(&self, file: &str, rng: &SystemRandom) -> Result<SigningKey, DataDirError> {
        let pkcs8 = self.load_or_create(file, || {
            Ed25519KeyPair::generate_pkcs8(rng)
                .map(|document| document.as_ref().to_vec())
                .map_err(|_| DataDirError::Random)
        })?;
        SigningKey::from_pkcs8(pkcs8).ok_or_else(|| self.invalid(file, "Ed25519 key"))
    }

    fn load_or_create(
        &self,
        file: &str,
        generate: impl FnOnce() -> Result<Vec<u8>, DataDirError>,
    ) -> Result<Vec<u8>, DataDirError> {
        let path = self.path.join(file);
        if path.exists() {
            return read_owner_only(&path);
        }
        let contents = generate()?;
        write_owner_only(&path, &contents)?;
        Ok(contents)
    }

    fn invalid(&self, file: &str, what: &'static str) -> DataDirError {
        DataDirError::InvalidKey { path: self.path.join(file), what }
    }
}

fn read_owner_only(path: &Path) -> Result<Vec<u8>, DataDirError> {
    let mode = fs::metadata(path).map_err(DataDirError::io(path))?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(DataDirError::InsecurePermissions { path: path.to_path_buf(), mode });
    }
    fs::read(path).map_err(DataDirError::io(path))
}

/// Writes beside the target and renames, so a crash never leaves half a key behind.
fn write_owner_only(path: &Path, contents: &[u8]) -> Result<(), DataDirError> {
    let partial = path.with_extension("partial");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(OWNER_ONLY)
        .open(&partial)
        .map_err(DataDirError::io(&partial))?;
    file.write_all(contents).map_err(DataDirError::io(&partial))?;
    file.sync_all().map_err(DataDirError::io(&partial))?;
    fs::rename(&partial, path).map_err(DataDirError::io(path))
}

fn random_bytes<const N: usize>(rng: &SystemRandom) -> Result<[u8; N], DataDirError> {
    let mut bytes = [0u8; N];
    rng.fill(&mut bytes).map_err(|_| DataDirError::Random)?;
    Ok(bytes)
}

/// The key material of one data directory.
#[derive(Debug)]
pub struct Keys {
    pub pseudonym_pepper: Pepper,
    pub audit_signing: SigningKey,
    pub export_identity: ExportIdentity,
    pub demo_issuer: Option<SigningKey>,
}

/// The HMAC key behind per-purpose pseudonyms.
pub struct Pepper([u8; 32]);

impl Pepper {
    /// A pepper from its bytes (tests and benchmarks; servers load theirs from the data
    /// directory).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper([redacted])")
    }
}

/// An Ed25519 key pair, kept with its PKCS#8 encoding for JWT signing.
pub struct SigningKey {
    pkcs8: Vec<u8>,
    pair: Ed25519KeyPair,
}

impl SigningKey {
    pub fn from_pkcs8(pkcs8: Vec<u8>) -> Option<Self> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8).ok()?;
        Some(Self { pkcs8, pair })
    }

    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }

    /// A short, stable name for the key: the first 8 bytes of the SHA-256 of the public key.
    pub fn key_id(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.public_key());
        digest.as_ref()[..8].iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.key_id())
    }
}

/// The identity that decrypts exports made to this installation.
pub struct ExportIdentity(age::x25519::Identity);

impl ExportIdentity {
    pub fn identity(&self) -> &age::x25519::Identity {
        &self.0
    }

    /// The `age1…` recipient that exports can be encrypted to.
    pub fn recipient(&self) -> String {
        self.0.to_public().to_string()
    }
}

impl fmt::Debug for ExportIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExportIdentity({})", self.recipient())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_open_generates_owner_only_keys_and_second_open_reads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = DataDir::open(&dir.path().join("data")).unwrap();
        let first = data_dir.load_keys(true).unwrap();
        for file in [PSEUDONYM_PEPPER_FILE, AUDIT_SIGNING_KEY_FILE, EXPORT_IDENTITY_FILE, DEMO_ISSUER_KEY_FILE] {
            let mode = fs::metadata(data_dir.path().join(file)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{file}");
        }
        let second = data_dir.load_keys(false).unwrap();
        assert_eq!(first.audit_signing.public_key(), second.audit_signing.public_key());
        assert_eq!(first.pseudonym_pepper.expose(), second.pseudonym_pepper.expose());
        assert_eq!(first.export_identity.recipient(), second.export_identity.recipient());
        assert!(second.demo_issuer.is_none(), "a server started without --demo trusts no demo issuer");
        assert_eq!(data_dir.demo_issuer_key().unwrap().public_key(), first.demo_issuer.unwrap().public_key());
    }

    #[test]
    fn a_key_readable_by_others_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = DataDir::open(dir.path()).unwrap();
        data_dir.load_keys(false).unwrap();
        let path = data_dir.path().join(AUDIT_SIGNING_KEY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let error = data_dir.load_keys(false).unwrap_err();
        assert!(error.is_configuration());
        assert!(error.to_string().contains(AUDIT_SIGNING_KEY_FILE), "{error}");
    }

    #[test]
    fn a_corrupt_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = DataDir::open(dir.path()).unwrap();
        write_owner_only(&data_dir.path().join(EXPORT_IDENTITY_FILE), b"not an identity").unwrap();
        let error = data_dir.load_keys(false).unwrap_err();
        assert!(error.to_string().contains(EXPORT_IDENTITY_FILE), "{error}");
    }

    #[test]
    fn a_plain_data_directory_has_no_demo_issuer() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = DataDir::open(dir.path()).unwrap();
        assert!(data_dir.load_keys(false).unwrap().demo_issuer.is_none());
        assert!(matches!(data_dir.demo_issuer_key(), Err(DataDirError::NotDemo { .. })));
    }

    #[test]
    fn secrets_do_not_print() {
        let dir = tempfile::tempdir().unwrap();
        let keys = DataDir::open(dir.path()).unwrap().load_keys(true).unwrap();
        let printed = format!("{keys:?}");
        assert!(printed.contains("redacted"));
        assert!(!printed.contains("AGE-SECRET-KEY"));
    }
}
