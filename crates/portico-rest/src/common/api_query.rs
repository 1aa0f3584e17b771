//! The `query=` search of API lists (the Publisher's and the DevPortal's `GET /apis`, and
//! `GET /api-products`).

use portico_store::ApiFilter;

use crate::error::ApiError;

/// Reads `query=name:x version:y context:/c provider:p status:PUBLISHED`; a bare word is a
/// name search.
pub(crate) fn parse_query(query: &str) -> Result<ApiFilter, ApiError> {
    let mut filter = ApiFilter::default();
    for token in query.split_whitespace() {
        let (key, value) = token.split_once(':').unwrap_or(("name", token));
        let value = value.trim_matches('"').to_owned();
        match key.to_ascii_lowercase().as_str() {
            "name" => filter.name = Some(value),
            "version" => filter.version = Some(value),
            "context" => filter.context = Some(value),
            "provider" => filter.provider = Some(value),
            "status" | "lifecyclestatus" => {
                let status = portico_apis::LifecycleStatus::parse(&value)
                    .ok_or_else(|| ApiError::bad_request(format!("query: unknown lifecycle status \"{value}\"")))?;
                filter.status = Some(status.wire().to_owned());
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "query: unknown search key `{other}`; use name, version, context, provider or status"
                )));
            }
        }
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_words() {
        let f = super::parse_query("name:pizza version:1.0 status:published").expect("ok");
        assert_eq!(f.name.as_deref(), Some("pizza"));
        assert_eq!(f.version.as_deref(), Some("1.0"));
        assert_eq!(f.status.as_deref(), Some("PUBLISHED"));
        assert_eq!(super::parse_query("shop").expect("ok").name.as_deref(), Some("shop"));
        assert!(super::parse_query("colour:red").is_err());
    }
}
