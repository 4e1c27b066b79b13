//! Validation against the Compose Specification's JSON schema (`schema/compose-spec.json`, the
//! schema Docker Compose v2.40 embeds), so that hoist accepts and rejects exactly the keys and
//! types compose does: a typo such as `healtcheck` is an error, not ignored. The validator
//! implements the subset of JSON Schema that file uses, and works on the positioned tree so that
//! errors name the line and column.
//!
//! The schema is compiled once into an arena of `Rule`s (references resolved, keywords read
//! out): looking keywords up by name in the JSON objects for every node of every file was the
//! validator's main cost.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::Value as J;

use crate::error::ComposeError;
use crate::yaml::{Node, Value};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One schema object with its `$ref` chain followed and its keywords read out.
#[derive(Default)]
struct Rule {
    /// False when the (resolved) schema is not an object: it accepts anything.
    object: bool,
    types: Types,
    enumeration: Option<&'static [J]>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    duration: bool,
    /// A string's `pattern` (unanchored, as JSON Schema has it).
    pattern: Option<&'static str>,
    required: Vec<&'static str>,
    properties: Option<FastMap<&'static str, usize>>,
    patterns: Vec<(&'static str, usize)>,
    additional: Additional,
    items: Option<usize>,
    unique: bool,
    /// `oneOf`, or `anyOf` when there is no `oneOf`.
    branches: Option<Vec<usize>>,
}

#[derive(Default)]
enum Types {
    #[default]
    Absent,
    List(Vec<&'static str>),
    /// A `type` that is neither a string nor an array: nothing matches it.
    Other,
}

#[derive(Default)]
enum Additional {
    #[default]
    Allowed,
    Forbidden,
    Schema(usize),
}

struct Compiled {
    rules: Vec<Rule>,
    root: usize,
}

static SCHEMA: LazyLock<J> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../schema/compose-spec.json"))
        .unwrap_or(J::Object(Default::default()))
});

/// Every property name the schema defines, as text that lives as long as the process: keys of
/// the printed tree that are compose's own names need no allocation of their own.
static KEYWORDS: LazyLock<std::collections::HashSet<&'static str, foldhash::fast::RandomState>> =
    LazyLock::new(|| {
        COMPILED
            .rules
            .iter()
            .filter_map(|r| r.properties.as_ref())
            .flat_map(|p| p.keys().copied())
            .collect()
    });

/// `k` as static text when it is a property name of the compose schema.
pub(crate) fn keyword(k: &str) -> Option<&'static str> {
    KEYWORDS.get(k).copied()
}

/// Every property name of the compose schema.
#[cfg(test)]
pub(crate) fn keyword_list() -> Vec<&'static str> {
    KEYWORDS.iter().copied().collect()
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| {
    let root: &'static J = &SCHEMA;
    let mut rules = Vec::new();
    let mut seen = FastMap::default();
    let top = compile(root, root, &mut rules, &mut seen);
    Compiled { rules, root: top }
});

/// Compiles schema `s` (and what it refers to) into `rules`; `seen` maps resolved schema objects
/// (by address) to their rule, so shared and recursive definitions are compiled once.
fn compile(
    s: &'static J,
    root: &'static J,
    rules: &mut Vec<Rule>,
    seen: &mut FastMap<usize, usize>,
) -> usize {
    let s = resolve(root, s);
    let addr = s as *const J as usize;
    if let Some(&i) = seen.get(&addr) {
        return i;
    }
    let at = rules.len();
    rules.push(Rule::default());
    seen.insert(addr, at);
    let Some(obj) = s.as_object() else {
        return at;
    };
    let mut r = Rule {
        object: true,
        ..Rule::default()
    };
    r.types = match obj.get("type") {
        None => Types::Absent,
        Some(J::String(x)) => Types::List(vec![x.as_str()]),
        Some(J::Array(xs)) => Types::List(xs.iter().filter_map(J::as_str).collect()),
        Some(_) => Types::Other,
    };
    if let Some(J::Array(options)) = obj.get("enum") {
        r.enumeration = Some(options.as_slice());
    }
    r.minimum = obj.get("minimum").and_then(J::as_f64);
    r.maximum = obj.get("maximum").and_then(J::as_f64);
    r.duration = obj.get("format").and_then(J::as_str) == Some("duration");
    r.pattern = obj.get("pattern").and_then(J::as_str);
    if let Some(J::Array(req)) = obj.get("required") {
        r.required = req.iter().filter_map(J::as_str).collect();
    }
    if let Some(props) = obj.get("properties").and_then(J::as_object) {
        let mut m = FastMap::default();
        for (k, v) in props {
            m.insert(k.as_str(), compile(v, root, rules, seen));
        }
        r.properties = Some(m);
    }
    if let Some(pats) = obj.get("patternProperties").and_then(J::as_object) {
        for (k, v) in pats {
            let i = compile(v, root, rules, seen);
            r.patterns.push((k.as_str(), i));
        }
    }
    r.additional = match obj.get("additionalProperties") {
        Some(J::Bool(false)) => Additional::Forbidden,
        Some(a @ J::Object(_)) => Additional::Schema(compile(a, root, rules, seen)),
        _ => Additional::Allowed,
    };
    if let Some(item) = obj.get("items") {
        r.items = Some(compile(item, root, rules, seen));
    }
    r.unique = obj.get("uniqueItems").and_then(J::as_bool) == Some(true);
    if let Some(J::Array(bs)) = obj.get("oneOf").or_else(|| obj.get("anyOf")) {
        r.branches = Some(bs.iter().map(|b| compile(b, root, rules, seen)).collect());
    }
    rules[at] = r;
    at
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
    let c = &*COMPILED;
    match check(doc, c.root, &c.rules) {
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

/// Whether `text` matches a value `pattern` of the schema: JSON Schema's patterns are searched
/// for anywhere in the text. The schema has two, written out here (a test checks there are no
/// others).
fn value_matches(pattern: &str, text: &str) -> bool {
    match pattern {
        // A container name: a letter or digit followed by at least one name character.
        "[a-zA-Z0-9][a-zA-Z0-9_.-]+" => {
            let name = |b: u8| b.is_ascii_alphanumeric() || b"_.-".contains(&b);
            text.as_bytes()
                .windows(2)
                .any(|w| w[0].is_ascii_alphanumeric() && name(w[1]))
        }
        // A pull policy: one of the words, or `every_` and at least one number with a unit.
        "always|never|build|if_not_present|missing|refresh|daily|weekly|every_([0-9]+[wdhms])+" => {
            [
                "always",
                "never",
                "build",
                "if_not_present",
                "missing",
                "refresh",
                "daily",
                "weekly",
            ]
            .iter()
            .any(|w| text.contains(w))
                || text.match_indices("every_").any(|(i, _)| {
                    let rest = &text.as_bytes()[i + "every_".len()..];
                    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                    digits > 0 && rest.get(digits).is_some_and(|u| b"wdhms".contains(u))
                })
        }
        _ => true,
    }
}

fn fail(node: &Node, message: String) -> Failure {
    Failure {
        path: Vec::new(),
        message,
        node_pos: node.pos,
        expected_types: Vec::new(),
    }
}

fn check(node: &Node, at: usize, rules: &[Rule]) -> Result<(), Failure> {
    let r = &rules[at];
    if !r.object {
        return Ok(());
    }
    match &r.types {
        Types::Absent => {}
        Types::List(types) if types.iter().any(|t| type_matches(node, t)) => {}
        Types::List(types) => {
            let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
            let mut f = fail(node, must_be(&types));
            f.expected_types = types;
            return Err(f);
        }
        Types::Other => return Err(fail(node, must_be(&[]))),
    }
    if let Some(options) = r.enumeration
        && !options.iter().any(|o| enum_eq(o, node))
    {
        let list: Vec<String> = options.iter().map(|o| o.to_string()).collect();
        return Err(fail(node, format!("must be one of {}", list.join(", "))));
    }
    if let Some(min) = r.minimum
        && let Some(v) = number(node)
        && v < min
    {
        return Err(fail(
            node,
            format!("must be greater than or equal to {min}"),
        ));
    }
    if let Some(max) = r.maximum
        && let Some(v) = number(node)
        && v > max
    {
        return Err(fail(node, format!("must be less than or equal to {max}")));
    }
    if r.duration
        && let Value::Str(text) = &node.value
        && crate::units::parse_duration(text).is_none()
    {
        return Err(fail(node, format!("{text:?} is not a valid duration")));
    }
    if let Some(pattern) = r.pattern
        && let Value::Str(text) = &node.value
        && !value_matches(pattern, text)
    {
        return Err(fail(
            node,
            format!("'{text}' does not match pattern '{pattern}'"),
        ));
    }
    match &node.value {
        Value::Map(map) => {
            for req in &r.required {
                if !map.contains_key(req) {
                    return Err(fail(node, format!("missing property '{req}'")));
                }
            }
            let mut extra = Vec::new();
            for (k, v) in map {
                let mut matched = false;
                if let Some(&p) = r.properties.as_ref().and_then(|p| p.get(k.as_str())) {
                    matched = true;
                    check(v, p, rules).map_err(|f| under(f, k))?;
                }
                for &(pat, ps) in &r.patterns {
                    if pattern_matches(pat, k) {
                        matched = true;
                        check(v, ps, rules).map_err(|f| under(f, k))?;
                    }
                }
                if !matched {
                    match r.additional {
                        Additional::Forbidden => extra.push(k.clone()),
                        Additional::Schema(a) => {
                            check(v, a, rules).map_err(|f| under(f, k))?;
                        }
                        Additional::Allowed => {}
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
            if let Some(item_rule) = r.items {
                for (i, it) in items.iter().enumerate() {
                    check(it, item_rule, rules).map_err(|f| under(f, &i.to_string()))?;
                }
            }
            if r.unique {
                for (i, a) in items.iter().enumerate() {
                    if let Some(j) = items[..i].iter().position(|b| b == a) {
                        return Err(fail(node, format!("items at {j} and {i} are equal")));
                    }
                }
            }
        }
        _ => {}
    }
    if let Some(branches) = &r.branches {
        // Fast path: only branches whose type admits the node can pass; in valid files one
        // does, and no failure message is built.
        for &b in branches {
            if admits(node, &rules[b]) && check(node, b, rules).is_ok() {
                return Ok(());
            }
        }
        let mut failures = Vec::new();
        let mut passed = 0;
        for &b in branches {
            match check(node, b, rules) {
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

/// Whether a rule's `type` (if any) admits the node.
fn admits(node: &Node, r: &Rule) -> bool {
    match &r.types {
        Types::List(ts) => ts.iter().any(|t| type_matches(node, t)),
        Types::Absent | Types::Other => true,
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
    fn container_names_and_pull_policies_match_the_schema_s_patterns() {
        for ok in ["web", "a1", "x/ab", "every_1h", "missing"] {
            let name = format!("services:\n  web:\n    image: n\n    container_name: '{ok}0'\n");
            assert!(v(&name).is_ok(), "{ok}");
        }
        for (policy, ok) in [
            ("always", true),
            ("every_12h", true),
            ("every_2d", true),
            ("weekly", true),
            ("", false),
            ("sometimes", false),
            ("every_", false),
            ("every_h", false),
        ] {
            let file = format!("services:\n  web:\n    image: n\n    pull_policy: '{policy}'\n");
            assert_eq!(v(&file).is_ok(), ok, "{policy}");
        }
        let e = v("services:\n  web:\n    image: n\n    container_name: ''\n").unwrap_err();
        assert!(
            e.contains(
                "services.web.container_name '' does not match pattern '[a-zA-Z0-9][a-zA-Z0-9_.-]+'"
            ),
            "{e}"
        );
        assert!(v("services:\n  web:\n    image: n\n    container_name: a\n").is_err());
    }

    #[test]
    fn every_value_pattern_of_the_schema_is_known() {
        fn patterns(v: &J, out: &mut Vec<String>) {
            match v {
                J::Object(m) => {
                    if let Some(J::String(p)) = m.get("pattern") {
                        out.push(p.clone());
                    }
                    m.values().for_each(|x| patterns(x, out));
                }
                J::Array(a) => a.iter().for_each(|x| patterns(x, out)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        patterns(&SCHEMA, &mut found);
        assert_eq!(found.len(), 2, "{found:?}");
        for p in found {
            // A pattern without a matcher here would accept everything.
            assert!(!value_matches(&p, "\u{1}"), "{p} has no matcher");
        }
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
