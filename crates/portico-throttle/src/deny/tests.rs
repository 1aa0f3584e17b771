use serde_json::json;

use super::*;

fn condition(kind: DenyType, value: Value) -> DenyCondition {
    DenyCondition::from_json(kind, &value).unwrap_or_else(|e| panic!("{value}: {e}"))
}

fn refused(kind: DenyType, value: Value) -> DenyError {
    DenyCondition::from_json(kind, &value).expect_err("refused")
}

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().expect("ip"))
}

#[test]
fn wso2_value_formats_round_trip() {
    let cases = [
        (DenyType::Api, json!("/pizzashack/1.0.0")),
        (DenyType::Application, json!("admin:DefaultApplication")),
        (DenyType::User, json!("alice")),
        (DenyType::Ip, json!({"fixedIp": "192.168.1.1", "invert": false})),
        (
            DenyType::IpRange,
            json!({"startingIp": "10.0.0.0", "endingIp": "10.0.0.255", "invert": true}),
        ),
        (DenyType::Ip, json!({"fixedIp": "2001:db8::1", "invert": false})),
    ];
    for (kind, value) in cases {
        let parsed = condition(kind, value.clone());
        assert_eq!(parsed.kind(), kind);
        assert_eq!(parsed.value_json(), value, "answered as WSO2 does");
        let stored = parsed.stored_value();
        assert_eq!(
            DenyCondition::from_stored(kind.as_str(), &stored).expect("stored"),
            parsed,
            "{stored}"
        );
    }
    // The string value of API/APPLICATION/USER is stored as is; IPs as WSO2's JSON text.
    assert_eq!(condition(DenyType::Api, json!(" /a/v1 ")).stored_value(), "/a/v1");
    let stored = condition(DenyType::Ip, json!({"fixedIp": "10.0.0.1"})).stored_value();
    assert_eq!(
        serde_json::from_str::<Value>(&stored).expect("json"),
        json!({"fixedIp": "10.0.0.1", "invert": false})
    );
    // WSO2's UI sends `invert` as text; IPv4-mapped IPv6 is the IPv4 address.
    assert_eq!(
        condition(DenyType::Ip, json!({"fixedIp": "::ffff:10.0.0.1", "invert": "true"})),
        DenyCondition::Ip {
            ip: "10.0.0.1".parse().expect("ip"),
            invert: true
        }
    );
    assert_eq!(
        condition(DenyType::Application, json!("bob:shop:web")),
        DenyCondition::Application {
            owner: "bob".into(),
            name: "shop:web".into()
        }
    );
}

#[test]
fn malformed_values_name_their_field() {
    let cases = [
        (DenyType::Ip, json!({"fixedIp": "10.0.0.256"}), "conditionValue.fixedIp"),
        (DenyType::Ip, json!({"fixedIp": "not-an-ip"}), "conditionValue.fixedIp"),
        (
            DenyType::Ip,
            json!({"fixedIp": "10.0.0.0/24"}),
            "conditionValue.fixedIp",
        ),
        (DenyType::Ip, json!({}), "conditionValue.fixedIp"),
        (DenyType::Ip, json!({"fixedIp": 10}), "conditionValue.fixedIp"),
        (DenyType::Ip, json!("10.0.0.1"), "conditionValue"),
        (
            DenyType::Ip,
            json!({"fixedIp": "10.0.0.1", "invert": "maybe"}),
            "conditionValue.invert",
        ),
        (
            DenyType::IpRange,
            json!({"startingIp": "10.0.0.9", "endingIp": "10.0.0.1"}),
            "conditionValue.endingIp",
        ),
        (
            DenyType::IpRange,
            json!({"startingIp": "10.0.0.1", "endingIp": "::1"}),
            "conditionValue.endingIp",
        ),
        (
            DenyType::IpRange,
            json!({"startingIp": "1.2.3", "endingIp": "10.0.0.1"}),
            "conditionValue.startingIp",
        ),
        (
            DenyType::IpRange,
            json!({"startingIp": "10.0.0.1"}),
            "conditionValue.endingIp",
        ),
        (DenyType::Api, json!("pizzashack/1.0.0"), "conditionValue"),
        (DenyType::Api, json!("/pizzashack"), "conditionValue"),
        (DenyType::Api, json!("/pizza//1.0.0"), "conditionValue"),
        (DenyType::Api, json!({"context": "/a/1"}), "conditionValue"),
        (DenyType::Application, json!("DefaultApplication"), "conditionValue"),
        (DenyType::Application, json!(":app"), "conditionValue"),
        (DenyType::User, json!("   "), "conditionValue"),
        (DenyType::User, json!("two words"), "conditionValue"),
        (DenyType::User, Value::Null, "conditionValue"),
    ];
    for (kind, value, field) in cases {
        let err = refused(kind, value.clone());
        assert_eq!(err.field(), field, "{value}: {err}");
        assert!(err.to_string().starts_with(field), "{err}");
    }
    assert_eq!(
        DenyType::from_field(Some("HOST")).expect_err("unknown").field(),
        "conditionType"
    );
    assert_eq!(
        DenyType::from_field(None).expect_err("missing").field(),
        "conditionType"
    );
    assert_eq!(DenyType::from_field(Some("IPRANGE")), Ok(DenyType::IpRange));
}

#[test]
fn api_values_follow_wso2_contexts() {
    assert_eq!(api_condition_value("/pizzashack", "1.0.0"), "/pizzashack/1.0.0");
    assert_eq!(api_condition_value("/shop/{version}/x", "v2"), "/shop/v2/x");
}

#[test]
fn an_empty_set_blocks_nothing() {
    let set = DenyPolicies::new([]);
    assert!(set.is_empty());
    assert!(DenyPolicies::default().is_empty());
    let request = DenyRequest {
        api: Some("/a/1"),
        application: Some(("admin", "app")),
        user: Some("admin"),
        client_ip: ip("10.0.0.1"),
    };
    assert_eq!(set.check(&request), None);
}

#[test]
fn each_type_blocks_what_it_names() {
    let conditions = [
        condition(DenyType::Api, json!("/pizzashack/1.0.0")),
        condition(DenyType::Application, json!("bob:shop")),
        condition(DenyType::User, json!("mallory@carbon.super")),
        condition(DenyType::Ip, json!({"fixedIp": "192.168.1.7"})),
        condition(
            DenyType::IpRange,
            json!({"startingIp": "10.0.0.0", "endingIp": "10.0.0.255"}),
        ),
        condition(
            DenyType::IpRange,
            json!({"startingIp": "10.0.0.200", "endingIp": "10.0.1.10"}),
        ),
        condition(
            DenyType::IpRange,
            json!({"startingIp": "2001:db8::", "endingIp": "2001:db8::ffff"}),
        ),
    ];
    let set = DenyPolicies::new(&conditions);
    assert!(!set.is_empty());
    let check = |request: DenyRequest<'_>| set.check(&request);
    assert_eq!(
        check(DenyRequest {
            api: Some("/pizzashack/1.0.0"),
            ..DenyRequest::default()
        }),
        Some(DenyType::Api)
    );
    assert_eq!(
        check(DenyRequest {
            api: Some("/pizzashack/2.0.0"),
            ..DenyRequest::default()
        }),
        None
    );
    assert_eq!(
        check(DenyRequest {
            application: Some(("bob", "shop")),
            ..DenyRequest::default()
        }),
        Some(DenyType::Application)
    );
    assert_eq!(
        check(DenyRequest {
            application: Some(("alice", "shop")),
            ..DenyRequest::default()
        }),
        None,
        "another owner's application of that name"
    );
    for user in ["mallory", "mallory@carbon.super"] {
        assert_eq!(
            check(DenyRequest {
                user: Some(user),
                ..DenyRequest::default()
            }),
            Some(DenyType::User),
            "{user}"
        );
    }
    let by_ip = |address: &str| {
        check(DenyRequest {
            client_ip: ip(address),
            ..DenyRequest::default()
        })
    };
    assert_eq!(by_ip("192.168.1.7"), Some(DenyType::Ip));
    assert_eq!(by_ip("::ffff:192.168.1.7"), Some(DenyType::Ip), "IPv4-mapped");
    assert_eq!(by_ip("192.168.1.8"), None);
    for inside in ["10.0.0.0", "10.0.0.255", "10.0.1.0", "10.0.1.10", "2001:db8::1"] {
        assert_eq!(by_ip(inside), Some(DenyType::IpRange), "{inside}");
    }
    for outside in ["9.255.255.255", "10.0.1.11", "2001:db8::1:0", "0.0.0.10"] {
        assert_eq!(by_ip(outside), None, "{outside}");
    }
}

#[test]
fn inverted_conditions_block_everything_else() {
    let conditions = [condition(
        DenyType::IpRange,
        json!({"startingIp": "10.0.0.0", "endingIp": "10.0.0.255", "invert": true}),
    )];
    let set = DenyPolicies::new(&conditions);
    let by_ip = |address: &str| {
        set.check(&DenyRequest {
            client_ip: ip(address),
            ..DenyRequest::default()
        })
    };
    assert_eq!(by_ip("10.0.0.42"), None);
    assert_eq!(by_ip("10.0.1.0"), Some(DenyType::IpRange));
    assert_eq!(by_ip("::1"), Some(DenyType::IpRange), "another family is outside too");
    assert_eq!(set.check(&DenyRequest::default()), None, "no address, nothing to match");
}
