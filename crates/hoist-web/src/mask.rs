//! Secret masking on the dashboard: `hoist_core::mask` (the one implementation, shared with the
//! pipeline) applied per container. A container's one [`Masker`] is built from its environment
//! and labels, and the page, `/logs`, the live log stream and the JSON API all use it, so a
//! secret never leaves the dashboard in clear.

pub use hoist_core::mask::{MASK, Masker, is_secret_name, mask_url_passwords};
use hoist_docker::ContainerDetail;

/// A container's masker: its secret-named environment variables and labels, and the passwords
/// of URLs in any of them.
pub fn of_container(d: &ContainerDetail) -> Masker {
    Masker::from_pairs(
        d.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(
            d.summary
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        ),
    )
}
