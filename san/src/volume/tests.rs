//! Unit tests of [`VolumeStore`] with a fake qemu-img: command lines,
//! validation, error mapping and clean-up, without running qemu-img.

use super::*;
use crate::runner::{CommandOutput, RunError, ScriptedRunner};
use async_trait::async_trait;

/// A fake qemu-img: answers from a script and, like the real one, writes the
/// file a `create`/`convert` names (even when it then fails).
#[derive(Clone, Default)]
struct FakeQemuImg {
    script: ScriptedRunner,
}

#[async_trait]
impl CommandRunner for FakeQemuImg {
    async fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, RunError> {
        for arg in &spec.args {
            if arg.ends_with(".creating") {
                std::fs::write(arg, b"QFI\xfb").unwrap();
            }
        }
        self.script.run(spec).await
    }
}

fn info_json(size: u64, snapshots: &[&str]) -> String {
    let snaps: Vec<_> = snapshots
        .iter()
        .enumerate()
        .map(|(i, n)| serde_json::json!({"id": (i + 1).to_string(), "name": n, "date-sec": 1}))
        .collect();
    serde_json::json!({"virtual-size": size, "format": "qcow2", "snapshots": snaps}).to_string()
}

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    fake: FakeQemuImg,
    store: VolumeStore,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let fake = FakeQemuImg::default();
    let store = VolumeStore::with_runner(&root, Arc::new(fake.clone()));
    Setup {
        _dir: dir,
        root,
        fake,
        store,
    }
}

fn vol(n: &str) -> VolumeName {
    VolumeName::new(n).unwrap()
}

fn img(n: &str) -> ImageName {
    ImageName::new(n).unwrap()
}

fn snap(n: &str) -> SnapshotName {
    SnapshotName::new(n).unwrap()
}

fn dir_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn create_runs_qemu_img_create_and_links_the_file() {
    let s = setup();
    let path = s
        .store
        .create(&vol("web"), Size::parse("1G").unwrap())
        .await
        .unwrap();
    let r = s.root.display();
    assert_eq!(
        s.fake.script.commands(),
        [format!(
            "qemu-img create -f qcow2 {r}/volumes/.web.qcow2.creating 1073741824"
        )]
    );
    assert_eq!(path, s.root.join("volumes/web.qcow2"));
    assert_eq!(dir_listing(&s.root.join("volumes")), ["web.qcow2"]);
    assert_eq!(s.store.volumes().unwrap(), [vol("web")]);
}

#[tokio::test]
async fn clone_names_the_golden_image_as_backing_file() {
    let s = setup();
    s.store.init().unwrap();
    std::fs::write(s.store.image_path(&img("debian-13")), b"x").unwrap();
    s.store
        .clone_image(
            &vol("db"),
            &img("debian-13"),
            Some(Size::parse("20G").unwrap()),
        )
        .await
        .unwrap();
    s.store
        .clone_image(&vol("db2"), &img("debian-13"), None)
        .await
        .unwrap();
    let r = s.root.display();
    assert_eq!(
        s.fake.script.commands(),
        [
            format!(
                "qemu-img create -f qcow2 -b {r}/images/debian-13.qcow2 -F qcow2 \
                 {r}/volumes/.db.qcow2.creating 21474836480"
            ),
            format!(
                "qemu-img create -f qcow2 -b {r}/images/debian-13.qcow2 -F qcow2 \
                 {r}/volumes/.db2.qcow2.creating"
            ),
        ]
    );
    assert_eq!(s.store.images().unwrap(), [img("debian-13")]);
}

#[tokio::test]
async fn clone_of_unregistered_image_runs_nothing() {
    let s = setup();
    let err = s
        .store
        .clone_image(&vol("db"), &img("nope"), None)
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::ImageNotFound { image, .. } if image == "nope"));
    assert!(err.to_string().contains("register it first"));
    assert!(s.fake.script.commands().is_empty());
}

#[tokio::test]
async fn failed_create_leaves_no_file() {
    let s = setup();
    s.fake
        .script
        .push(CommandOutput::failed(1, "qemu-img: disk full"));
    let err = s
        .store
        .create(&vol("web"), Size::parse("1G").unwrap())
        .await
        .unwrap_err();
    match &err {
        Error::CommandFailed {
            command,
            code,
            stderr,
        } => {
            assert!(command.starts_with("qemu-img create"));
            assert_eq!(*code, Some(1));
            assert_eq!(stderr, "qemu-img: disk full");
        }
        other => panic!("{other:?}"),
    }
    assert!(dir_listing(&s.root.join("volumes")).is_empty());
}

#[tokio::test]
async fn missing_qemu_img_is_not_installed_and_leaves_no_file() {
    let s = setup();
    s.fake.script.push_not_installed();
    let err = s
        .store
        .create(&vol("web"), Size::parse("1M").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotInstalled { .. }));
    assert!(dir_listing(&s.root.join("volumes")).is_empty());
}

#[tokio::test]
async fn existing_volume_is_never_replaced() {
    let s = setup();
    s.store.init().unwrap();
    std::fs::write(s.store.volume_path(&vol("web")), b"precious").unwrap();
    let err = s
        .store
        .create(&vol("web"), Size::parse("1M").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::VolumeExists { .. }));
    assert!(s.fake.script.commands().is_empty());
    assert_eq!(
        std::fs::read(s.store.volume_path(&vol("web"))).unwrap(),
        b"precious"
    );
}

#[tokio::test]
async fn a_volume_appearing_during_create_is_kept_and_reported() {
    // Another writer wins the race between the check and the link.
    #[derive(Clone)]
    struct Racer(PathBuf);
    #[async_trait]
    impl CommandRunner for Racer {
        async fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, RunError> {
            let tmp = spec.args.iter().find(|a| a.ends_with(".creating")).unwrap();
            std::fs::write(tmp, b"new").unwrap();
            std::fs::write(&self.0, b"winner").unwrap();
            Ok(CommandOutput::ok(""))
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("volumes/web.qcow2");
    let store = VolumeStore::with_runner(dir.path(), Arc::new(Racer(target.clone())));
    let err = store
        .create(&vol("web"), Size::parse("1M").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::VolumeExists { .. }), "{err:?}");
    assert_eq!(std::fs::read(&target).unwrap(), b"winner");
    assert_eq!(dir_listing(&dir.path().join("volumes")), ["web.qcow2"]);
}

#[tokio::test]
async fn resize_grows_and_refuses_to_shrink() {
    let s = setup();
    s.store
        .create(&vol("v"), Size::parse("1G").unwrap())
        .await
        .unwrap();
    s.fake
        .script
        .push(CommandOutput::ok(info_json(1 << 30, &[])));
    s.store
        .resize(&vol("v"), Size::parse("2G").unwrap())
        .await
        .unwrap();
    s.fake
        .script
        .push(CommandOutput::ok(info_json(2 << 30, &[])));
    let err = s
        .store
        .resize(&vol("v"), Size::parse("1G").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::ShrinkRefused {
            current: 2147483648,
            requested: 1073741824,
            ..
        }
    ));
    s.fake
        .script
        .push(CommandOutput::ok(info_json(2 << 30, &[])));
    s.store
        .resize(&vol("v"), Size::parse("2G").unwrap())
        .await
        .unwrap();
    let p = s.store.volume_path(&vol("v"));
    let p = p.display();
    let cmds = s.fake.script.commands();
    assert_eq!(
        &cmds[1..],
        [
            format!("qemu-img info -U --output=json {p}"),
            format!("qemu-img resize -f qcow2 {p} 2147483648"),
            format!("qemu-img info -U --output=json {p}"),
            format!("qemu-img info -U --output=json {p}"),
        ]
    );
}

#[tokio::test]
async fn snapshot_restore_and_delete_check_names_first() {
    let s = setup();
    s.store
        .create(&vol("v"), Size::parse("1G").unwrap())
        .await
        .unwrap();
    let p = s.store.volume_path(&vol("v"));
    let p = p.display();

    s.fake
        .script
        .push(CommandOutput::ok(info_json(1 << 30, &[])));
    s.store.snapshot(&vol("v"), &snap("before")).await.unwrap();

    s.fake
        .script
        .push(CommandOutput::ok(info_json(1 << 30, &["before"])));
    let err = s
        .store
        .snapshot(&vol("v"), &snap("before"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SnapshotExists { .. }));

    s.fake
        .script
        .push(CommandOutput::ok(info_json(1 << 30, &["before"])));
    s.store.restore(&vol("v"), &snap("before")).await.unwrap();

    s.fake
        .script
        .push(CommandOutput::ok(info_json(1 << 30, &["before"])));
    let err = s
        .store
        .restore(&vol("v"), &snap("after"))
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::SnapshotNotFound { snapshot, .. } if snapshot == "after"));

    s.fake
        .script
        .push(CommandOutput::ok(info_json(1 << 30, &["before"])));
    s.store
        .delete_snapshot(&vol("v"), &snap("before"))
        .await
        .unwrap();

    let cmds = s.fake.script.commands();
    let info = format!("qemu-img info -U --output=json {p}");
    assert_eq!(
        &cmds[1..],
        [
            info.clone(),
            format!("qemu-img snapshot -c before {p}"),
            info.clone(),
            info.clone(),
            format!("qemu-img snapshot -a before {p}"),
            info.clone(),
            info.clone(),
            format!("qemu-img snapshot -d before {p}"),
        ]
    );
}

#[tokio::test]
async fn operations_on_a_missing_volume_say_so() {
    let s = setup();
    let v = vol("ghost");
    let errs = [
        s.store.info(&v).await.unwrap_err(),
        s.store
            .resize(&v, Size::parse("1G").unwrap())
            .await
            .unwrap_err(),
        s.store.snapshot(&v, &snap("a")).await.unwrap_err(),
        s.store.restore(&v, &snap("a")).await.unwrap_err(),
        s.store.delete(&v).unwrap_err(),
    ];
    for err in errs {
        assert!(
            matches!(&err, Error::VolumeNotFound { volume, .. } if volume == "ghost"),
            "{err:?}"
        );
    }
    assert!(s.fake.script.commands().is_empty());
}

#[tokio::test]
async fn garbage_from_qemu_img_info_is_a_typed_error() {
    let s = setup();
    s.store
        .create(&vol("v"), Size::parse("1G").unwrap())
        .await
        .unwrap();
    s.fake.script.push(CommandOutput::ok("not json"));
    let err = s.store.info(&vol("v")).await.unwrap_err();
    assert!(matches!(err, Error::UnexpectedOutput { .. }), "{err:?}");
}

#[tokio::test]
async fn register_image_converts_into_place() {
    let s = setup();
    let src = s.root.join("upload.raw");
    std::fs::write(&src, b"raw").unwrap();
    s.store.register_image(&img("base"), &src).await.unwrap();
    let r = s.root.display();
    assert_eq!(
        s.fake.script.commands(),
        [format!(
            "qemu-img convert -O qcow2 {r}/upload.raw {r}/images/.base.qcow2.creating"
        )]
    );
    let err = s
        .store
        .register_image(&img("base"), &src)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ImageExists { .. }));
    assert_eq!(dir_listing(&s.root.join("images")), ["base.qcow2"]);
}

#[tokio::test]
async fn stray_files_are_not_listed_as_volumes() {
    let s = setup();
    s.store.init().unwrap();
    for f in [".x.qcow2.creating", "notes.txt", "-bad.qcow2", "ok.qcow2"] {
        std::fs::write(s.root.join("volumes").join(f), b"").unwrap();
    }
    assert_eq!(s.store.volumes().unwrap(), [vol("ok")]);
}
