//! The project as written, before interpolation (`config --no-interpolate`, `config
//! --variables`): the files merged, `include` and `extends` resolved and paths made absolute, as
//! Compose's model is before it is typed. Values keep their `${...}` expressions, so only the
//! few normalisations that do not read them are made: the default network and the project name.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::ComposeError;
use crate::json::{Map, Value as J};
use crate::loader::{LoadOptions, Loaded, load_tree};

/// Loads the project without interpolating it.
pub fn load(opts: &LoadOptions) -> Result<Loaded, ComposeError> {
    let opts = LoadOptions {
        no_interpolate: true,
        swarm_objects: false,
        ..opts.clone()
    };
    load_tree(&opts)
}

/// The model `config --no-interpolate` prints: the tree with its keys sorted, the project's
/// name, and the `default` network attached to every service that names no network and no
/// network mode (and declared when one does).
pub fn model(loaded: &Loaded) -> J {
    let mut top = match crate::normalize::plain_map(&loaded.tree) {
        J::Object(m) => m,
        _ => Map::new(),
    };
    top.insert("name", J::String(loaded.name.clone().into()));
    let mut uses_default = false;
    if let Some(J::Object(services)) = top.get_mut("services") {
        for (_, service) in services.iter_mut() {
            let J::Object(service) = service else {
                continue;
            };
            absolute_build_context(service, &loaded.project_dir);
            if service.get("networks").is_none() && service.get("network_mode").is_none() {
                let mut networks = Map::new();
                networks.insert("default", J::Null);
                service.insert("networks", J::Object(networks));
            }
            let named = |n: &J| match n {
                J::Object(m) => m.get("default").is_some(),
                J::Array(a) => a.iter().any(|x| x.as_str() == Some("default")),
                _ => false,
            };
            uses_default |= service.get("networks").is_some_and(named);
        }
    }
    if uses_default {
        let networks = match top.get_mut("networks") {
            Some(J::Object(m)) => m,
            _ => {
                top.insert("networks", J::Object(Map::new()));
                match top.get_mut("networks") {
                    Some(J::Object(m)) => m,
                    _ => unreachable!("just inserted"),
                }
            }
        };
        if networks.get("default").is_none_or(J::is_null) {
            let mut default = Map::new();
            default.insert("name", J::String(format!("{}_default", loaded.name).into()));
            networks.insert("default", J::Object(default));
        }
    }
    sorted(J::Object(top))
}

/// A relative `build` context (the short form or `build.context`) made absolute from the
/// project directory, as Compose's model has it; remote contexts (URLs) stay as they are.
fn absolute_build_context(service: &mut Map, project_dir: &std::path::Path) {
    let absolute = |context: &str| -> Option<J> {
        let remote = context.contains("://") || context.starts_with("git@");
        let relative = !context.starts_with('/') && !context.starts_with('$');
        (relative && !remote).then(|| {
            let path = crate::loader::clean(&project_dir.join(context));
            J::String(path.display().to_string().into())
        })
    };
    match service.get_mut("build") {
        Some(J::String(context)) => {
            if let Some(abs) = absolute(context) {
                let mut build = Map::new();
                build.insert("context", abs);
                service.insert("build", J::Object(build));
            }
        }
        Some(J::Object(build)) => {
            if let Some(abs) = build.get("context").and_then(J::as_str).and_then(absolute) {
                build.insert("context", abs);
            }
        }
        _ => {}
    }
}

fn sorted(v: J) -> J {
    match v {
        J::Object(m) => {
            let mut m = Map::from_distinct(m.into_iter().map(|(k, v)| (k, sorted(v))).collect());
            m.sort_keys();
            J::Object(m)
        }
        J::Array(a) => J::Array(a.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// A variable the files use, as `config --variables` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Variable {
    pub name: String,
    /// What `${NAME:-value}` / `${NAME-value}` falls back to.
    pub default_value: String,
    /// What `${NAME:+value}` / `${NAME+value}` gives when the variable is set.
    pub presence_value: String,
    /// `${NAME:?message}` / `${NAME?message}`: an unset variable is an error.
    pub required: bool,
}

/// Every variable the tree's string values use, by name (keys are not interpolated, so not
/// read). A variable used several ways keeps what each use adds.
pub fn variables(loaded: &Loaded) -> BTreeMap<String, Variable> {
    let mut found = BTreeMap::new();
    walk(&crate::normalize::plain_map(&loaded.tree), &mut found);
    found
}

fn walk(v: &J, found: &mut BTreeMap<String, Variable>) {
    match v {
        J::String(s) => extract(s, found),
        J::Array(a) => a.iter().for_each(|x| walk(x, found)),
        J::Object(m) => m.iter().for_each(|(_, x)| walk(x, found)),
        _ => {}
    }
}

/// The variables of one template: `$NAME`, `${NAME}` and `${NAME<op>value}` with the operators
/// `:-` `-` `:+` `+` `:?` `?`; values are templates themselves. `$$` is a literal dollar.
pub fn extract(template: &str, found: &mut BTreeMap<String, Variable>) {
    let b = template.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'$') => i += 2,
            Some(b'{') => {
                let Some(close) = closing_brace(b, i + 2) else {
                    return;
                };
                braced(&template[i + 2..close], found);
                i = close + 1;
            }
            Some(c) if *c == b'_' || c.is_ascii_alphabetic() => {
                let end = name_end(b, i + 1);
                entry(found, &template[i + 1..end]);
                i = end;
            }
            _ => i += 1,
        }
    }
}

fn name_end(b: &[u8], from: usize) -> usize {
    let mut j = from;
    while j < b.len() && (b[j] == b'_' || b[j].is_ascii_alphanumeric()) {
        j += 1;
    }
    j
}

/// The `}` that closes an expression whose body starts at `from`, nested `${` counted.
fn closing_brace(b: &[u8], from: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = from;
    while i < b.len() {
        if b[i] == b'$' && b.get(i + 1) == Some(&b'{') {
            depth += 1;
            i += 2;
            continue;
        }
        if b[i] == b'}' {
            if depth == 0 {
                return Some(i);
            }
            depth -= 1;
        }
        i += 1;
    }
    None
}

fn entry<'a>(found: &'a mut BTreeMap<String, Variable>, name: &str) -> &'a mut Variable {
    found.entry(name.to_string()).or_insert_with(|| Variable {
        name: name.to_string(),
        ..Variable::default()
    })
}

fn braced(inner: &str, found: &mut BTreeMap<String, Variable>) {
    let b = inner.as_bytes();
    if b.is_empty() || !(b[0] == b'_' || b[0].is_ascii_alphabetic()) {
        return;
    }
    let end = name_end(b, 0);
    let name = &inner[..end];
    let rest = inner[end..].strip_prefix(':').unwrap_or(&inner[end..]);
    let (op, value) = match rest.as_bytes().first() {
        Some(op) => (Some(*op), &rest[1..]),
        None => (None, ""),
    };
    let variable = entry(found, name);
    match op {
        Some(b'-') => variable.default_value = value.to_string(),
        Some(b'+') => variable.presence_value = value.to_string(),
        Some(b'?') => variable.required = true,
        _ => {}
    }
    // A value may use variables of its own.
    extract(value, found);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(template: &str) -> Vec<Variable> {
        let mut found = BTreeMap::new();
        extract(template, &mut found);
        found.into_values().collect()
    }

    #[test]
    fn each_form_of_expression_gives_its_variable() {
        let v = of("${PORT:-8080}:80 $HOST ${TAG?no tag} ${DEBUG:+-v} $$NOT ${A-${B}}");
        let names: Vec<&str> = v.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["A", "B", "DEBUG", "HOST", "PORT", "TAG"]);
        let get = |n: &str| v.iter().find(|v| v.name == n).unwrap().clone();
        assert_eq!(get("PORT").default_value, "8080");
        assert_eq!(get("A").default_value, "${B}");
        assert_eq!(get("DEBUG").presence_value, "-v");
        assert!(get("TAG").required);
        assert!(!get("HOST").required);
    }

    #[test]
    fn broken_expressions_end_the_scan_without_a_panic() {
        assert!(of("${").is_empty());
        assert!(of("${1BAD}").is_empty());
        assert_eq!(of("$ ${X").len(), 0);
    }
}
