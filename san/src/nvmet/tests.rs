//! Tests of [`ConfigfsTarget`] on a temporary directory: the tree written
//! (a golden file), idempotence, read-back and typed errors.

use super::*;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;

const HOST_A: &str = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-00000000000a";
const HOST_B: &str = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-00000000000b";

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    target: ConfigfsTarget,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nvmet");
    let port = PortConfig::tcp(1, Ipv4Addr::new(192, 0, 2, 10).into());
    let target = ConfigfsTarget::new(&root, port).unwrap();
    Setup {
        _dir: dir,
        root,
        target,
    }
}

fn nqn(s: &str) -> Nqn {
    Nqn::parse(s).unwrap()
}

fn vol(id: &str) -> Nqn {
    Nqn::for_volume(id).unwrap()
}

/// The tree under `root` as sorted lines: `d path/`, `f path = contents`,
/// `l path -> target` (targets under `root` shown as `$ROOT/…`).
fn listing(root: &Path) -> String {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                let shown = match target.strip_prefix(root) {
                    Ok(t) => format!("$ROOT/{}", t.display()),
                    Err(_) => target.display().to_string(),
                };
                out.push(format!("l {rel} -> {shown}"));
            } else if meta.is_dir() {
                out.push(format!("d {rel}/"));
                walk(root, &path, out);
            } else {
                let contents = std::fs::read_to_string(&path).unwrap();
                out.push(format!("f {rel} = {contents:?}"));
            }
        }
    }
    let mut lines = Vec::new();
    if root.exists() {
        walk(root, root, &mut lines);
    }
    let mut out = String::new();
    for line in lines {
        writeln!(out, "{line}").unwrap();
    }
    out
}

#[test]
fn golden_tree_of_two_exports() {
    let s = setup();
    s.target
        .export(&vol("vol-1"), Path::new("/srv/pan/san/volumes/web.qcow2"))
        .unwrap();
    s.target
        .export(&vol("vol-2"), Path::new("/dev/nbd1"))
        .unwrap();
    s.target.grant(&vol("vol-1"), &nqn(HOST_A)).unwrap();
    s.target.grant(&vol("vol-1"), &nqn(HOST_B)).unwrap();
    s.target.grant(&vol("vol-2"), &nqn(HOST_B)).unwrap();
    insta::assert_snapshot!("two_exports", listing(&s.root));
}

#[test]
fn links_are_symlinks_to_absolute_targets_that_resolve() {
    let s = setup();
    s.target.export(&vol("v"), Path::new("/dev/x")).unwrap();
    s.target.grant(&vol("v"), &nqn(HOST_A)).unwrap();
    let host_link = s
        .root
        .join("subsystems")
        .join(vol("v").as_str())
        .join("allowed_hosts")
        .join(HOST_A);
    let port_link = s.root.join("ports/1/subsystems").join(vol("v").as_str());
    for link in [&host_link, &port_link] {
        let target = std::fs::read_link(link).unwrap();
        assert!(target.is_absolute(), "{}", target.display());
        assert!(link.is_dir(), "{} does not resolve", link.display());
    }
    assert_eq!(
        std::fs::canonicalize(&host_link).unwrap(),
        std::fs::canonicalize(s.root.join("hosts").join(HOST_A)).unwrap()
    );
}

#[test]
fn grant_and_revoke_are_idempotent_and_read_back() {
    let s = setup();
    let v = vol("v");
    s.target.export(&v, Path::new("/dev/x")).unwrap();
    assert!(s.target.allowed_hosts(&v).unwrap().is_empty());
    s.target.grant(&v, &nqn(HOST_B)).unwrap();
    s.target.grant(&v, &nqn(HOST_A)).unwrap();
    let before = listing(&s.root);
    s.target.grant(&v, &nqn(HOST_A)).unwrap();
    assert_eq!(listing(&s.root), before);
    assert_eq!(
        s.target.allowed_hosts(&v).unwrap(),
        [nqn(HOST_A), nqn(HOST_B)]
    );

    s.target.revoke(&v, &nqn(HOST_A)).unwrap();
    s.target.revoke(&v, &nqn(HOST_A)).unwrap();
    assert_eq!(s.target.allowed_hosts(&v).unwrap(), [nqn(HOST_B)]);
    // The host's directory stays: other subsystems may list it.
    assert!(s.root.join("hosts").join(HOST_A).is_dir());
}

#[test]
fn export_is_idempotent_and_refuses_another_device() {
    let s = setup();
    let v = vol("v");
    s.target.export(&v, Path::new("/dev/x")).unwrap();
    s.target.grant(&v, &nqn(HOST_A)).unwrap();
    let before = listing(&s.root);
    s.target.export(&v, Path::new("/dev/x")).unwrap();
    assert_eq!(listing(&s.root), before);
    let err = s.target.export(&v, Path::new("/dev/y")).unwrap_err();
    match &err {
        Error::ExportConflict {
            nqn,
            existing,
            requested,
        } => {
            assert_eq!(nqn, v.as_str());
            assert_eq!(existing, "/dev/x");
            assert_eq!(requested, "/dev/y");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("unexport it first"));
    assert_eq!(listing(&s.root), before);
}

#[test]
fn operations_on_a_missing_export_name_it() {
    let s = setup();
    let v = vol("ghost");
    for err in [
        s.target.grant(&v, &nqn(HOST_A)).unwrap_err(),
        s.target.allowed_hosts(&v).unwrap_err(),
    ] {
        assert!(
            matches!(&err, Error::ExportNotFound { nqn } if nqn == v.as_str()),
            "{err:?}"
        );
        assert!(err.to_string().contains("export the volume first"));
    }
    // Nothing to revoke or unexport: already true.
    s.target.revoke(&v, &nqn(HOST_A)).unwrap();
    s.target.unexport(&v).unwrap();
    assert!(!s.root.join("hosts").exists(), "grant made nothing");
}

#[test]
fn unexport_removes_the_subsystem_and_port_link_only() {
    let s = setup();
    s.target.export(&vol("keep"), Path::new("/dev/k")).unwrap();
    s.target.grant(&vol("keep"), &nqn(HOST_A)).unwrap();
    let only_keep = listing(&s.root);
    s.target.export(&vol("gone"), Path::new("/dev/g")).unwrap();
    s.target.grant(&vol("gone"), &nqn(HOST_A)).unwrap();
    s.target.unexport(&vol("gone")).unwrap();
    assert_eq!(listing(&s.root), only_keep);
    assert_eq!(s.target.exports().unwrap(), [vol("keep")]);
    s.target.unexport(&vol("gone")).unwrap();
}

#[test]
fn a_port_in_use_with_other_settings_is_not_changed() {
    let s = setup();
    s.target.export(&vol("v"), Path::new("/dev/x")).unwrap();
    let other = ConfigfsTarget::new(
        &s.root,
        PortConfig::tcp(1, Ipv4Addr::new(198, 51, 100, 1).into()),
    )
    .unwrap();
    let err = other.export(&vol("w"), Path::new("/dev/w")).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::PortConflict {
                port: 1,
                attribute: "addr_traddr",
                ..
            }
        ),
        "{err:?}"
    );
    // A free port id works.
    let other = ConfigfsTarget::new(
        &s.root,
        PortConfig::tcp(2, Ipv4Addr::new(198, 51, 100, 1).into()),
    )
    .unwrap();
    other.export(&vol("w"), Path::new("/dev/w")).unwrap();
}

#[test]
fn read_tree_reflects_access() {
    let s = setup();
    s.target.export(&vol("v"), Path::new("/dev/x")).unwrap();
    s.target.grant(&vol("v"), &nqn(HOST_A)).unwrap();
    let tree = read_tree(&s.root).unwrap();
    let port = tree.port_at("192.0.2.10", "4420").unwrap();
    assert_eq!(port.id, 1);
    assert_eq!(port.adrfam, "ipv4");
    let sub = tree.subsystem(vol("v").as_str()).unwrap();
    assert!(!sub.allow_any_host);
    assert_eq!(sub.namespaces.len(), 1);
    assert!(sub.namespaces[0].enabled);
    assert!(tree.may_connect(port, vol("v").as_str(), HOST_A));
    assert!(!tree.may_connect(port, vol("v").as_str(), HOST_B));
    assert!(tree.port_at("192.0.2.10", "4421").is_none());
    assert_eq!(
        read_tree(&s.root.join("missing")).unwrap(),
        TargetTree::default()
    );
}

#[test]
fn port_zero_is_refused() {
    let mut port = PortConfig::tcp(1, Ipv4Addr::LOCALHOST.into());
    port.trsvcid = 0;
    assert!(matches!(
        ConfigfsTarget::new("/nonexistent", port),
        Err(Error::InvalidPort { .. })
    ));
}
