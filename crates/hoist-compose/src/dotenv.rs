//! `.env` and `env_file` parsing with compose's rules: `KEY=VALUE` or `KEY: VALUE`, optional
//! `export`, `#` comments (inline only after a space in unquoted values), single quotes literal,
//! double quotes with escapes and substitution, unquoted values substituted, a bare `KEY` taking
//! its value from the lookup. Substitution sees the lookup first, then the file's earlier keys.

use std::collections::BTreeSet;

use indexmap::IndexMap;

use crate::interp::{Lookup, SubstError, substitute};

/// Parses `src`. Errors are messages naming the line.
pub fn parse(src: &str, lookup: &dyn Lookup) -> Result<IndexMap<String, Option<String>>, String> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut out: IndexMap<String, Option<String>> = IndexMap::new();
    let mut line = 1usize;
    let mut rest = src;
    // Skip blanks and comment lines.
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        line += rest[..start].matches('\n').count();
        rest = &rest[start..];
        if rest.starts_with('#') {
            match rest.find('\n') {
                Some(p) => {
                    rest = &rest[p..];
                    continue;
                }
                None => break,
            }
        }
        if let Some(r) = rest.strip_prefix("export")
            && r.starts_with([' ', '\t'])
        {
            rest = r.trim_start_matches([' ', '\t']);
        }
        // The key runs to '=', ':' or the end of the line.
        let mut key_end = None;
        let mut sep = '\n';
        for (i, c) in rest.char_indices() {
            if is_space(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    key_end = Some(i);
                    sep = c;
                    break;
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if c.is_alphanumeric() => {}
                c => {
                    // Only the name's first word: after a space or the character, the rest of
                    // the line may be a value.
                    let name = rest[..i].split(is_space).next().unwrap_or("");
                    return Err(format!(
                        "line {line}: unexpected character {:?} in variable name {name:?}",
                        c.to_string(),
                    ));
                }
            }
        }
        let (key, after) = match key_end {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let key = key.trim_end();
        if key.contains(' ') {
            return Err(format!("line {line}: key cannot contain a space"));
        }
        if key.is_empty() {
            return Err(format!("line {line}: empty variable name"));
        }
        if sep == '\n' || key_end.is_none() {
            // A bare key inherits its value.
            if key_end.is_some() {
                line += 1;
            }
            if let Some(v) = lookup.get(key) {
                out.insert(key.to_string(), Some(v));
            }
            rest = after;
            continue;
        }
        let after = after.trim_start_matches(is_space);
        let lookup_all = |k: &str| -> Option<String> {
            lookup.get(k).or_else(|| out.get(k).and_then(|v| v.clone()))
        };
        let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
        match quote {
            None => {
                let (value, r) = after.split_once('\n').unwrap_or((after, ""));
                line += 1;
                let value = value.split(" #").next().unwrap_or("").trim_end();
                let value = substitute(value, &lookup_all, &mut BTreeSet::new())
                    .map_err(|e| subst_error(line, key, &e))?;
                out.insert(key.to_string(), Some(value));
                rest = r;
            }
            Some(q) => {
                let body = &after[1..];
                let mut chars = String::new();
                let mut escape = false;
                let mut end = None;
                for (i, c) in body.char_indices() {
                    if c == '\n' {
                        line += 1;
                    }
                    if c != q {
                        if !escape && c == '\\' {
                            escape = true;
                            continue;
                        }
                        if escape {
                            escape = false;
                            chars.push('\\');
                        }
                        chars.push(c);
                        continue;
                    }
                    if escape {
                        escape = false;
                        chars.push(c);
                        continue;
                    }
                    end = Some(i);
                    break;
                }
                let Some(end) = end else {
                    // The name, not the value: a value may be a secret.
                    return Err(format!("line {line}: unterminated quoted value of {key}"));
                };
                let value = if q == '"' {
                    substitute(&expand_escapes(&chars), &lookup_all, &mut BTreeSet::new())
                        .map_err(|e| subst_error(line, key, &e))?
                } else {
                    chars
                };
                out.insert(key.to_string(), Some(value));
                rest = &body[end + 1..];
                // The remainder of the line after the closing quote is ignored up to the newline
                // only if it is blank or a comment; compose simply continues scanning there.
            }
        }
    }
    Ok(out)
}

/// A substitution error in the value of `key`. An invalid template is not quoted (the
/// interpolation message quotes the whole value, which may be a secret); a required variable's
/// message is the file author's own words.
fn subst_error(line: usize, key: &str, err: &SubstError) -> String {
    match err {
        SubstError::Invalid(_) => {
            format!("line {line}: invalid interpolation in the value of {key}")
        }
        SubstError::Required { .. } | SubstError::TooDeep => {
            format!("line {line}: {}", err.message())
        }
    }
}

fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

/// Backslash escapes inside double quotes. `\$` stays escaped for the substitution that follows.
fn expand_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.peek().copied() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\u{7}'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('$') => out.push_str("$$"),
            _ => {
                out.push('\\');
                continue;
            }
        }
        it.next();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(src: &str) -> IndexMap<String, Option<String>> {
        let env = |k: &str| (k == "SHELL_V").then(|| "s".to_string());
        parse(src, &env).unwrap()
    }

    #[test]
    fn quoting_rules() {
        let m = p("A=1 # c\nexport B='x $A'\nC=\"l\\nm ${A}\"\n# skip\nD: e\nSHELL_V\nE=${A}2\n");
        assert_eq!(m["A"].as_deref(), Some("1"));
        assert_eq!(m["B"].as_deref(), Some("x $A"));
        assert_eq!(m["C"].as_deref(), Some("l\nm 1"));
        assert_eq!(m["D"].as_deref(), Some("e"));
        assert_eq!(m["SHELL_V"].as_deref(), Some("s"));
        assert_eq!(m["E"].as_deref(), Some("12"));
    }

    #[test]
    fn errors_name_the_line() {
        let env = |_: &str| None;
        let e = parse("A=1\nB C=2\n", &env).unwrap_err();
        assert!(e.starts_with("line 2"), "{e}");
        assert!(parse("A=\"open\n", &env).is_err());
    }

    #[test]
    fn errors_never_quote_a_value() {
        let env = |_: &str| None;
        for (src, name) in [
            ("A=1\nDB_PASSWORD=\"s3cr3t-hunter2\n", "DB_PASSWORD"),
            ("A=1\nDB_PASSWORD='s3cr3t-hunter2\n", "DB_PASSWORD"),
            ("DB_PASSWORD s3cr3t-hunter2!\n", "DB_PASSWORD"),
            ("DB!PASSWORD=s3cr3t-hunter2\n", "DB"),
            ("DB_PASSWORD=s3cr3t-hunter2${\n", "DB_PASSWORD"),
            ("DB_PASSWORD=\"s3cr3t-hunter2${a b}\"\n", "DB_PASSWORD"),
        ] {
            let e = parse(src, &env).unwrap_err();
            assert!(!e.contains("s3cr3t"), "{src:?}: {e}");
            assert!(e.contains(name), "{src:?}: {e}");
        }
    }
}
