//! The data path end to end, with real programs where they exist here:
//!
//! - volumes made by the real `qemu-img` in a temporary directory
//!   (`qemu-io` writes and reads guest data to prove restores);
//! - exports written by `ConfigfsTarget` into a temporary tree, and the
//!   real `NvmeCli` wrapper driving the `fake-nvme` binary that obeys it.
//!
//! The qemu-img tests need qemu-utils installed; they fail with a hint
//! otherwise (set `PAN_SKIP_QEMU_IMG=1` to skip them deliberately).

use async_trait::async_trait;
use san::nvme::{NvmeCli, NvmeHost};
use san::nvmet::{ConfigfsTarget, Nqn, PortConfig, StorageTarget};
use san::runner::{CommandOutput, CommandRunner, CommandSpec, ProcessRunner, RunError};
use san::volume::VolumeStore;
use san::{Error, ImageName, Size, SnapshotName, VolumeName};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

// ---- volumes with the real qemu-img ---------------------------------------

fn qemu_img_available() -> bool {
    if std::env::var_os("PAN_SKIP_QEMU_IMG").is_some() {
        return false;
    }
    assert!(
        std::process::Command::new("qemu-img")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "qemu-img is not installed: install qemu-utils (or set PAN_SKIP_QEMU_IMG=1)"
    );
    true
}

fn qemu_io(path: &Path, command: &str) -> bool {
    std::process::Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", command])
        .arg(path)
        .output()
        .map(|o| {
            o.status.success()
                && !String::from_utf8_lossy(&o.stdout).contains("Pattern verification failed")
        })
        .unwrap()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test]
async fn clone_resize_snapshot_restore_delete_with_real_qemu_img() {
    if !qemu_img_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = VolumeStore::new(dir.path());
    let golden = ImageName::new("debian-13").unwrap();
    let vol = VolumeName::new("web-01").unwrap();

    store
        .create_image(&golden, Size::parse("64M").unwrap())
        .await
        .unwrap();
    let golden_path = store.image_path(&golden);
    assert!(qemu_io(&golden_path, "write -P 0x11 0 64k"));

    let path = store.clone_image(&vol, &golden, None).await.unwrap();
    let info = store.info(&vol).await.unwrap();
    assert_eq!(info.virtual_size, 64 << 20);
    assert_eq!(info.format.as_deref(), Some("qcow2"));
    assert_eq!(
        info.backing_filename.as_deref(),
        Some(golden_path.to_str().unwrap())
    );
    // Thin: the clone reads the golden image's data.
    assert!(qemu_io(&path, "read -P 0x11 0 64k"));

    store
        .resize(&vol, Size::parse("128M").unwrap())
        .await
        .unwrap();
    assert_eq!(store.info(&vol).await.unwrap().virtual_size, 128 << 20);
    let err = store
        .resize(&vol, Size::parse("64M").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ShrinkRefused { .. }), "{err:?}");

    let before = SnapshotName::new("before-upgrade").unwrap();
    store.snapshot(&vol, &before).await.unwrap();
    let err = store.snapshot(&vol, &before).await.unwrap_err();
    assert!(matches!(err, Error::SnapshotExists { .. }), "{err:?}");
    let snaps = store.snapshots(&vol).await.unwrap();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].name, "before-upgrade");

    assert!(qemu_io(&path, "write -P 0x22 0 64k"));
    assert!(qemu_io(&path, "read -P 0x22 0 64k"));
    store.restore(&vol, &before).await.unwrap();
    assert!(
        qemu_io(&path, "read -P 0x11 0 64k"),
        "restore brought the old data back"
    );
    // The golden image was never written through the clone.
    assert!(qemu_io(&golden_path, "read -P 0x11 0 64k"));

    let missing = SnapshotName::new("nope").unwrap();
    let err = store.restore(&vol, &missing).await.unwrap_err();
    assert!(matches!(err, Error::SnapshotNotFound { .. }), "{err:?}");
    store.delete_snapshot(&vol, &before).await.unwrap();
    assert!(store.snapshots(&vol).await.unwrap().is_empty());

    assert_eq!(store.volumes().unwrap(), std::slice::from_ref(&vol));
    store.delete(&vol).unwrap();
    assert!(store.volumes().unwrap().is_empty());
    assert!(matches!(
        store.delete(&vol),
        Err(Error::VolumeNotFound { .. })
    ));
}

#[tokio::test]
async fn a_store_under_a_relative_root_makes_clones_that_find_their_image() {
    if !qemu_img_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The same directory, spelled relative to the current one.
    let cwd = std::env::current_dir().unwrap();
    let mut relative = PathBuf::new();
    for _ in cwd.components().skip(1) {
        relative.push("..");
    }
    relative.push(dir.path().strip_prefix("/").unwrap());
    let store = VolumeStore::new(&relative);
    assert!(store.root().is_absolute(), "{}", store.root().display());

    let golden = ImageName::new("debian-13").unwrap();
    let vol = VolumeName::new("web-01").unwrap();
    store
        .create_image(&golden, Size::parse("1M").unwrap())
        .await
        .unwrap();
    assert!(qemu_io(&store.image_path(&golden), "write -P 0x33 0 4k"));
    let path = store.clone_image(&vol, &golden, None).await.unwrap();
    assert!(qemu_io(&path, "read -P 0x33 0 4k"));
}

#[tokio::test]
async fn register_image_converts_a_raw_file() {
    if !qemu_img_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("upload.raw");
    std::fs::write(&raw, vec![0u8; 1 << 20]).unwrap();
    let store = VolumeStore::new(dir.path().join("san"));
    let image = ImageName::new("base").unwrap();
    store.register_image(&image, &raw).await.unwrap();
    assert_eq!(store.images().unwrap(), std::slice::from_ref(&image));
    let vol = VolumeName::new("v").unwrap();
    store
        .clone_image(&vol, &image, Some(Size::parse("2M").unwrap()))
        .await
        .unwrap();
    assert_eq!(store.info(&vol).await.unwrap().virtual_size, 2 << 20);
}

#[tokio::test]
async fn a_failing_qemu_img_leaves_no_file() {
    if !qemu_img_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = VolumeStore::new(dir.path());
    store.init().unwrap();
    // A "golden image" qemu-img cannot open: the real qemu-img fails.
    let bad = ImageName::new("corrupt").unwrap();
    std::fs::write(store.image_path(&bad), b"this is not qcow2").unwrap();
    let vol = VolumeName::new("v").unwrap();
    let err = store
        .clone_image(&vol, &bad, Some(Size::parse("1M").unwrap()))
        .await
        .unwrap_err();
    match &err {
        Error::CommandFailed {
            command, stderr, ..
        } => {
            assert!(command.starts_with("qemu-img create"), "{command}");
            assert!(!stderr.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(files(&dir.path().join("volumes")).is_empty());
}

/// The real qemu-img writes the file, then the run is reported failed (as
/// if qemu-img died at the end): the file must still go.
#[tokio::test]
async fn a_create_failing_after_writing_leaves_no_file() {
    if !qemu_img_available() {
        return;
    }
    struct FailAfterRunning(ProcessRunner);
    #[async_trait]
    impl CommandRunner for FailAfterRunning {
        async fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, RunError> {
            let out = self.0.run(spec).await?;
            assert!(out.success(), "{}", out.stderr);
            Ok(CommandOutput::failed(1, "qemu-img: killed"))
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let store = VolumeStore::with_runner(
        dir.path(),
        Arc::new(FailAfterRunning(ProcessRunner::default())),
    );
    let vol = VolumeName::new("v").unwrap();
    let err = store
        .create(&vol, Size::parse("1M").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CommandFailed { .. }), "{err:?}");
    assert!(files(&dir.path().join("volumes")).is_empty());
}

// ---- exports and the host side, through fake-nvme -------------------------

const HOST_A: &str = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-00000000000a";
const HOST_B: &str = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-00000000000b";

struct Fabric {
    _dir: tempfile::TempDir,
    target: ConfigfsTarget,
    host: NvmeCli,
    addr: SocketAddr,
    device: std::path::PathBuf,
}

fn fabric() -> Fabric {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nvmet");
    let addr: SocketAddr = "127.0.0.1:4420".parse().unwrap();
    let target = ConfigfsTarget::new(&root, PortConfig::tcp(1, addr.ip())).unwrap();
    let runner = ProcessRunner::default()
        .env("PAN_FAKE_NVME_CONFIGFS", root.to_str().unwrap())
        .env(
            "PAN_FAKE_NVME_STATE",
            dir.path().join("host").to_str().unwrap(),
        );
    let host = NvmeCli::with_runner(Arc::new(runner)).program(env!("CARGO_BIN_EXE_fake-nvme"));
    let device = dir.path().join("disk.img");
    std::fs::write(&device, vec![0u8; 1 << 20]).unwrap();
    Fabric {
        _dir: dir,
        target,
        host,
        addr,
        device,
    }
}

fn nqn(s: &str) -> Nqn {
    Nqn::parse(s).unwrap()
}

#[tokio::test]
async fn an_allowed_host_connects_and_sees_the_namespace() {
    let f = fabric();
    let vol = Nqn::for_volume("vol-1").unwrap();
    f.target.export(&vol, &f.device).unwrap();
    f.target.grant(&vol, &nqn(HOST_A)).unwrap();

    let ctrl = f.host.connect(f.addr, &vol, &nqn(HOST_A)).await.unwrap();
    assert_eq!(ctrl, "nvme0");
    let list = f.host.list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].device_path, "/dev/nvme0n1");
    assert_eq!(list[0].physical_size, Some(1 << 20));
    assert_eq!(list[0].model_number.as_deref(), Some("Linux"));

    let err = f
        .host
        .connect(f.addr, &vol, &nqn(HOST_A))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyConnected { .. }), "{err:?}");

    assert_eq!(f.host.disconnect(&vol).await.unwrap(), Some(1));
    assert!(f.host.list().await.unwrap().is_empty());
    assert_eq!(f.host.disconnect(&vol).await.unwrap(), Some(0));
}

#[tokio::test]
async fn after_revoke_the_host_is_refused() {
    let f = fabric();
    let vol = Nqn::for_volume("vol-1").unwrap();
    f.target.export(&vol, &f.device).unwrap();
    f.target.grant(&vol, &nqn(HOST_A)).unwrap();
    f.host.connect(f.addr, &vol, &nqn(HOST_A)).await.unwrap();
    f.host.disconnect(&vol).await.unwrap();

    f.target.revoke(&vol, &nqn(HOST_A)).unwrap();
    assert!(f.target.allowed_hosts(&vol).unwrap().is_empty());
    let err = f
        .host
        .connect(f.addr, &vol, &nqn(HOST_A))
        .await
        .unwrap_err();
    match &err {
        Error::ConnectRefused {
            subsystem_nqn,
            host_nqn,
            stderr,
        } => {
            assert_eq!(subsystem_nqn, vol.as_str());
            assert_eq!(host_nqn, HOST_A);
            assert!(stderr.contains("failed to write to nvme-fabrics device"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_host_never_granted_is_refused() {
    let f = fabric();
    let vol = Nqn::for_volume("vol-1").unwrap();
    f.target.export(&vol, &f.device).unwrap();
    f.target.grant(&vol, &nqn(HOST_A)).unwrap();
    let err = f
        .host
        .connect(f.addr, &vol, &nqn(HOST_B))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConnectRefused { .. }), "{err:?}");
    assert!(f.host.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn unexported_volumes_and_wrong_ports_are_refused() {
    let f = fabric();
    let vol = Nqn::for_volume("vol-1").unwrap();
    f.target.export(&vol, &f.device).unwrap();
    f.target.grant(&vol, &nqn(HOST_A)).unwrap();
    let wrong_port: SocketAddr = "127.0.0.1:4421".parse().unwrap();
    let err = f
        .host
        .connect(wrong_port, &vol, &nqn(HOST_A))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConnectRefused { .. }), "{err:?}");

    f.target.unexport(&vol).unwrap();
    let err = f
        .host
        .connect(f.addr, &vol, &nqn(HOST_A))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConnectRefused { .. }), "{err:?}");
}

#[tokio::test]
async fn discover_shows_only_what_the_host_may_reach() {
    let f = fabric();
    let (v1, v2, v3) = (
        Nqn::for_volume("vol-1").unwrap(),
        Nqn::for_volume("vol-2").unwrap(),
        Nqn::for_volume("vol-3").unwrap(),
    );
    for v in [&v1, &v2, &v3] {
        f.target.export(v, &f.device).unwrap();
    }
    f.target.grant(&v1, &nqn(HOST_A)).unwrap();
    f.target.grant(&v2, &nqn(HOST_B)).unwrap();
    f.target.grant(&v3, &nqn(HOST_A)).unwrap();
    f.target.grant(&v3, &nqn(HOST_B)).unwrap();

    let seen = |log: san::nvme::DiscoveryLog| -> Vec<String> {
        log.records
            .iter()
            .filter(|r| r.is_nvme_subsystem())
            .map(|r| r.subnqn.clone())
            .collect()
    };
    let a = f.host.discover(f.addr, &nqn(HOST_A)).await.unwrap();
    assert_eq!(a.records[0].traddr.as_deref(), Some("127.0.0.1"));
    assert_eq!(a.records[0].trsvcid.as_deref(), Some("4420"));
    assert_eq!(seen(a), [v1.to_string(), v3.to_string()]);
    let b = f.host.discover(f.addr, &nqn(HOST_B)).await.unwrap();
    assert_eq!(seen(b), [v2.to_string(), v3.to_string()]);

    f.target.revoke(&v3, &nqn(HOST_A)).unwrap();
    let a = f.host.discover(f.addr, &nqn(HOST_A)).await.unwrap();
    assert_eq!(seen(a), [v1.to_string()]);

    let c = f
        .host
        .discover(
            f.addr,
            &nqn("nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-00000000000c"),
        )
        .await
        .unwrap();
    assert!(c.records.is_empty());
}

#[tokio::test]
async fn two_hosts_get_distinct_controllers() {
    let f = fabric();
    let (v1, v2) = (Nqn::for_volume("a").unwrap(), Nqn::for_volume("b").unwrap());
    f.target.export(&v1, &f.device).unwrap();
    f.target.export(&v2, &f.device).unwrap();
    f.target.grant(&v1, &nqn(HOST_A)).unwrap();
    f.target.grant(&v2, &nqn(HOST_A)).unwrap();
    assert_eq!(
        f.host.connect(f.addr, &v1, &nqn(HOST_A)).await.unwrap(),
        "nvme0"
    );
    assert_eq!(
        f.host.connect(f.addr, &v2, &nqn(HOST_A)).await.unwrap(),
        "nvme1"
    );
    f.host.disconnect(&v1).await.unwrap();
    // The lowest free controller number is reused, as the kernel does.
    assert_eq!(
        f.host.connect(f.addr, &v1, &nqn(HOST_A)).await.unwrap(),
        "nvme0"
    );
    assert_eq!(f.host.list().await.unwrap().len(), 2);
}
