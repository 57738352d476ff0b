//! A tiny guest library for kubewasm modules of type `wasi`.
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
//! A module is a `cdylib` crate with one handler function and one registration macro (the
//! handler must not be named like the export it registers, e.g. not `validate`):
//!
//! ```ignore
//! use kubewasm_guest::{authn, NoSettings};
//!
//! fn authenticate(review: authn::TokenReview, _settings: Option<NoSettings>)
//!     -> Result<authn::TokenReview, String> {
//!     Ok(authn::unauthenticated())
//! }
//! kubewasm_guest::register_authenticator!(authenticate);
//! ```

#![warn(missing_docs)]

pub mod admission;
pub mod authn;
pub mod authz;
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
