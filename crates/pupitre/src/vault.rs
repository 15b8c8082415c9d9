//! The credentials key: given by the administrator (`credentials_key` or
//! `credentials_key_file`), else the data directory's `credentials.key`, which the server
//! creates at its first start (when there is a data directory: PostgreSQL needs none, and
//! without a key credentials cannot be stored). Several servers sharing one PostgreSQL database need the same
//! key; a backup of the database needs the key to be of any use for credentials.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use pupitre_store::vault::Vault;

use crate::config::Config;

/// The file holding the key when the configuration gives none.
pub fn key_path(cfg: &Config) -> PathBuf {
    cfg.data_dir.join("credentials.key")
}

/// The server's vault. With `create`, a missing key file is created (mode 0600); without, a
/// missing key gives `None` (the command line does not invent keys).
pub fn open(cfg: &Config, create: bool) -> anyhow::Result<Option<Arc<Vault>>> {
    if let Some(text) = &cfg.credentials_key {
        let key = Vault::parse_key(text).context("credentials_key")?;
        return Ok(Some(Arc::new(Vault::new(&key))));
    }
    let path = key_path(cfg);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create && !cfg.data_dir.is_dir() => {
            // PostgreSQL needs no data directory, and servers sharing a database need one key.
            tracing::warn!(
                "no credentials key (credentials_key_file) and no data directory to keep one in: \
                 SNMP and database credentials cannot be stored until one is configured"
            );
            return Ok(None);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let text = Vault::generate_key()?;
            write_new(&path, &text)?;
            tracing::info!(path = %path.display(), "created the credentials key; back it up with the database");
            text
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let key = Vault::parse_key(&text).with_context(|| format!("{}", path.display()))?;
    Ok(Some(Arc::new(Vault::new(&key))))
}

/// Writes a new file readable by its owner only; never replaces one.
fn write_new(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(file, "{text}").with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_all()?;
    Ok(())
}
