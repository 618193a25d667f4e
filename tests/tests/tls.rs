//! The manager's optional TLS: `panctl --ca-cert` against TLS members, the
//! one-line errors when TLS does not match, and a TLS cluster that joins,
//! replicates and forwards writes over TLS.

use anyhow::Result;
use pan_api::v1::CreatePartitionRequest;
use pan_tests::{Cluster, make_certs, panctl};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts `out` failed with exactly one `error:` line and returns it.
fn one_error_line(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "expected a failure: {}", stderr(out));
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panctl_with_the_ca_talks_to_a_tls_member() -> Result<()> {
    let cluster = Cluster::start_tls(1, &[]).await?;
    let out = cluster.panctl(1, &["cluster", "status"])?;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("voter"));
    let out = cluster.panctl(1, &["partition", "create", "acme"])?;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cluster.panctl(1, &["partition", "list"])?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("acme"));

    // PAN_CA_CERT does the same as --ca-cert.
    let ca = cluster.ca_cert().expect("a TLS cluster has a CA");
    let out = std::process::Command::new(pan_tests::binary("panctl"))
        .args(["--manager", &cluster.addr(1), "cluster", "status"])
        .env("PAN_CA_CERT", ca)
        .env(
            "PAN_TOKEN",
            pan_tests::token_for(&cluster.addr(1)).expect("the admin token"),
        )
        .output()?;
    assert!(out.status.success(), "{}", stderr(&out));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panctl_without_a_ca_is_told_to_pass_one() -> Result<()> {
    let cluster = Cluster::start_tls(1, &[]).await?;
    let out = panctl(&cluster.addr(1), &["cluster", "status"])?;
    let line = one_error_line(&out);
    assert!(line.contains("speaks TLS: pass --ca-cert"), "{line}");
    assert!(line.contains(&cluster.addr(1)), "{line}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panctl_with_another_ca_says_the_certificate_does_not_verify() -> Result<()> {
    let cluster = Cluster::start_tls(1, &[]).await?;
    let other = cluster.dir().join("other-ca");
    make_certs(&other)?;
    let other_ca = other.join("ca.pem").display().to_string();
    let out = panctl(
        &cluster.addr(1),
        &["--ca-cert", &other_ca, "cluster", "status"],
    )?;
    let line = one_error_line(&out);
    assert!(
        line.contains("presented a certificate that does not verify against --ca-cert"),
        "{line}"
    );
    assert!(line.contains(&other_ca), "{line}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_joins_and_forwards_writes_over_tls() -> Result<()> {
    // start_tls: members 2 and 3 join through member 1 over TLS.
    let cluster = Cluster::start_tls(3, &[]).await?;
    let leader = cluster.leader().await?;
    let follower = (1..=3).find(|id| *id != leader).expect("a follower");

    // A write through a follower is forwarded to the leader over TLS.
    let mut client = cluster.client(follower).await?;
    client
        .create_partition(CreatePartitionRequest {
            name: "via-follower".into(),
            ..Default::default()
        })
        .await?;
    let out = cluster.panctl(follower, &["partition", "create", "acme"])?;
    assert!(out.status.success(), "{}", stderr(&out));

    // Every member serves the replicated state.
    for id in 1..=3 {
        let out = cluster.panctl(id, &["partition", "list"])?;
        let listed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            listed.contains("via-follower") && listed.contains("acme"),
            "{id}: {listed}"
        );
    }
    Ok(())
}

#[test]
fn tls_cert_without_a_ca_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    make_certs(dir.path())?;
    let out = std::process::Command::new(pan_tests::binary("fabric-manager"))
        .arg("--data-dir")
        .arg(dir.path().join("m1"))
        .arg("--tls-cert")
        .arg(dir.path().join("server.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("server.key"))
        .output()?;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--tls-cert needs --tls-ca"),
        "{}",
        stderr(&out)
    );
    Ok(())
}

/// Runs `fabric-manager` with `--tls-cert cert --tls-key key` (and the
/// set's CA) and returns its output; it must refuse to start.
fn start_with(dir: &std::path::Path, cert: &str, key: &str) -> Result<std::process::Output> {
    Ok(
        std::process::Command::new(pan_tests::binary("fabric-manager"))
            .arg("--data-dir")
            .arg(dir.join("m1"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--tls-cert")
            .arg(dir.join(cert))
            .arg("--tls-key")
            .arg(dir.join(key))
            .arg("--tls-ca")
            .arg(dir.join("ca.pem"))
            .output()?,
    )
}

#[test]
fn a_certificate_with_another_certificates_key_is_refused_at_start() -> Result<()> {
    let dir = tempfile::tempdir()?;
    make_certs(dir.path())?;
    // The CA's certificate with the server's key: both parse, they do not
    // belong together.
    let out = start_with(dir.path(), "ca.pem", "server.key")?;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("is not a usable certificate and key"), "{err}");
    assert!(err.contains("do not go together"), "{err}");
    assert!(
        err.contains("ca.pem") && err.contains("server.key"),
        "{err}"
    );
    assert!(!dir.path().join("m1").exists(), "nothing is created: {err}");
    Ok(())
}

#[test]
fn a_key_file_without_a_private_key_is_refused_at_start() -> Result<()> {
    let dir = tempfile::tempdir()?;
    make_certs(dir.path())?;
    let out = start_with(dir.path(), "server.pem", "server.pem")?;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("holds no usable private key"), "{err}");
    assert!(err.contains("--tls-key"), "{err}");
    Ok(())
}
