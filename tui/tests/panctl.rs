//! End-to-end tests of the `panctl` binary: usage errors, an unreachable
//! manager, and real gRPC calls against a fake manager (member failover,
//! principal metadata, JSON contracts, error lines, the event stream).

mod fake_manager;

use fake_manager::FakeManager;
use serde_json::Value;
use std::process::Output;

/// Where nothing listens.
const NOWHERE: &str = "127.0.0.1:1";

/// Runs `panctl` with `args`, as user `tester`, with no `PAN_MANAGER`.
async fn panctl(args: &[&str]) -> Output {
    panctl_with_stdin(args, None).await
}

async fn panctl_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_panctl"));
    command
        .args(args)
        .env("USER", "tester")
        .env_remove("PAN_MANAGER")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("panctl starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    if let Some(bytes) = stdin {
        input.write_all(bytes).await.unwrap();
    }
    drop(input);
    child.wait_with_output().await.expect("panctl runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Asserts that the run failed with `code` and exactly one `error:` line,
/// and returns that line.
fn one_error_line(output: &Output, code: i32) -> String {
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr: {stderr}");
    assert!(lines[0].starts_with("error: "), "stderr: {stderr}");
    assert!(output.stdout.is_empty(), "stdout: {}", stdout(output));
    lines[0].to_string()
}

fn json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout(output)).expect("stdout is one JSON value")
}

#[tokio::test]
async fn an_unreachable_manager_is_one_error_line_naming_the_address() {
    let output = panctl(&["--manager", NOWHERE, "cluster", "status"]).await;
    let line = one_error_line(&output, 1);
    assert_eq!(
        line,
        "error: cannot reach the fabric manager at 127.0.0.1:1 (connection refused); is fabric-manager running? Set --manager or PAN_MANAGER to a member's address"
    );
}

#[tokio::test]
async fn pan_manager_names_the_manager_too() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_panctl"))
        .args(["-o", "json", "server", "list"])
        .env("PAN_MANAGER", NOWHERE)
        .output()
        .await
        .unwrap();
    assert!(one_error_line(&output, 1).contains("at 127.0.0.1:1 (connection refused)"));
}

#[tokio::test]
async fn usage_errors_are_one_line_naming_the_argument_with_exit_2() {
    let line = one_error_line(
        &panctl(&["server", "create", "w", "--partition", "p", "--nics", "abc"]).await,
        2,
    );
    assert!(line.contains("'--nics <N>'"), "{line}");
    assert!(
        line.ends_with("run 'panctl server create --help' for usage"),
        "{line}"
    );

    let line = one_error_line(
        &panctl(&["volume", "create", "v", "-p", "p", "--size", "12Q"]).await,
        2,
    );
    assert!(
        line.contains("'--size <SIZE>'") && line.contains("unknown unit"),
        "{line}"
    );

    let line = one_error_line(&panctl(&["server", "show", "web-1"]).await, 2);
    assert!(line.contains("--partition"), "{line}");

    let line = one_error_line(&panctl(&["server"]).await, 2);
    assert_eq!(
        line,
        "error: 'panctl server' needs a command (create, list, show, delete); run 'panctl server --help' for usage"
    );
    let line = one_error_line(&panctl(&[]).await, 2);
    assert!(line.starts_with("error: 'panctl' needs a command (cluster, partition, pool, identity-pool, blade, server, volume, audit, events)"), "{line}");

    let line = one_error_line(
        &panctl(&["--manager", "nowhere", "cluster", "status"]).await,
        2,
    );
    assert!(line.contains("--manager"), "{line}");
}

#[tokio::test]
async fn help_works_and_exits_zero() {
    let output = panctl(&["--help"]).await;
    assert!(output.status.success());
    let help = stdout(&output);
    for noun in [
        "cluster",
        "partition",
        "pool",
        "identity-pool",
        "blade",
        "server",
        "volume",
        "audit",
        "events",
    ] {
        assert!(help.contains(noun), "{help}");
    }
}

#[tokio::test]
async fn a_bad_password_file_is_a_usage_error_and_nothing_is_sent() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let output = panctl(&[
        "--manager",
        &addr,
        "blade",
        "add",
        "b1",
        "--bmc",
        "https://10.0.0.21",
        "--user",
        "root",
        "--password-file",
        "/nonexistent/pw",
    ])
    .await;
    let line = one_error_line(&output, 2);
    assert!(line.contains("/nonexistent/pw (no such file)"), "{line}");
    assert!(fake.seen.lock().unwrap().principals.is_empty());
}

#[tokio::test]
async fn cluster_status_json_after_failing_over_past_a_dead_member() {
    let fake = FakeManager::start(false).await;
    let members = format!("{NOWHERE},{}", fake.addr);
    let value = json(&panctl(&["--manager", &members, "-o", "json", "cluster", "status"]).await);
    assert_eq!(value["leader"], 1);
    assert_eq!(value["term"], 3);
    assert_eq!(
        value["members"],
        serde_json::json!([{"id": 1, "addr": "127.0.0.1:7001", "role": "voter"}])
    );
    for field in [
        "answered_by",
        "last_log_index",
        "last_applied",
        "snapshot_index",
        "snapshots_installed",
        "state_digest",
    ] {
        assert!(value.get(field).is_some(), "{field} missing from {value}");
    }
    assert_eq!(fake.seen.lock().unwrap().principals, ["tester"]);
}

#[tokio::test]
async fn a_leaderless_member_is_skipped_and_reported_when_alone() {
    let leaderless = FakeManager::start(true).await;
    let good = FakeManager::start(false).await;
    let members = format!("{},{}", leaderless.addr, good.addr);
    let output = panctl(&["--manager", &members, "cluster", "status"]).await;
    assert!(output.status.success());
    assert!(
        stdout(&output).starts_with("leader "),
        "{}",
        stdout(&output)
    );
    assert_eq!(leaderless.seen.lock().unwrap().principals.len(), 1);
    assert_eq!(good.seen.lock().unwrap().principals.len(), 1);

    let alone = leaderless.addr.to_string();
    let line = one_error_line(
        &panctl(&["--manager", &alone, "cluster", "status"]).await,
        1,
    );
    assert_eq!(
        line,
        format!(
            "error: the fabric cluster is unavailable: No leader is elected yet; retry in a few seconds (asked {alone})"
        )
    );
}

#[tokio::test]
async fn server_list_json_is_an_array_with_identities() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let value = json(&panctl(&["--manager", &addr, "-o", "json", "server", "list"]).await);
    let servers = value.as_array().expect("an array");
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0]["name"], "web-1");
    assert_eq!(servers[0]["partition"], "acme");
    assert_eq!(
        servers[0]["identity"]["uuid"],
        "50414e00-0000-0000-0000-000000000001"
    );
    assert_eq!(
        servers[0]["identity"]["macs"],
        serde_json::json!(["02:50:41:00:00:01"])
    );
    assert!(servers[0]["identity"]["host_nqn"].is_string());
    assert_eq!(servers[0]["blade"], Value::Null);

    let table = stdout(&panctl(&["--manager", &addr, "server", "list"]).await);
    assert!(
        table.starts_with("NAME   PARTITION  STATE    BLADE  UUID"),
        "{table}"
    );
}

#[tokio::test]
async fn api_errors_use_the_server_sentence_with_exit_1() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let line = one_error_line(
        &panctl(&[
            "--manager",
            &addr,
            "server",
            "show",
            "nope",
            "--partition",
            "acme",
        ])
        .await,
        1,
    );
    assert_eq!(
        line,
        "error: not found: Server \"nope\" does not exist in partition \"acme\"; list servers with `panctl server list --partition acme`"
    );
    let line = one_error_line(
        &panctl(&["--manager", &addr, "partition", "create", "acme"]).await,
        1,
    );
    assert_eq!(
        line,
        "error: already exists: Partition \"acme\" already exists; pick another name"
    );
    let line = one_error_line(&panctl(&["--manager", &addr, "pool", "list"]).await, 1);
    assert!(
        line.starts_with(&format!(
            "error: the fabric manager at {addr} does not support"
        )),
        "{line}"
    );
}

#[tokio::test]
async fn creates_and_deletes_print_objects() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let value = json(
        &panctl(&[
            "--manager",
            &addr,
            "-o",
            "json",
            "volume",
            "create",
            "v1",
            "-p",
            "acme",
            "--size",
            "10G",
        ])
        .await,
    );
    assert_eq!(value["size_bytes"], 10u64 << 30);
    assert_eq!(value["attached_to"], Value::Null);
    assert_eq!(fake.seen.lock().unwrap().volume_sizes, [10u64 << 30]);

    let value = json(
        &panctl(&[
            "--manager",
            &addr,
            "-o",
            "json",
            "partition",
            "delete",
            "acme",
        ])
        .await,
    );
    assert_eq!(value, serde_json::json!({"deleted": "partition/acme"}));
    let output = panctl(&["--manager", &addr, "partition", "delete", "acme"]).await;
    assert_eq!(stdout(&output), "deleted partition acme\n");
}

#[tokio::test]
async fn blade_add_sends_the_password_but_never_prints_it() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let args = [
        "--manager",
        &addr,
        "-o",
        "json",
        "blade",
        "add",
        "b1",
        "--bmc",
        "https://10.0.0.21",
        "--user",
        "root",
        "--password-file",
        "-",
    ];
    let output = panctl_with_stdin(&args, Some(b"hunter2-secret\n")).await;
    let printed = stdout(&output);
    let value = json(&output);
    assert_eq!(value["name"], "b1");
    assert_eq!(value["credential_ref"], "cred-1");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert_eq!(fake.seen.lock().unwrap().passwords, ["hunter2-secret"]);
}

#[tokio::test]
async fn events_stop_after_count_one_json_object_per_line() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let output = panctl(&["--manager", &addr, "-o", "json", "events", "--count", "2"]).await;
    assert!(output.status.success());
    let text = stdout(&output);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[1]["object"], "server/acme/web-2");

    // Without a count the stream is followed until the manager ends it.
    let output = panctl(&["--manager", &addr, "events"]).await;
    assert_eq!(stdout(&output).lines().count(), 3);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("error: the fabric manager at"),
        "{stderr}"
    );
    assert!(stderr.contains("closed the event stream"), "{stderr}");
}
