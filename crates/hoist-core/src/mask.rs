//! Secret masking, the one implementation the dashboard and the pipeline share. A variable or
//! label whose name looks like a credential (`*PASS*`, `*SECRET*`, `*TOKEN*`, `*KEY*`, `*DSN*`,
//! ...) is shown as a fixed mask; its value is also replaced wherever else it appears in text
//! shown beside it (command lines, log lines, step output); and the password of any URL written
//! `scheme://user:password@host` is masked in every value and every line, whatever its name.

use std::borrow::Cow;

/// What a masked value is shown as.
pub const MASK: &str = "••••••";

/// Name fragments (upper-case) that mark a value as secret.
const SECRET_PARTS: [&str; 14] = [
    "PASS", // PASSWORD, PASSWD, PASSPHRASE
    "PWD",
    "SECRET",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
    "PRIVATE",
    "AUTH",
    "DSN",
    "COOKIE",
    "SESSION",
    "CERT",
    "SIGNATURE",
    "SALT",
];

/// Names that contain a fragment but are known not to be secrets: the shell's working
/// directories. Masking them would scrub every path like `/app` from a container's logs.
const NOT_SECRET: [&str; 2] = ["PWD", "OLDPWD"];

/// Values shorter than this are not collected for scrubbing from other text: masking every `1`
/// or `on` in a log would hide more than it protects, and such values are not secrets.
const MIN_SCRUBBED: usize = 4;

/// Whether a variable or label with this name holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    !NOT_SECRET.contains(&upper.as_str()) && SECRET_PARTS.iter().any(|p| upper.contains(p))
}

/// The byte ranges of the passwords of `scheme://user:password@host` URLs in `text`.
fn url_passwords(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("://") {
        let start = from + at + 3;
        // The authority ends at the path, query, fragment, or anything that cannot be in it.
        let end = text[start..]
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace() || c == '"')
            .map_or(text.len(), |i| start + i);
        let authority = &text[start..end];
        // The last `@` ends the user information (a password may itself contain `@`).
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
            && colon + 1 < at
        {
            found.push(start + colon + 1..start + at);
        }
        from = end.max(start);
    }
    found
}

/// `text` with the password of every `scheme://user:password@host` URL masked.
pub fn mask_url_passwords(text: &str) -> Cow<'_, str> {
    let ranges = url_passwords(text);
    if ranges.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for r in ranges {
        out.push_str(&text[last..r.start]);
        out.push_str(MASK);
        last = r.end;
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

/// The secret values of one container (or one pipeline run), to scrub from any text shown next
/// to it.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    secrets: Vec<String>,
}

impl Masker {
    /// Collects the values of secret-named pairs and the passwords of URLs in any value.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Masker {
        let mut secrets = Vec::new();
        for (name, value) in pairs {
            if is_secret_name(name) {
                secrets.push(value.to_string());
            }
            secrets.extend(
                url_passwords(value)
                    .into_iter()
                    .map(|r| value[r].to_string()),
            );
        }
        secrets.retain(|s| s.len() >= MIN_SCRUBBED);
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Masker { secrets }
    }

    /// Also scrubs `values`, whatever their names (secrets the user declared as such), of at
    /// least the length any secret is scrubbed from.
    pub fn with_values(mut self, values: &[String]) -> Masker {
        self.secrets
            .extend(values.iter().filter(|v| v.len() >= MIN_SCRUBBED).cloned());
        self.secrets
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        self.secrets.dedup();
        self
    }

    /// The mask when `name` is secret-looking, otherwise `value` scrubbed like any text.
    pub fn value<'a>(&self, name: &str, value: &'a str) -> Cow<'a, str> {
        if is_secret_name(name) && !value.is_empty() {
            Cow::Borrowed(MASK)
        } else {
            self.text(value)
        }
    }

    /// `text` with every known secret and every URL password replaced by the mask.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let scrubbed = if self.secrets.iter().any(|s| text.contains(s.as_str())) {
            let mut out = text.to_string();
            for s in &self.secrets {
                out = out.replace(s.as_str(), MASK);
            }
            Cow::Owned(out)
        } else {
            Cow::Borrowed(text)
        };
        match scrubbed {
            Cow::Borrowed(t) => mask_url_passwords(t),
            Cow::Owned(t) => Cow::Owned(mask_url_passwords(&t).into_owned()),
        }
    }
}

/// A [`Masker`] over text that arrives in pieces cut anywhere (a terminal's output): the end of
/// a piece that could be the start of a secret is held back until the next piece shows whether
/// it is one, so a secret split across two pieces is still replaced whole.
#[derive(Debug, Clone, Default)]
pub struct StreamMasker {
    masker: Masker,
    held: String,
}

impl StreamMasker {
    pub fn new(masker: Masker) -> StreamMasker {
        StreamMasker {
            masker,
            held: String::new(),
        }
    }

    /// What can be shown of everything pushed so far, scrubbed.
    pub fn push(&mut self, text: &str) -> String {
        self.held.push_str(text);
        let keep = self.undecided_tail();
        let ready: String = self.held.drain(..self.held.len() - keep).collect();
        self.masker.text(&ready).into_owned()
    }

    /// Whether text is held back, waiting for what follows.
    pub fn holds(&self) -> bool {
        !self.held.is_empty()
    }

    /// Everything still held, scrubbed (nothing more is coming, or it waited long enough).
    pub fn flush(&mut self) -> String {
        let rest = std::mem::take(&mut self.held);
        self.masker.text(&rest).into_owned()
    }

    /// The length of the longest end of the held text that is the start, but not the whole, of
    /// a secret.
    fn undecided_tail(&self) -> usize {
        let held = self.held.as_str();
        held.char_indices()
            .map(|(i, _)| &held[i..])
            .find(|tail| {
                self.masker
                    .secrets
                    .iter()
                    .any(|s| s.len() > tail.len() && s.starts_with(tail))
            })
            .map_or(0, str::len)
    }
}

/// Values this process was handed as secrets (a target's resolved `secrets:`), whatever text
/// they end up in. Set once they are resolved; read wherever text leaves the process: the error
/// a command ends with, the local history, the target's journal.
static DECLARED: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Adds `values` to the secrets [`scrub_declared`] removes from text for the rest of the process.
pub fn declare_secret_values(values: &[String]) {
    let mut declared = DECLARED.write().unwrap_or_else(|p| p.into_inner());
    let masker = Masker {
        secrets: std::mem::take(&mut *declared),
    }
    .with_values(values);
    *declared = masker.secrets;
}

/// `text` without any value given to [`declare_secret_values`] (nor URL passwords).
pub fn scrub_declared(text: &str) -> Cow<'_, str> {
    let declared = DECLARED.read().unwrap_or_else(|p| p.into_inner());
    if declared.is_empty() {
        return mask_url_passwords(text);
    }
    let masker = Masker {
        secrets: declared.clone(),
    };
    Cow::Owned(masker.text(text).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str) {
        assert!(is_secret_name(name), "{name} should be secret");
    }

    #[test]
    fn password_names_are_secret() {
        for n in [
            "DB_PASSWORD",
            "password",
            "MYSQL_ROOT_PASSWD",
            "GPG_PASSPHRASE",
            "PASS",
        ] {
            secret(n);
        }
    }

    #[test]
    fn pwd_names_are_secret_but_the_working_directory_is_not() {
        secret("DB_PWD");
        secret("ADMIN_PWD");
        assert!(!is_secret_name("PWD"));
        assert!(!is_secret_name("OLDPWD"));
    }

    #[test]
    fn dsn_names_are_secret() {
        secret("SENTRY_DSN");
        secret("dsn");
    }

    #[test]
    fn cookie_and_session_names_are_secret() {
        secret("COOKIE_SECRET_VALUE");
        secret("APP_COOKIE");
        secret("SESSION_ID");
        secret("io.example.session");
    }

    #[test]
    fn cert_and_key_names_are_secret() {
        secret("TLS_CERT");
        secret("CLIENT_CERTIFICATE");
        secret("API_KEY");
        secret("SSH_PRIVATE_KEY");
        secret("io.example.api-key");
    }

    #[test]
    fn secret_token_and_credential_names_stay_secret() {
        for n in [
            "AWS_SECRET_ACCESS_KEY",
            "GITHUB_TOKEN",
            "GOOGLE_CREDENTIALS",
            "BASIC_AUTH",
        ] {
            secret(n);
        }
    }

    #[test]
    fn ordinary_names_are_not_secret() {
        for n in [
            "PATH",
            "SERVICE_NAME",
            "HOME",
            "DB_HOST",
            "com.docker.compose.service",
        ] {
            assert!(!is_secret_name(n), "{n}");
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
        // Too short to scrub elsewhere, still masked as a value.
        assert_eq!(m.text("ab"), "ab");
        assert_eq!(m.value("K_KEY", "ab"), MASK);
    }

    #[test]
    fn a_secret_containing_another_is_replaced_whole() {
        let m = Masker::from_pairs([("A_TOKEN", "abcd"), ("B_TOKEN", "abcdefgh")]);
        assert_eq!(m.text("x abcdefgh y abcd"), format!("x {MASK} y {MASK}"));
    }

    #[test]
    fn url_passwords_are_masked_in_any_value() {
        let m = Masker::default();
        assert_eq!(
            m.value("DATABASE_URL", "postgres://app:s3cr3t@db:5432/books"),
            format!("postgres://app:{MASK}@db:5432/books")
        );
        assert_eq!(
            m.text("connecting to https://u:p%40ss@x.example/ and mongodb://h/db"),
            format!("connecting to https://u:{MASK}@x.example/ and mongodb://h/db")
        );
        // A password holding `@` is masked up to the last one.
        assert_eq!(
            mask_url_passwords("redis://:a@b@cache"),
            format!("redis://:{MASK}@cache")
        );
        // No password, nothing to mask.
        assert_eq!(mask_url_passwords("ftp://anon@host/x"), "ftp://anon@host/x");
        assert_eq!(mask_url_passwords("http://host:8080/"), "http://host:8080/");
    }

    #[test]
    fn url_passwords_are_scrubbed_from_other_text_too() {
        let m = Masker::from_pairs([("DATABASE_URL", "postgres://app:s3cr3t@db/books")]);
        assert_eq!(
            m.text("auth failed for s3cr3t"),
            format!("auth failed for {MASK}")
        );
    }

    #[test]
    fn declared_values_are_scrubbed_from_any_text_of_the_process() {
        let value = "declared-7f3a9c".to_string();
        assert_eq!(
            scrub_declared("before declared-7f3a9c"),
            "before declared-7f3a9c"
        );
        declare_secret_values(std::slice::from_ref(&value));
        declare_secret_values(&["x".into()]);
        assert_eq!(
            scrub_declared("pull of repo:declared-7f3a9c failed"),
            format!("pull of repo:{MASK} failed")
        );
        assert_eq!(scrub_declared("x marks"), "x marks", "too short to scrub");
    }

    #[test]
    fn a_secret_cut_across_pieces_of_a_stream_is_still_replaced() {
        let masker = Masker::default().with_values(&["hunter22".into()]);
        let mut stream = StreamMasker::new(masker);
        let mut shown = String::new();
        for piece in ["$ echo $PW\r\nhun", "ter", "22\r\n$ h", "ello\r\n"] {
            shown.push_str(&stream.push(piece));
        }
        assert_eq!(shown, format!("$ echo $PW\r\n{MASK}\r\n$ hello\r\n"));
        assert!(!stream.holds());
        // A start of the secret that never completes is shown once flushed.
        assert_eq!(stream.push("ok hunt"), "ok ");
        assert!(stream.holds());
        assert_eq!(stream.flush(), "hunt");
        // Characters of several bytes are never cut.
        assert_eq!(stream.push("é€"), "é€");
    }
}
