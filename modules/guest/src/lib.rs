//! The Rust guest library for kubewasm modules of type `wasi` (see `README.md` next to this
//! crate for a five-minute start, and `docs/modules-rust.md` in the repository).
//!
//! The protocol (compatible with the original `dvob/k8s-wasi-rs` guest library):
//!
//! 1. the host writes ONE JSON document to the module's stdin:
//!    `{"request": <review>, "settings": <settings>}` (`settings` is omitted when none are
//!    configured, hence `Option<S>`);
//! 2. the host calls a no-argument export: `authn` (TokenReview), `authz`
//!    (SubjectAccessReview) or `validate` (AdmissionReview, validating and mutating);
//! 3. the module writes ONE JSON document to stdout: `{"response": <review>}` on success,
//!    `{"response": null, "error": "<message>"}` on failure. Nothing else goes to stdout.
//!
//! A module is a `cdylib` crate built for `wasm32-wasip1` with one handler function and one
//! registration macro. The handler gets the review and the settings and returns the answer or
//! an error message (which fails the call: the step's failure policy applies). It must not be
//! named like the export it registers (not `authn`, `authz` or `validate`).
//!
//! An authenticator (module [`authn`]):
//!
//! ```
//! use kubewasm_guest::{authn, NoSettings};
//!
//! fn authenticate(
//!     review: authn::TokenReview,
//!     _settings: Option<NoSettings>,
//! ) -> Result<authn::TokenReview, String> {
//!     match review.spec.token.as_deref() {
//!         Some("magic-token") => Ok(authn::authenticate("0", "magic-user", ["magic-group"])),
//!         Some(_) => Ok(authn::unauthenticated()),
//!         None => Err("no token in request".into()),
//!     }
//! }
//! kubewasm_guest::register_authenticator!(authenticate);
//! # let review = kubewasm_guest::serde_json::from_str(r#"{"spec": {"token": "magic-token"}}"#).unwrap();
//! # let out = kubewasm_guest::serde_json::to_value(authenticate(review, None).unwrap()).unwrap();
//! # assert_eq!(out["status"]["user"]["username"], "magic-user");
//! ```
//!
//! An authorizer with settings (module [`authz`]); any `serde::de::DeserializeOwned` type works,
//! and `deny_unknown_fields` turns a typo in the configuration into a failed call:
//!
//! ```
//! use kubewasm_guest::authz;
//! use kubewasm_guest::serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! #[serde(crate = "kubewasm_guest::serde", deny_unknown_fields)]
//! struct Settings {
//!     group: String,
//! }
//!
//! fn authorize(
//!     review: authz::SubjectAccessReview,
//!     settings: Option<Settings>,
//! ) -> Result<authz::SubjectAccessReview, String> {
//!     let settings = settings.ok_or("no settings")?;
//!     let spec = review.spec.ok_or("no spec in request")?;
//!     Ok(if spec.groups.contains(&settings.group) {
//!         authz::allow()
//!     } else {
//!         authz::no_opinion()
//!     })
//! }
//! kubewasm_guest::register_authorizer!(authorize);
//! # let review = kubewasm_guest::serde_json::from_str(r#"{"spec": {"groups": ["ops"]}}"#).unwrap();
//! # let s = Settings { group: "ops".into() };
//! # assert_eq!(kubewasm_guest::serde_json::to_value(authorize(review, Some(s)).unwrap()).unwrap()["status"]["allowed"], true);
//! ```
//!
//! A validating admission module (module [`admission`]; mutating modules answer with
//! [`admission::mutate_json_patch`] or [`admission::mutate_full`] and are configured with
//! `mutating: true`):
//!
//! ```
//! use kubewasm_guest::{admission, NoSettings};
//!
//! fn admit(
//!     review: admission::AdmissionReview,
//!     _settings: Option<NoSettings>,
//! ) -> Result<admission::AdmissionReview, String> {
//!     let request = review.into_request()?;
//!     let object = request.object_of_kind("v1", "ConfigMap")?;
//!     if object["data"].get("not-allowed-value").is_some() {
//!         return Ok(admission::reject(&request.uid, "value 'not-allowed-value' not allowed in configmap", 403));
//!     }
//!     Ok(admission::accept(&request.uid))
//! }
//! kubewasm_guest::register_admitter!(admit);
//! # let review = kubewasm_guest::serde_json::from_str(r#"{"request": {"uid": "u", "object":
//! #     {"apiVersion": "v1", "kind": "ConfigMap", "data": {"not-allowed-value": "x"}}}}"#).unwrap();
//! # let out = kubewasm_guest::serde_json::to_value(admit(review, None).unwrap()).unwrap();
//! # assert_eq!(out["response"]["allowed"], false);
//! ```
//!
//! Handlers are plain functions: unit-test them on the host target with `cargo test`, as the
//! hidden lines of these examples do.

#![warn(missing_docs)]

pub mod admission;
pub mod alloc;
pub mod authn;
pub mod authz;
mod de;
mod envelope;
pub mod hostile;

pub use envelope::{answer, read_input, serve, write_output, Input, NoSettings};
pub use serde;
pub use serde_json;

/// Emits the `authn` export, which answers a `TokenReview`.
///
/// The argument is a function
/// `fn(authn::TokenReview, Option<S>) -> Result<authn::TokenReview, E>` with
/// `S: DeserializeOwned` (the module's settings) and `E: Display`.
#[macro_export]
macro_rules! register_authenticator {
    ($handler:path) => {
        /// kubewasm `wasi` entry point for authentication (TokenReview in, TokenReview out).
        #[unsafe(no_mangle)]
        pub extern "C" fn authn() {
            $crate::serve::<$crate::authn::TokenReview, $crate::authn::TokenReview, _, _, _>(
                $handler,
            )
        }
    };
}

/// Emits the `authz` export, which answers a `SubjectAccessReview`.
///
/// The argument is a function
/// `fn(authz::SubjectAccessReview, Option<S>) -> Result<authz::SubjectAccessReview, E>`.
#[macro_export]
macro_rules! register_authorizer {
    ($handler:path) => {
        /// kubewasm `wasi` entry point for authorization (SubjectAccessReview in and out).
        #[unsafe(no_mangle)]
        pub extern "C" fn authz() {
            $crate::serve::<
                $crate::authz::SubjectAccessReview,
                $crate::authz::SubjectAccessReview,
                _,
                _,
                _,
            >($handler)
        }
    };
}

/// Emits the `validate` export, which answers an `AdmissionReview`; used by validating and
/// mutating modules alike.
///
/// The argument is a function
/// `fn(admission::AdmissionReview, Option<S>) -> Result<admission::AdmissionReview, E>`.
#[macro_export]
macro_rules! register_admitter {
    ($handler:path) => {
        /// kubewasm `wasi` entry point for admission (AdmissionReview in and out).
        #[unsafe(no_mangle)]
        pub extern "C" fn validate() {
            $crate::serve::<
                $crate::admission::AdmissionReview,
                $crate::admission::AdmissionReview,
                _,
                _,
                _,
            >($handler)
        }
    };
}

/// Emits all three exports (`authn`, `authz`, `validate`), each calling
/// `$behaviour(hostile::Entry::…)`: for the hostile test modules.
#[macro_export]
macro_rules! hostile {
    ($behaviour:path) => {
        /// Hostile `authn` entry point.
        #[unsafe(no_mangle)]
        pub extern "C" fn authn() {
            $behaviour($crate::hostile::Entry::Authn)
        }
        /// Hostile `authz` entry point.
        #[unsafe(no_mangle)]
        pub extern "C" fn authz() {
            $behaviour($crate::hostile::Entry::Authz)
        }
        /// Hostile `validate` entry point.
        #[unsafe(no_mangle)]
        pub extern "C" fn validate() {
            $behaviour($crate::hostile::Entry::Validate)
        }
    };
}
