//! Parsing `qemu-img info --output=json`: a pure function on text.
//!
//! Only `virtual-size` is required; every other field may be missing, and
//! unknown fields are ignored, so newer qemu-img versions keep working.
//! Garbage becomes [`Error::UnexpectedOutput`], never a panic. This module
//! must never run anything.

use crate::error::{Error, Result};
use serde::Deserialize;

/// What `qemu-img info` says about one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// The size the guest sees, in bytes.
    pub virtual_size: u64,
    /// Bytes the image file takes on the host's disk.
    pub actual_size: Option<u64>,
    /// `qcow2`, `raw`, …
    pub format: Option<String>,
    /// The golden image a thin clone reads unwritten blocks from.
    pub backing_filename: Option<String>,
    /// Internal snapshots (restore points), in qemu-img's order.
    pub snapshots: Vec<SnapshotInfo>,
}

/// One internal snapshot of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub id: String,
    pub name: String,
    /// When it was taken, seconds since the Unix epoch.
    pub date_sec: Option<u64>,
}

#[derive(Deserialize)]
struct RawInfo {
    #[serde(rename = "virtual-size")]
    virtual_size: u64,
    #[serde(rename = "actual-size", default)]
    actual_size: Option<u64>,
    #[serde(default)]
    format: Option<String>,
    #[serde(rename = "backing-filename", default)]
    backing_filename: Option<String>,
    #[serde(default)]
    snapshots: Vec<RawSnapshot>,
}

#[derive(Deserialize)]
struct RawSnapshot {
    #[serde(default)]
    id: Option<serde_json::Value>,
    name: String,
    #[serde(rename = "date-sec", default)]
    date_sec: Option<u64>,
}

/// Parses the JSON `command` printed.
pub fn parse_info(command: &str, json: &str) -> Result<ImageInfo> {
    let unexpected = |detail: String| Error::UnexpectedOutput {
        command: command.to_string(),
        detail,
    };
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| unexpected(format!("not JSON ({e})")))?;
    if !value.is_object() {
        return Err(unexpected("not a JSON object".to_string()));
    }
    let raw: RawInfo = serde_json::from_value(value)
        .map_err(|e| unexpected(format!("not qemu-img info JSON ({e})")))?;
    Ok(ImageInfo {
        virtual_size: raw.virtual_size,
        actual_size: raw.actual_size,
        format: raw.format,
        backing_filename: raw.backing_filename,
        snapshots: raw
            .snapshots
            .into_iter()
            .map(|s| SnapshotInfo {
                id: match s.id {
                    Some(serde_json::Value::String(id)) => id,
                    Some(other) => other.to_string(),
                    None => String::new(),
                },
                name: s.name,
                date_sec: s.date_sec,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CLONE: &str =
        include_str!("../../tests/fixtures/qemu-img/info-clone-with-snapshots.json");
    const GOLDEN: &str = include_str!("../../tests/fixtures/qemu-img/info-golden.json");

    #[test]
    fn clone_with_snapshots() {
        let info = parse_info("qemu-img info", CLONE).unwrap();
        assert_eq!(info.virtual_size, 2_097_152);
        assert_eq!(info.actual_size, Some(221_184));
        assert_eq!(info.format.as_deref(), Some("qcow2"));
        assert_eq!(
            info.backing_filename.as_deref(),
            Some("/srv/pan/san/images/gold.qcow2")
        );
        let names: Vec<_> = info.snapshots.iter().map(|s| s.name.as_str()).collect();
        // qemu-img itself accepts a second snapshot of the same name (this
        // fixture has two), which is why VolumeStore checks names first.
        assert_eq!(names, ["snap1", "snap1", "before-upgrade"]);
        assert_eq!(info.snapshots[0].id, "1");
        assert!(info.snapshots[0].date_sec.is_some());
    }

    #[test]
    fn golden_without_backing_or_snapshots() {
        let info = parse_info("qemu-img info", GOLDEN).unwrap();
        assert_eq!(info.virtual_size, 1_000_448);
        assert_eq!(info.backing_filename, None);
        assert!(info.snapshots.is_empty());
    }

    #[test]
    fn minimal_and_unknown_fields() {
        let info = parse_info("x", r#"{"virtual-size": 512, "new-field": [1]}"#).unwrap();
        assert_eq!(info.virtual_size, 512);
        assert_eq!(info.actual_size, None);
        let info = parse_info(
            "x",
            r#"{"virtual-size":1,"snapshots":[{"name":"a","id":7}]}"#,
        )
        .unwrap();
        assert_eq!(info.snapshots[0].id, "7");
    }

    #[test]
    fn garbage_is_a_typed_error() {
        for bad in ["", "qemu-img: oops", "{}", r#"{"virtual-size":-1}"#, "[1]"] {
            let err = parse_info("qemu-img info v", bad).unwrap_err();
            assert!(
                matches!(&err, Error::UnexpectedOutput { command, .. } if command == "qemu-img info v"),
                "{bad}: {err:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = parse_info("x", &s);
        }

        #[test]
        fn never_panics_on_mutated_fixture(cut in 0usize..2000, byte in any::<u8>()) {
            let mut bytes = CLONE.as_bytes().to_vec();
            let at = cut % bytes.len();
            bytes[at] = byte;
            let _ = parse_info("x", &String::from_utf8_lossy(&bytes));
        }
    }
}
