//! End-to-end tests of the `panctl` binary: usage errors, an unreachable
//! manager, and real gRPC calls against a fake manager (member failover,
//! principal metadata, JSON contracts, error lines, the event and discovery
//! streams, blade power, server start and stop, the data path: volumes,
//! images, networks, server vNICs and agent reports; bearer tokens,
//! principals, quotas and the auth error lines; failover: confirm-fenced,
//! repair, drain, server move, failover history, coverage).

mod fake_manager;

use fake_manager::{BACKWARDS_RANGE, CUT_RANGE, EXPIRED_TOKEN, FakeManager, MISSING, VIEWER_TOKEN};
use serde_json::Value;
use std::process::Output;

/// Where nothing listens.
const NOWHERE: &str = "127.0.0.1:1";

/// Runs `panctl` with `args`, as user `tester`, with no `PAN_MANAGER` and
/// no `PAN_TOKEN`.
async fn panctl(args: &[&str]) -> Output {
    panctl_with_stdin(args, None).await
}

async fn panctl_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    panctl_with(args, stdin, None).await
}

/// [`panctl`] with `PAN_TOKEN` set to `token`.
async fn panctl_with_token(args: &[&str], token: &str) -> Output {
    panctl_with(args, None, Some(token)).await
}

async fn panctl_with(args: &[&str], stdin: Option<&[u8]>, token: Option<&str>) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_panctl"));
    command
        .args(args)
        .env("USER", "tester")
        .env_remove("PAN_MANAGER")
        .env_remove("PAN_TOKEN");
    if let Some(token) = token {
        command.env("PAN_TOKEN", token);
    }
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("panctl starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    if let Some(bytes) = stdin {
        // panctl may exit (a usage error) before it reads its input.
        if let Err(err) = input.write_all(bytes).await {
            assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
        }
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
        "error: 'panctl server' needs a command (create, list, show, start, stop, move, delete); run 'panctl server --help' for usage"
    );
    let line = one_error_line(&panctl(&[]).await, 2);
    assert!(line.starts_with("error: 'panctl' needs a command (cluster, partition, network, pool, identity-pool, blade, server, failover, coverage, volume, image, principal, whoami, audit, events)"), "{line}");

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
        "image",
        "network",
        "audit",
        "events",
        "failover",
        "coverage",
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

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// `panctl --manager ADDR [-o json] blade discover --bmc-range RANGE ...`
/// with the password on standard input.
async fn discover(addr: &str, json: bool, range: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--manager", addr];
    if json {
        args.extend(["-o", "json"]);
    }
    args.extend([
        "blade",
        "discover",
        "--bmc-range",
        range,
        "--user",
        "root",
        "--password-file",
        "-",
    ]);
    args.extend(extra);
    panctl_with_stdin(&args, Some(b"hunter2-secret\n")).await
}

#[tokio::test]
async fn blade_add_sends_insecure_tls_and_no_facts_by_default() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let args = [
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
        "-",
        "--insecure-tls",
    ];
    let output = panctl_with_stdin(&args, Some(b"pw\n")).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("\npower       unknown\n"), "{text}");
    assert!(text.contains("\nfacts       not known yet\n"), "{text}");
    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen.blade_adds.len(), 1);
    assert!(seen.blade_adds[0].insecure_tls);
    assert_eq!(seen.blade_adds[0].facts, None);
}

#[tokio::test]
async fn discover_prints_json_lines_and_exits_1_when_a_bmc_failed() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let output = discover(
        &addr,
        true,
        "http://127.0.0.1:8401-8403",
        &["--pool", "spares", "--insecure-tls"],
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(!text.contains("hunter2"), "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stdout line is one JSON object"))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines[0],
        serde_json::json!({
            "total": 3,
            "done": 1,
            "bmc_url": "http://127.0.0.1:8403",
            "blade": "blade-003",
            "outcome": "enrolled",
            "error": null
        })
    );
    assert_eq!(lines[1]["outcome"], "already_enrolled");
    assert_eq!(lines[1]["blade"], Value::Null);
    assert_eq!(lines[2]["outcome"], "failed");
    assert_eq!(
        lines[2]["error"],
        "cannot reach the BMC: connection refused"
    );
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: 1 of 3 BMCs could not be enrolled;"),
        "{err}"
    );

    let seen = fake.seen.lock().unwrap();
    let request = &seen.discoveries[0];
    assert_eq!(request.bmc_range, "127.0.0.1:8401-8403");
    assert_eq!(request.scheme, "http");
    assert_eq!(request.bmc_user, "root");
    assert_eq!(request.bmc_password, "hunter2-secret");
    assert_eq!(request.pool, "spares");
    assert!(request.insecure_tls);
}

#[tokio::test]
async fn discover_prints_one_line_per_bmc_and_a_summary_without_a_terminal() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let output = discover(&addr, false, "127.0.0.1:8401-8403", &[]).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "enrolled  blade-003  https://127.0.0.1:8403\n\
         already enrolled  https://127.0.0.1:8401\n\
         failed  https://127.0.0.1:8402  cannot reach the BMC: connection refused\n\
         \n\
         bmcs              3\n\
         enrolled          1\n\
         already enrolled  1\n\
         failed            1\n\
         \n\
         FAILED BMC              ERROR\n\
         https://127.0.0.1:8402  cannot reach the BMC: connection refused\n"
    );
    // No progress bar: stderr is not a terminal. Only the error line.
    let err = stderr(&output);
    assert!(!err.contains('\r'), "{err:?}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: 1 of 3 BMCs"), "{err}");
    // --scheme defaults to https.
    assert_eq!(fake.seen.lock().unwrap().discoveries[0].scheme, "https");
}

#[tokio::test]
async fn discover_errors_are_one_line() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();

    // Refused by the manager: nothing printed but the error.
    let line = one_error_line(&discover(&addr, false, BACKWARDS_RANGE, &[]).await, 1);
    assert_eq!(
        line,
        format!(
            "error: invalid request: BMC range \"{BACKWARDS_RANGE}\" is backwards: the first port is above the last"
        )
    );

    // Two different schemes: a usage error, nothing sent.
    let line = one_error_line(
        &discover(
            &addr,
            false,
            "http://127.0.0.1:8401-8403",
            &["--scheme", "https"],
        )
        .await,
        2,
    );
    assert!(line.contains("--scheme"), "{line}");
    assert_eq!(fake.seen.lock().unwrap().discoveries.len(), 1);

    // No range at all: clap names the flag.
    let line = one_error_line(
        &panctl(&[
            "--manager",
            &addr,
            "blade",
            "discover",
            "--user",
            "root",
            "--password-file",
            "-",
        ])
        .await,
        2,
    );
    assert!(line.contains("--bmc-range"), "{line}");
    assert!(
        line.ends_with("run 'panctl blade discover --help' for usage"),
        "{line}"
    );
}

#[tokio::test]
async fn a_discovery_stream_that_ends_early_is_reported_after_the_records() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let output = discover(&addr, true, CUT_RANGE, &[]).await;
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output).lines().count(), 3);
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("closed the discovery stream after 3 of 4 BMCs"),
        "{err}"
    );

    let output = discover(&addr, false, CUT_RANGE, &[]).await;
    assert!(
        stdout(&output).contains("\nbmcs              3 of 4 reported\n"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test]
async fn blade_power_sends_the_action_and_prints_the_blade() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let value = json(
        &panctl(&[
            "--manager",
            &addr,
            "-o",
            "json",
            "blade",
            "power",
            "off",
            "b1",
            "--force",
        ])
        .await,
    );
    assert_eq!(value["name"], "b1");
    assert_eq!(value["power"], "off");
    assert_eq!(value["health"], "ok");
    assert_eq!(value["pool"], Value::Null);

    let output = panctl(&["--manager", &addr, "blade", "power", "cycle", "b2"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("\npower       on\n"),
        "{}",
        stdout(&output)
    );

    let line = one_error_line(
        &panctl(&["--manager", &addr, "blade", "power", "reboot", "b1"]).await,
        2,
    );
    assert!(line.contains("'reboot'"), "{line}");

    let seen = fake.seen.lock().unwrap();
    let sent: Vec<_> = seen
        .power
        .iter()
        .map(|r| (r.name.as_str(), r.action.as_str(), r.force))
        .collect();
    assert_eq!(sent, [("b1", "off", true), ("b2", "cycle", false)]);
}

#[tokio::test]
async fn server_start_and_stop_send_blade_no_wait_and_timeout() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let value = json(
        &panctl(&[
            "--manager",
            &addr,
            "-o",
            "json",
            "server",
            "start",
            "web-1",
            "-p",
            "acme",
            "--blade",
            "b3",
            "--no-wait",
            "--timeout",
            "60",
        ])
        .await,
    );
    assert_eq!(value["state"], "starting");
    assert_eq!(value["blade"], "b3");
    assert_eq!(value["last_error"], Value::Null);

    let output = panctl(&["--manager", &addr, "server", "start", "web-1", "-p", "acme"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("\nstate          running\n"));

    let value = json(
        &panctl(&[
            "--manager",
            &addr,
            "-o",
            "json",
            "server",
            "stop",
            "web-1",
            "--partition",
            "acme",
            "--timeout",
            "5",
        ])
        .await,
    );
    assert_eq!(value["state"], "defined");
    assert_eq!(
        value["last_error"],
        "blade b1 did not power off gracefully; forced it off"
    );
    let output = panctl(&[
        "--manager",
        &addr,
        "server",
        "stop",
        "web-1",
        "-p",
        "acme",
        "--no-wait",
    ])
    .await;
    assert!(
        stdout(&output)
            .contains("\nlast error     blade b1 did not power off gracefully; forced it off\n"),
        "{}",
        stdout(&output)
    );

    let seen = fake.seen.lock().unwrap();
    let starts: Vec<_> = seen
        .starts
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.partition.as_str(),
                r.blade.as_str(),
                r.no_wait,
                r.timeout_s,
            )
        })
        .collect();
    assert_eq!(
        starts,
        [
            ("web-1", "acme", "b3", true, 60),
            ("web-1", "acme", "", false, 0)
        ]
    );
    let stops: Vec<_> = seen
        .stops
        .iter()
        .map(|r| (r.partition.as_str(), r.no_wait, r.timeout_s))
        .collect();
    assert_eq!(stops, [("acme", false, 5), ("acme", true, 0)]);
}

#[tokio::test]
async fn volume_verbs_send_what_was_typed_and_print_volumes() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let base = ["--manager", addr.as_str(), "-o", "json", "volume"];
    let run = |extra: &'static [&'static str]| {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        async move { panctl(&args).await }
    };

    // A clone of an image without a size: size 0 goes out, the image's comes back.
    let value = json(
        &run(&[
            "create",
            "web-1-boot",
            "-p",
            "acme",
            "--image",
            "debian-12",
            "--timeout",
            "90",
        ])
        .await,
    );
    assert_eq!(value["image"], "debian-12");
    assert_eq!(value["state"], "ready");
    assert_eq!(value["size_bytes"], 2u64 << 30);
    assert_eq!(value["nqn"], "nqn.2024-01.net.pan:volume:acme:web-1-boot");
    assert_eq!(value["snapshots"], serde_json::json!([]));
    assert_eq!(value["last_error"], Value::Null);

    let value = json(&run(&["show", "web-1-boot", "--partition", "acme"]).await);
    assert_eq!(
        value["snapshots"],
        serde_json::json!([{"name": "before-upgrade", "created_at_ms": 1_748_779_200_000u64}])
    );
    let value = json(&run(&["resize", "web-1-boot", "-p", "acme", "--size", "40G"]).await);
    assert_eq!(value["size_bytes"], 40u64 << 30);
    let value = json(&run(&["snapshot", "web-1-boot", "pre-patch", "-p", "acme"]).await);
    assert_eq!(value["snapshots"][1]["name"], "pre-patch");
    json(
        &run(&[
            "restore",
            "web-1-boot",
            "pre-patch",
            "-p",
            "acme",
            "--timeout",
            "60",
        ])
        .await,
    );
    json(&run(&["delete-snapshot", "web-1-boot", "pre-patch", "-p", "acme"]).await);
    let value = json(&run(&["delete", "web-1-boot", "-p", "acme"]).await);
    assert_eq!(
        value,
        serde_json::json!({"deleted": "volume/acme/web-1-boot"})
    );

    let list = json(&run(&["list", "--partition", "globex"]).await);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["name"], "scratch");
    assert_eq!(list[0]["image"], Value::Null);

    {
        let seen = fake.seen.lock().unwrap();
        let create = &seen.volume_creates[0];
        assert_eq!(
            (create.size_bytes, create.image.as_str(), create.timeout_s),
            (0, "debian-12", 90)
        );
        assert_eq!(
            seen.volume_changes,
            [
                "resize acme/web-1-boot 42949672960 0",
                "snapshot acme/web-1-boot pre-patch 0",
                "restore acme/web-1-boot pre-patch 60",
                "delete-snapshot acme/web-1-boot pre-patch 0",
                "delete acme/web-1-boot 0",
            ]
        );
    }

    // Tables.
    let table = stdout(&panctl(&["--manager", &addr, "volume", "list"]).await);
    assert_eq!(
        table,
        "PARTITION  NAME        SIZE     IMAGE      STATE  ATTACHED-TO\n\
         acme       web-1-boot  20 GiB   debian-12  ready  -\n\
         globex     scratch     512 MiB  -          ready  -\n"
    );
    let text = stdout(&panctl(&["--manager", &addr, "volume", "show", "v1", "-p", "acme"]).await);
    assert!(
        text.contains("\nnqn          nqn.2024-01.net.pan:volume:acme:v1\n"),
        "{text}"
    );
    assert!(
        text.ends_with("\nSNAPSHOT        CREATED\nbefore-upgrade  2025-06-01T12:00:00Z\n"),
        "{text}"
    );
    let output = panctl(&["--manager", &addr, "volume", "delete", "v1", "-p", "acme"]).await;
    assert_eq!(stdout(&output), "deleted volume v1 from partition acme\n");
}

#[tokio::test]
async fn volume_usage_and_api_errors_are_one_line() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let line = one_error_line(
        &panctl(&["--manager", &addr, "volume", "create", "v", "-p", "acme"]).await,
        2,
    );
    assert!(
        line.contains("--size <SIZE>") && line.contains("--image <IMAGE>"),
        "{line}"
    );
    assert!(
        line.ends_with("run 'panctl volume create --help' for usage"),
        "{line}"
    );
    let line = one_error_line(
        &panctl(&[
            "--manager",
            &addr,
            "volume",
            "resize",
            "v",
            "-p",
            "acme",
            "--size",
            "10Q",
        ])
        .await,
        2,
    );
    assert!(
        line.contains("invalid value '10Q' for '--size <SIZE>'")
            && line.contains("unknown unit \"Q\""),
        "{line}"
    );
    let line = one_error_line(
        &panctl(&["--manager", &addr, "volume", "show", MISSING, "-p", "acme"]).await,
        1,
    );
    assert_eq!(
        line,
        "error: not found: Volume \"missing\" does not exist; list them with `panctl volume list`"
    );
    assert!(fake.seen.lock().unwrap().volume_creates.is_empty());
}

#[tokio::test]
async fn image_verbs_send_a_file_or_a_size() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let value = json(
        &panctl(&[
            "--manager",
            &addr,
            "-o",
            "json",
            "image",
            "add",
            "debian-12",
            "--file",
            "/srv/images/debian-12.qcow2",
            "--timeout",
            "900",
        ])
        .await,
    );
    assert_eq!(
        value,
        serde_json::json!({
            "id": 1,
            "name": "debian-12",
            "size_bytes": 2u64 << 30,
            "state": "ready",
            "volumes": 0,
            "last_error": null
        })
    );
    let output = panctl(&["--manager", &addr, "image", "add", "blank", "--size", "1G"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).starts_with("name        blank\n"),
        "{}",
        stdout(&output)
    );

    // Neither or both: usage errors, nothing sent.
    let line = one_error_line(&panctl(&["--manager", &addr, "image", "add", "x"]).await, 2);
    assert!(
        line.contains("--file <PATH>") && line.contains("--size <SIZE>"),
        "{line}"
    );
    let line = one_error_line(
        &panctl(&[
            "--manager",
            &addr,
            "image",
            "add",
            "x",
            "--file",
            "/x.qcow2",
            "--size",
            "1G",
        ])
        .await,
        2,
    );
    assert!(line.contains("cannot be used with"), "{line}");

    let table = stdout(&panctl(&["--manager", &addr, "image", "list"]).await);
    assert_eq!(
        table,
        "NAME       SIZE   STATE  VOLUMES  LAST-ERROR\ndebian-12  2 GiB  ready  3        -\n"
    );
    let value = json(
        &panctl(&[
            "--manager",
            &addr,
            "-o",
            "json",
            "image",
            "delete",
            "debian-12",
        ])
        .await,
    );
    assert_eq!(value, serde_json::json!({"deleted": "image/debian-12"}));
    let line = one_error_line(
        &panctl(&["--manager", &addr, "image", "delete", MISSING]).await,
        1,
    );
    assert!(
        line.starts_with("error: not found: Image \"missing\""),
        "{line}"
    );

    let seen = fake.seen.lock().unwrap();
    let adds: Vec<_> = seen
        .image_adds
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.source_path.as_str(),
                r.size_bytes,
                r.timeout_s,
            )
        })
        .collect();
    assert_eq!(
        adds,
        [
            ("debian-12", "/srv/images/debian-12.qcow2", 0, 900),
            ("blank", "", 1u64 << 30, 0)
        ]
    );
    assert_eq!(seen.image_deletes.len(), 1);
}

#[tokio::test]
async fn network_verbs_and_partition_network_ids() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let value = json(
        &panctl(&[
            "--manager",
            &addr,
            "-o",
            "json",
            "network",
            "create",
            "front",
            "-p",
            "acme",
            "--network-id",
            "10005",
        ])
        .await,
    );
    assert_eq!(
        value,
        serde_json::json!({
            "id": 1,
            "name": "front",
            "partition": "acme",
            "network_id": 10_005,
            "servers": []
        })
    );
    let table = stdout(&panctl(&["--manager", &addr, "network", "list", "-p", "acme"]).await);
    assert_eq!(
        table,
        "PARTITION  NAME   NETWORK-ID  SERVERS\nacme       front  10000       acme/web-1\n"
    );
    let output = panctl(&[
        "--manager",
        &addr,
        "network",
        "delete",
        "front",
        "-p",
        "acme",
    ])
    .await;
    assert_eq!(
        stdout(&output),
        "deleted network front from partition acme\n"
    );

    let line = one_error_line(
        &panctl(&[
            "--manager",
            &addr,
            "network",
            "create",
            "n",
            "-p",
            "acme",
            "--network-id",
            "0",
        ])
        .await,
        2,
    );
    assert!(
        line.contains("'--network-id <N>'") && line.contains("from 1 to 16777215"),
        "{line}"
    );

    // The range goes out as typed; the fake answers "already exists".
    one_error_line(
        &panctl(&[
            "--manager",
            &addr,
            "partition",
            "create",
            "acme",
            "--network-ids",
            "10000-10999",
        ])
        .await,
        1,
    );
    let line = one_error_line(
        &panctl(&[
            "--manager",
            &addr,
            "partition",
            "create",
            "acme",
            "--network-ids",
            "5-",
        ])
        .await,
        2,
    );
    assert!(
        line.contains("is not a network id range") && line.contains("FIRST-LAST"),
        "{line}"
    );

    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen.network_creates[0].network_id, 10_005);
    assert_eq!(seen.network_lists[0].partition, "acme");
    assert_eq!(seen.network_deletes[0].name, "front");
    assert_eq!(seen.partition_creates.len(), 1);
    assert_eq!(seen.partition_creates[0].network_ids, "10000-10999");
}

#[tokio::test]
async fn server_create_sends_networks_and_volumes_and_show_prints_the_agent_report() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let value = json(
        &panctl(&[
            "--manager",
            &addr,
            "-o",
            "json",
            "server",
            "create",
            "web-2",
            "-p",
            "acme",
            "--network",
            "front",
            "--network",
            "back",
            "--volume",
            "data-1",
            "--boot-volume",
            "web-2-boot",
        ])
        .await,
    );
    assert_eq!(
        value["nics"],
        serde_json::json!([
            {"mac": "02:50:41:00:00:01", "network": "front", "network_id": 10_000},
            {"mac": "02:50:41:00:00:02", "network": "back", "network_id": 10_001}
        ])
    );
    assert_eq!(value["volumes"], serde_json::json!(["data-1"]));
    assert_eq!(value["agent"], Value::Null);

    // Fewer vNICs than networks: refused before anything is sent.
    let line = one_error_line(
        &panctl(&[
            "--manager",
            &addr,
            "server",
            "create",
            "web-3",
            "-p",
            "acme",
            "--network",
            "a",
            "--network",
            "b",
            "--nics",
            "1",
        ])
        .await,
        2,
    );
    assert_eq!(
        line,
        "error: --nics 1 is fewer than the 2 networks given with --network: each network takes one vNIC; raise --nics to at least 2 or leave it out"
    );
    {
        let seen = fake.seen.lock().unwrap();
        assert_eq!(seen.server_creates.len(), 1);
        let sent = &seen.server_creates[0];
        assert_eq!(sent.nics, 2);
        assert_eq!(sent.networks, ["front", "back"]);
        assert_eq!(sent.volumes, ["data-1"]);
        assert_eq!(sent.boot_volume, "web-2-boot");
    }

    let value = json(
        &panctl(&[
            "--manager",
            &addr,
            "-o",
            "json",
            "server",
            "show",
            "web-1",
            "-p",
            "acme",
        ])
        .await,
    );
    assert_eq!(
        value["agent"],
        serde_json::json!({
            "interfaces": [{"name": "eth0", "mac": "02:50:41:00:00:01"}],
            "volumes": [{
                "name": "web-1-boot",
                "subsystem_nqn": "nqn.2024-01.net.pan:volume:acme:web-1-boot",
                "device": "/dev/nvme0n1"
            }],
            "token": {"term": 3, "generation": 2}
        })
    );
    let text =
        stdout(&panctl(&["--manager", &addr, "server", "show", "web-1", "-p", "acme"]).await);
    assert!(
        text.ends_with(
            "\nagent          reported (term 3, generation 2)\n\
             \n\
             VNIC  MAC                NETWORK  NETWORK-ID\n\
             0     02:50:41:00:00:01  front    10000\n\
             \n\
             AGENT INTERFACE  MAC\n\
             eth0             02:50:41:00:00:01\n\
             \n\
             ATTACHED VOLUME  DEVICE        SUBSYSTEM-NQN\n\
             web-1-boot       /dev/nvme0n1  nqn.2024-01.net.pan:volume:acme:web-1-boot\n"
        ),
        "{text}"
    );
    assert!(text.contains("\ndata volumes   web-1-data\n"), "{text}");
}

/// A token file (removed when the guard is dropped) and its path.
fn token_file(name: &str, contents: &str) -> (tempfile::TempPath, String) {
    let file = tempfile::Builder::new()
        .prefix(&format!("panctl-{name}-"))
        .tempfile()
        .unwrap();
    std::fs::write(file.path(), contents).unwrap();
    let path = file.into_temp_path();
    let text = path.to_str().unwrap().to_string();
    (path, text)
}

#[tokio::test]
async fn the_token_goes_as_bearer_metadata_and_the_file_wins_over_pan_token() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let (_guard, file) = token_file("wins", "pan_from_file\n");

    let output = panctl_with_token(&["--manager", &addr, "whoami"], "pan_from_env").await;
    assert!(output.status.success(), "{output:?}");
    let output = panctl_with_token(
        &[
            "--manager",
            &addr,
            "cluster",
            "status",
            "--token-file",
            &file,
        ],
        "pan_from_env",
    )
    .await;
    assert!(output.status.success(), "{output:?}");
    let output = panctl_with_stdin(
        &["--manager", &addr, "--token-file", "-", "server", "list"],
        Some(b"pan_from_stdin\n"),
    )
    .await;
    assert!(output.status.success(), "{output:?}");
    let output = panctl(&["--manager", &addr, "server", "list"]).await;
    assert!(output.status.success(), "{output:?}");

    assert_eq!(
        fake.seen.lock().unwrap().authorizations,
        [
            "Bearer pan_from_env",
            "Bearer pan_from_file",
            "Bearer pan_from_stdin",
            "<none>"
        ]
    );
}

#[tokio::test]
async fn unauthenticated_is_one_line_saying_where_the_token_is_with_exit_3() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let line = one_error_line(&panctl(&["--manager", &addr, "whoami"]).await, 3);
    assert_eq!(
        line,
        "error: not authenticated: no bearer token: send `authorization: Bearer pan_…` metadata; pass --token-file FILE or set PAN_TOKEN (the first fabric-admin token is in <data-dir>/admin.token on the member that created the cluster)"
    );
    let output = panctl_with_token(&["--manager", &addr, "whoami"], EXPIRED_TOKEN).await;
    let line = one_error_line(&output, 3);
    assert!(
        line.starts_with("error: not authenticated: the token expired at 2025-06-01T12:00:00Z; pass --token-file FILE"),
        "{line}"
    );
    assert!(!line.contains(EXPIRED_TOKEN), "{line}");
}

#[tokio::test]
async fn permission_denied_is_one_line_with_exit_3() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let output = panctl_with_token(&["--manager", &addr, "principal", "list"], VIEWER_TOKEN).await;
    let line = one_error_line(&output, 3);
    assert_eq!(
        line,
        "error: permission denied: principal \"viewer\" (partition-viewer:acme) may not manage principals; ask a fabric-admin"
    );
    let value =
        json(&panctl_with_token(&["--manager", &addr, "-o", "json", "whoami"], VIEWER_TOKEN).await);
    assert_eq!(value["roles"], serde_json::json!(["partition-viewer:acme"]));
}

#[tokio::test]
async fn bad_token_sources_are_usage_errors_and_nothing_is_sent() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let line = one_error_line(
        &panctl_with_token(
            &[
                "--manager",
                &addr,
                "--token-file",
                "/nonexistent/t",
                "whoami",
            ],
            "pan_fine",
        )
        .await,
        2,
    );
    assert_eq!(
        line,
        "error: cannot read the token file /nonexistent/t (no such file); pass --token-file with a file holding a PAN token (pan_…), or set PAN_TOKEN"
    );
    let (_guard, empty) = token_file("empty", "");
    let line = one_error_line(
        &panctl(&["--manager", &addr, "--token-file", &empty, "whoami"]).await,
        2,
    );
    assert!(line.contains(&empty) && line.contains("is empty"), "{line}");
    let line = one_error_line(
        &panctl_with_token(&["--manager", &addr, "whoami"], "pan_s3cret with a space").await,
        2,
    );
    assert!(
        line.starts_with("error: PAN_TOKEN holds characters"),
        "{line}"
    );
    assert!(!line.contains("s3cret"), "{line}");
    assert!(fake.seen.lock().unwrap().authorizations.is_empty());
}

#[tokio::test]
async fn help_documents_tokens_and_exit_codes_without_showing_the_token() {
    let output = panctl_with_token(&["--help"], "pan_s3cret_value").await;
    assert!(output.status.success());
    let help = stdout(&output);
    for needle in [
        "--token-file",
        "PAN_TOKEN",
        "3 not authenticated",
        "admin.token",
    ] {
        assert!(help.contains(needle), "{needle} missing from {help}");
    }
    assert!(!help.contains("s3cret"), "{help}");
}

#[tokio::test]
async fn principal_create_prints_the_token_once_in_table_and_json() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let admin = "pan_admin_token";
    let output = panctl_with_token(
        &[
            "--manager",
            &addr,
            "principal",
            "create",
            "ci",
            "--role",
            "partition-admin",
            "--role",
            "partition-viewer:globex",
            "--partition",
            "acme",
            "--expires-in",
            "90d",
        ],
        admin,
    )
    .await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout(&output),
        "name     ci\n\
         roles    partition-admin:acme,partition-viewer:globex\n\
         revoked  no\n\
         created  2025-06-01T12:00:00Z\n\
         expires  2025-08-30T12:00:00Z\n\
         key id   k2\n\
         \n\
         token: pan_k2_ci-secret\n\
         \n\
         The token is shown only this once: save it now in a file only you can read, then pass it with --token-file FILE (or set PAN_TOKEN to it).\n"
    );
    let value = json(
        &panctl_with_token(
            &[
                "--manager",
                &addr,
                "-o",
                "json",
                "principal",
                "create",
                "ops",
                "--role",
                "operator",
            ],
            admin,
        )
        .await,
    );
    assert_eq!(
        value,
        serde_json::json!({
            "principal": {
                "name": "ops",
                "roles": ["operator"],
                "revoked": false,
                "created_at_ms": 1_748_779_200_000u64,
                "expires_at_ms": null,
                "token_key_id": "k3"
            },
            "token": "pan_k3_ops-secret"
        })
    );
    let seen = fake.seen.lock().unwrap();
    assert_eq!(
        seen.principal_creates,
        [
            pan_api::v1::CreatePrincipalRequest {
                name: "ci".into(),
                roles: vec![
                    "partition-admin:acme".into(),
                    "partition-viewer:globex".into()
                ],
                expires_in_s: 90 * 86_400,
            },
            pan_api::v1::CreatePrincipalRequest {
                name: "ops".into(),
                roles: vec!["operator".into()],
                expires_in_s: 0,
            }
        ]
    );
    assert_eq!(seen.authorizations, ["Bearer pan_admin_token"; 2]);
}

#[tokio::test]
async fn roles_and_partitions_that_do_not_fit_are_usage_errors() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let create = |extra: &'static [&'static str]| {
        let mut args = vec!["--manager", addr.as_str(), "principal", "create", "ci"];
        args.extend_from_slice(extra);
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        panctl_with_token(&args, "pan_admin").await
    };
    let line = one_error_line(&run(create(&["--role", "partition-viewer"])).await, 2);
    assert_eq!(
        line,
        "error: --role partition-viewer needs a partition: add --partition P, or write --role partition-viewer:P"
    );
    let line = one_error_line(
        &run(create(&["--role", "fabric-admin", "--partition", "acme"])).await,
        2,
    );
    assert!(line.contains("only fabric-wide roles"), "{line}");
    let line = one_error_line(&run(create(&["--role", "root"])).await, 2);
    assert!(
        line.contains("'--role <ROLE>'") && line.contains("is not a role"),
        "{line}"
    );
    let line = one_error_line(
        &run(create(&["--role", "operator", "--expires-in", "soon"])).await,
        2,
    );
    assert!(line.contains("'--expires-in <DURATION>'"), "{line}");
    assert!(fake.seen.lock().unwrap().authorizations.is_empty());
}

#[tokio::test]
async fn principal_list_revoke_rotate_delete() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let token = "pan_admin";
    let table = stdout(&panctl_with_token(&["--manager", &addr, "principal", "list"], token).await);
    assert_eq!(
        table,
        "NAME   ROLES                 REVOKED  EXPIRES               KEY-ID\n\
         admin  fabric-admin          no       never                 k5\n\
         ci     partition-admin:acme  yes      2025-06-02T12:00:00Z  k2\n"
    );
    let value = json(
        &panctl_with_token(
            &[
                "--manager",
                &addr,
                "-o",
                "json",
                "principal",
                "revoke",
                "ci",
            ],
            token,
        )
        .await,
    );
    assert_eq!(value["revoked"], true);
    assert_eq!(value["name"], "ci");
    let value = json(
        &panctl_with_token(
            &[
                "--manager",
                &addr,
                "-o",
                "json",
                "principal",
                "rotate",
                "ci",
                "--expires-in",
                "3600",
            ],
            token,
        )
        .await,
    );
    assert_eq!(value["token"], "pan_k2_ci-rotated");
    assert_eq!(value["principal"]["expires_at_ms"], 1_748_782_800_000u64);
    let output = panctl_with_token(&["--manager", &addr, "principal", "rotate", "ci"], token).await;
    let text = stdout(&output);
    assert!(text.contains("\ntoken: pan_k2_ci-rotated\n"), "{text}");
    assert!(text.contains("shown only this once"), "{text}");
    let output = panctl_with_token(&["--manager", &addr, "principal", "delete", "ci"], token).await;
    assert_eq!(stdout(&output), "deleted principal ci\n");
    let value = json(
        &panctl_with_token(
            &[
                "--manager",
                &addr,
                "-o",
                "json",
                "principal",
                "delete",
                "ci",
            ],
            token,
        )
        .await,
    );
    assert_eq!(value, serde_json::json!({"deleted": "principal/ci"}));
    let line = one_error_line(
        &panctl_with_token(&["--manager", &addr, "principal", "revoke", MISSING], token).await,
        1,
    );
    assert_eq!(
        line,
        "error: not found: Principal \"missing\" does not exist; list them with `panctl principal list`"
    );
    let table = stdout(&panctl_with_token(&["--manager", &addr, "whoami"], token).await);
    assert!(
        table.starts_with("name     me\nroles    fabric-admin\n"),
        "{table}"
    );

    let seen = fake.seen.lock().unwrap();
    assert_eq!(
        seen.principal_changes,
        ["revoke ci", "delete ci", "delete ci"]
    );
    assert_eq!(
        seen.principal_rotations
            .iter()
            .map(|r| r.expires_in_s)
            .collect::<Vec<_>>(),
        [3600, 0]
    );
}

#[tokio::test]
async fn partition_quotas_list_show_and_set() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let table = stdout(&panctl(&["--manager", &addr, "partition", "list"]).await);
    assert!(
        table.contains("servers 2/10, volume-bytes 40GiB/100GiB"),
        "{table}"
    );
    let show = stdout(&panctl(&["--manager", &addr, "partition", "show", "acme"]).await);
    assert!(show.contains("servers       2 of 10\n"), "{show}");
    assert!(show.contains("volume bytes  40 GiB of 100 GiB\n"), "{show}");
    assert!(show.contains("blades        2 (unlimited)\n"), "{show}");
    let line = one_error_line(
        &panctl(&["--manager", &addr, "partition", "show", "globex"]).await,
        1,
    );
    assert_eq!(
        line,
        "error: not found: partition \"globex\" does not exist or is not visible to you; list them with `panctl partition list`"
    );

    let value = json(
        &panctl(&[
            "--manager",
            &addr,
            "-o",
            "json",
            "partition",
            "set-quota",
            "acme",
            "--max-servers",
            "20",
            "--max-volume-bytes",
            "1T",
            "--max-blades",
            "4",
        ])
        .await,
    );
    assert_eq!(
        value["quota"],
        serde_json::json!({
            "max_servers": 20,
            "max_volumes": null,
            "max_volume_bytes": 1u64 << 40,
            "max_networks": null,
            "max_blades": 4,
            "dedicated_pool": null
        })
    );
    assert_eq!(value["usage"]["volume_bytes"], 40u64 << 30);
    let output = panctl(&[
        "--manager",
        &addr,
        "partition",
        "set-quota",
        "acme",
        "--unlimited",
    ])
    .await;
    assert!(stdout(&output).contains("servers       2 (unlimited)\n"));
    let line = one_error_line(
        &panctl(&["--manager", &addr, "partition", "set-quota", "acme"]).await,
        2,
    );
    assert!(
        line.contains("--max-servers") && line.contains("--unlimited"),
        "{line}"
    );

    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen.quotas.len(), 2);
    assert_eq!(
        seen.quotas[0].quota.as_ref().unwrap().max_volume_bytes,
        Some(1 << 40)
    );
    assert_eq!(seen.quotas[1].quota, Some(Default::default()));
}

#[tokio::test]
async fn blade_confirm_fenced_repair_and_drain_send_the_blade_and_print_it() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let value = json(
        &panctl_with_token(
            &[
                "--manager",
                &addr,
                "-o",
                "json",
                "blade",
                "confirm-fenced",
                "b4",
            ],
            "pan_alice_token",
        )
        .await,
    );
    assert_eq!(value["name"], "b4");
    assert_eq!(value["state"], "fenced");

    let output = panctl(&["--manager", &addr, "blade", "repair", "b4"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("\nstate       available\n"),
        "{}",
        stdout(&output)
    );

    let value = json(
        &panctl(&[
            "--manager",
            &addr,
            "-o",
            "json",
            "blade",
            "drain",
            "b5",
            "--timeout",
            "600",
        ])
        .await,
    );
    assert_eq!(value["state"], "maintenance");
    let output = panctl(&["--manager", &addr, "blade", "drain", "b6"]).await;
    assert!(output.status.success(), "{}", stderr(&output));

    let line = one_error_line(
        &panctl(&["--manager", &addr, "blade", "confirm-fenced", MISSING]).await,
        1,
    );
    assert_eq!(
        line,
        "error: not found: Blade \"missing\" does not exist; list them with `panctl blade list`"
    );
    let line = one_error_line(&panctl(&["--manager", &addr, "blade", "drain"]).await, 2);
    assert!(line.contains("<NAME>"), "{line}");

    let seen = fake.seen.lock().unwrap();
    assert_eq!(
        seen.blade_changes,
        ["confirm-fenced b4", "repair b4", "drain b5", "drain b6"]
    );
    assert_eq!(seen.authorizations[0], "Bearer pan_alice_token");
    let drains: Vec<_> = seen
        .drains
        .iter()
        .map(|r| (r.blade.as_str(), r.timeout_s))
        .collect();
    assert_eq!(drains, [("b5", 600), ("b6", 0)]);
}

#[tokio::test]
async fn server_move_sends_the_target_and_timeout_and_prints_the_server() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let value = json(
        &panctl(&[
            "--manager",
            &addr,
            "-o",
            "json",
            "server",
            "move",
            "web-1",
            "-p",
            "acme",
            "--to-blade",
            "b7",
            "--timeout",
            "90",
        ])
        .await,
    );
    assert_eq!(value["blade"], "b7");
    assert_eq!(value["state"], "running");

    let output = panctl(&["--manager", &addr, "server", "move", "web-1", "-p", "acme"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("\nblade          b2\n"),
        "{}",
        stdout(&output)
    );

    let line = one_error_line(
        &panctl(&["--manager", &addr, "server", "move", "db-1", "-p", "acme"]).await,
        1,
    );
    assert_eq!(
        line,
        "error: refused: Server \"db-1\" in partition \"acme\" is not running; only a running server can be moved (start it with `panctl server start`)"
    );

    let seen = fake.seen.lock().unwrap();
    let moves: Vec<_> = seen
        .moves
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.partition.as_str(),
                r.to_blade.as_str(),
                r.timeout_s,
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            ("web-1", "acme", "b7", 90),
            ("web-1", "acme", "", 0),
            ("db-1", "acme", "", 0)
        ]
    );
}

#[tokio::test]
async fn server_create_sends_priority_and_failover_pool_and_show_prints_them() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let value = json(
        &panctl(&[
            "--manager",
            &addr,
            "-o",
            "json",
            "server",
            "create",
            "web-2",
            "-p",
            "acme",
            "--priority",
            "100",
            "--failover-pool",
            "spares",
        ])
        .await,
    );
    assert_eq!(value["priority"], 100);
    assert_eq!(value["failover_pool"], "spares");

    let output = panctl(&[
        "--manager",
        &addr,
        "server",
        "create",
        "web-3",
        "-p",
        "acme",
    ])
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("\npriority       0\nfailover pool  any qualifying blade\n"),
        "{text}"
    );

    let seen = fake.seen.lock().unwrap();
    let sent: Vec<_> = seen
        .server_creates
        .iter()
        .map(|r| (r.name.as_str(), r.priority, r.failover_pool.as_str()))
        .collect();
    assert_eq!(sent, [("web-2", 100, "spares"), ("web-3", 0, "")]);
}

#[tokio::test]
async fn failover_history_prints_phases_and_durations() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let value = json(&panctl(&["--manager", &addr, "-o", "json", "failover", "history"]).await);
    assert_eq!(value.as_array().unwrap().len(), 2);
    assert_eq!(
        value[1],
        serde_json::json!({
            "id": 1,
            "server": "web-1",
            "partition": "acme",
            "from_blade": "b3",
            "to_blade": "b8",
            "phase": "done",
            "reason": "agent silent for 15 s",
            "error": null,
            "confirmed_by": null,
            "started_at_ms": 1_748_779_200_000u64,
            "detect_ms": 840,
            "fence_ms": 3_210,
            "select_ms": 12,
            "boot_ms": 46_200,
            "total_ms": 50_262
        })
    );
    assert_eq!(value[0]["confirmed_by"], "alice");
    assert_eq!(value[0]["to_blade"], Value::Null);

    let output = panctl(&["--manager", &addr, "failover", "history", "--limit", "1"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "ID  SERVER     FROM  TO  PHASE           DETECT  FENCE  SELECT  BOOT  TOTAL  CONFIRMED-BY  ERROR\n\
         2   acme/db-1  b4    -   awaiting_spare  15.4s   5m12s  -       -     -      alice         no available blade qualifies\n"
    );

    let seen = fake.seen.lock().unwrap();
    let limits: Vec<_> = seen.failover_lists.iter().map(|r| r.limit).collect();
    assert_eq!(limits, [0, 1]);
}

#[tokio::test]
async fn coverage_prints_uncovered_servers_and_fails_only_when_asked() {
    let fake = FakeManager::start(false).await;
    let addr = fake.addr.to_string();
    let output = panctl(&["--manager", &addr, "coverage"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "SERVER     REASON\n\
         acme/db-1  no available blade in pool spares has >= 32 cores\n\
         \n\
         4 of 5 running servers have a qualifying spare\n"
    );
    let value = json(&panctl(&["--manager", &addr, "-o", "json", "coverage"]).await);
    assert_eq!(
        value,
        serde_json::json!({
            "servers": 5,
            "uncovered": [{
                "server": "db-1",
                "partition": "acme",
                "reason": "no available blade in pool spares has >= 32 cores"
            }]
        })
    );

    // For scripts: exit 1 after printing the report.
    let output = panctl(&[
        "--manager",
        &addr,
        "-o",
        "json",
        "coverage",
        "--fail-if-uncovered",
    ])
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let printed: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(printed, value);
    assert_eq!(
        stderr(&output),
        "error: 1 of 5 running servers have no qualifying spare; add or repair blades their failover pools can use (see `panctl blade list`), or change the servers' failover pools\n"
    );

    *fake.coverage.lock().unwrap() = pan_api::v1::CoverageReply {
        servers: 5,
        uncovered: vec![],
    };
    let output = panctl(&["--manager", &addr, "coverage", "--fail-if-uncovered"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "every running server has a qualifying spare\n"
    );
    let value = json(&panctl(&["--manager", &addr, "-o", "json", "coverage"]).await);
    assert_eq!(value, serde_json::json!({"servers": 5, "uncovered": []}));
    assert_eq!(fake.seen.lock().unwrap().coverage_checks, 5);
}
