//! Errors returned by the library, and failures of module calls.
//!
//! An [`Error`] fails a whole library call; it carries a stable numeric [`ErrorCode`] that the
//! C ABI exposes (the numbers are part of the ABI and are never reused). A [`Failure`] is one
//! module call failing, which is not an error of the library call: it is reported in the
//! result's outcomes with its typed [`FailureKind`] and handled by the module's failure policy.

use std::fmt;

use serde::Serialize;

/// Stable error codes, exposed through the C ABI as `kubewasm_error_code`. The header's
/// `KUBEWASM_ERROR_*` constants are generated from this enum (type `KubewasmError`).
///
/// cbindgen:rename-all=QualifiedScreamingSnakeCase
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A NULL pointer, a bad length, an unknown kind, phase or module id.
    InvalidArgument = 1,
    /// The configuration does not parse or does not validate; every problem is listed.
    Config = 2,
    /// A module could not be loaded: file, digest, compilation, exports, imports or settings.
    Load = 3,
    /// The request is not the JSON document the call expects.
    BadRequest = 4,
    /// A panic inside the library was caught at the ABI boundary.
    Panic = 5,
    /// Anything else that is the library's fault rather than the caller's.
    Internal = 6,
}

/// An error with a stable code and a message meant for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The stable code.
    pub code: ErrorCode,
    /// The human-readable message; never contains a bearer token.
    pub message: String,
}

impl Error {
    /// Creates an error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// Creates an [`ErrorCode::InvalidArgument`] error.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    /// Creates an [`ErrorCode::BadRequest`] error.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Why a module call failed, for metrics and for the caller's handling: the `failure` field of
/// a result's outcome. Stable: values are added, never renamed or reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FailureKind {
    /// The module's timeout or the request's deadline ran out (before or during the call, or
    /// while the host applied the module's patch).
    Timeout,
    /// The module trapped (unreachable, out-of-bounds access, stack exhaustion, ...).
    Trap,
    /// The module tried to grow its memory beyond its `maxMemory`.
    MemoryLimit,
    /// The module's answer or output went over a bound of the host: bytes written, warnings,
    /// audit annotations, patch operations or depth, host-call answers, user size.
    OutputLimit,
    /// The module's answer is not one the host accepts: not the expected JSON, a missing or
    /// wrong field, or a value its protocol or phase forbids.
    Malformed,
    /// The module reported a failure itself: an `error` in its answer, a waPC guest error, or
    /// a non-zero exit code.
    ModuleError,
    /// The host failed or refused the call for a reason not listed above: instantiation, an
    /// error raised by a host function, an internal error.
    HostError,
    /// The step's share of module calls in flight was full: the module was not called.
    Overloaded,
}

impl FailureKind {
    /// The kind's name, as in results (`failure`) and metrics.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Trap => "trap",
            FailureKind::MemoryLimit => "memoryLimit",
            FailureKind::OutputLimit => "outputLimit",
            FailureKind::Malformed => "malformed",
            FailureKind::ModuleError => "moduleError",
            FailureKind::HostError => "hostError",
            FailureKind::Overloaded => "overloaded",
        }
    }
}

/// A failed module call: its kind and a message for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// What happened, for people.
    pub message: String,
}

impl Failure {
    /// A failure of `kind`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }

    /// A [`FailureKind::Malformed`] failure.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Malformed, message)
    }

    /// A [`FailureKind::OutputLimit`] failure.
    pub fn output_limit(message: impl Into<String>) -> Self {
        Self::new(FailureKind::OutputLimit, message)
    }

    /// The same failure with its message rewritten by `f` (context added, text cleaned).
    pub fn map_message(self, f: impl FnOnce(String) -> String) -> Self {
        Failure {
            kind: self.kind,
            message: f(self.message),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::FailureKind;

    #[test]
    fn failure_names_are_the_serialised_ones() {
        for k in [
            FailureKind::Timeout,
            FailureKind::Trap,
            FailureKind::MemoryLimit,
            FailureKind::OutputLimit,
            FailureKind::Malformed,
            FailureKind::ModuleError,
            FailureKind::HostError,
            FailureKind::Overloaded,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
    }
}
