//! API contexts (the gateway path prefix): WSO2 adds a missing leading `/`; Portico also refuses
//! contexts that could escape or confuse routing.

use crate::input::InputError;

/// WSO2's `maxLength` for `context`.
pub const MAX_CONTEXT_LEN: usize = 232;

/// Normalises a context as WSO2 does (leading `/` added, trailing `/` removed) and refuses empty
/// contexts, `..` segments, query strings or fragments, whitespace, and more than 232 characters.
pub fn normalize_context(raw: &str) -> Result<String, InputError> {
    let field = "context";
    if raw.chars().count() > MAX_CONTEXT_LEN {
        return Err(InputError::new(
            field,
            format!(
                "is {} characters long; the limit is {MAX_CONTEXT_LEN}",
                raw.chars().count()
            ),
        ));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InputError::new(field, format!("\"{raw}\" must not contain whitespace")));
    }
    if raw.contains('?') || raw.contains('#') {
        return Err(InputError::new(
            field,
            format!("\"{raw}\" must not contain a query string or fragment (? or #)"),
        ));
    }
    if raw.split('/').any(|segment| segment == ".." || segment == ".") || raw.contains("..") {
        return Err(InputError::new(field, format!("\"{raw}\" must not contain `..`")));
    }
    let mut context = if raw.starts_with('/') {
        raw.to_owned()
    } else {
        format!("/{raw}")
    };
    while context.len() > 1 && context.ends_with('/') {
        context.pop();
    }
    if context == "/" || context.contains("//") {
        return Err(InputError::new(
            field,
            format!("\"{raw}\" must name a path such as /pizzashack"),
        ));
    }
    if context.chars().count() > MAX_CONTEXT_LEN {
        return Err(InputError::new(
            field,
            format!("is longer than {MAX_CONTEXT_LEN} characters once `/` is added"),
        ));
    }
    Ok(context)
}

/// Characters WSO2's `name` pattern refuses.
const NAME_FORBIDDEN: &str = "~!@#;:%^*()+={}|\\<>\"',&$[]/";

/// Checks an API name against WSO2's pattern.
pub fn validate_name(name: &str) -> Result<(), InputError> {
    if name.trim().is_empty() {
        return Err(InputError::new("name", "must not be empty"));
    }
    if let Some(c) = name.chars().find(|c| NAME_FORBIDDEN.contains(*c)) {
        return Err(InputError::new(
            "name",
            format!("\"{name}\" contains the character `{c}`, which API names may not use"),
        ));
    }
    Ok(())
}

/// Checks a version against WSO2's pattern and 30-character limit.
pub fn validate_version(version: &str) -> Result<(), InputError> {
    if version.is_empty() {
        return Err(InputError::new("version", "must not be empty"));
    }
    if version.chars().count() > 30 {
        return Err(InputError::new("version", "is longer than 30 characters"));
    }
    if let Some(c) = version
        .chars()
        .find(|c| c.is_whitespace() || NAME_FORBIDDEN.contains(*c))
    {
        return Err(InputError::new(
            "version",
            format!("\"{version}\" contains `{c}`, which versions may not use"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_slash_is_added_and_trailing_removed() {
        assert_eq!(normalize_context("pizza").expect("ok"), "/pizza");
        assert_eq!(normalize_context("/pizza/").expect("ok"), "/pizza");
        assert_eq!(normalize_context("/shop/{version}/x").expect("ok"), "/shop/{version}/x");
    }

    #[test]
    fn bad_contexts_are_refused() {
        for bad in ["/a/../b", "..", "/a?x=1", "/a b", "/a\tb", "", "/", "/a#f", "//a"] {
            let e = normalize_context(bad).expect_err(bad);
            assert_eq!(e.field, "context");
        }
        let long = format!("/{}", "a".repeat(232));
        assert!(normalize_context(&long).is_err());
        let just_fits = format!("/{}", "a".repeat(231));
        assert!(normalize_context(&just_fits).is_ok());
        // 232 without the slash becomes 233 with it.
        assert!(normalize_context(&"a".repeat(232)).is_err());
    }

    #[test]
    fn names_and_versions_follow_wso2_patterns() {
        assert!(validate_name("Pizza Shack").is_ok());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name("  ").is_err());
        assert!(validate_version("1.0.0").is_ok());
        assert!(validate_version("1 0").is_err());
        assert!(validate_version(&"1".repeat(31)).is_err());
    }
}
