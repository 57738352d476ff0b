//! Log lines produced while serving a call. The library never writes to stdout or stderr: the
//! lines travel back to the caller inside the result, and the caller (the API server) logs them.

use serde::Serialize;

/// Severity of a [`LogLine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Detailed exchange with a module, emitted only for modules configured with `debug: true`.
    Debug,
    /// Normal operation.
    Info,
    /// Something an operator may want to look at.
    Warning,
    /// A failed module call.
    Error,
}

/// One log line, attributed to a module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Severity.
    pub level: Level,
    /// Name of the module the line is about.
    pub module: String,
    /// The message; bearer tokens are redacted before a line is created.
    pub message: String,
}

/// Replaces every occurrence of a secret (a bearer token) in text that may leave the library.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "<redacted>";

impl Redactor {
    /// A redactor that hides `secret` (and its JSON-escaped form); an empty secret hides nothing.
    pub fn new(secret: &str) -> Self {
        let mut secrets = Vec::new();
        if !secret.is_empty() {
            secrets.push(secret.to_string());
            if let Ok(quoted) = serde_json::to_string(secret) {
                let escaped = quoted[1..quoted.len() - 1].to_string();
                if escaped != secret {
                    secrets.push(escaped);
                }
            }
        }
        Redactor { secrets }
    }

    /// Whether `text` contains a secret.
    pub fn finds_secret(&self, text: &str) -> bool {
        self.secrets.iter().any(|s| text.contains(s.as_str()))
    }

    /// Returns `text` with every secret replaced by [`REDACTED`].
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_plain_and_escaped_forms() {
        let r = Redactor::new("a\"b");
        assert_eq!(r.apply("x a\"b y a\\\"b"), "x <redacted> y <redacted>");
        assert_eq!(Redactor::new("").apply("abc"), "abc");
    }
}
