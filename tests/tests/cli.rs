//! `panctl` against a real single-member manager, as a new user types it.

use anyhow::{Context as _, Result};
use pan_api::v1::WatchEventsRequest;
use pan_tests::{Cluster, panctl, panctl_json};
use std::time::Duration;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_invocations_work_and_print_the_documented_json() -> Result<()> {
    let cluster = Cluster::start(1, &[]).await?;
    let addr = cluster.addr(1);

    let status = panctl_json(&addr, &["cluster", "status"])?;
    assert_eq!(status["leader"], 1, "{status}");
    let members = status["members"].as_array().context("members array")?;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["id"], 1);
    assert_eq!(members[0]["addr"], addr.as_str());

    let out = panctl(&addr, &["partition", "create", "acme"])?;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = panctl(
        &addr,
        &[
            "server",
            "create",
            "web-1",
            "--partition",
            "acme",
            "--nics",
            "2",
        ],
    )?;
    assert!(out.status.success(), "{}", stderr(&out));

    let servers = panctl_json(&addr, &["server", "list"])?;
    let servers = servers.as_array().context("server list prints an array")?;
    assert_eq!(servers.len(), 1);
    let web = &servers[0];
    assert_eq!(web["name"], "web-1");
    assert_eq!(web["partition"], "acme");
    let identity = &web["identity"];
    let uuid = identity["uuid"].as_str().context("uuid")?;
    assert_eq!(uuid.len(), 36);
    let macs = identity["macs"].as_array().context("macs")?;
    assert_eq!(macs.len(), 2);
    assert_ne!(macs[0], macs[1]);
    assert_eq!(
        identity["host_nqn"],
        format!("nqn.2014-08.org.nvmexpress:uuid:{uuid}").as_str()
    );

    // The table form names the same server.
    let out = panctl(&addr, &["server", "list"])?;
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("web-1") && table.contains(uuid), "{table}");

    // The audit log recorded who did it and how it ended.
    let audit = panctl_json(&addr, &["audit"])?;
    let records = audit.as_array().context("audit prints an array")?;
    assert!(
        records.iter().any(|r| r["command"]
            .as_str()
            .is_some_and(|c| c.contains("server create acme/web-1"))),
        "{audit}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_one_clear_line_and_a_nonzero_exit() -> Result<()> {
    // Nothing listens here.
    let out = panctl("127.0.0.1:1", &["partition", "list"])?;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("127.0.0.1:1"),
        "{err}"
    );

    let cluster = Cluster::start(1, &[]).await?;
    let addr = cluster.addr(1);

    let cases: &[(&[&str], &str)] = &[
        (
            &["server", "show", "ghost", "--partition", "nowhere"],
            "partition 'nowhere' not found",
        ),
        (
            &["partition", "delete", "ghost"],
            "partition 'ghost' not found",
        ),
        (
            &["partition", "create", "bad/name"],
            "invalid partition name",
        ),
        (
            &["server", "create", "s1", "--partition", "missing"],
            "partition 'missing' not found",
        ),
    ];
    for (args, expected) in cases {
        let out = panctl(&addr, args)?;
        let err = stderr(&out);
        assert!(!out.status.success(), "panctl {args:?} succeeded");
        assert_eq!(err.trim_end().lines().count(), 1, "panctl {args:?}: {err}");
        assert!(err.starts_with("error: "), "panctl {args:?}: {err}");
        assert!(err.contains(expected), "panctl {args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("Status {"),
            "{err}"
        );
    }

    // A bad argument is a usage error naming the argument.
    let out = panctl(
        &addr,
        &[
            "server",
            "create",
            "s1",
            "--partition",
            "p",
            "--nics",
            "abc",
        ],
    )?;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--nics"), "{}", stderr(&out));

    // Duplicates and in-use objects are refused with what to do.
    assert!(
        panctl(&addr, &["partition", "create", "acme"])?
            .status
            .success()
    );
    let out = panctl(&addr, &["partition", "create", "acme"])?;
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert!(
        panctl(&addr, &["server", "create", "s1", "--partition", "acme"])?
            .status
            .success()
    );
    let out = panctl(&addr, &["partition", "delete", "acme"])?;
    let err = stderr(&out);
    assert!(
        err.contains("in use") && err.contains("delete them first"),
        "{err}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bmc_passwords_never_come_back() -> Result<()> {
    let cluster = Cluster::start(1, &[]).await?;
    let addr = cluster.addr(1);
    let pw = cluster.dir().join("bmc.pw");
    std::fs::write(&pw, "s3cret-Pa55\n")?;
    let out = panctl(
        &addr,
        &[
            "blade",
            "add",
            "b1",
            "--bmc",
            "http://127.0.0.1:8401",
            "--user",
            "admin",
            "--password-file",
            pw.to_str().context("utf-8 path")?,
            "--model",
            "X1",
            "--cores",
            "8",
            "--memory-gib",
            "64",
        ],
    )?;
    assert!(out.status.success(), "{}", stderr(&out));
    for args in [
        &["-o", "json", "blade", "show", "b1"][..],
        &["-o", "json", "blade", "list"],
        &["-o", "json", "audit"],
        &["blade", "show", "b1"],
    ] {
        let out = panctl(&addr, args)?;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            !text.contains("s3cret"),
            "{args:?} leaked the password: {text}"
        );
    }
    let blade = panctl_json(&addr, &["blade", "show", "b1"])?;
    assert!(
        blade["credential_ref"]
            .as_str()
            .is_some_and(|c| c.starts_with("cred-")),
        "{blade}"
    );
    assert!(!cluster.members[&1].log().contains("s3cret"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_reports_state_changes() -> Result<()> {
    let cluster = Cluster::start(1, &[]).await?;
    let mut client = cluster.client(1).await?;
    let mut stream = client
        .watch_events(WatchEventsRequest {})
        .await?
        .into_inner();
    let out = cluster.panctl(1, &["partition", "create", "acme"])?;
    assert!(out.status.success(), "{}", stderr(&out));
    let event = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .context("no event within 10 s")??
        .context("stream ended")?;
    assert_eq!(event.kind, "partition.created");
    assert_eq!(event.object, "partition/acme");
    assert_eq!(event.partition, "acme");
    assert!(event.index > 0 && event.at_ms > 0);

    // panctl prints them too.
    let addr = cluster.addr(1);
    let watcher =
        std::thread::spawn(move || panctl(&addr, &["-o", "json", "events", "--count", "1"]));
    // The watcher subscribes asynchronously; create partitions until it has seen one.
    let mut n = 0;
    while !watcher.is_finished() && n < 200 {
        let out = cluster.panctl(1, &["partition", "create", &format!("p{n}")])?;
        assert!(out.status.success(), "{}", stderr(&out));
        n += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = watcher
        .join()
        .map_err(|_| anyhow::anyhow!("watcher panicked"))??;
    assert!(out.status.success(), "{}", stderr(&out));
    let line = String::from_utf8_lossy(&out.stdout);
    let event: serde_json::Value = serde_json::from_str(line.trim())?;
    assert_eq!(event["kind"], "partition.created", "{line}");
    Ok(())
}
