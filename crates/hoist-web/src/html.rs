//! HTML building blocks: escaping, the page frame, small formatters, and the embedded
//! stylesheet and script. Pages are plain strings built with `write!`, which keeps the binary
//! small and every byte of markup visible in one place.

use axum::http::header;
use axum::response::{Html, IntoResponse};

use crate::auth::Identity;

/// Text made safe for HTML element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment or query value, percent-encoded.
pub fn url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `73.1 MB`, as docker prints sizes (decimal units).
pub fn size(bytes: i64) -> String {
    let b = bytes as f64;
    match bytes {
        n if n >= 1_000_000_000 => format!("{:.2} GB", b / 1e9),
        n if n >= 1_000_000 => format!("{:.1} MB", b / 1e6),
        n if n >= 1_000 => format!("{:.1} kB", b / 1e3),
        n => format!("{n} B"),
    }
}

/// `3 minutes ago`, from Unix seconds.
pub fn ago(unix: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let d = (now - unix).max(0);
    match d {
        0..=59 => format!("{d} s ago"),
        60..=3599 => format!("{} min ago", d / 60),
        3600..=86_399 => format!("{} h ago", d / 3600),
        _ => format!("{} days ago", d / 86_400),
    }
}

/// The frame of every page. `live` marks the part the script refreshes on engine events.
pub fn page(title: &str, who: Option<&Identity>, body: &str) -> Html<String> {
    let user = match who {
        Some(id) => format!(
            "<form method=post action=/logout><span class=muted>{}</span> \
             <input type=hidden name=csrf value=\"{}\"><button>log out</button></form>",
            esc(&id.who),
            esc(&id.csrf)
        ),
        None => String::new(),
    };
    Html(format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width\"><title>{} · hoist</title>\
         <link rel=stylesheet href=/assets/app.css></head><body><header><b>hoist</b>\
         <a href=/>Overview</a><a href=/containers>Containers</a><a href=/images>Images</a>\
         <a href=/networks>Networks</a><a href=/volumes>Volumes</a><a href=/projects>Projects</a>\
         <a href=/runs>Pipeline runs</a><a href=/history>History</a>{user}</header>\
         <main><h1>{}</h1>{body}</main><script src=/assets/app.js></script></body></html>",
        esc(title),
        esc(title)
    ))
}

pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("../assets/app.js"),
    )
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("../assets/app.css"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_and_sizes_read_like_docker() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(url("a b/c"), "a%20b%2Fc");
        assert_eq!(size(73_100_000), "73.1 MB");
        assert_eq!(size(512), "512 B");
    }
}
