//! WSO2's `endpointConfig` as the artifact carries it: `endpoint_type` `http` (one
//! `production_endpoints` / `sandbox_endpoints` object), `load_balance` (arrays of them) or
//! `failover` (one object plus `production_failovers` / `sandbox_failovers` arrays). Each
//! endpoint may carry WSO2's advanced `config` ([`EndpointTuning`]). Keys a gateway does not read
//! (`algoCombo`, `endpoint_security`, a `config`'s `retryTimeOut`, ...) are kept as sent, and so
//! are the settings it reads: WSO2's clients send them as numbers or as text.

use std::fmt;
use std::str::FromStr;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// How a side's endpoints are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointType {
    /// One endpoint per side; absent means this. `address` and `default` (WSO2's other names
    /// for a single endpoint) read as `http`.
    #[default]
    #[serde(alias = "address", alias = "default")]
    Http,
    /// Round robin over the side's endpoints.
    LoadBalance,
    /// The side's endpoint, then its failovers in order.
    Failover,
}

/// Production or sandbox: which keys' endpoints answer a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Production,
    Sandbox,
}

impl Side {
    /// `production` or `sandbox`, as in the key names.
    pub fn name(self) -> &'static str {
        match self {
            Side::Production => "production",
            Side::Sandbox => "sandbox",
        }
    }
}

/// WSO2's `endpointConfig`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EndpointConfig {
    #[serde(default)]
    pub endpoint_type: EndpointType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_endpoints: Option<Endpoints>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_endpoints: Option<Endpoints>,
    /// `failover` only: tried in order after `production_endpoints`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_failovers: Option<Endpoints>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_failovers: Option<Endpoints>,
    /// WSO2's other keys, kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl EndpointConfig {
    /// The side's endpoints (`production_endpoints` or `sandbox_endpoints`).
    pub fn endpoints(&self, side: Side) -> Option<&Endpoints> {
        match side {
            Side::Production => self.production_endpoints.as_ref(),
            Side::Sandbox => self.sandbox_endpoints.as_ref(),
        }
    }

    /// The side's failovers (`production_failovers` or `sandbox_failovers`).
    pub fn failovers(&self, side: Side) -> Option<&Endpoints> {
        match side {
            Side::Production => self.production_failovers.as_ref(),
            Side::Sandbox => self.sandbox_failovers.as_ref(),
        }
    }
}

/// One endpoint object or an array of them, kept in the form it was sent in.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoints {
    /// Boxed: an endpoint with its settings is large beside a `Vec`.
    One(Box<Endpoint>),
    Many(Vec<Endpoint>),
}

impl Endpoints {
    pub fn as_slice(&self) -> &[Endpoint] {
        match self {
            Endpoints::One(endpoint) => std::slice::from_ref(&**endpoint),
            Endpoints::Many(endpoints) => endpoints,
        }
    }
}

impl Serialize for Endpoints {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Endpoints::One(endpoint) => endpoint.serialize(serializer),
            Endpoints::Many(endpoints) => endpoints.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Endpoints {
    /// By the JSON's shape, so that an endpoint's own error (a missing `url`) is reported as
    /// itself rather than as "matches neither form".
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EndpointsVisitor;

        impl<'de> Visitor<'de> for EndpointsVisitor {
            type Value = Endpoints;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"an endpoint {"url": ...} or an array of them"#)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Endpoints, A::Error> {
                Endpoint::deserialize(MapAccessDeserializer::new(map)).map(|one| Endpoints::One(Box::new(one)))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Endpoints, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(Endpoints::Many)
            }
        }

        deserializer.deserialize_any(EndpointsVisitor)
    }
}

/// One backend URL and its advanced settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Base URL, e.g. `http://10.0.0.5:8080/api/`; the resource path is appended.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<EndpointTuning>,
    /// WSO2's other keys, kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// WSO2's advanced endpoint `config`, in milliseconds: `actionDuration` (response timeout),
/// `suspendDuration` (initial suspension), `suspendMaxDuration`, `factor` (progression factor);
/// Portico adds `connectTimeout` (ms) and `tlsVerification` (false: an https backend's
/// certificate is not checked).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointTuning {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_duration: Option<Setting<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<Setting<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend_duration: Option<Setting<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend_max_duration: Option<Setting<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<Setting<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_verification: Option<Setting<bool>>,
    /// WSO2's other keys (`retryTimeOut`, `actionSelect`, ...), kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A setting as sent (`3000` or `"3000"`) and what it reads as; `None` when it does not read
/// as a `T` (then the reader's default applies, as in WSO2).
#[derive(Debug, Clone, PartialEq)]
pub struct Setting<T> {
    sent: Value,
    value: Option<T>,
}

impl<T: SettingValue> Setting<T> {
    /// The value, when the setting reads as one.
    pub fn get(&self) -> Option<T> {
        self.value
    }

    /// The setting as sent.
    pub fn sent(&self) -> &Value {
        &self.sent
    }
}

impl<T: SettingValue> From<T> for Setting<T> {
    fn from(value: T) -> Setting<T> {
        Setting {
            sent: value.into(),
            value: Some(value),
        }
    }
}

/// What a [`Setting`] may hold: a JSON scalar of its own kind, or text that parses as one.
pub trait SettingValue: Copy + FromStr + Into<Value> {
    /// The value of a JSON scalar of this kind.
    fn from_json(value: &Value) -> Option<Self>;
}

impl SettingValue for u64 {
    fn from_json(value: &Value) -> Option<u64> {
        value.as_u64()
    }
}

impl SettingValue for f64 {
    fn from_json(value: &Value) -> Option<f64> {
        value.as_f64()
    }
}

impl SettingValue for bool {
    fn from_json(value: &Value) -> Option<bool> {
        value.as_bool()
    }
}

impl<T> Serialize for Setting<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.sent.serialize(serializer)
    }
}

impl<'de, T: SettingValue> Deserialize<'de> for Setting<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let sent = Value::deserialize(deserializer)?;
        let value = match &sent {
            Value::String(text) => text.trim().parse().ok(),
            scalar => T::from_json(scalar),
        };
        Ok(Setting { sent, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_read_numbers_and_text_and_stay_as_sent() {
        let tuning: EndpointTuning = serde_json::from_value(json!({
            "actionDuration": "3000", "connectTimeout": 500, "factor": " 2.5 ",
            "tlsVerification": "false", "suspendDuration": "soon", "retryTimeOut": 1
        }))
        .expect("reads");
        assert_eq!(tuning.action_duration.as_ref().and_then(Setting::get), Some(3000));
        assert_eq!(tuning.connect_timeout.as_ref().and_then(Setting::get), Some(500));
        assert_eq!(tuning.factor.as_ref().and_then(Setting::get), Some(2.5));
        assert_eq!(tuning.tls_verification.as_ref().and_then(Setting::get), Some(false));
        assert_eq!(tuning.suspend_duration.as_ref().and_then(Setting::get), None);
        assert_eq!(
            serde_json::to_value(&tuning).expect("json"),
            json!({"actionDuration": "3000", "connectTimeout": 500, "factor": " 2.5 ",
                "tlsVerification": "false", "suspendDuration": "soon", "retryTimeOut": 1})
        );
        assert_eq!(serde_json::to_value(Setting::from(7u64)).expect("json"), json!(7));
    }

    #[test]
    fn endpoints_are_one_object_or_an_array_and_keep_their_form() {
        let one: Endpoints = serde_json::from_value(json!({"url": "http://a"})).expect("one");
        let many: Endpoints = serde_json::from_value(json!([{"url": "http://a"}, {"url": "http://b"}])).expect("many");
        assert_eq!(one.as_slice().len(), 1);
        assert_eq!(many.as_slice().len(), 2);
        assert!(serde_json::to_value(&one).expect("json").is_object());
        assert!(serde_json::to_value(&many).expect("json").is_array());
        let err = serde_json::from_value::<Endpoints>(json!("http://a")).expect_err("text");
        assert!(err.to_string().contains(r#"an endpoint {"url": ...}"#), "{err}");
        let err = serde_json::from_value::<Endpoints>(json!({"uri": "http://a"})).expect_err("no url");
        assert!(err.to_string().contains("missing field `url`"), "{err}");
    }

    #[test]
    fn endpoint_types_and_their_other_names() {
        let read = |t: &str| serde_json::from_value::<EndpointType>(json!(t));
        assert_eq!(read("address").expect("alias"), EndpointType::Http);
        assert_eq!(read("default").expect("alias"), EndpointType::Http);
        assert_eq!(read("load_balance").expect("lb"), EndpointType::LoadBalance);
        assert!(
            read("awslambda")
                .expect_err("unknown")
                .to_string()
                .contains("awslambda")
        );
        let config: EndpointConfig =
            serde_json::from_value(json!({"production_endpoints": {"url": "http://a"}})).expect("no endpoint_type");
        assert_eq!(config.endpoint_type, EndpointType::Http);
    }
}
