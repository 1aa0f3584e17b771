//! Request path normalisation, done once before routing so that what is authorised is exactly
//! what is forwarded.
//!
//! Rules: a percent-encoded `/` or `\` (`%2F`, `%5C`) is refused, since backends disagree on
//! whether it separates segments; an encoded `.` is decoded so `%2e%2e` cannot pass as a name;
//! `.` and `..` segments are resolved (RFC 3986 §5.2.4) without ever climbing above the root;
//! repeated slashes collapse. Other percent-escapes are kept as they came.

use std::borrow::Cow;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the request path contains an encoded slash or backslash")]
    EncodedSeparator,
    #[error("the request path is not an absolute path")]
    NotAbsolute,
    #[error("the request path contains a malformed percent-escape")]
    BadEscape,
}

/// Normalises an absolute request path (no query). A path that is normal already (the usual
/// request) is borrowed, not copied.
pub fn normalize(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_already_normal(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    rebuild(raw).map(Cow::Owned)
}

/// The general case of [`normalize`]: decode, resolve and rebuild the path.
fn rebuild(raw: &str) -> Result<String, PathError> {
    let decoded_dots = decode_dots_and_check(raw)?;
    let mut out: Vec<&str> = Vec::new();
    for segment in decoded_dots.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut path = String::with_capacity(raw.len());
    for s in &out {
        path.push('/');
        path.push_str(s);
    }
    // Keep a trailing slash: `/menu/` and `/menu` may be different resources to a backend.
    let trailing = raw.ends_with('/') || raw.ends_with("/.") || raw.ends_with("/..");
    if path.is_empty() || (trailing && !out.is_empty()) {
        path.push('/');
    }
    Ok(path)
}

/// True when normalising would change nothing: no escapes, no empty, `.` or `..` segments
/// (the usual request, which then costs one scan instead of a split and a rebuild).
fn is_already_normal(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    // `raw` starts with `/`; each segment runs from after a slash to the next one (or the end).
    let mut segment_start = 1;
    for i in 1..=bytes.len() {
        let at_end = i == bytes.len();
        if !at_end && bytes[i] == b'%' {
            return false;
        }
        if at_end || bytes[i] == b'/' {
            match &bytes[segment_start..i] {
                b"." | b".." => return false,
                // An empty segment is fine only as the last one (a trailing slash), and not for
                // `/` alone, which is already normal too.
                b"" if !at_end => return false,
                _ => {}
            }
            segment_start = i + 1;
        }
    }
    true
}

/// Decodes `%2e`/`%2E` to `.`, refuses encoded separators and broken escapes.
fn decode_dots_and_check(raw: &str) -> Result<std::borrow::Cow<'_, str>, PathError> {
    if !raw.contains('%') {
        return Ok(std::borrow::Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3).ok_or(PathError::BadEscape)?;
            let value = u8::from_str_radix(hex, 16).map_err(|_| PathError::BadEscape)?;
            match value {
                b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                b'.' => out.push('.'),
                _ => {
                    out.push('%');
                    out.push_str(hex);
                }
            }
            i += 3;
        } else {
            // Safe: we only split at ASCII '%', so slicing by char keeps UTF-8 intact.
            let next = raw[i..].find('%').map_or(raw.len(), |p| i + p);
            out.push_str(&raw[i..next]);
            i = next;
        }
    }
    Ok(std::borrow::Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path may only answer for paths the general rules leave unchanged.
    #[test]
    fn fast_path_agrees_with_the_general_rules() {
        let parts = ["a", "", ".", "..", "%2e", "b.c", "..a"];
        let mut paths = vec!["/".to_owned()];
        for _ in 0..4 {
            let mut longer = Vec::new();
            for p in &paths {
                for part in parts {
                    longer.push(format!("{}/{part}", p.trim_end_matches('/')));
                    longer.push(format!("{p}{part}"));
                }
            }
            paths.extend(longer);
            paths.sort();
            paths.dedup();
        }
        let mut fast = 0;
        for p in paths.iter().filter(|p| p.starts_with('/')) {
            if is_already_normal(p) {
                fast += 1;
                assert_eq!(rebuild(p).as_deref(), Ok(p.as_str()), "{p}");
            }
        }
        assert!(fast > 100, "the fast path took only {fast} paths");
    }

    #[test]
    fn resolves_dots_and_slashes() {
        assert_eq!(normalize("/pizza/1.0.0/menu").as_deref(), Ok("/pizza/1.0.0/menu"));
        assert_eq!(normalize("/pizza//1.0.0/./menu").as_deref(), Ok("/pizza/1.0.0/menu"));
        assert_eq!(normalize("/pizza/1.0.0/x/../menu").as_deref(), Ok("/pizza/1.0.0/menu"));
        assert_eq!(normalize("/pizza/1.0.0/../../admin").as_deref(), Ok("/admin"));
        assert_eq!(normalize("/../../etc/passwd").as_deref(), Ok("/etc/passwd"));
        assert_eq!(normalize("/").as_deref(), Ok("/"));
        assert_eq!(normalize("/menu/").as_deref(), Ok("/menu/"));
        assert_eq!(normalize("/a/..").as_deref(), Ok("/"));
    }

    #[test]
    fn encoded_dots_are_dots() {
        assert_eq!(normalize("/pizza/1.0.0/%2e%2e/%2E%2E/admin").as_deref(), Ok("/admin"));
        assert_eq!(normalize("/a/%2e/b").as_deref(), Ok("/a/b"));
    }

    #[test]
    fn encoded_separators_are_refused() {
        assert_eq!(normalize("/pizza/1.0.0%2F..%2Fadmin"), Err(PathError::EncodedSeparator));
        assert_eq!(normalize("/pizza/%5c..%5cadmin"), Err(PathError::EncodedSeparator));
        assert_eq!(normalize("/pizza/%zz"), Err(PathError::BadEscape));
        assert_eq!(normalize("/pizza/%2"), Err(PathError::BadEscape));
        assert_eq!(normalize("pizza"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn other_escapes_are_kept() {
        assert_eq!(normalize("/menu/a%20b/%C3%A9").as_deref(), Ok("/menu/a%20b/%C3%A9"));
        assert_eq!(normalize("/menu/é").as_deref(), Ok("/menu/é"));
    }
}
