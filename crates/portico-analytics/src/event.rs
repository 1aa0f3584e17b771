//! One request as analytics keeps it: [`Event`], with the classifications every consumer shares
//! (status class, WSO2's error type), so the rollups, the REST answers, `/metrics` and the ELK
//! log count the same things.

/// One gateway request, owned (the gateway's record converted off the request path).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// Milliseconds since the epoch when the request arrived.
    pub timestamp_ms: i64,
    pub correlation_id: String,
    /// Empty when the request matched no API (404 900906).
    pub api_id: String,
    pub api_name: String,
    pub api_version: String,
    pub api_context: String,
    /// The API's creator (WSO2's `apiCreator`).
    pub api_creator: String,
    /// The matched resource's template (`/menu/{id}`); empty when none matched.
    pub resource: String,
    pub method: String,
    /// Empty for requests without an application (open resources, refused credentials).
    pub application_id: String,
    pub application_name: String,
    pub application_owner: String,
    /// `PRODUCTION` or `SANDBOX`, empty without an application.
    pub key_type: String,
    pub subscription_tier: String,
    pub end_user: String,
    pub client_ip: String,
    pub user_agent: String,
    /// The endpoint the request was last sent to.
    pub destination: String,
    /// What the consumer was answered.
    pub proxy_status: u16,
    /// What the backend answered; `None` when no backend answered.
    pub backend_status: Option<u16>,
    /// WSO2's error code (`900901`, `101503`, ...) when the gateway refused or failed.
    pub error_code: Option<String>,
    pub backend_latency_us: Option<u64>,
    pub total_latency_us: u64,
    pub request_bytes: u64,
    pub response_bytes: Option<u64>,
    /// Refused by a throttling policy (429, 900800–900809 but 900805).
    pub throttled: bool,
    /// The policy that refused it.
    pub throttle_policy: Option<String>,
}

/// `2xx`, `3xx`, `4xx`, `5xx` (1xx and others count in none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusClass {
    Success,
    Redirect,
    ClientError,
    ServerError,
}

impl StatusClass {
    pub const ALL: [StatusClass; 4] = [
        StatusClass::Success,
        StatusClass::Redirect,
        StatusClass::ClientError,
        StatusClass::ServerError,
    ];

    pub fn of(status: u16) -> Option<StatusClass> {
        match status / 100 {
            2 => Some(StatusClass::Success),
            3 => Some(StatusClass::Redirect),
            4 => Some(StatusClass::ClientError),
            5 => Some(StatusClass::ServerError),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StatusClass::Success => "2xx",
            StatusClass::Redirect => "3xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
        }
    }

    pub fn parse(text: &str) -> Option<StatusClass> {
        StatusClass::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(text))
    }
}

impl Event {
    pub fn status_class(&self) -> Option<StatusClass> {
        StatusClass::of(self.proxy_status)
    }

    /// What the "errors by code" charts and counters go by: WSO2's code when the gateway set
    /// one, else the status of an error answer (a backend's 5xx), else none.
    pub fn error_key(&self) -> Option<String> {
        if let Some(code) = &self.error_code {
            return Some(code.clone());
        }
        (self.proxy_status >= 400).then(|| self.proxy_status.to_string())
    }

    /// Whether WSO2 would publish it as a fault event (`apim:faulty`): the gateway answered
    /// itself with an error (authentication, throttling, backend unreachable, no resource).
    pub fn is_fault(&self) -> bool {
        self.error_code.is_some()
    }

    /// WSO2's `errorType` of a fault: `AUTH`, `THROTTLED`, `TARGET_CONNECTIVITY` or `OTHER`.
    pub fn error_type(&self) -> Option<&'static str> {
        let code = self.error_code.as_deref()?;
        Some(error_type(code))
    }
}

/// WSO2's `errorType` for a gateway error code (carbon-apimgt's `FaultCodeClassifier`).
pub fn error_type(code: &str) -> &'static str {
    match code {
        "900900" | "900901" | "900902" | "900903" | "900904" | "900905" | "900906" | "900907" | "900908" | "900909"
        | "900910" | "900911" => {
            if code == "900906" {
                "OTHER"
            } else {
                "AUTH"
            }
        }
        c if c.starts_with("9008") => "THROTTLED",
        c if c.starts_with("1015") || c.starts_with("1013") || c.starts_with("1010") => "TARGET_CONNECTIVITY",
        _ => "OTHER",
    }
}

/// Whether a gateway error code is a throttling refusal (900805, a deny policy, is not).
pub fn is_throttle_code(code: &str) -> bool {
    code.starts_with("9008") && code != "900805"
}
