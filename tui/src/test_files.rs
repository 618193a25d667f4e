//! Files for unit tests, removed when dropped.

/// A file holding `contents`, named after `name`, removed when the returned
/// path is dropped.
pub fn temp_file(name: &str, contents: &[u8]) -> tempfile::TempPath {
    let file = tempfile::Builder::new()
        .prefix(&format!("panctl-{name}-"))
        .tempfile()
        .expect("create a temp file");
    std::fs::write(file.path(), contents).expect("write a temp file");
    file.into_temp_path()
}
