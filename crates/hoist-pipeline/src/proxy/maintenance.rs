//! Maintenance mode: a route of the proxy answers 503 with a page instead of reaching its
//! service, and back, each a routing-table change applied with the proxy's checked reload
//! (`nginx -t`, the previous configuration kept on rejection, the new workers waited for), on
//! every proxy of a target. The page is written first, so no request meets a missing page.

use askama::Template;
use hoist_core::events::EventSink;
use hoist_docker::FileUpload;

use super::config::MAINTENANCE_DIR;
use super::{Proxy, ProxyError};

/// The largest page hoist installs.
pub const PAGE_MAX: usize = 1024 * 1024;

/// The default page: the message, escaped by the template.
#[derive(Template)]
#[template(path = "maintenance.html")]
struct DefaultPage<'a> {
    message: &'a str,
}

/// The default page with `message` (plain text, shown as text).
pub fn default_page(message: &str) -> String {
    DefaultPage { message }
        .render()
        .expect("the maintenance page renders")
}

/// Puts `route` in maintenance with `page` (HTML) on every proxy.
pub async fn on(
    proxies: &[Proxy<'_>],
    route: &str,
    page: &[u8],
    sink: &dyn EventSink,
) -> Result<(), ProxyError> {
    // The route's name becomes the page's file name: only a route the table has (its names
    // are checked there) is put in maintenance, before anything is written.
    for proxy in proxies {
        if proxy.config().await?.route(route).is_none() {
            return Err(super::ConfigError::NoSuchRoute(route.to_string()).into());
        }
    }
    if page.len() > PAGE_MAX {
        return Err(ProxyError::Failed {
            proxy: route.to_string(),
            what: "the maintenance page",
            message: format!("{} bytes, more than {PAGE_MAX}", page.len()),
        });
    }
    for proxy in proxies {
        proxy
            .engine
            .upload_files(
                &proxy.spec.name,
                &[FileUpload::new(
                    format!("{MAINTENANCE_DIR}/{route}.html"),
                    page.to_vec(),
                    0o644,
                )],
            )
            .await?;
        proxy
            .update(sink, |table| table.set_maintenance(route, true).map(|_| ()))
            .await?;
    }
    Ok(())
}

/// Sends `route` to its service again on every proxy.
pub async fn off(
    proxies: &[Proxy<'_>],
    route: &str,
    sink: &dyn EventSink,
) -> Result<(), ProxyError> {
    for proxy in proxies {
        proxy
            .update(sink, |table| {
                table.set_maintenance(route, false).map(|_| ())
            })
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_text_on_the_default_page() {
        let page = default_page("Back at 3 <b>am</b> & \"soon\"");
        assert!(
            page.contains("Back at 3 &#60;b&#62;am&#60;/b&#62; &#38; &#34;soon&#34;"),
            "{page}"
        );
        assert!(!page.contains("<b>"));
    }
}
