//! Maps byte offsets to lines and dotted keys, and dotted keys back to lines, using toml's spanned
//! document tree. This is what lets every error name the line and the key.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// 1-based line and column of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, col)
}

/// The dotted key (`a.b[0].c`) whose key or value contains `span`, the innermost one.
pub fn key_at(src: &str, span: &Range<usize>) -> Option<String> {
    let doc = DeTable::parse(src).ok()?;
    let mut path = String::new();
    find_in_table(doc.get_ref(), span, &mut path).then_some(path)
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end
}

fn find_in_table(table: &DeTable<'_>, span: &Range<usize>, path: &mut String) -> bool {
    for (key, value) in table.iter() {
        let key_hit = contains(&key.span(), span);
        let value_hit = contains(&value.span(), span);
        // Tables declared by headers have values spanning far; also descend into them.
        let nested = matches!(value.get_ref(), DeValue::Table(_) | DeValue::Array(_));
        if key_hit || value_hit || nested {
            let before = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key.get_ref());
            if find_in_value(value, span, path) || key_hit || value_hit {
                return true;
            }
            path.truncate(before);
        }
    }
    false
}

fn find_in_value(value: &Spanned<DeValue<'_>>, span: &Range<usize>, path: &mut String) -> bool {
    match value.get_ref() {
        DeValue::Table(t) => find_in_table(t, span, path),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let before = path.len();
                path.push_str(&format!("[{i}]"));
                if find_in_value(item, span, path) || contains(&item.span(), span) {
                    return true;
                }
                path.truncate(before);
            }
            false
        }
        _ => false,
    }
}

/// The 1-based line where a dotted key (`a.b[0].c`) is written, or where its nearest written
/// ancestor is (a value that is missing is reported at its table).
pub fn line_of(src: &str, dotted: &str) -> Option<usize> {
    let doc = DeTable::parse(src).ok()?;
    let mut table = doc.get_ref();
    let mut found: Option<usize> = None;
    let segments: Vec<&str> = dotted.split('.').collect();
    let mut current: Option<&Spanned<DeValue<'_>>> = None;
    for segment in segments {
        let (name, index) = match segment.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        if let Some(value) = current {
            match value.get_ref() {
                DeValue::Table(t) => table = t,
                _ => break,
            }
        }
        let Some((key, value)) = table.iter().find(|(k, _)| k.get_ref() == name) else {
            break;
        };
        found = Some(line_col(src, key.span().start).0);
        current = Some(value);
        if let Some(i) = index {
            match value.get_ref() {
                DeValue::Array(items) => match items.get(i) {
                    Some(item) => {
                        found = Some(line_col(src, item.span().start).0);
                        current = Some(item);
                    }
                    None => break,
                },
                _ => break,
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "[server]\nhostname = \"h\"\n\n[[apim.gateway.environment]]\nname = \"A\"\n\n[[apim.gateway.environment]]\nname = \"B\"\n";

    #[test]
    fn finds_lines_of_keys() {
        assert_eq!(line_of(DOC, "server.hostname"), Some(2));
        assert_eq!(line_of(DOC, "apim.gateway.environment[1].name"), Some(8));
        assert_eq!(line_of(DOC, "apim.gateway.environment[0].name"), Some(5));
    }

    #[test]
    fn finds_key_at_span() {
        let start = DOC.find("\"B\"").expect("B");
        assert_eq!(
            key_at(DOC, &(start..start + 3)).as_deref(),
            Some("apim.gateway.environment[1].name")
        );
        let h = DOC.find("\"h\"").expect("h");
        assert_eq!(key_at(DOC, &(h..h + 3)).as_deref(), Some("server.hostname"));
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 0), (1, 1));
    }
}
