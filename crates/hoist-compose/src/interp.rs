//! Variable substitution as compose does it: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+alternative}`,
//! `${VAR+alternative}`, nested expressions inside defaults, and `$$` for a literal `$`.
//! A `$` followed by anything else stays as it is; `${` that does not form a valid expression is an
//! "invalid template" error.

use std::collections::BTreeSet;

use crate::error::ComposeError;
use crate::yaml::{Node, Str, Value};

/// Looks variables up; `None` means unset.
pub trait Lookup {
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Why a substitution failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubstError {
    Invalid(String),
    Required {
        name: String,
        reason: String,
    },
    /// Expressions nest deeper than [`MAX_NESTING`] inside defaults.
    TooDeep,
}

/// How deep `${A:-${B:-...}}` may nest. Real files nest two or three levels; each level is a
/// recursive call and a scan of the rest of the text, so the limit bounds both stack and time.
pub const MAX_NESTING: usize = 32;

impl SubstError {
    pub fn message(&self) -> String {
        match self {
            SubstError::Invalid(t) => format!("Invalid template: {t:?}"),
            SubstError::TooDeep => {
                format!("Invalid template: expressions nest more than {MAX_NESTING} levels deep")
            }
            SubstError::Required { name, reason } if reason.is_empty() => {
                format!("required variable {name} is missing a value")
            }
            SubstError::Required { name, reason } => {
                format!("required variable {name} is missing a value: {reason}")
            }
        }
    }
}

/// Substitutes every expression in `template`. Names of unset variables used without a default
/// are added to `unset` (compose warns about them and uses "").
pub fn substitute(
    template: &str,
    lookup: &dyn Lookup,
    unset: &mut BTreeSet<String>,
) -> Result<String, SubstError> {
    substitute_at(template, lookup, unset, 0)
}

/// [`substitute`] for a template nested `depth` levels inside defaults.
fn substitute_at(
    template: &str,
    lookup: &dyn Lookup,
    unset: &mut BTreeSet<String>,
    depth: usize,
) -> Result<String, SubstError> {
    if depth > MAX_NESTING {
        return Err(SubstError::TooDeep);
    }
    if !template.contains('$') {
        return Ok(template.to_string());
    }
    let b = template.as_bytes();
    let mut out = String::with_capacity(template.len());
    let mut i = 0;
    let mut lit = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        out.push_str(&template[lit..i]);
        let next = b.get(i + 1).copied();
        match next {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(c) if c == b'_' || c.is_ascii_alphabetic() => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && (b[j] == b'_' || b[j].is_ascii_alphanumeric()) {
                    j += 1;
                }
                let name = &template[start..j];
                match lookup.get(name) {
                    Some(v) => out.push_str(&v),
                    None => {
                        unset.insert(name.to_string());
                    }
                }
                i = j;
            }
            Some(b'{') => {
                let close = matching_brace(b, i + 2)
                    .ok_or_else(|| SubstError::Invalid(template.to_string()))?;
                let inner = &template[i + 2..close];
                out.push_str(&braced(inner, template, lookup, unset, depth)?);
                i = close + 1;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
        lit = i;
    }
    out.push_str(&template[lit..]);
    Ok(out)
}

/// Index of the `}` closing an expression whose body starts at `from`, counting nested `${`.
fn matching_brace(b: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 2;
                continue;
            }
            b'}' => {
                if depth == 0 {
                    return Some(i);
                }
                depth -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn braced(
    inner: &str,
    template: &str,
    lookup: &dyn Lookup,
    unset: &mut BTreeSet<String>,
    depth: usize,
) -> Result<String, SubstError> {
    let invalid = || SubstError::Invalid(template.to_string());
    let b = inner.as_bytes();
    if b.is_empty() || !(b[0] == b'_' || b[0].is_ascii_alphabetic()) {
        return Err(invalid());
    }
    let mut j = 1;
    while j < b.len() && (b[j] == b'_' || b[j].is_ascii_alphanumeric()) {
        j += 1;
    }
    let name = &inner[..j];
    let rest = &inner[j..];
    let value = lookup.get(name);
    if rest.is_empty() {
        return Ok(match value {
            Some(v) => v,
            None => {
                unset.insert(name.to_string());
                String::new()
            }
        });
    }
    let (colon, rest) = match rest.strip_prefix(':') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let op = rest.as_bytes().first().copied().ok_or_else(invalid)?;
    let arg = &rest[1..];
    // "Set" means defined, and with ':' also not empty.
    let set = match &value {
        Some(v) => !(colon && v.is_empty()),
        None => false,
    };
    match op {
        b'-' => {
            if set {
                Ok(value.unwrap_or_default())
            } else {
                substitute_at(arg, lookup, unset, depth + 1)
            }
        }
        b'+' => {
            if set {
                substitute_at(arg, lookup, unset, depth + 1)
            } else {
                Ok(String::new())
            }
        }
        b'?' => {
            if set {
                Ok(value.unwrap_or_default())
            } else {
                Err(SubstError::Required {
                    name: name.to_string(),
                    reason: substitute_at(arg, lookup, unset, depth + 1)?,
                })
            }
        }
        _ => Err(invalid()),
    }
}

/// Substitutes every string of a tree in place (keys are left alone, as compose does).
pub fn interpolate_tree(
    node: &mut Node,
    lookup: &dyn Lookup,
    unset: &mut BTreeSet<String>,
) -> Result<(), ComposeError> {
    walk(node, lookup, unset).map_err(|mut f| {
        f.segments.reverse();
        ComposeError::Interpolation {
            loc: f.loc,
            path: f.segments.join("."),
            message: f.message,
        }
    })
}

/// A failed substitution; the path is collected while unwinding so that the common, successful
/// case allocates nothing for it.
struct Failed {
    segments: Vec<String>,
    loc: Option<crate::error::Location>,
    message: String,
}

fn walk(node: &mut Node, lookup: &dyn Lookup, unset: &mut BTreeSet<String>) -> Result<(), Failed> {
    match &mut node.value {
        Value::Str(s) if s.contains('$') => {
            *s = Str::from(substitute(s, lookup, unset).map_err(|e| Failed {
                segments: Vec::new(),
                loc: node.pos.location(),
                message: e.message(),
            })?);
        }
        Value::Seq(items) => {
            for (i, it) in items.iter_mut().enumerate() {
                walk(it, lookup, unset).map_err(|mut f| {
                    f.segments.push(i.to_string());
                    f
                })?;
            }
        }
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                walk(v, lookup, unset).map_err(|mut f| {
                    f.segments.push(k.to_string());
                    f
                })?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(t: &str) -> Result<String, SubstError> {
        let env = |k: &str| match k {
            "SET" => Some("v".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        substitute(t, &env, &mut BTreeSet::new())
    }

    #[test]
    fn every_form() {
        assert_eq!(sub("$SET-${SET}").unwrap(), "v-v");
        assert_eq!(sub("${UNSET:-d}|${EMPTY:-d}|${EMPTY-d}").unwrap(), "d|d|");
        assert_eq!(
            sub("${SET:+a}|${EMPTY:+a}|${EMPTY+a}|${UNSET+a}").unwrap(),
            "a||a|"
        );
        assert_eq!(sub("$$SET $").unwrap(), "$SET $");
        assert_eq!(sub("${UNSET:-${SET}x}").unwrap(), "vx");
        assert_eq!(sub("${UNSET:-${ALSO:-deep}}").unwrap(), "deep");
        assert_eq!(sub("a$1b").unwrap(), "a$1b");
    }

    #[test]
    fn required_and_invalid() {
        assert_eq!(
            sub("${UNSET:?need it}").unwrap_err().message(),
            "required variable UNSET is missing a value: need it"
        );
        assert!(sub("${EMPTY?x}").is_ok());
        assert!(matches!(
            sub("${EMPTY:?x}"),
            Err(SubstError::Required { .. })
        ));
        assert!(matches!(sub("${}"), Err(SubstError::Invalid(_))));
        assert!(matches!(sub("${a b}"), Err(SubstError::Invalid(_))));
        assert!(matches!(sub("${unclosed"), Err(SubstError::Invalid(_))));
    }

    #[test]
    fn nesting_past_the_limit_is_an_error() {
        let nest = |n: usize| format!("{}x{}", "${U:-".repeat(n), "}".repeat(n));
        assert_eq!(sub(&nest(MAX_NESTING)).unwrap(), "x");
        assert_eq!(sub(&nest(MAX_NESTING + 1)), Err(SubstError::TooDeep));
    }

    #[test]
    fn unset_names_are_reported() {
        let mut unset = BTreeSet::new();
        let env = |_: &str| None;
        assert_eq!(substitute("$A ${B}", &env, &mut unset).unwrap(), " ");
        assert_eq!(unset.into_iter().collect::<Vec<_>>(), vec!["A", "B"]);
    }
}
