//! The token signing key when `SECRET_KEY` is unset (demo and development modes).
//!
//! A key drawn at random on every start would void every issued token at each restart, so a
//! dashboard left open could never reconnect to a restarted demo server. Instead the key is
//! generated once and kept in a file only the server's user may read (mode 0600, in a 0700
//! directory when the server creates it): next to the SQLite database when there is one,
//! otherwise in the user's state directory. Each mode has its own file (demo tokens are easy
//! to come by: the demo passwords are public), and tokens name their mode besides. Production
//! never gets here: it requires `SECRET_KEY`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::config::{AppEnv, MIN_SECRET_KEY_BYTES};

/// Where the generated key of a server in `mode` lives unless `VEHICLEOPS_SECRET_KEY_FILE`
/// says otherwise: `<database>.<mode>.secret-key` beside a SQLite file, else
/// `$XDG_STATE_HOME/vehicleops/<mode>.secret-key` (`~/.local/state/vehicleops/…`). `None` when
/// there is neither a database file nor a home directory.
pub fn default_key_file(mode: AppEnv, sqlite_path: Option<&Path>) -> Option<PathBuf> {
    let file_name = format!("{}.secret-key", mode.as_str());
    if let Some(db) = sqlite_path {
        let mut name = db.file_name()?.to_os_string();
        name.push(".");
        name.push(&file_name);
        return Some(db.with_file_name(name));
    }
    let state_home = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local").join("state"))
        })?;
    Some(state_home.join("vehicleops").join(file_name))
}

/// The key stored in `path`, or a new random one written there first. A file that another
/// server created at the same moment wins, so concurrent starters agree on one key.
pub fn load_or_create(path: &Path) -> io::Result<Vec<u8>> {
    match read_key(path) {
        Ok(key) => return Ok(key),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir_builder().create(dir)?;
    }
    let key = hex(&random_key());
    match private_file_options().open(path) {
        Ok(mut file) => {
            file.write_all(key.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            Ok(key.into_bytes())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_key(path),
        Err(e) => Err(e),
    }
}

/// Reads a stored key (surrounding whitespace ignored); too short a key is an error, not a
/// silently weak signature.
fn read_key(path: &Path) -> io::Result<Vec<u8>> {
    warn_if_readable_by_others(path);
    let text = fs::read_to_string(path)?;
    let key = text.trim();
    if key.len() < MIN_SECRET_KEY_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} holds {} bytes; a key needs at least {MIN_SECRET_KEY_BYTES}",
                path.display(),
                key.len()
            ),
        ));
    }
    Ok(key.as_bytes().to_vec())
}

/// 32 random bytes from the operating system.
pub fn random_key() -> [u8; 32] {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut key = [0u8; 32];
    OsRng.fill_bytes(&mut key);
    key
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(unix)]
fn private_dir_builder() -> fs::DirBuilder {
    use std::os::unix::fs::DirBuilderExt;
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true).mode(0o700);
    builder
}

#[cfg(not(unix))]
fn private_dir_builder() -> fs::DirBuilder {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    builder
}

#[cfg(unix)]
fn private_file_options() -> fs::OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true).mode(0o600);
    options
}

#[cfg(not(unix))]
fn private_file_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    options
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "the token key file is readable by other users; restrict it with chmod 600"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "vo-secret-key-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_key_is_created_once_then_reused() {
        let dir = scratch_dir("reuse");
        let path = dir.join("nested").join("secret-key");
        let first = load_or_create(&path).unwrap();
        assert_eq!(first.len(), 64, "32 random bytes as hex");
        assert_eq!(
            load_or_create(&path).unwrap(),
            first,
            "a restart reads the same key"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "only the server's user may read the key");
            let dir_mode = fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(dir_mode, 0o700);
        }
        let other = load_or_create(&scratch_dir("other").join("secret-key")).unwrap();
        assert_ne!(other, first, "each key file gets its own random key");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_short_stored_key_is_refused() {
        let dir = scratch_dir("short");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret-key");
        fs::write(&path, "too-short\n").unwrap();
        let err = load_or_create(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("at least 32"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_default_file_sits_next_to_the_database_one_per_mode() {
        let db = Path::new("/var/lib/vehicleops/fleet.db");
        assert_eq!(
            default_key_file(AppEnv::Demo, Some(db)),
            Some(PathBuf::from(
                "/var/lib/vehicleops/fleet.db.demo.secret-key"
            ))
        );
        assert_eq!(
            default_key_file(AppEnv::Development, Some(db)),
            Some(PathBuf::from(
                "/var/lib/vehicleops/fleet.db.development.secret-key"
            ))
        );
        let demo = default_key_file(AppEnv::Demo, None);
        let development = default_key_file(AppEnv::Development, None);
        if let (Some(demo), Some(development)) = (demo, development) {
            assert_ne!(
                demo, development,
                "demo and development never share a key file"
            );
            assert!(
                demo.ends_with("vehicleops/demo.secret-key"),
                "{}",
                demo.display()
            );
        }
    }
}
