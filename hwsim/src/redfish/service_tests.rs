//! Socket-free tests of the BMC request handling: auth, sessions, routing,
//! ETag / If-Match, reset and PATCH validation.

use super::*;
use crate::model::{BladeModel, SessionTable, Timing};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

struct Bmc {
    state: BmcState,
    info: BladeInfo,
    account: Credentials,
    now: Instant,
}

impl Bmc {
    fn new(session_limit: usize) -> Bmc {
        Bmc {
            state: BmcState {
                model: BladeModel::new(Timing::default()),
                sessions: SessionTable::new(session_limit, Duration::from_secs(1800)),
            },
            info: BladeInfo::new(
                0,
                1,
                Arc::default(),
                None,
                "127.0.0.1:8401".parse().unwrap(),
            ),
            account: Credentials::default(),
            now: Instant::now(),
        }
    }

    fn call(&mut self, req: RedfishRequest) -> (RedfishResponse, Transition) {
        handle(&mut self.state, &self.info, &self.account, &req, self.now)
    }

    fn get(&mut self, path: &str) -> RedfishResponse {
        let req = RedfishRequest::new(Method::GET, path).basic(&Credentials::default());
        self.call(req).0
    }

    fn login(&mut self) -> RedfishResponse {
        let body = json!({"UserName": "admin", "Password": "password"});
        self.call(RedfishRequest::new(Method::POST, paths::SESSIONS).json(&body))
            .0
    }
}

fn message_ids(resp: &RedfishResponse) -> Vec<String> {
    resp.body.as_ref().unwrap()["error"]["@Message.ExtendedInfo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["MessageId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn service_root_is_open_and_everything_else_needs_credentials() {
    let mut bmc = Bmc::new(4);
    for path in ["/redfish/v1/", "/redfish/v1", "/redfish"] {
        let (resp, _) = bmc.call(RedfishRequest::new(Method::GET, path));
        assert_eq!(resp.status, 200, "{path}");
    }
    for path in [paths::SYSTEM, paths::SESSIONS, "/redfish/v1/Nope"] {
        let (resp, _) = bmc.call(RedfishRequest::new(Method::GET, path));
        assert_eq!(resp.status, 401, "{path}");
        assert_eq!(
            resp.header("www-authenticate"),
            Some("Basic realm=\"hwsim BMC\"")
        );
        assert_eq!(message_ids(&resp), ["Base.1.8.NoValidSession"]);
    }
    let bad = Credentials::new("admin", "nope");
    let (resp, _) = bmc.call(RedfishRequest::new(Method::GET, paths::SYSTEM).basic(&bad));
    assert_eq!(resp.status, 401);
    let mut garbage = RedfishRequest::new(Method::GET, paths::SYSTEM);
    garbage.authorization = Some("Basic !!!".to_owned());
    assert_eq!(bmc.call(garbage).0.status, 401);
}

#[test]
fn sessions_log_in_authenticate_and_log_out() {
    let mut bmc = Bmc::new(4);
    let resp = bmc.login();
    assert_eq!(resp.status, 201);
    let token = resp.header("X-Auth-Token").unwrap().to_owned();
    let location = resp.header("Location").unwrap().to_owned();
    assert_eq!(location, "/redfish/v1/SessionService/Sessions/1");
    assert_eq!(resp.body.as_ref().unwrap()["UserName"], "admin");

    let mut get = RedfishRequest::new(Method::GET, paths::SYSTEM);
    get.auth_token = Some(token.clone());
    assert_eq!(bmc.call(get.clone()).0.status, 200);
    let listed = bmc.get(paths::SESSIONS);
    assert_eq!(listed.body.unwrap()["Members"][0]["@odata.id"], location);

    let mut delete = RedfishRequest::new(Method::DELETE, &location);
    delete.auth_token = Some(token.clone());
    assert_eq!(bmc.call(delete.clone()).0.status, 204);
    assert_eq!(
        bmc.call(get).0.status,
        401,
        "the token died with the session"
    );
    assert_eq!(bmc.get(&location).status, 404);

    let wrong = json!({"UserName": "admin", "Password": "x"});
    let resp = bmc
        .call(RedfishRequest::new(Method::POST, paths::SESSIONS).json(&wrong))
        .0;
    assert_eq!(resp.status, 401);
    let missing = json!({"UserName": "admin"});
    let resp = bmc
        .call(RedfishRequest::new(Method::POST, paths::SESSIONS).json(&missing))
        .0;
    assert_eq!(resp.status, 400);
    assert_eq!(message_ids(&resp), ["Base.1.8.PropertyMissing"]);
}

#[test]
fn session_limit_answers_503_with_a_redfish_error() {
    let mut bmc = Bmc::new(2);
    assert_eq!(bmc.login().status, 201);
    assert_eq!(bmc.login().status, 201);
    let resp = bmc.login();
    assert_eq!(resp.status, 503);
    assert_eq!(
        resp.body.as_ref().unwrap()["error"]["code"],
        "Base.1.8.SessionLimitExceeded"
    );
    assert!(resp.header("Retry-After").is_some());
}

#[test]
fn unknown_paths_and_methods() {
    let mut bmc = Bmc::new(4);
    for path in [
        "/redfish/v1/Systems/2",
        "/redfish/v1/Systems/1/EthernetInterfaces/3",
        "/redfish/v1/Systems/1/EthernetInterfaces/01",
        "/redfish/v1/Systems/1/EthernetInterfaces/1/x",
        "/",
    ] {
        let resp = bmc.get(path);
        assert_eq!(resp.status, 404, "{path}");
        let err = &resp.body.as_ref().unwrap()["error"];
        assert_eq!(err["code"], "Base.1.8.ResourceMissingAtURI");
        assert_eq!(err["@Message.ExtendedInfo"][0]["MessageArgs"][0], path);
    }
    let req = RedfishRequest::new(Method::DELETE, paths::SYSTEM).basic(&Credentials::default());
    let resp = bmc.call(req).0;
    assert_eq!(resp.status, 405);
    assert_eq!(resp.header("Allow"), Some("GET, PATCH"));
    assert_eq!(
        bmc.get("/redfish/v1/Systems/1/").status,
        200,
        "trailing slash"
    );
    assert_eq!(
        bmc.get("/redfish/v1/Systems/1/EthernetInterfaces/2").status,
        200
    );
}

#[test]
fn reset_validates_the_body_and_changes_the_etag() {
    let mut bmc = Bmc::new(4);
    let before = bmc.get(paths::SYSTEM);
    let post = |body: &[u8]| {
        let mut r = RedfishRequest::new(Method::POST, paths::RESET).basic(&Credentials::default());
        r.body = body.to_vec();
        r
    };
    for (body, id) in [
        (
            &br#"{"ResetType": "Nmi"}"#[..],
            "Base.1.8.ActionParameterValueNotInList",
        ),
        (
            br#"{"ResetType": 1}"#,
            "Base.1.8.ActionParameterValueTypeError",
        ),
        (br#"{}"#, "Base.1.8.ActionParameterMissing"),
        (b"", "Base.1.8.ActionParameterMissing"),
        (b"{not json", "Base.1.8.MalformedJSON"),
        (b"\xff\xfe", "Base.1.8.MalformedJSON"),
    ] {
        let (resp, t) = bmc.call(post(body));
        assert_eq!(resp.status, 400, "{body:?}");
        assert_eq!(message_ids(&resp), [id]);
        assert!(t.is_empty());
    }
    let (resp, t) = bmc.call(post(br#"{"ResetType": "On"}"#));
    assert_eq!(resp.status, 204);
    assert_eq!(t.changes.len(), 1);
    let after = bmc.get(paths::SYSTEM);
    assert_eq!(after.body.as_ref().unwrap()["PowerState"], "PoweringOn");
    assert_ne!(before.header("ETag"), after.header("ETag"));
}

#[test]
fn resets_answer_409_after_power_off_while_reads_still_work() {
    let mut bmc = Bmc::new(4);
    bmc.state.model = BladeModel::new(Timing {
        conflict_after_off: Duration::from_secs(10),
        ..Timing::default()
    });
    let post = |body: &[u8]| {
        let mut r = RedfishRequest::new(Method::POST, paths::RESET).basic(&Credentials::default());
        r.body = body.to_vec();
        r
    };
    assert_eq!(bmc.call(post(br#"{"ResetType": "On"}"#)).0.status, 204);
    assert_eq!(
        bmc.call(post(br#"{"ResetType": "ForceOff"}"#)).0.status,
        204
    );
    bmc.now += Duration::from_secs(9);
    let (resp, t) = bmc.call(post(br#"{"ResetType": "On"}"#));
    assert_eq!(resp.status, 409);
    assert_eq!(message_ids(&resp), ["Base.1.8.ResourceInUse"]);
    assert!(t.is_empty());
    assert_eq!(bmc.get(paths::SYSTEM).status, 200, "reads are answered");
    bmc.now += Duration::from_secs(1);
    assert_eq!(bmc.call(post(br#"{"ResetType": "On"}"#)).0.status, 204);
}

#[test]
fn patch_honours_if_match() {
    let mut bmc = Bmc::new(4);
    let etag = bmc.get(paths::SYSTEM).header("ETag").unwrap().to_owned();
    let patch = |if_match: Option<&str>, body: Value| {
        let mut r = RedfishRequest::new(Method::PATCH, paths::SYSTEM)
            .basic(&Credentials::default())
            .json(&body);
        r.if_match = if_match.map(str::to_owned);
        r
    };
    let body =
        json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}});
    let (resp, _) = bmc.call(patch(Some(&etag), body.clone()));
    assert_eq!(resp.status, 200);
    let new_etag = resp.header("ETag").unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_eq!(
        resp.body.as_ref().unwrap()["Boot"]["BootSourceOverrideTarget"],
        "Pxe"
    );
    assert_eq!(
        bmc.get(paths::SYSTEM).header("ETag"),
        Some(new_etag.as_str())
    );

    let (resp, _) = bmc.call(patch(
        Some(&etag),
        json!({"Boot": {"BootSourceOverrideTarget": "Hdd"}}),
    ));
    assert_eq!(resp.status, 412, "stale ETag");
    assert_eq!(message_ids(&resp), ["Base.1.8.PreconditionFailed"]);
    assert_eq!(
        bmc.state.model.boot().target.as_str(),
        "Pxe",
        "nothing changed"
    );

    let (resp, _) = bmc.call(patch(
        None,
        json!({"Boot": {"BootSourceOverrideTarget": "Hdd"}}),
    ));
    assert_eq!(resp.status, 200, "no If-Match is allowed");

    let (resp, _) = bmc.call(patch(
        None,
        json!({"Boot": {"BootSourceOverrideEnabled": "Sometimes"}}),
    ));
    assert_eq!(resp.status, 400);
    assert_eq!(message_ids(&resp), ["Base.1.8.PropertyValueNotInList"]);
    let mut bad = patch(None, json!({}));
    bad.body = b"[".to_vec();
    assert_eq!(message_ids(&bmc.call(bad).0), ["Base.1.8.MalformedJSON"]);
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn path() -> impl Strategy<Value = String> {
        let segment = prop_oneof![
            Just("redfish".to_owned()),
            Just("v1".to_owned()),
            Just("Systems".to_owned()),
            Just("1".to_owned()),
            Just("Actions".to_owned()),
            Just("ComputerSystem.Reset".to_owned()),
            Just("EthernetInterfaces".to_owned()),
            Just("SessionService".to_owned()),
            Just("Sessions".to_owned()),
            "[a-zA-Z0-9.%-]{0,6}",
        ];
        prop::collection::vec(segment, 0..7).prop_map(|s| format!("/{}", s.join("/")))
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            prop_oneof![
                Just("On".to_owned()),
                Just("Pxe".to_owned()),
                Just("UEFI".to_owned()),
                Just("Once".to_owned()),
                "[a-zA-Z@.]{0,8}",
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            let key = prop_oneof![
                Just("Boot".to_owned()),
                Just("ResetType".to_owned()),
                Just("BootSourceOverrideTarget".to_owned()),
                Just("UserName".to_owned()),
                Just("Password".to_owned()),
                "[a-zA-Z@.]{0,8}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map(key, inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_request_gets_a_well_formed_answer(
            method in prop_oneof![Just(Method::GET), Just(Method::POST), Just(Method::PATCH), Just(Method::DELETE), Just(Method::PUT)],
            path in path(),
            body in prop_oneof![json_value().prop_map(|v| v.to_string().into_bytes()), prop::collection::vec(any::<u8>(), 0..32)],
            auth in prop_oneof![Just(None), Just(Some("Basic YWRtaW46cGFzc3dvcmQ=".to_owned())), "[ -~]{0,20}".prop_map(Some)],
            if_match in prop::option::of("[ -~]{0,20}"),
        ) {
            let mut bmc = Bmc::new(2);
            let req = RedfishRequest { method, path, auth_token: None, authorization: auth, if_match, body };
            let (resp, _) = bmc.call(req);
            prop_assert!((200..600).contains(&resp.status));
            if resp.status >= 400 {
                let body = resp.body.unwrap();
                prop_assert!(body["error"]["code"].is_string());
                prop_assert!(body["error"]["@Message.ExtendedInfo"].is_array());
            }
        }
    }
}

#[test]
fn the_system_log_is_served_from_the_system_link() {
    use crate::model::nvme_boot::BootCheck;
    let mut bmc = Bmc::new(4);
    let system = bmc.get(paths::SYSTEM).body.unwrap();
    assert_eq!(system["LogServices"]["@odata.id"], paths::LOG_SERVICES);
    let services = bmc.get(paths::LOG_SERVICES).body.unwrap();
    assert_eq!(services["Members"][0]["@odata.id"], paths::LOG_SERVICE);
    let service = bmc.get(paths::LOG_SERVICE).body.unwrap();
    assert_eq!(service["Entries"]["@odata.id"], paths::LOG_ENTRIES);
    let entries = bmc.get(paths::LOG_ENTRIES).body.unwrap();
    assert_eq!(entries["Members@odata.count"], 0);

    // A refused NVMe/TCP boot writes an entry.
    let model = &mut bmc.state.model;
    model
        .patch_system(&json!({"Boot": {"BootSourceOverrideTarget": "UefiTarget",
            "BootSourceOverrideEnabled": "Continuous",
            "UefiTargetBootSourceOverride": "garbage"}}))
        .unwrap();
    let now = bmc.now;
    model.reset(ResetType::On, now);
    let t = model.advance(now + Duration::from_secs(5));
    let Some(crate::model::Effect::CheckBoot { epoch, boot }) = t.effects.first().cloned() else {
        panic!("no CheckBoot in {t:?}");
    };
    let reason = "NVMe-oF boot failed: garbage";
    model.boot_checked(
        epoch,
        boot,
        Some(BootCheck::Refused {
            reason: reason.into(),
        }),
        "2026-01-01T00:00:00.000Z".into(),
    );
    let entries = bmc.get(paths::LOG_ENTRIES).body.unwrap();
    assert_eq!(entries["Members@odata.count"], 1);
    let entry = &entries["Members"][0];
    assert_eq!(entry["Id"], "1");
    assert_eq!(entry["Severity"], "Critical");
    assert_eq!(entry["Message"], reason);
    assert_eq!(entry["Created"], "2026-01-01T00:00:00.000Z");
    assert_eq!(entry["MessageId"], crate::model::BOOT_FAILED_MESSAGE_ID);
    assert_eq!(bmc.get(&paths::log_entry(1)).body.unwrap(), *entry);
    assert_eq!(bmc.get(&paths::log_entry(2)).status, 404);
    assert_eq!(bmc.get(&format!("{}/01", paths::LOG_ENTRIES)).status, 404);
    let system = bmc.get(paths::SYSTEM).body.unwrap();
    assert_eq!(system["Status"]["Health"], "Critical");
    assert_eq!(system["Status"]["HealthRollup"], "Critical");
    // Read-only, like every log resource.
    let req = RedfishRequest::new(Method::POST, paths::LOG_ENTRIES).basic(&Credentials::default());
    assert_eq!(bmc.call(req).0.status, 405);
}
