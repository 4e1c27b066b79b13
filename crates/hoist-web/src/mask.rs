//! Secret masking. A variable or label whose name looks like a credential (`*PASSWORD*`,
//! `*SECRET*`, `*TOKEN*`, `*KEY*`, ...) is shown as a fixed mask, and its value is also replaced
//! wherever else it would appear on the same page or response (command lines, log lines), so a
//! secret never leaves the dashboard in clear.

use std::borrow::Cow;

/// What a masked value is shown as.
pub const MASK: &str = "••••••";

/// Name fragments (upper-case) that mark a value as secret.
const SECRET_PARTS: [&str; 8] = [
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
    "PRIVATE",
    "AUTH",
];

/// Whether a variable or label with this name holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_PARTS.iter().any(|p| upper.contains(p))
}

/// The secret values of one container, to scrub from any text shown next to it.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    secrets: Vec<String>,
}

impl Masker {
    /// Collects the values of secret-named pairs. Very short values are skipped: masking every
    /// `1` or `on` in a log would hide more than it protects, and such values are not secrets.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Masker {
        let mut secrets: Vec<String> = pairs
            .into_iter()
            .filter(|(k, v)| is_secret_name(k) && v.len() >= 4)
            .map(|(_, v)| v.to_string())
            .collect();
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Masker { secrets }
    }

    /// `value` itself when `name` is secret-looking, otherwise `value` with any known secret
    /// replaced.
    pub fn value<'a>(&self, name: &str, value: &'a str) -> Cow<'a, str> {
        if is_secret_name(name) && !value.is_empty() {
            Cow::Borrowed(MASK)
        } else {
            self.text(value)
        }
    }

    /// `text` with every known secret replaced by the mask.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.secrets.iter().any(|s| text.contains(s.as_str())) {
            return Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), MASK);
        }
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_look_like_credentials_are_secret() {
        for name in [
            "DB_PASSWORD",
            "password",
            "AWS_SECRET_ACCESS_KEY",
            "GITHUB_TOKEN",
            "API_KEY",
            "io.example.api-key",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["PATH", "SERVICE_NAME", "HOME", "DB_HOST"] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn secret_values_are_scrubbed_from_other_text() {
        let m = Masker::from_pairs([("DB_PASSWORD", "hunter22"), ("MODE", "on"), ("K_KEY", "ab")]);
        assert_eq!(m.value("DB_PASSWORD", "hunter22"), MASK);
        assert_eq!(m.value("MODE", "on"), "on");
        assert_eq!(
            m.text("login with hunter22 ok"),
            format!("login with {MASK} ok")
        );
        assert_eq!(m.text("nothing here"), "nothing here");
    }
}
