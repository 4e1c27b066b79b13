//! The security headers every response carries, set in one place for the whole router (pages,
//! assets, errors, server-sent events): a Content-Security-Policy that allows only the
//! dashboard's own script, stylesheet and connections (no inline script or style, no framing),
//! no MIME sniffing, and no referrer leaving the dashboard.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::middleware::Next;
use axum::response::Response;

/// Only `/assets/app.js` and `/assets/app.css` run or style a page; fetches and event streams go
/// to the dashboard itself; forms post only to it; nothing may frame it.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Adds the headers to a response (replacing any a handler set).
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // For browsers without CSP level 2's frame-ancestors.
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}
