//! `.dockerignore` with docker's semantics (moby `patternmatcher` and its `ignorefile` reader),
//! which differ from `.gitignore`'s:
//!
//! - patterns are relative to the context root and cleaned like paths (`./a//b/` is `a/b`, a
//!   leading `/` is dropped); lines starting with `#` are comments; `!` starts an exception;
//! - `*` and `?` never cross a `/`, so `*.log` only matches at the top level and `**/*.log`
//!   matches at any depth; `**` at the start or between separators matches any number of
//!   directories, including none;
//! - a path is excluded when a pattern matches it *or one of its parent directories*, and the
//!   last pattern that matches decides (so `!` re-includes what an earlier line excluded).
//!
//! Matching is done with globset (literal separators, backslash escapes), after translating the
//! few places where its syntax differs from docker's: braces are literal in docker, and a `**`
//! that starts a pattern without a following `/` (`**.log`) matches any path with that suffix.
//! One rare form is left to globset: a `**` inside a name (`a**b`) reads as `*` there, while
//! docker reads it as "anything ending in `/`".

use std::path::PathBuf;

use globset::{GlobBuilder, GlobMatcher};

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern text, without `!`.
    text: String,
    exception: bool,
    matcher: GlobMatcher,
}

/// A `.dockerignore` line docker would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: invalid pattern {pattern:?}: {why}", file.display())]
pub struct IgnoreError {
    pub file: PathBuf,
    pub line: usize,
    pub pattern: String,
    pub why: String,
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore`; `file` is only used in messages.
    pub fn parse(text: &str, file: &std::path::Path) -> Result<DockerIgnore, IgnoreError> {
        let mut patterns = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = if index == 0 {
                raw.trim_start_matches('\u{feff}')
            } else {
                raw
            };
            // Only a '#' in the first column starts a comment, as in docker.
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let err = |why: &str| IgnoreError {
                file: file.to_path_buf(),
                line: index + 1,
                pattern: line.to_string(),
                why: why.to_string(),
            };
            let (exception, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            if body.is_empty() {
                return Err(err("an exception needs a pattern after '!'"));
            }
            let text = clean(body);
            let matcher = GlobBuilder::new(&to_glob(&text))
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| err(&e.kind().to_string()))?
                .compile_matcher();
            patterns.push(Pattern {
                text,
                exception,
                matcher,
            });
        }
        Ok(DockerIgnore { patterns })
    }

    /// Adds an exception for `path`, as docker does for the Dockerfile and `.dockerignore`
    /// themselves: they are always sent, whatever the file says.
    pub fn keep(&mut self, path: &str) {
        let text = clean(path);
        let matcher = GlobBuilder::new(&escape(&text))
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .expect("an escaped literal is a valid glob")
            .compile_matcher();
        self.patterns.push(Pattern {
            text,
            exception: true,
            matcher,
        });
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out of the context.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = path.trim_start_matches("./").trim_end_matches('/');
        let mut excluded = false;
        for pattern in &self.patterns {
            // A pattern can only change the outcome in one direction; skip the others.
            if pattern.exception != excluded {
                continue;
            }
            let matched = pattern.matcher.is_match(path)
                || ancestors(path).any(|parent| pattern.matcher.is_match(parent));
            if matched {
                excluded = !pattern.exception;
            }
        }
        excluded
    }

    /// Whether the walk must still enter the excluded directory `dir`: only when an exception
    /// names something inside it (docker's rule, which looks at the exception's text, so
    /// `!**/keep` does not reach into an excluded directory).
    pub fn may_reinclude_under(&self, dir: &str) -> bool {
        let dir_slash = format!("{}/", dir.trim_end_matches('/'));
        self.patterns
            .iter()
            .filter(|p| p.exception)
            .any(|p| format!("{}/", p.text).starts_with(&dir_slash))
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// `a/b/c` → `a`, `a/b`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// Go's `filepath.Clean` on a `/`-separated relative pattern, then a leading `/` dropped.
fn clean(pattern: &str) -> String {
    let absolute = pattern.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

/// Translates a cleaned docker pattern into globset syntax.
fn to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    // Docker: a leading `**` not followed by `/` matches any path ending in the rest.
    let rest = match pattern.strip_prefix("**") {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !rest.starts_with('*') => {
            out.push_str("**/*");
            rest
        }
        _ => pattern,
    };
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            // Literal in docker, alternation in globset.
            '{' | '}' | ',' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            '\\' => {
                out.push('\\');
                if let Some(next) = chars.next() {
                    out.push(next);
                } else {
                    out.push('\\');
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A path as a glob that matches only itself.
fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | '\\' | ',') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text, std::path::Path::new(".dockerignore")).unwrap()
    }

    fn check(text: &str, excluded: &[&str], kept: &[&str]) {
        let ig = ignore(text);
        for path in excluded {
            assert!(
                ig.is_excluded(path),
                "{path:?} should be excluded by {text:?}"
            );
        }
        for path in kept {
            assert!(!ig.is_excluded(path), "{path:?} should be kept by {text:?}");
        }
    }

    #[test]
    fn a_single_star_stays_in_one_directory() {
        check("*.log", &["a.log"], &["dir/a.log", "a.txt"]);
        check("*/*.log", &["dir/a.log"], &["a.log", "x/y/a.log"]);
        check("te?t", &["test"], &["te/t", "teest"]);
    }

    #[test]
    fn double_star_matches_any_depth() {
        check("**/*.log", &["a.log", "d/a.log", "d/e/a.log"], &["a.txt"]);
        check("a/**/z", &["a/z", "a/b/z", "a/b/c/z"], &["b/z"]);
        check("a/**", &["a/b", "a/b/c"], &["b"]);
        check("**", &["anything", "a/b"], &[]);
        check("**.log", &["a.log", "d/e/a.log"], &["a.txt"]);
    }

    #[test]
    fn a_matching_parent_directory_excludes_everything_below() {
        check(
            "node_modules\nbuild/",
            &["node_modules", "node_modules/x/y.js", "build/out.bin"],
            &["src/node_modules_list.txt", "building"],
        );
    }

    #[test]
    fn the_last_matching_line_wins_and_exceptions_reinclude() {
        check("*.md\n!README.md", &["CHANGES.md"], &["README.md"]);
        check("!README.md\n*.md", &["README.md", "CHANGES.md"], &[]);
        check(
            "docs\n!docs/keep.txt",
            &["docs", "docs/other.txt"],
            &["docs/keep.txt"],
        );
        check(
            "**\n!src\n!Dockerfile",
            &["target/debug/x", "secret.env"],
            &["src", "src/main.rs", "Dockerfile"],
        );
    }

    #[test]
    fn patterns_are_cleaned_like_paths_and_comments_skipped() {
        check(
            "# comment\n\n  /secrets/  \n./tmp//cache\nbuild/../dist\n \\#literal",
            &["secrets/key", "tmp/cache/a", "dist/app.js", "#literal"],
            &["build/x", "comment", "tmp/other"],
        );
        // A '#' later on the line is part of the pattern.
        check("a#b", &["a#b"], &["a"]);
    }

    #[test]
    fn braces_are_literal_as_in_docker() {
        check("{a,b}", &["{a,b}"], &["a", "b"]);
        check("file[0-9].txt", &["file1.txt"], &["filex.txt"]);
    }

    #[test]
    fn kept_files_win_over_any_pattern() {
        let mut ig = ignore("*\n");
        ig.keep("Dockerfile");
        ig.keep("docker/app.Dockerfile");
        assert!(!ig.is_excluded("Dockerfile"));
        assert!(!ig.is_excluded("docker/app.Dockerfile"));
        assert!(ig.is_excluded("docker/other"));
        assert!(ig.may_reinclude_under("docker"));
        assert!(!ig.may_reinclude_under("dock"));
    }

    #[test]
    fn excluded_directories_are_entered_only_for_named_exceptions() {
        let ig = ignore("vendor\n!vendor/keep\n!**/also");
        assert!(ig.may_reinclude_under("vendor"));
        assert!(!ig.may_reinclude_under("other"));
        assert!(!ignore("vendor").may_reinclude_under("vendor"));
    }

    #[test]
    fn bad_patterns_name_file_and_line() {
        let err =
            DockerIgnore::parse("ok\n!\n", std::path::Path::new("ctx/.dockerignore")).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("ctx/.dockerignore:2:"), "{err}");
        let err = DockerIgnore::parse("a[", std::path::Path::new(".dockerignore")).unwrap_err();
        assert_eq!(err.line, 1);
    }
}
