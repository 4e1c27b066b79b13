//! Validation against the Compose Specification's JSON schema (`schema/compose-spec.json`, the
//! schema Docker Compose v2.40 embeds), so that hoist accepts and rejects exactly the keys and
//! types compose does: a typo such as `healtcheck` is an error, not ignored. The validator
//! implements the subset of JSON Schema that file uses, and works on the positioned tree so that
//! errors name the line and column.

use std::sync::OnceLock;

use serde_json::Value as J;

use crate::error::ComposeError;
use crate::yaml::{Node, Value};

static SCHEMA: OnceLock<J> = OnceLock::new();

fn schema() -> &'static J {
    SCHEMA.get_or_init(|| {
        serde_json::from_str(include_str!("../schema/compose-spec.json"))
            .unwrap_or(J::Object(Default::default()))
    })
}

/// One failed check.
#[derive(Debug, Clone)]
struct Failure {
    /// Path below the node being checked, innermost segment first: it is built while unwinding,
    /// so checks that pass allocate nothing for it.
    path: Vec<String>,
    message: String,
    node_pos: crate::yaml::Pos,
    /// Type mismatches of `oneOf` branches are merged into one "must be a X or Y" message.
    expected_types: Vec<String>,
}

/// Validates a whole compose document; `file` names it in the error.
pub fn validate(doc: &Node, file: &str) -> Result<(), ComposeError> {
    let root = schema();
    match check(doc, root, root) {
        Ok(()) => Ok(()),
        Err(mut f) => {
            f.path.reverse();
            Err(ComposeError::Schema {
                loc: f.node_pos.location(),
                file: file.to_string(),
                path: f.path.join("."),
                message: f.message,
            })
        }
    }
}

fn resolve<'a>(root: &'a J, s: &'a J) -> &'a J {
    let mut s = s;
    for _ in 0..16 {
        let Some(r) = s.get("$ref").and_then(J::as_str) else {
            return s;
        };
        let Some(name) = r.strip_prefix("#/definitions/") else {
            return s;
        };
        match root.get("definitions").and_then(|d| d.get(name)) {
            Some(next) => s = next,
            None => return s,
        }
    }
    s
}

fn type_matches(node: &Node, t: &str) -> bool {
    match (t, &node.value) {
        ("string", Value::Str(_)) => true,
        ("integer", Value::Int(_)) => true,
        ("integer", Value::Float(f)) => f.fract() == 0.0,
        ("number", Value::Int(_) | Value::Float(_)) => true,
        ("boolean", Value::Bool(_)) => true,
        ("null", Value::Null) => true,
        ("object", Value::Map(_)) => true,
        ("array", Value::Seq(_)) => true,
        _ => false,
    }
}

fn type_name(t: &str) -> &str {
    match t {
        "object" => "mapping",
        other => other,
    }
}

fn must_be(types: &[String]) -> String {
    let mut names: Vec<&str> = types.iter().map(|t| type_name(t)).collect();
    names.sort();
    names.dedup();
    match names.len() {
        0 => "has an invalid type".to_string(),
        1 => format!("must be a {}", names[0]),
        n => format!(
            "must be a {} or {}",
            names[..n - 1].join(", "),
            names[n - 1]
        ),
    }
}

fn pattern_matches(pattern: &str, key: &str) -> bool {
    match pattern {
        "^x-" => key.starts_with("x-"),
        "^[a-zA-Z0-9._-]+$" => {
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        }
        "^.+$" => !key.is_empty() && !key.contains('\n'),
        "^[a-z]+$" => !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase()),
        _ => true,
    }
}

fn fail(node: &Node, message: String) -> Failure {
    Failure {
        path: Vec::new(),
        message,
        node_pos: node.pos.clone(),
        expected_types: Vec::new(),
    }
}

fn check(node: &Node, s: &J, root: &J) -> Result<(), Failure> {
    let s = resolve(root, s);
    let Some(obj) = s.as_object() else {
        return Ok(());
    };
    if let Some(t) = obj.get("type") {
        let types: Vec<String> = match t {
            J::String(x) => vec![x.clone()],
            J::Array(xs) => xs
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        if !types.iter().any(|t| type_matches(node, t)) {
            let mut f = fail(node, must_be(&types));
            f.expected_types = types;
            return Err(f);
        }
    }
    if let Some(J::Array(options)) = obj.get("enum")
        && !options.iter().any(|o| enum_eq(o, node))
    {
        let list: Vec<String> = options.iter().map(|o| o.to_string()).collect();
        return Err(fail(node, format!("must be one of {}", list.join(", "))));
    }
    if let Some(min) = obj.get("minimum").and_then(J::as_f64)
        && let Some(v) = number(node)
        && v < min
    {
        return Err(fail(
            node,
            format!("must be greater than or equal to {min}"),
        ));
    }
    if let Some(max) = obj.get("maximum").and_then(J::as_f64)
        && let Some(v) = number(node)
        && v > max
    {
        return Err(fail(node, format!("must be less than or equal to {max}")));
    }
    if obj.get("format").and_then(J::as_str) == Some("duration")
        && let Value::Str(text) = &node.value
        && crate::units::parse_duration(text).is_none()
    {
        return Err(fail(node, format!("{text:?} is not a valid duration")));
    }
    match &node.value {
        Value::Map(map) => {
            if let Some(J::Array(req)) = obj.get("required") {
                for r in req.iter().filter_map(J::as_str) {
                    if !map.contains_key(r) {
                        return Err(fail(node, format!("missing property '{r}'")));
                    }
                }
            }
            let props = obj.get("properties").and_then(J::as_object);
            let patterns = obj.get("patternProperties").and_then(J::as_object);
            let additional = obj.get("additionalProperties");
            let mut extra = Vec::new();
            for (k, v) in map {
                let mut matched = false;
                if let Some(p) = props.and_then(|p| p.get(k)) {
                    matched = true;
                    check(v, p, root).map_err(|f| under(f, k))?;
                }
                if let Some(pats) = patterns {
                    for (pat, ps) in pats {
                        if pattern_matches(pat, k) {
                            matched = true;
                            check(v, ps, root).map_err(|f| under(f, k))?;
                        }
                    }
                }
                if !matched {
                    match additional {
                        Some(J::Bool(false)) => extra.push(k.clone()),
                        Some(a @ J::Object(_)) => {
                            check(v, a, root).map_err(|f| under(f, k))?;
                        }
                        _ => {}
                    }
                }
            }
            if !extra.is_empty() {
                let names: Vec<String> = extra.iter().map(|e| format!("'{e}'")).collect();
                let first = &map[&extra[0]];
                let mut f = fail(
                    node,
                    format!("additional properties {} not allowed", names.join(", ")),
                );
                f.node_pos = first.key_pos();
                return Err(f);
            }
        }
        Value::Seq(items) => {
            if let Some(item_schema) = obj.get("items") {
                for (i, it) in items.iter().enumerate() {
                    check(it, item_schema, root).map_err(|f| under(f, &i.to_string()))?;
                }
            }
            if obj.get("uniqueItems").and_then(J::as_bool) == Some(true) {
                for (i, a) in items.iter().enumerate() {
                    if let Some(j) = items[..i].iter().position(|b| b == a) {
                        return Err(fail(node, format!("items at {j} and {i} are equal")));
                    }
                }
            }
        }
        _ => {}
    }
    if let Some(J::Array(branches)) = obj.get("oneOf").or_else(|| obj.get("anyOf")) {
        // Fast path: only branches whose type admits the node can pass; in valid files one
        // does, and no failure message is built.
        for b in branches {
            if admits(node, resolve(root, b)) && check(node, b, root).is_ok() {
                return Ok(());
            }
        }
        let mut failures = Vec::new();
        let mut passed = 0;
        for b in branches {
            match check(node, b, root) {
                Ok(()) => passed += 1,
                Err(f) => failures.push(f),
            }
        }
        if passed == 0 {
            // Report the most specific failure: the deepest one; type mismatches at this very
            // node are merged into one "must be a X or Y".
            let deepest = failures.iter().map(|f| f.path.len()).max().unwrap_or(0);
            if deepest == 0 {
                let mut types = Vec::new();
                let mut other = None;
                for f in &failures {
                    if f.expected_types.is_empty() {
                        other.get_or_insert(f.clone());
                    } else {
                        types.extend(f.expected_types.iter().cloned());
                    }
                }
                if let Some(o) = other {
                    return Err(o);
                }
                let mut f = fail(node, must_be(&types));
                f.expected_types = types;
                return Err(f);
            }
            if let Some(f) = failures.into_iter().find(|f| f.path.len() == deepest) {
                return Err(f);
            }
        }
    }
    Ok(())
}

/// Whether a schema's `type` (if any) admits the node.
fn admits(node: &Node, s: &J) -> bool {
    match s.get("type") {
        Some(J::String(t)) => type_matches(node, t),
        Some(J::Array(ts)) => ts
            .iter()
            .filter_map(J::as_str)
            .any(|t| type_matches(node, t)),
        _ => true,
    }
}

/// Adds the segment a failure happened under.
fn under(mut f: Failure, segment: &str) -> Failure {
    f.path.push(segment.to_string());
    f
}

fn number(node: &Node) -> Option<f64> {
    match node.value {
        Value::Int(i) => Some(i as f64),
        Value::Float(f) => Some(f),
        _ => None,
    }
}

fn enum_eq(o: &J, node: &Node) -> bool {
    match (o, &node.value) {
        (J::String(a), Value::Str(b)) => a == b,
        (J::Bool(a), Value::Bool(b)) => a == b,
        (J::Null, Value::Null) => true,
        (J::Number(a), Value::Int(b)) => a.as_i64() == Some(*b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn v(text: &str) -> Result<(), String> {
        let doc = parse(text, "c.yml").unwrap().remove(0);
        validate(&doc, "c.yml").map_err(|e| e.to_string())
    }

    #[test]
    fn unknown_keys_and_types_are_errors() {
        assert!(v("services:\n  web:\n    image: nginx\n").is_ok());
        let e = v("services:\n  web:\n    image: nginx\n    healtcheck: {}\n").unwrap_err();
        assert!(
            e.contains("services.web additional properties 'healtcheck' not allowed"),
            "{e}"
        );
        assert!(e.contains("c.yml:4:5"), "{e}");
        let e = v("services:\n  web:\n    image: [1]\n").unwrap_err();
        assert!(e.contains("services.web.image must be a string"), "{e}");
        let e = v("services:\n  web:\n    environment: 3\n").unwrap_err();
        assert!(e.contains("services.web.environment must be a"), "{e}");
    }

    #[test]
    fn extensions_are_allowed() {
        assert!(v("x-common: &c {a: 1}\nservices:\n  web:\n    image: a\n    x-foo: 1\n").is_ok());
    }
}
