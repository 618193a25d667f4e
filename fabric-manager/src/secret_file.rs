//! Secret files (tokens, the cluster key): owner-only, written whole or
//! not at all.

use std::path::Path;

/// Writes `secret` and a newline to `path` with mode 0600, through a
/// temporary file renamed into place, so a crash never leaves a partial
/// secret.
pub fn write(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(secret.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
