//! Errors returned by the library. Each carries a stable numeric [`ErrorCode`] that the C ABI
//! exposes; the numbers are part of the ABI and are never reused.

use std::fmt;

/// Stable error codes, exposed through the C ABI as `kubewasm_error_code`.
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
