//! Helpers for the hostile test modules (see the `hostile!` macro).

use serde_json::Value;

use crate::envelope::{answer, read_input, Input};

/// Which export the host called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// `authn` (TokenReview).
    Authn,
    /// `authz` (SubjectAccessReview).
    Authz,
    /// `validate` (AdmissionReview).
    Validate,
}

/// The most permissive well-formed answer for `entry`, as output envelope bytes: a
/// TokenReview authenticating `hostile` in `system:masters`, an allowing
/// SubjectAccessReview, or an admitting AdmissionReview (uid copied from the request).
///
/// Hostile modules write this BEFORE failing (trap, non-zero exit), so a host that reads
/// stdout despite the failure would wrongly let the request through.
pub fn permissive_answer(entry: Entry) -> Vec<u8> {
    let response = match entry {
        Entry::Authn => serde_json::to_value(crate::authn::authenticate(
            "0",
            "hostile",
            ["system:masters"],
        )),
        Entry::Authz => serde_json::to_value(crate::authz::allow()),
        Entry::Validate => {
            let uid = read_input::<Value, Value>()
                .ok()
                .and_then(|Input { request, .. }| {
                    request
                        .pointer("/request/uid")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            serde_json::to_value(crate::admission::accept(&uid))
        }
    };
    answer(response)
}
