//! Behaviour of [`RedfishBmc`] against the scripted [`MockBmc`]: link
//! discovery, session reuse and renewal, Basic fallback, retries and their
//! bounds, typed errors, ETags, limits, and that no error shows the
//! password.

use super::test_server::{Answer, MockBmc, PASSWORD, RESET, SESSIONS, SYSTEM, USER};
use super::*;
use crate::bmc::types::{BootMode, Health, HealthStatus, PowerState, ResourceState};
use std::time::Duration;

fn limits() -> Limits {
    let mut l = Limits::new(64);
    l.request_timeout = Duration::from_secs(2);
    l.connect_timeout = Duration::from_secs(1);
    l.retry = RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_total: Duration::from_secs(5),
    };
    l
}

fn client_with(url: &str, password: &str, limits: &Limits) -> RedfishBmc {
    RedfishBmc::new(Endpoint::new(url), Credentials::new(USER, password), limits)
        .expect("valid endpoint")
}

fn client(mock: &MockBmc) -> RedfishBmc {
    client_with(&mock.url, PASSWORD, &limits())
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains(PASSWORD), "the password leaked: {text}");
}

#[tokio::test]
async fn inventory_follows_links_and_reads_interfaces_and_cpus() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    let inv = bmc.inventory().await.unwrap();
    assert_eq!(inv.id, "1");
    assert_eq!(inv.model.as_deref(), Some("PAN-Blade"));
    assert_eq!(inv.serial.as_deref(), Some("SN1"));
    assert_eq!(inv.cpu_sockets, Some(2));
    // No CoreCount in the summary: summed over the CPUs, the GPU left out.
    assert_eq!(inv.cores, Some(32));
    assert_eq!(inv.memory_gib, Some(256.0));
    let macs: Vec<String> = inv.macs.iter().map(ToString::to_string).collect();
    assert_eq!(macs, ["00:25:90:aa:bb:01", "00:25:90:aa:bb:02"]);
    assert_eq!(inv.power, Some(PowerState::Off));
    assert_eq!(
        inv.health,
        HealthStatus {
            state: Some(ResourceState::Enabled),
            health: Some(Health::Ok),
            rollup: Some(Health::Warning),
        }
    );
    assert_eq!(inv.reset_types.len(), 3);
    let boot = inv.boot.unwrap();
    assert_eq!(boot.mode, Some(BootMode::Uefi));
}

#[tokio::test]
async fn one_session_is_reused_and_basic_is_never_sent() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    bmc.inventory().await.unwrap();
    bmc.power_state().await.unwrap();
    bmc.health().await.unwrap();
    assert_eq!(mock.count("POST", SESSIONS), 1);
    // Links were cached: the root and the collection were read once.
    assert_eq!(mock.count("GET", "/redfish/v1/"), 1);
    assert_eq!(mock.count("GET", "/redfish/v1/Systems"), 1);
    for seen in mock.seen() {
        assert!(seen.header("authorization").is_none(), "{seen:?}");
        if seen.path != "/redfish/v1/" && seen.path != SESSIONS {
            assert_eq!(seen.header("x-auth-token"), Some("token-1"), "{seen:?}");
        }
    }
}

#[tokio::test]
async fn an_expired_session_is_recreated_once() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    bmc.power_state().await.unwrap();
    mock.state().tokens.clear();
    assert_eq!(bmc.power_state().await.unwrap(), PowerState::Off);
    assert_eq!(mock.count("POST", SESSIONS), 2);
    // Concurrent callers after another expiry share one new session.
    mock.state().tokens.clear();
    let calls: Vec<_> = (0..6).map(|_| bmc.power_state()).collect();
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(mock.count("POST", SESSIONS), 3);
}

#[tokio::test]
async fn close_deletes_the_session() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    bmc.power_state().await.unwrap();
    bmc.close().await.unwrap();
    assert_eq!(mock.count("DELETE", &format!("{SESSIONS}/1")), 1);
    assert!(mock.state().tokens.is_empty());
    // A later call logs in again.
    bmc.power_state().await.unwrap();
    assert_eq!(mock.count("POST", SESSIONS), 2);
}

#[tokio::test]
async fn dropping_the_client_deletes_the_session_in_the_background() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    bmc.power_state().await.unwrap();
    drop(bmc);
    let path = format!("{SESSIONS}/1");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while mock.count("DELETE", &path) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no DELETE of the session"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(mock.state().tokens.is_empty());
}

#[tokio::test]
async fn without_a_session_service_it_uses_basic() {
    let mock = MockBmc::start().await;
    mock.state().sessions_enabled = false;
    let bmc = client(&mock);
    assert_eq!(bmc.power_state().await.unwrap(), PowerState::Off);
    assert_eq!(mock.count("POST", SESSIONS), 0);
    let system_read = mock.seen().into_iter().find(|s| s.path == SYSTEM).unwrap();
    assert!(
        system_read
            .header("authorization")
            .is_some_and(|a| a.starts_with("Basic "))
    );
}

#[tokio::test]
async fn a_session_post_answered_405_falls_back_to_basic() {
    let mock = MockBmc::start().await;
    mock.fault("POST", SESSIONS, Answer::empty(405));
    let bmc = client(&mock);
    assert_eq!(bmc.power_state().await.unwrap(), PowerState::Off);
    assert!(
        mock.seen()
            .iter()
            .any(|s| s.path == SYSTEM && s.header("authorization").is_some())
    );
}

#[tokio::test]
async fn bad_credentials_are_a_typed_error_without_the_password() {
    let mock = MockBmc::start().await;
    let wrong = "wrong-Password-0815";
    let bmc = client_with(&mock.url, wrong, &limits());
    let err = bmc.power_state().await.unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::Auth { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(err.operation, Operation::Login);
    assert_eq!(err.attempts, 1, "401 is not retried");
    for text in [err.to_string(), format!("{err:?}"), format!("{bmc:?}")] {
        assert!(!text.contains(wrong), "{text}");
        assert_no_secret(&text);
    }
    assert!(
        err.to_string().contains("Invalid username or password"),
        "{err}"
    );

    // The same with Basic.
    mock.state().sessions_enabled = false;
    let bmc = client_with(&mock.url, wrong, &limits());
    let err = bmc.power_state().await.unwrap_err();
    assert!(
        matches!(err.kind, ErrorKind::Auth { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains(wrong));
}

#[tokio::test]
async fn busy_answers_are_retried_with_backoff() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    bmc.power_state().await.unwrap();
    mock.fault("GET", SYSTEM, Answer::redfish_error(503, "busy"));
    mock.fault(
        "GET",
        SYSTEM,
        Answer::empty(503).with_header("Retry-After", "0"),
    );
    assert_eq!(bmc.power_state().await.unwrap(), PowerState::Off);
    assert_eq!(mock.count("GET", SYSTEM), 4);
    // An absurd Retry-After is capped at the policy's longest wait.
    mock.fault(
        "GET",
        SYSTEM,
        Answer::empty(503).with_header("Retry-After", "18446744073709551615"),
    );
    assert_eq!(bmc.power_state().await.unwrap(), PowerState::Off);

    mock.fault(
        "POST",
        RESET,
        Answer::redfish_error(409, "transition in progress"),
    );
    bmc.reset(ResetType::ForceRestart).await.unwrap();
    assert_eq!(mock.count("POST", RESET), 2);
}

#[tokio::test]
async fn retries_are_bounded_and_counted() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    bmc.power_state().await.unwrap();
    for _ in 0..10 {
        mock.fault("GET", SYSTEM, Answer::redfish_error(503, "still busy"));
    }
    let err = bmc.power_state().await.unwrap_err();
    assert_eq!(err.attempts, 4);
    assert_eq!(err.status(), Some(503));
    assert!(err.is_transient());
    assert!(err.to_string().contains("after 4 attempts"), "{err}");
    assert!(err.to_string().contains("still busy"), "{err}");
}

#[tokio::test]
async fn total_retry_time_is_bounded() {
    let mock = MockBmc::start().await;
    let mut l = limits();
    l.retry = RetryPolicy {
        max_attempts: 100,
        initial_backoff: Duration::from_millis(40),
        max_backoff: Duration::from_millis(40),
        max_total: Duration::from_millis(150),
    };
    let bmc = client_with(&mock.url, PASSWORD, &l);
    bmc.power_state().await.unwrap();
    for _ in 0..100 {
        mock.fault("GET", SYSTEM, Answer::empty(503));
    }
    let err = bmc.power_state().await.unwrap_err();
    assert!(err.attempts >= 2 && err.attempts <= 6, "{err:?}");
}

#[tokio::test]
async fn client_errors_are_not_retried_and_carry_the_redfish_message() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    mock.fault(
        "POST",
        RESET,
        Answer::redfish_error(400, "The value X is not allowed."),
    );
    let err = bmc.reset(ResetType::On).await.unwrap_err();
    assert_eq!(mock.count("POST", RESET), 1);
    assert_eq!(err.attempts, 1);
    assert!(!err.is_transient());
    match &err.kind {
        ErrorKind::Http {
            status,
            message,
            resolution,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(message.as_deref(), Some("The value X is not allowed."));
            assert_eq!(resolution.as_deref(), Some("Do the right thing."));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.operation, Operation::Reset(ResetType::On));
    assert!(
        err.to_string()
            .starts_with(&format!("BMC {}: reset On failed", mock.url))
    );
}

#[tokio::test]
async fn reset_posts_to_the_advertised_target() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    assert_eq!(
        bmc.reset(ResetType::On).await.unwrap(),
        ResetOutcome::Completed
    );
    let post = mock
        .seen()
        .into_iter()
        .find(|s| s.method == "POST" && s.path == RESET)
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    assert_eq!(body, serde_json::json!({"ResetType": "On"}));
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(bmc.power_state().await.unwrap(), PowerState::On);

    mock.state().reset_202 = true;
    assert_eq!(
        bmc.reset(ResetType::ForceOff).await.unwrap(),
        ResetOutcome::Accepted {
            task: Some("/redfish/v1/TaskService/Tasks/7/Monitor".into())
        }
    );
}

#[tokio::test]
async fn a_reset_type_the_bmc_does_not_list_is_refused_locally() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    let err = bmc.reset(ResetType::Nmi).await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::NotAllowed { .. }), "{err:?}");
    assert_eq!(mock.count("POST", RESET), 0);
}

#[tokio::test]
async fn a_non_idempotent_reset_is_not_repeated_after_a_timeout() {
    let mock = MockBmc::start().await;
    let mut l = limits();
    l.request_timeout = Duration::from_millis(300);
    let bmc = client_with(&mock.url, PASSWORD, &l);
    bmc.power_state().await.unwrap();
    mock.fault("POST", RESET, Answer::Hang);
    let err = bmc.reset(ResetType::ForceRestart).await.unwrap_err();
    assert!(
        matches!(
            err.kind,
            ErrorKind::Timeout {
                connecting: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(mock.count("POST", RESET), 1);

    // ForceOff may be repeated: the second attempt gets through.
    mock.fault("POST", RESET, Answer::Hang);
    bmc.reset(ResetType::ForceOff).await.unwrap();
    assert_eq!(mock.count("POST", RESET), 3);
}

#[tokio::test]
async fn a_dropped_connection_is_retried_for_reads() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    bmc.power_state().await.unwrap();
    mock.fault("GET", SYSTEM, Answer::Close);
    assert_eq!(bmc.power_state().await.unwrap(), PowerState::Off);
}

#[tokio::test]
async fn boot_override_patch_uses_if_match_and_recovers_from_412() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    let boot = BootOverride {
        target: BootTarget::Pxe,
        enabled: BootEnabled::Once,
        mode: Some(BootMode::Uefi),
        uefi_target: None,
    };
    // Nothing read yet: no ETag to send, the BMC wants one (428), the
    // client reads the system and tries again.
    bmc.set_boot_override(&boot).await.unwrap();
    assert_eq!(mock.count("PATCH", SYSTEM), 2);
    let patches: Vec<_> = mock
        .seen()
        .into_iter()
        .filter(|s| s.method == "PATCH")
        .collect();
    assert_eq!(patches[1].header("if-match"), Some("W/\"1\""));
    let body: serde_json::Value = serde_json::from_slice(&patches[1].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"Boot": {"BootSourceOverrideTarget": "Pxe",
            "BootSourceOverrideEnabled": "Once", "BootSourceOverrideMode": "UEFI"}})
    );
    assert_eq!(bmc.boot_override().await.unwrap().target, BootTarget::Pxe);

    // Someone else changes the system: 412, re-read, retry once.
    mock.state().etag += 5;
    let hdd = BootOverride {
        target: BootTarget::Hdd,
        enabled: BootEnabled::Continuous,
        ..boot
    };
    bmc.set_boot_override(&hdd).await.unwrap();
    assert_eq!(mock.count("PATCH", SYSTEM), 4);
    let back = bmc.boot_override().await.unwrap();
    assert_eq!(
        (back.target, back.enabled),
        (BootTarget::Hdd, BootEnabled::Continuous)
    );
}

#[tokio::test]
async fn a_second_412_is_returned() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    bmc.power_state().await.unwrap();
    mock.fault("PATCH", SYSTEM, Answer::redfish_error(412, "changed"));
    mock.fault("PATCH", SYSTEM, Answer::redfish_error(412, "changed again"));
    let boot = BootOverride {
        target: BootTarget::Pxe,
        enabled: BootEnabled::Once,
        mode: None,
        uefi_target: None,
    };
    let err = bmc.set_boot_override(&boot).await.unwrap_err();
    assert_eq!(err.status(), Some(412));
    assert_eq!(mock.count("PATCH", SYSTEM), 2);
}

#[tokio::test]
async fn html_pages_wrong_types_malformed_and_huge_bodies_are_typed() {
    let mock = MockBmc::start().await;
    let mut l = limits();
    l.max_body_bytes = 64 * 1024;
    let bmc = client_with(&mock.url, PASSWORD, &l);
    bmc.power_state().await.unwrap();

    type Check = fn(&ErrorKind) -> bool;
    let cases: Vec<(Answer, Check)> = vec![
        (
            Answer::raw(
                200,
                "text/html",
                "<!DOCTYPE html><html><head><TITLE>iDRAC Login</TITLE></head></html>",
            ),
            |k| matches!(k, ErrorKind::HtmlPage { status: 200, title } if title.as_deref() == Some("iDRAC Login")),
        ),
        (
            Answer::raw(502, "text/html", "<html><title>Bad Gateway</title></html>"),
            |k| matches!(k, ErrorKind::HtmlPage { status: 502, .. }),
        ),
        (
            Answer::raw(200, "text/plain", "PowerState=On"),
            |k| matches!(k, ErrorKind::WrongContentType { content_type, .. } if content_type == "text/plain"),
        ),
        (
            Answer::raw(200, "application/json", "{\"PowerState\": \"On\""),
            |k| matches!(k, ErrorKind::Malformed { status: 200, .. }),
        ),
        (Answer::raw(200, "application/json", "[1, 2, 3]"), |k| {
            matches!(
                k,
                ErrorKind::Malformed {
                    error: ParseError::NotAnObject { .. },
                    ..
                }
            )
        }),
        (
            Answer::raw(200, "application/json", vec![b' '; 100 * 1024]),
            |k| matches!(k, ErrorKind::BodyTooLarge { limit: 65536 }),
        ),
        (Answer::json(200, serde_json::json!({"Id": "1"})), |k| {
            matches!(k, ErrorKind::Missing { .. })
        }),
    ];
    for (answer, check) in cases {
        mock.state().system_body = Some(answer.clone());
        let err = bmc.power_state().await.unwrap_err();
        assert!(check(&err.kind), "{answer:?} gave {err:?}");
        assert_eq!(err.operation, Operation::ReadSystem);
    }
    // A JSON body with a sloppy content type is accepted.
    mock.state().system_body = Some(Answer::raw(200, "text/plain", r#"{"PowerState": "on"}"#));
    assert_eq!(bmc.power_state().await.unwrap(), PowerState::On);
}

#[tokio::test]
async fn links_to_other_hosts_are_refused() {
    let mock = MockBmc::start().await;
    mock.state().system_members = Some(vec!["http://attacker.invalid/redfish/v1/Systems/1".into()]);
    let bmc = client(&mock);
    let err = bmc.power_state().await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::UnsafeLink { .. }), "{err:?}");
    // An absolute URL on the BMC itself is fine.
    mock.state().system_members = Some(vec![format!("{}{SYSTEM}", mock.url)]);
    let bmc = client(&mock);
    assert_eq!(bmc.power_state().await.unwrap(), PowerState::Off);
}

#[tokio::test]
async fn redirects_are_followed_on_the_same_host_only() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    bmc.power_state().await.unwrap();
    mock.fault(
        "GET",
        SYSTEM,
        Answer::empty(301).with_header("Location", &format!("{}{SYSTEM}", mock.url)),
    );
    assert_eq!(bmc.power_state().await.unwrap(), PowerState::Off);
    mock.fault(
        "GET",
        SYSTEM,
        Answer::empty(302).with_header("Location", "http://elsewhere.invalid/redfish/v1/Systems/1"),
    );
    let err = bmc.power_state().await.unwrap_err();
    assert!(
        matches!(&err.kind, ErrorKind::Redirected { status: 302, location: Some(l) } if l.contains("elsewhere")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_moved_system_is_rediscovered() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    bmc.power_state().await.unwrap();
    mock.fault("GET", SYSTEM, Answer::redfish_error(404, "gone"));
    assert_eq!(bmc.power_state().await.unwrap(), PowerState::Off);
    assert_eq!(mock.count("GET", "/redfish/v1/Systems"), 2);
}

#[tokio::test]
async fn connection_refused_is_retried_then_typed() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let bmc = client_with(&format!("http://127.0.0.1:{port}"), PASSWORD, &limits());
    let err = bmc.power_state().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ConnectionRefused);
    assert_eq!(err.attempts, 4);
    assert_eq!(err.operation, Operation::Discover);
    assert!(err.to_string().contains("connection refused"), "{err}");
}

#[tokio::test]
async fn https_to_a_plain_http_port_is_a_tls_error() {
    let mock = MockBmc::start().await;
    let url = mock.url.replace("http://", "https://");
    let bmc = client_with(&url, PASSWORD, &limits());
    let err = bmc.power_state().await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Tls { .. }), "{err:?}");
    assert_eq!(err.attempts, 1, "TLS failures are not retried");

    let insecure = RedfishBmc::new(
        Endpoint::new(&url).with_tls(Tls::Insecure),
        Credentials::new(USER, PASSWORD),
        &limits(),
    )
    .unwrap();
    let err = insecure.power_state().await.unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Tls { .. }), "{err:?}");
}

#[tokio::test]
async fn bad_endpoint_settings_fail_at_construction() {
    let bad_ca = Endpoint::new("https://10.0.0.21").with_tls(Tls::CustomCa {
        pem: b"not a certificate".to_vec(),
    });
    let err = RedfishBmc::new(bad_ca, Credentials::new(USER, PASSWORD), &limits()).unwrap_err();
    assert!(matches!(err.kind, ErrorKind::Config { .. }), "{err:?}");
    let err = RedfishBmc::new(
        Endpoint::new(format!("https://root:{PASSWORD}@10.0.0.21")),
        Credentials::new(USER, PASSWORD),
        &limits(),
    )
    .unwrap_err();
    assert_no_secret(&err.to_string());
}

#[tokio::test]
async fn at_most_two_requests_are_in_flight_per_bmc() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    bmc.power_state().await.unwrap();
    mock.state().delay = Duration::from_millis(50);
    let calls: Vec<_> = (0..8).map(|_| bmc.power_state()).collect();
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(mock.max_in_flight(), 2);
}

#[tokio::test]
async fn the_global_limit_is_shared_between_bmcs() {
    let mocks = [MockBmc::start().await, MockBmc::start().await];
    let mut global_one = Limits::new(1);
    global_one.retry = limits().retry;
    global_one.per_bmc = 4;
    let bmcs: Vec<_> = mocks
        .iter()
        .map(|m| client_with(&m.url, PASSWORD, &global_one))
        .collect();
    for b in &bmcs {
        b.power_state().await.unwrap();
    }
    for m in &mocks {
        m.state().delay = Duration::from_millis(30);
    }
    let calls: Vec<_> = bmcs
        .iter()
        .flat_map(|b| (0..3).map(move |_| b.power_state()))
        .collect();
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!((mocks[0].max_in_flight(), mocks[1].max_in_flight()), (1, 1));
}

#[tokio::test]
async fn status_answers_null_and_odd_values_without_failing() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    mock.state().system_body = Some(Answer::json(
        200,
        serde_json::json!({"PowerState": "POWERINGON", "Status": null, "Boot": 7}),
    ));
    let status = bmc.status().await.unwrap();
    assert_eq!(status.power, PowerState::PoweringOn);
    assert_eq!(status.health, HealthStatus::default());
    assert!(matches!(
        bmc.boot_override().await.unwrap_err().kind,
        ErrorKind::Missing { .. }
    ));
}

#[tokio::test]
async fn log_entries_follow_the_system_links_newest_first() {
    let mock = MockBmc::start().await;
    let bmc = client(&mock);
    // Without LogServices the log is empty.
    assert!(bmc.log_entries(10).await.unwrap().is_empty());

    mock.state().system_body = Some(Answer::json(
        200,
        serde_json::json!({
            "@odata.id": SYSTEM, "Id": "1", "PowerState": "On",
            "LogServices": {"@odata.id": "/redfish/v1/Systems/1/LogServices"},
        }),
    ));
    let entries = "/redfish/v1/Systems/1/LogServices/Log/Entries";
    mock.fault(
        "GET",
        &format!("{entries}/2"),
        Answer::json(
            200,
            serde_json::json!({"Id": "2", "Created": "2026-01-01T00:00:02Z",
                "Severity": "Critical", "Message": "NVMe-oF boot failed: no\nsubsystem",
                "MessageId": "PAN.1.0.BootFailed"}),
        ),
    );
    mock.fault(
        "GET",
        entries,
        Answer::json(
            200,
            serde_json::json!({"Members": [
                {"Id": "1", "Created": "2026-01-01T00:00:01Z", "Severity": "OK", "Message": "booted"},
                {"@odata.id": format!("{entries}/2")},
                {"Message": "no id: skipped"},
            ]}),
        ),
    );
    mock.fault(
        "GET",
        "/redfish/v1/Systems/1/LogServices/Log",
        Answer::json(
            200,
            serde_json::json!({"Id": "Log", "Entries": {"@odata.id": entries}}),
        ),
    );
    mock.fault(
        "GET",
        "/redfish/v1/Systems/1/LogServices",
        Answer::json(
            200,
            serde_json::json!({"Members": [{"@odata.id": "/redfish/v1/Systems/1/LogServices/Log"}]}),
        ),
    );
    let log = bmc.log_entries(10).await.unwrap();
    let ids: Vec<&str> = log.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["2", "1"]);
    assert_eq!(log[0].severity, Some(Health::Critical));
    assert_eq!(log[0].message, "NVMe-oF boot failed: no subsystem");
    assert_eq!(log[0].message_id.as_deref(), Some("PAN.1.0.BootFailed"));
    assert_eq!(mock.count("GET", &format!("{entries}/2")), 1);
}
