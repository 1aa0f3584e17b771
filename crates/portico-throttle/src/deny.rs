//! Deny policies (WSO2's blocking conditions): what the Admin REST API accepts as one, how it is
//! stored, and the compiled set the gateway consults on every request.
//!
//! A condition is one of WSO2's five types, each with WSO2's value format:
//!
//! | `conditionType` | `conditionValue` | blocks |
//! |---|---|---|
//! | `API` | `"/pizzashack/1.0.0"`: the API's context with its version ([`api_condition_value`]) | every request to that API |
//! | `APPLICATION` | `"owner:appName"` | the application of that owner |
//! | `USER` | `"alice"` (or `alice@carbon.super`) | the user's requests |
//! | `IP` | `{"fixedIp": "10.1.2.3", "invert": false}` | that client address (every other one when `invert`) |
//! | `IPRANGE` | `{"startingIp": "10.0.0.0", "endingIp": "10.0.0.255", "invert": false}` | that inclusive range (everything outside it when `invert`) |
//!
//! IPv4 and IPv6 are both accepted; a range's ends must be of one family and in order. The
//! Admin REST layer calls [`DenyCondition::from_json`] (errors name the JSON field), keeps
//! [`DenyCondition::stored_value`] (WSO2's stored text: the string, or the JSON object) and
//! answers [`DenyCondition::value_json`]; a loader reads stored rows back with
//! [`DenyCondition::from_stored`] and builds one [`DenyPolicies`] from the enabled ones.
//! [`DenyPolicies::check`] is allocation-free, and a single branch when no condition exists.

use std::net::IpAddr;

use foldhash::fast::RandomState;
use serde_json::{Value, json};

use crate::key::SUPER_TENANT_SUFFIX;

type Set<T> = std::collections::HashSet<T, RandomState>;
type Map<K, V> = std::collections::HashMap<K, V, RandomState>;

/// WSO2 keeps a condition's value in a 512-character column.
const MAX_VALUE_CHARS: usize = 512;

/// The JSON field of a condition's value, and of its parts.
const VALUE: &str = "conditionValue";
const FIXED_IP: &str = "conditionValue.fixedIp";
const STARTING_IP: &str = "conditionValue.startingIp";
const ENDING_IP: &str = "conditionValue.endingIp";
const INVERT: &str = "conditionValue.invert";

/// WSO2's `conditionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyType {
    Api,
    Application,
    Ip,
    IpRange,
    User,
}

impl DenyType {
    pub const ALL: [DenyType; 5] = [
        DenyType::Api,
        DenyType::Application,
        DenyType::Ip,
        DenyType::IpRange,
        DenyType::User,
    ];
    const EXPECTED: &'static str = "API, APPLICATION, IP, IPRANGE, USER";

    pub fn as_str(self) -> &'static str {
        match self {
            DenyType::Api => "API",
            DenyType::Application => "APPLICATION",
            DenyType::Ip => "IP",
            DenyType::IpRange => "IPRANGE",
            DenyType::User => "USER",
        }
    }

    /// WSO2's spelling, as its REST API takes it (upper case).
    pub fn parse(value: &str) -> Option<DenyType> {
        DenyType::ALL.into_iter().find(|t| t.as_str() == value)
    }

    /// The type named by `conditionType`, or the error naming that field.
    pub fn from_field(value: Option<&str>) -> Result<DenyType, DenyError> {
        let value = value.ok_or(DenyError::Missing { field: "conditionType" })?;
        DenyType::parse(value).ok_or_else(|| DenyError::Invalid {
            field: "conditionType",
            message: format!("unknown value \"{value}\" (expected one of: {})", DenyType::EXPECTED),
        })
    }
}

/// One deny condition, valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DenyCondition {
    /// The API's context with its version, as WSO2 keeps it (`/pizzashack/1.0.0`).
    Api {
        context: String,
    },
    Application {
        owner: String,
        name: String,
    },
    User {
        name: String,
    },
    Ip {
        ip: IpAddr,
        invert: bool,
    },
    /// An inclusive range of one address family, `start <= end`.
    IpRange {
        start: IpAddr,
        end: IpAddr,
        invert: bool,
    },
}

/// Why a condition was refused; names the JSON field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DenyError {
    #[error("{field} is required")]
    Missing { field: &'static str },
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
}

impl DenyError {
    /// The JSON field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            DenyError::Missing { field } | DenyError::Invalid { field, .. } => field,
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> DenyError {
    DenyError::Invalid {
        field,
        message: message.into(),
    }
}

/// The value an `API` condition names an API by: WSO2's context of a versioned API, the context
/// with `{version}` replaced, or with `/version` appended.
pub fn api_condition_value(context: &str, version: &str) -> String {
    if context.contains("{version}") {
        context.replace("{version}", version)
    } else {
        format!("{}/{version}", context.trim_end_matches('/'))
    }
}

impl DenyCondition {
    /// The condition a REST body gives: `conditionValue` is a string for `API`, `APPLICATION`
    /// and `USER`, an object for `IP` and `IPRANGE`.
    pub fn from_json(kind: DenyType, value: &Value) -> Result<DenyCondition, DenyError> {
        match kind {
            DenyType::Api => api_condition(value_text(kind, value)?),
            DenyType::Application => application_condition(value_text(kind, value)?),
            DenyType::User => Ok(DenyCondition::User {
                name: value_text(kind, value)?.to_owned(),
            }),
            DenyType::Ip | DenyType::IpRange => ip_condition(kind, value),
        }
    }

    /// A stored condition (its type and [`DenyCondition::stored_value`]) read back.
    pub fn from_stored(kind: &str, stored: &str) -> Result<DenyCondition, DenyError> {
        let kind = DenyType::from_field(Some(kind))?;
        let value = match kind {
            DenyType::Ip | DenyType::IpRange => serde_json::from_str(stored)
                .map_err(|e| invalid(VALUE, format!("stored value is not a JSON object: {e}")))?,
            _ => Value::String(stored.to_owned()),
        };
        DenyCondition::from_json(kind, &value)
    }

    pub fn kind(&self) -> DenyType {
        match self {
            DenyCondition::Api { .. } => DenyType::Api,
            DenyCondition::Application { .. } => DenyType::Application,
            DenyCondition::User { .. } => DenyType::User,
            DenyCondition::Ip { .. } => DenyType::Ip,
            DenyCondition::IpRange { .. } => DenyType::IpRange,
        }
    }

    /// `conditionValue` as WSO2's REST API answers it.
    pub fn value_json(&self) -> Value {
        match self {
            DenyCondition::Api { context } => json!(context),
            DenyCondition::Application { owner, name } => json!(format!("{owner}:{name}")),
            DenyCondition::User { name } => json!(name),
            DenyCondition::Ip { ip, invert } => json!({"fixedIp": ip.to_string(), "invert": invert}),
            DenyCondition::IpRange { start, end, invert } => json!({
                "startingIp": start.to_string(),
                "endingIp": end.to_string(),
                "invert": invert,
            }),
        }
    }

    /// The value as WSO2 stores it (`AM_BLOCK_CONDITIONS.VALUE`): the string, or the IP
    /// object's JSON text. Canonical (addresses in their shortest form), so equal conditions
    /// store equal text and a unique index finds duplicates.
    pub fn stored_value(&self) -> String {
        match self.value_json() {
            Value::String(s) => s,
            other => other.to_string(),
        }
    }
}

/// The trimmed string value of an `API`, `APPLICATION` or `USER` condition.
fn value_text(kind: DenyType, value: &Value) -> Result<&str, DenyError> {
    let text = match value {
        Value::Null => return Err(DenyError::Missing { field: VALUE }),
        Value::String(s) => s.trim(),
        other => {
            return Err(invalid(
                VALUE,
                format!("must be a string for {} conditions, not {other}", kind.as_str()),
            ));
        }
    };
    if text.is_empty() {
        return Err(DenyError::Missing { field: VALUE });
    }
    if text.chars().count() > MAX_VALUE_CHARS || text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid(
            VALUE,
            format!("must be at most {MAX_VALUE_CHARS} characters without spaces or control characters"),
        ));
    }
    Ok(text)
}

/// `/context/version`: a leading `/`, two segments or more, none empty.
fn api_condition(text: &str) -> Result<DenyCondition, DenyError> {
    let well_formed = text
        .strip_prefix('/')
        .is_some_and(|rest| rest.contains('/') && rest.split('/').all(|segment| !segment.is_empty()));
    if !well_formed {
        return Err(invalid(
            VALUE,
            format!("\"{text}\" is not an API context with its version, e.g. /pizzashack/1.0.0"),
        ));
    }
    Ok(DenyCondition::Api {
        context: text.to_owned(),
    })
}

/// `owner:appName` (the name may hold further colons).
fn application_condition(text: &str) -> Result<DenyCondition, DenyError> {
    match text.split_once(':') {
        Some((owner, name)) if !owner.is_empty() && !name.is_empty() => Ok(DenyCondition::Application {
            owner: owner.to_owned(),
            name: name.to_owned(),
        }),
        _ => Err(invalid(
            VALUE,
            format!("\"{text}\" is not an application as owner:appName, e.g. admin:DefaultApplication"),
        )),
    }
}

/// `{"fixedIp", "invert"}` or `{"startingIp", "endingIp", "invert"}`.
fn ip_condition(kind: DenyType, value: &Value) -> Result<DenyCondition, DenyError> {
    let object = match value {
        Value::Null => return Err(DenyError::Missing { field: VALUE }),
        Value::Object(object) => object,
        other => {
            return Err(invalid(
                VALUE,
                format!("must be an object for {} conditions, not {other}", kind.as_str()),
            ));
        }
    };
    let invert = match object.get("invert") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        // WSO2's UI sends it as text.
        Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
        Some(other) => return Err(invalid(INVERT, format!("must be true or false, not {other}"))),
    };
    let address = |field: &'static str, key: &str| -> Result<IpAddr, DenyError> {
        match object.get(key) {
            None | Some(Value::Null) => Err(DenyError::Missing { field }),
            Some(Value::String(s)) => parse_ip(field, s),
            Some(other) => Err(invalid(field, format!("must be an IP address string, not {other}"))),
        }
    };
    if kind == DenyType::Ip {
        return Ok(DenyCondition::Ip {
            ip: address(FIXED_IP, "fixedIp")?,
            invert,
        });
    }
    ip_range(
        address(STARTING_IP, "startingIp")?,
        address(ENDING_IP, "endingIp")?,
        invert,
    )
}

fn parse_ip(field: &'static str, text: &str) -> Result<IpAddr, DenyError> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .map(|ip| ip.to_canonical())
        .map_err(|_| invalid(field, format!("\"{text}\" is not an IPv4 or IPv6 address")))
}

fn ip_range(start: IpAddr, end: IpAddr, invert: bool) -> Result<DenyCondition, DenyError> {
    if start.is_ipv4() != end.is_ipv4() {
        return Err(invalid(
            ENDING_IP,
            format!("{end} and the starting address {start} are of different address families"),
        ));
    }
    if ip_number(end) < ip_number(start) {
        return Err(invalid(
            ENDING_IP,
            format!("{end} comes before the starting address {start}"),
        ));
    }
    Ok(DenyCondition::IpRange { start, end, invert })
}

/// An address as a number: IPv4 in the low 32 bits, so ranges compare within a family.
fn ip_number(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// What a request is checked for: who sends it, to what.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyRequest<'a> {
    /// The API's [`api_condition_value`] (the gateway computes it once per API, not per request).
    pub api: Option<&'a str>,
    /// The application's owner and name.
    pub application: Option<(&'a str, &'a str)>,
    /// The end user (with or without `@carbon.super`).
    pub user: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
}

/// An inclusive address range of one family, as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    v4: bool,
    start: u128,
    end: u128,
}

impl Range {
    fn new(start: IpAddr, end: IpAddr) -> Range {
        Range {
            v4: start.is_ipv4(),
            start: ip_number(start),
            end: ip_number(end),
        }
    }

    fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.v4 && (self.start..=self.end).contains(&ip_number(ip))
    }
}

/// The enabled deny conditions, compiled for per-request checks.
#[derive(Debug, Clone, Default)]
pub struct DenyPolicies {
    apis: Set<Box<str>>,
    /// Owner, then application names.
    applications: Map<Box<str>, Set<Box<str>>>,
    /// Users without `@carbon.super`.
    users: Set<Box<str>>,
    ips: Set<IpAddr>,
    /// Blocked ranges, sorted by family and start, overlapping ones merged.
    ranges: Vec<Range>,
    /// Inverted conditions: addresses outside each of these are blocked.
    allowed_only: Vec<(Range, DenyType)>,
    /// Whether any condition is held (false in the default, empty set: the fast path).
    any: bool,
}

impl DenyPolicies {
    /// The compiled set of `conditions` (pass the enabled ones only).
    pub fn new<'a>(conditions: impl IntoIterator<Item = &'a DenyCondition>) -> DenyPolicies {
        let mut set = DenyPolicies::default();
        let mut ranges = Vec::new();
        for condition in conditions {
            match condition {
                DenyCondition::Api { context } => {
                    set.apis.insert(context.as_str().into());
                }
                DenyCondition::Application { owner, name } => {
                    set.applications
                        .entry(owner.as_str().into())
                        .or_default()
                        .insert(name.as_str().into());
                }
                DenyCondition::User { name } => {
                    set.users.insert(without_tenant(name).into());
                }
                DenyCondition::Ip { ip, invert: false } => {
                    set.ips.insert(*ip);
                }
                DenyCondition::Ip { ip, invert: true } => {
                    set.allowed_only.push((Range::new(*ip, *ip), DenyType::Ip));
                }
                DenyCondition::IpRange {
                    start,
                    end,
                    invert: false,
                } => ranges.push(Range::new(*start, *end)),
                DenyCondition::IpRange {
                    start,
                    end,
                    invert: true,
                } => {
                    set.allowed_only.push((Range::new(*start, *end), DenyType::IpRange));
                }
            }
        }
        ranges.sort_by_key(|r| (r.v4, r.start));
        set.ranges = merged(&ranges);
        set.any = !(set.apis.is_empty()
            && set.applications.is_empty()
            && set.users.is_empty()
            && set.ips.is_empty()
            && set.ranges.is_empty()
            && set.allowed_only.is_empty());
        set
    }

    pub fn is_empty(&self) -> bool {
        !self.any
    }

    /// The type of the first condition that blocks `request` (checked in WSO2's order: API,
    /// application, user, IP), or `None`. The gateway answers 403 with WSO2's 900805.
    pub fn check(&self, request: &DenyRequest<'_>) -> Option<DenyType> {
        if !self.any {
            return None;
        }
        if request.api.is_some_and(|api| self.apis.contains(api)) {
            return Some(DenyType::Api);
        }
        if let Some((owner, name)) = request.application
            && self.applications.get(owner).is_some_and(|names| names.contains(name))
        {
            return Some(DenyType::Application);
        }
        if request
            .user
            .is_some_and(|user| self.users.contains(without_tenant(user)))
        {
            return Some(DenyType::User);
        }
        self.blocked_ip(request.client_ip?.to_canonical())
    }

    fn blocked_ip(&self, ip: IpAddr) -> Option<DenyType> {
        if self.ips.contains(&ip) {
            return Some(DenyType::Ip);
        }
        let key = (ip.is_ipv4(), ip_number(ip));
        // Merged ranges do not overlap: only the last one starting at or before the address
        // can hold it.
        let after = self.ranges.partition_point(|r| (r.v4, r.start) <= key);
        if after > 0 && self.ranges[after - 1].contains(ip) {
            return Some(DenyType::IpRange);
        }
        self.allowed_only
            .iter()
            .find(|(range, _)| !range.contains(ip))
            .map(|(_, kind)| *kind)
    }
}

/// Sorted ranges with overlapping and adjacent ones joined.
fn merged(sorted: &[Range]) -> Vec<Range> {
    let mut out: Vec<Range> = Vec::with_capacity(sorted.len());
    for range in sorted {
        match out.last_mut() {
            Some(last) if last.v4 == range.v4 && range.start <= last.end.saturating_add(1) => {
                last.end = last.end.max(range.end);
            }
            _ => out.push(*range),
        }
    }
    out
}

/// A user name without WSO2's super tenant qualifier.
fn without_tenant(user: &str) -> &str {
    user.strip_suffix(SUPER_TENANT_SUFFIX).unwrap_or(user)
}

#[cfg(test)]
mod tests;
