use super::*;

fn request_count(count: i64, unit_time: i64, unit: &str) -> Option<LimitDraft> {
    Some(LimitDraft {
        limit_type: Some("REQUESTCOUNTLIMIT".into()),
        request_count: Some(RequestCountDraft {
            request_count: Some(count),
            unit_time: Some(unit_time),
            time_unit: Some(unit.into()),
        }),
    })
}

fn refused(draft: PolicyDraft) -> PolicyError {
    draft.validate().expect_err("refused")
}

/// A draft whose `defaultLimit.type` is `kind`.
fn limit_type(kind: &str) -> PolicyDraft {
    PolicyDraft {
        default_limit: Some(LimitDraft {
            limit_type: Some(kind.into()),
            request_count: None,
        }),
        ..draft(PolicyLevel::Subscription)
    }
}

fn draft(level: PolicyLevel) -> PolicyDraft {
    PolicyDraft {
        policy_name: Some("100PerMin".into()),
        default_limit: request_count(100, 1, "min"),
        ..PolicyDraft::new(level)
    }
}

#[test]
fn a_subscription_policy_with_burst_control() {
    let policy = PolicyDraft {
        rate_limit_count: Some(10),
        rate_limit_time_unit: Some("sec".into()),
        stop_on_quota_reach: Some(true),
        ..draft(PolicyLevel::Subscription)
    }
    .validate()
    .expect("valid");
    assert_eq!(policy.display_name, "100PerMin");
    assert_eq!(policy.enforced_quota(), WindowQuota::new(100, 60_000));
    assert_eq!(policy.burst_quota(), WindowQuota::new(10, 1_000));
}

#[test]
fn unit_amounts_multiply_the_window() {
    let policy = PolicyDraft {
        default_limit: request_count(5000, 3, "hour"),
        ..draft(PolicyLevel::Advanced)
    }
    .validate()
    .expect("valid");
    assert_eq!(policy.quota.window_ms(), 3 * 3_600_000);
    assert_eq!(policy.enforced_quota(), WindowQuota::new(5000, 10_800_000));
}

#[test]
fn a_subscription_that_does_not_stop_is_not_counted() {
    // admin-api.yaml's default for stopOnQuotaReach is false.
    let policy = draft(PolicyLevel::Subscription).validate().expect("valid");
    assert!(!policy.stop_on_quota_reach);
    assert_eq!(policy.enforced_quota(), None);
    // Other levels always stop.
    let app = draft(PolicyLevel::Application).validate().expect("valid");
    assert_eq!(app.enforced_quota(), WindowQuota::new(100, 60_000));
}

#[test]
fn zero_and_negative_limits_name_their_field() {
    for (count, unit_time, field) in [
        (0, 1, "defaultLimit.requestCount.requestCount"),
        (-5, 1, "defaultLimit.requestCount.requestCount"),
        (10, 0, "defaultLimit.requestCount.unitTime"),
        (10, -1, "defaultLimit.requestCount.unitTime"),
    ] {
        let err = refused(PolicyDraft {
            default_limit: request_count(count, unit_time, "min"),
            ..draft(PolicyLevel::Application)
        });
        assert_eq!(err.field(), field, "{err}");
        assert!(err.to_string().contains(field), "{err}");
    }
    let err = refused(PolicyDraft {
        rate_limit_count: Some(-1),
        rate_limit_time_unit: Some("sec".into()),
        ..draft(PolicyLevel::Application)
    });
    assert_eq!(err.field(), "burstLimit.rateLimitCount");
    let err = refused(PolicyDraft {
        rate_limit_count: Some(-1),
        ..draft(PolicyLevel::Subscription)
    });
    assert_eq!(err.field(), "rateLimitCount");
}

#[test]
fn unknown_units_are_refused() {
    let err = refused(PolicyDraft {
        default_limit: request_count(10, 1, "week"),
        ..draft(PolicyLevel::Advanced)
    });
    assert_eq!(
        err,
        PolicyError::UnknownUnit {
            field: "defaultLimit.requestCount.timeUnit",
            value: "week".into(),
            expected: "sec, min, hour, day"
        }
    );
    // Burst control only knows seconds and minutes.
    let err = refused(PolicyDraft {
        rate_limit_count: Some(5),
        rate_limit_time_unit: Some("hour".into()),
        ..draft(PolicyLevel::Subscription)
    });
    assert_eq!(err.field(), "rateLimitTimeUnit");
    let err = refused(PolicyDraft {
        rate_limit_count: Some(5),
        ..draft(PolicyLevel::Application)
    });
    assert_eq!(
        err,
        PolicyError::Missing {
            field: "burstLimit.rateLimitTimeUnit"
        }
    );
}

#[test]
fn zero_burst_means_no_burst_control() {
    let policy = PolicyDraft {
        rate_limit_count: Some(0),
        rate_limit_time_unit: Some("NA".into()),
        ..draft(PolicyLevel::Subscription)
    }
    .validate()
    .expect("valid");
    assert_eq!(policy.burst, None);
}

#[test]
fn unsupported_features_are_refused_not_ignored() {
    let err = refused(PolicyDraft {
        conditional_groups: 1,
        ..draft(PolicyLevel::Advanced)
    });
    assert_eq!(err.field(), "conditionalGroups");
    assert!(err.to_string().contains("not supported yet"), "{err}");
    for kind in ["BANDWIDTHLIMIT", "EVENTCOUNTLIMIT", "AIAPIQUOTALIMIT"] {
        let err = refused(limit_type(kind));
        assert!(
            matches!(
                err,
                PolicyError::Unsupported {
                    field: "defaultLimit.type",
                    ..
                }
            ),
            "{err}"
        );
    }
    let err = refused(limit_type("SOMETHING"));
    assert!(
        matches!(
            err,
            PolicyError::UnknownValue {
                field: "defaultLimit.type",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(custom_policy_unsupported().field(), "siddhiQuery");
}

#[test]
fn names_and_missing_fields() {
    let err = refused(PolicyDraft {
        policy_name: None,
        ..draft(PolicyLevel::Advanced)
    });
    assert_eq!(err, PolicyError::Missing { field: "policyName" });
    for bad in ["", "   ", "a\nb", &"x".repeat(61)] {
        let err = refused(PolicyDraft {
            policy_name: Some(bad.into()),
            ..draft(PolicyLevel::Advanced)
        });
        assert_eq!(err.field(), "policyName", "{bad:?}");
    }
    let err = refused(PolicyDraft {
        default_limit: None,
        ..draft(PolicyLevel::Advanced)
    });
    assert_eq!(err, PolicyError::Missing { field: "defaultLimit" });
    let err = refused(PolicyDraft {
        default_limit: request_count(10, i64::from(i32::MAX) + 1, "sec"),
        ..draft(PolicyLevel::Advanced)
    });
    assert!(matches!(
        err,
        PolicyError::TooLarge {
            field: "defaultLimit.requestCount.unitTime",
            ..
        }
    ));
}

#[test]
fn wso2_defaults() {
    let all = default_policies();
    let find = |level, name: &str| {
        all.iter()
            .find(|p| p.level == level && p.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    for (name, count) in [
        ("Gold", 5000),
        ("Silver", 2000),
        ("Bronze", 1000),
        ("Unauthenticated", 500),
    ] {
        let p = find(PolicyLevel::Subscription, name);
        assert_eq!(p.enforced_quota(), WindowQuota::new(count, 60_000), "{name}");
        assert!(p.stop_on_quota_reach);
        assert_eq!(p.burst, None);
    }
    for (name, count) in [("10PerMin", 10), ("20PerMin", 20), ("50PerMin", 50)] {
        assert_eq!(
            find(PolicyLevel::Application, name).enforced_quota(),
            WindowQuota::new(count, 60_000)
        );
    }
    for (name, count) in [("10KPerMin", 10_000), ("20KPerMin", 20_000), ("50KPerMin", 50_000)] {
        assert_eq!(
            find(PolicyLevel::Advanced, name).enforced_quota(),
            WindowQuota::new(count, 60_000)
        );
    }
    for level in PolicyLevel::ALL {
        let unlimited = find(level, "Unlimited");
        assert_eq!(unlimited.quota.request_count, 2_147_483_647);
        assert_eq!(unlimited.enforced_quota(), None, "unlimited tiers are not counted");
    }
    assert_eq!(all.len(), 13);
}

#[test]
fn levels_parse_from_paths() {
    for level in PolicyLevel::ALL {
        assert_eq!(PolicyLevel::parse(level.as_str()), Some(level));
    }
    assert_eq!(PolicyLevel::parse("api"), Some(PolicyLevel::Advanced));
    assert_eq!(PolicyLevel::parse("custom"), None);
}
