//! Printing the canonical tree as YAML for `hoist config --format yaml`: block style, keys in the
//! tree's order, strings quoted only where YAML would read them as something else, `$` doubled
//! as compose prints it.

use crate::json::{Map, Value as J, printed_str};

/// Renders a JSON tree as a YAML document.
pub fn to_yaml(v: &J) -> String {
    let mut out = String::new();
    match v {
        J::Object(m) if !m.is_empty() => block_map(m, 0, &mut out),
        J::Array(a) if !a.is_empty() => block_seq(a, 0, &mut out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn indent(n: usize, out: &mut String) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn block_map(m: &Map, level: usize, out: &mut String) {
    for (k, v) in m {
        indent(level, out);
        out.push_str(&quote_key(k));
        out.push(':');
        value_after_key(v, level, out);
    }
}

fn value_after_key(v: &J, level: usize, out: &mut String) {
    match v {
        J::Object(m) if !m.is_empty() => {
            out.push('\n');
            block_map(m, level + 2, out);
        }
        J::Array(a) if !a.is_empty() => {
            out.push('\n');
            block_seq(a, level + 2, out);
        }
        J::String(s) if s.contains('\n') => {
            out.push(' ');
            out.push_str(&double_quoted(&printed_str(s)));
            out.push('\n');
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn block_seq(a: &[J], level: usize, out: &mut String) {
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
                    value_after_key(x, level + 2, out);
                }
            }
            J::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                block_seq(inner, level + 2, out);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &J) -> String {
    match v {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => n.to_string(),
        J::String(s) => quote(&printed_str(s)),
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
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        return true;
    }
    s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.chars().any(|c| c.is_control())
}

fn quote(s: &str) -> String {
    if !needs_quotes(s) {
        return s.to_string();
    }
    if s.chars().any(|c| c.is_control()) {
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
