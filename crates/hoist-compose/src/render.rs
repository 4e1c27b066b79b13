//! Printing the canonical tree as YAML for `hoist config --format yaml`: block style, keys in the
//! tree's order, strings quoted only where YAML would read them as something else, `$` doubled
//! as compose prints it.

use crate::json::{Map, Value as J, printed_str};

/// How a string's `$` is printed: doubled (an interpolated tree, as compose prints it), or as
/// it stands (a tree as written, `${...}` kept).
#[derive(Clone, Copy)]
enum Dollars {
    Doubled,
    AsWritten,
}

impl Dollars {
    fn text(self, s: &str) -> std::borrow::Cow<'_, str> {
        match self {
            Dollars::Doubled => printed_str(s),
            Dollars::AsWritten => std::borrow::Cow::Borrowed(s),
        }
    }
}

/// Renders a JSON tree as a YAML document.
pub fn to_yaml(v: &J) -> String {
    render(v, Dollars::Doubled)
}

/// [`to_yaml`] of a tree that was not interpolated: its `$` are the file's own.
pub fn to_yaml_as_written(v: &J) -> String {
    render(v, Dollars::AsWritten)
}

fn render(v: &J, d: Dollars) -> String {
    let mut out = String::new();
    match v {
        J::Object(m) if !m.is_empty() => block_map(m, 0, d, &mut out),
        J::Array(a) if !a.is_empty() => block_seq(a, 0, d, &mut out),
        other => {
            out.push_str(&scalar(other, d));
            out.push('\n');
        }
    }
    out
}

/// The project as `docker compose config` prints it in YAML: the top-level sections in the
/// order of Compose's project type (`name`, `services`, `networks`, `volumes`, `secrets`,
/// `configs`, then the rest), and without the fields its YAML leaves out when empty (a
/// service's unset `command`/`entrypoint`, a network's empty `ipam`), which its JSON keeps.
pub fn project_yaml(project: &J) -> String {
    let J::Object(top) = project else {
        return to_yaml(project);
    };
    const ORDER: [&str; 6] = [
        "name", "services", "networks", "volumes", "secrets", "configs",
    ];
    let rank = |k: &str| ORDER.iter().position(|o| *o == k).unwrap_or(ORDER.len());
    let mut keys: Vec<_> = top.keys().collect();
    keys.sort_by_key(|k| rank(k));
    let mut out = Map::new();
    for k in keys {
        let Some(v) = top.get(k) else { continue };
        let v = match &**k {
            "services" => without_in_each(v, |key, val| {
                matches!(key, "command" | "entrypoint") && val.is_null()
            }),
            "networks" => without_in_each(v, |key, val| {
                key == "ipam" && matches!(val, J::Object(m) if m.is_empty())
            }),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    to_yaml(&J::Object(out))
}

/// `section` with the entries `drop` names removed from each of its items.
fn without_in_each(section: &J, drop: impl Fn(&str, &J) -> bool) -> J {
    let J::Object(items) = section else {
        return section.clone();
    };
    let mut out = Map::new();
    for (name, item) in items {
        let item = match item {
            J::Object(fields) => {
                let mut kept = Map::new();
                for (k, v) in fields {
                    if !drop(k, v) {
                        kept.insert(k.clone(), v.clone());
                    }
                }
                J::Object(kept)
            }
            other => other.clone(),
        };
        out.insert(name.clone(), item);
    }
    J::Object(out)
}

fn indent(n: usize, out: &mut String) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn block_map(m: &Map, level: usize, d: Dollars, out: &mut String) {
    for (k, v) in m {
        indent(level, out);
        out.push_str(&quote_key(k));
        out.push(':');
        value_after_key(v, level, d, out);
    }
}

fn value_after_key(v: &J, level: usize, d: Dollars, out: &mut String) {
    match v {
        J::Object(m) if !m.is_empty() => {
            out.push('\n');
            block_map(m, level + 2, d, out);
        }
        J::Array(a) if !a.is_empty() => {
            out.push('\n');
            block_seq(a, level + 2, d, out);
        }
        J::String(s) if s.contains('\n') => multiline(&d.text(s), level + 2, out),
        other => {
            out.push(' ');
            out.push_str(&scalar(other, d));
            out.push('\n');
        }
    }
}

/// A text of several lines after `key:` or `-`, as Go's yaml.v3 writes it: a literal block
/// (`|`, `|-` without a final line break, `|+` with more than one) indented to `indent`, or
/// double-quoted where a literal block cannot say it (a tab or other control character, a
/// space before a line break or at the very end).
fn multiline(s: &str, indent: usize, out: &mut String) {
    let special = s
        .chars()
        .any(|c| c != '\n' && (c.is_control() || c == '\u{feff}'));
    if special || s.contains(" \n") || s.ends_with(' ') {
        out.push(' ');
        out.push_str(&double_quoted(s));
        out.push('\n');
        return;
    }
    out.push_str(" |");
    if s.starts_with(' ') || s.starts_with('\n') {
        out.push('2');
    }
    if !s.ends_with('\n') {
        out.push('-');
    } else if s == "\n" || s.ends_with("\n\n") {
        out.push('+');
    }
    out.push('\n');
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        if !line.is_empty() {
            self::indent(indent, out);
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn block_seq(a: &[J], level: usize, d: Dollars, out: &mut String) {
    for v in a {
        indent(level, out);
        out.push('-');
        match v {
            J::Object(m) if !m.is_empty() => {
                // The first key shares the dash's line.
                let mut first = true;
                for (k, x) in m {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        indent(level + 2, out);
                    }
                    out.push_str(&quote_key(k));
                    out.push(':');
                    value_after_key(x, level + 2, d, out);
                }
            }
            J::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                block_seq(inner, level + 2, d, out);
            }
            J::String(s) if s.contains('\n') => multiline(&d.text(s), level + 2, out),
            other => {
                out.push(' ');
                out.push_str(&scalar(other, d));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &J, d: Dollars) -> String {
    match v {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => n.to_string(),
        J::String(s) => quote(&d.text(s)),
        J::Array(_) => "[]".into(),
        J::Object(_) => "{}".into(),
    }
}

fn quote_key(k: &str) -> String {
    quote(k)
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || s.trim() != s {
        return true;
    }
    if !matches!(crate::yaml::resolve_plain(s), crate::yaml::Value::Str(_)) {
        return true;
    }
    if matches!(
        s.to_ascii_lowercase().as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off"
    ) {
        return true;
    }
    // As libyaml's emitter decides for a block scalar: these characters start an indicator
    // anywhere, `-`, `?` and `:` only when what follows is a blank or the end.
    let mut chars = s.chars();
    let first = chars.next().unwrap_or(' ');
    let then_blank = chars.next().is_none_or(|c| c == ' ' || c == '\t');
    if ",[]{}#&*!|>'\"%@`".contains(first) || ("-?:".contains(first) && then_blank) {
        return true;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return true;
    }
    s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.chars().any(|c| c.is_control())
}

/// Whether a plain `s` would read back as another type (a number, a boolean, null, an old
/// YAML 1.1 boolean): Go's yaml.v3, which Compose prints with, double-quotes those.
fn reads_as_other_type(s: &str) -> bool {
    s.is_empty()
        || !matches!(crate::yaml::resolve_plain(s), crate::yaml::Value::Str(_))
        || matches!(
            s.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off"
        )
}

fn quote(s: &str) -> String {
    if !needs_quotes(s) {
        return s.to_string();
    }
    if reads_as_other_type(s) || s.chars().any(|c| c.is_control()) {
        return double_quoted(s);
    }
    format!("'{}'", s.replace('\'', "''"))
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_reads_back_to_the_same_tree() {
        let v = J::from_serde(serde_json::json!({
            "name": "p",
            "services": {"web": {"command": null, "environment": {"A": "true", "B": "", "C": "x: y"},
                "ports": [{"target": 80, "published": "8080"}], "entrypoint": ["a", "-b"]}},
        }));
        let text = to_yaml(&v);
        let doc = crate::yaml::parse(&text, "out.yml").unwrap().remove(0);
        let back = crate::normalize::plain(&doc);
        assert_eq!(back, v, "{text}");
    }
}
