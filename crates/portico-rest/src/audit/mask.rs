//! What an audit row must never hold: passwords, client secrets, tokens, API keys, private keys.
//! Masking is by field name (any field whose name says it is one of those) and by shape (a
//! string that is a JWT), in JSON bodies and in query strings alike.

use serde_json::Value;

/// What a masked value reads as.
pub const MASK: &str = "********";

/// Parts of a field name that mark its value as secret (compared without case, `_` or `-`).
const SECRET_NAMES: &[&str] = &[
    "password",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "credential",
    "passphrase",
];

/// Whether a field of this name holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_NAMES.iter().any(|s| folded.contains(s))
}

/// Whether a string is shaped like a JWT (three base64url parts, a JSON header).
fn looks_like_jwt(text: &str) -> bool {
    text.starts_with("eyJ") && text.matches('.').count() == 2
}

/// Masks secrets in place, at any depth.
pub fn mask_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, inner) in map.iter_mut() {
                if is_secret_name(name) && !inner.is_null() {
                    *inner = Value::String(MASK.to_owned());
                } else {
                    mask_json(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_json),
        Value::String(text) if looks_like_jwt(text) => *text = MASK.to_owned(),
        _ => {}
    }
}

/// `path?query` with the values of secret-named parameters masked.
pub fn mask_path(path: &str, query: Option<&str>) -> String {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return path.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if is_secret_name(name) || looks_like_jwt(value) => format!("{name}={MASK}"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_by_name_and_shape_at_any_depth() {
        let mut body = json!({
            "userName": "bob", "password": "pw",
            "consumerKey": "ck", "consumerSecret": "cs",
            "token": {"accessToken": "eyJhbGciOi.eyJzdWIi.sig", "validityTime": 3600},
            "additionalProperties": {"client_secret": "km", "client_id": "gw"},
            "list": [{"apikey": "k"}, {"note": "eyJa.b.c"}],
            "clientSecret": null
        });
        mask_json(&mut body);
        assert_eq!(
            body,
            json!({
                "userName": "bob", "password": MASK,
                "consumerKey": "ck", "consumerSecret": MASK,
                "token": MASK,
                "additionalProperties": {"client_secret": MASK, "client_id": "gw"},
                "list": [{"apikey": MASK}, {"note": MASK}],
                "clientSecret": null
            })
        );
        assert_eq!(
            mask_path("/apis/change-lifecycle", Some("apiId=1&action=Publish&access_token=x")),
            format!("/apis/change-lifecycle?apiId=1&action=Publish&access_token={MASK}")
        );
        assert!(!is_secret_name("consumerKey") && is_secret_name("Private_Key"));
    }
}
