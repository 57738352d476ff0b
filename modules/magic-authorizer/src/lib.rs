//! `magic-authorizer` (export `authz`), like the original k8s-wasi-rs example: allows
//! members of `magic-group` to do anything on `configmaps` (any verb, namespace, name);
//! has no opinion (`allowed: false, denied: false`) on everything else. Never denies.
//! Settings are ignored.

use kubewasm_guest::authz::{self, SubjectAccessReview};
use kubewasm_guest::NoSettings;

/// Decides `review`.
pub fn authorize(
    review: SubjectAccessReview,
    _settings: Option<NoSettings>,
) -> Result<SubjectAccessReview, String> {
    let spec = review.spec.unwrap_or_default();
    let magic_group = spec.groups.iter().any(|g| g == "magic-group");
    let configmaps = spec
        .resource_attributes
        .is_some_and(|r| r.resource == "configmaps");
    Ok(if magic_group && configmaps {
        authz::allow()
    } else {
        authz::no_opinion()
    })
}

kubewasm_guest::register_authorizer!(authorize);

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: kubewasm_guest::alloc::OneShot = kubewasm_guest::alloc::OneShot::new();
