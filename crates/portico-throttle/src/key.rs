//! WSO2's throttle key formats (carbon-apimgt's gateway `ThrottleHandler`), written into a
//! caller's buffer so the per-request path reuses one `String` instead of allocating a key each.
//!
//! | kind | format |
//! |---|---|
//! | api | `context:version` |
//! | resource | `context/version` + `uriTemplate` + `:VERB` |
//! | application | `appId:user@carbon.super` |
//! | subscription | `appId:context:version` |
//!
//! `context` is the API's context as WSO2 keeps it (versioned APIs include the version, so
//! `/pizzashack/1.0.0:1.0.0` is a real api key). Burst control is counted under its own key, the
//! quota key plus [`BURST_SUFFIX`] (WSO2 keeps burst counters per gateway in memory and has no
//! cluster key for them; `#` never appears in a context or version).

use std::fmt::Write as _;

/// WSO2's super tenant, appended to the user of an application key.
pub const SUPER_TENANT_SUFFIX: &str = "@carbon.super";

/// WSO2's `message` of every throttled-out answer (the code tells the cause).
pub const THROTTLED_MESSAGE: &str = "Message throttled out";

/// Appended to a subscription or application key to count its burst control separately.
pub const BURST_SUFFIX: &str = "#burst";

/// Which limit a key counts; decides the WSO2 error code of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Api,
    Resource,
    Application,
    Subscription,
    SubscriptionBurst,
    ApplicationBurst,
}

impl KeyKind {
    /// WSO2's error code for a request refused on this key (`APIThrottleConstants`).
    pub fn error_code(self) -> &'static str {
        match self {
            KeyKind::Api => "900800",
            KeyKind::Resource => "900802",
            KeyKind::Application => "900803",
            KeyKind::Subscription => "900804",
            KeyKind::SubscriptionBurst => "900807",
            KeyKind::ApplicationBurst => "900809",
        }
    }

    pub fn is_burst(self) -> bool {
        matches!(self, KeyKind::SubscriptionBurst | KeyKind::ApplicationBurst)
    }
}

/// `context:version`.
pub fn write_api_key(out: &mut String, context: &str, version: &str) {
    out.push_str(context);
    out.push(':');
    out.push_str(version);
}

/// `context/version/uriTemplate:VERB` (a template without its leading `/` gets one).
pub fn write_resource_key(out: &mut String, context: &str, version: &str, uri_template: &str, verb: &str) {
    out.push_str(context);
    out.push('/');
    out.push_str(version);
    if !uri_template.starts_with('/') {
        out.push('/');
    }
    out.push_str(uri_template);
    out.push(':');
    out.push_str(verb);
}

/// `appId:user@carbon.super`; a user already qualified with the super tenant is not
/// qualified twice.
pub fn write_application_key(out: &mut String, app_id: &str, user: &str) {
    out.push_str(app_id);
    out.push(':');
    out.push_str(user);
    if !user.ends_with(SUPER_TENANT_SUFFIX) {
        out.push_str(SUPER_TENANT_SUFFIX);
    }
}

/// `appId:context:version`. Unauthenticated resources use the client IP as the application id
/// (with the `Unauthenticated` tier), as WSO2's gateway does.
pub fn write_subscription_key(out: &mut String, app_id: &str, context: &str, version: &str) {
    out.push_str(app_id);
    out.push(':');
    write_api_key(out, context, version);
}

/// A client IP written as an application id for unauthenticated requests.
pub fn write_client_ip(out: &mut String, ip: std::net::IpAddr) {
    // Writing into a String cannot fail.
    let _ = write!(out, "{ip}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(f: impl FnOnce(&mut String)) -> String {
        let mut s = String::new();
        f(&mut s);
        s
    }

    #[test]
    fn wso2_formats() {
        assert_eq!(
            built(|s| write_api_key(s, "/pizzashack/1.0.0", "1.0.0")),
            "/pizzashack/1.0.0:1.0.0"
        );
        assert_eq!(
            built(|s| write_resource_key(s, "/pizzashack/1.0.0", "1.0.0", "/menu", "GET")),
            "/pizzashack/1.0.0/1.0.0/menu:GET"
        );
        assert_eq!(
            built(|s| write_resource_key(s, "/p", "v1", "order/{id}", "POST")),
            "/p/v1/order/{id}:POST"
        );
        assert_eq!(
            built(|s| write_application_key(s, "42", "admin")),
            "42:admin@carbon.super"
        );
        assert_eq!(
            built(|s| write_application_key(s, "42", "admin@carbon.super")),
            "42:admin@carbon.super"
        );
        assert_eq!(
            built(|s| write_subscription_key(s, "42", "/pizzashack/1.0.0", "1.0.0")),
            "42:/pizzashack/1.0.0:1.0.0"
        );
        assert_eq!(
            built(|s| write_client_ip(s, "10.1.2.3".parse().expect("ip"))),
            "10.1.2.3"
        );
    }

    #[test]
    fn codes_per_kind() {
        let codes: Vec<_> = [
            KeyKind::Api,
            KeyKind::Resource,
            KeyKind::Application,
            KeyKind::Subscription,
            KeyKind::SubscriptionBurst,
            KeyKind::ApplicationBurst,
        ]
        .iter()
        .map(|k| k.error_code())
        .collect();
        assert_eq!(codes, ["900800", "900802", "900803", "900804", "900807", "900809"]);
    }
}
