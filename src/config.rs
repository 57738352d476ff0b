//! The configuration format: one parser for the authentication, authorization and admission
//! files, YAML or JSON, strict (an unknown field is an error), defaults applied here and only
//! here, and every problem reported at once, each naming the module and the field.
//!
//! Two steps, as Kubernetes reads its own configuration files: the document is decoded into
//! typed structs that reject unknown fields (each module on its own, and a field that does not
//! decode is reported and set aside, so that one bad value hides no other problem), then one
//! validation pass checks the values and applies the defaults, collecting every problem with
//! its field path. The admission matching fields and `validationActions` are not the library's:
//! they pass through unread to the caller (the Go plugin), which validates and defaults them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_path_to_error::Segment;

use crate::error::{Error, ErrorCode};

/// The access step a configuration serves: `kind` of `kubewasm_init`. The header's
/// `KUBEWASM_KIND_*` constants are generated from this enum (type `KubewasmKind`).
///
/// cbindgen:rename-all=QualifiedScreamingSnakeCase
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Token authentication (`authn` export).
    Authentication = 1,
    /// Authorization (`authz` export).
    Authorization = 2,
    /// Admission, mutating and validating (`validate` export, or a Kubewarden policy).
    Admission = 3,
}

impl Kind {
    /// The kind with C ABI number `n`.
    pub fn from_abi(n: u32) -> Option<Kind> {
        [Kind::Authentication, Kind::Authorization, Kind::Admission]
            .into_iter()
            .find(|k| *k as u32 == n)
    }

    /// The kind's name, as in configuration, logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Authentication => "authentication",
            Kind::Authorization => "authorization",
            Kind::Admission => "admission",
        }
    }
}

/// The protocol a module speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModuleType {
    /// The original module specification: JSON on stdin/stdout, exports `authn`/`authz`/`validate`.
    Wasi,
    /// Kubewarden policies (waPC).
    Kubewarden,
    /// Rego compiled with `opa build -t wasm`, Kubewarden's `opa` convention: input
    /// `{"request": <AdmissionRequest>}`, settings as the data document, an AdmissionReview back.
    Opa,
    /// Rego compiled with `opa build -t wasm`, Kubewarden's `gatekeeper` convention: input
    /// `{"review": <AdmissionRequest>, "parameters": <settings>}`, a list of `{"msg"}` violations back.
    Gatekeeper,
}

impl ModuleType {
    /// Whether the module is Rego (`opa` or `gatekeeper`).
    pub fn is_rego(self) -> bool {
        matches!(self, ModuleType::Opa | ModuleType::Gatekeeper)
    }

    /// The name used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleType::Wasi => "wasi",
            ModuleType::Kubewarden => "kubewarden",
            ModuleType::Opa => "opa",
            ModuleType::Gatekeeper => "gatekeeper",
        }
    }
}

/// What happens when a module call fails (trap, timeout, limit, malformed output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FailurePolicy {
    /// Authentication: a failing module never authenticates (the only behaviour).
    NotAuthenticated,
    /// Authorization: the module has no opinion; the next module or authorizer decides.
    NoOpinion,
    /// Authorization: the request is denied.
    Deny,
    /// Admission: the request is rejected with an internal error.
    Fail,
    /// Admission: the module is skipped and the request continues.
    Ignore,
}

/// Default per-call time limit (the admission webhook default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest accepted per-call time limit (as for webhooks).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30);
/// Default linear-memory limit of one call.
pub const DEFAULT_MEMORY_LIMIT: u64 = 64 << 20;
/// Smallest accepted memory limit.
pub const MIN_MEMORY_LIMIT: u64 = 1 << 20;
/// Largest accepted memory limit (a 32-bit linear memory).
pub const MAX_MEMORY_LIMIT: u64 = 4 << 30;

/// One configured module, with defaults applied and its path resolved.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleConfig {
    /// Position in the configuration; the id the C ABI uses.
    pub id: usize,
    /// Unique name; defaults to the basename of `module`.
    pub name: String,
    /// Resolved path of the `.wasm` file.
    pub module: PathBuf,
    /// Settings passed with every call; `None` when not configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<Value>,
    /// Log every exchange with the module (tokens redacted).
    pub debug: bool,
    /// Per-call time limit.
    #[serde(serialize_with = "serialize_duration")]
    pub timeout: Duration,
    /// Per-call linear-memory limit in bytes.
    pub memory_limit: u64,
    /// Expected SHA-256 of the module file, lower-case hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// What a failed call means.
    pub failure_policy: FailurePolicy,
    /// Module protocol (admission only offers a choice).
    #[serde(rename = "type")]
    pub module_type: ModuleType,
    /// Admission-only fields; `None` for authentication and authorization.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub admission: Option<AdmissionFields>,
}

/// Fields only admission modules have. The library reads `mutating` (the phase a module runs
/// in). The matching fields and `validationActions` belong to the caller, the Go plugin, which
/// matches requests with Kubernetes' webhook machinery: the library neither reads nor validates
/// nor defaults them, and hands them back unchanged in `kubewasm_modules` (absent when not
/// configured); the plugin validates them as the API server validates a webhook configuration and
/// applies the webhook defaults (docs/architecture.md, "Who decides what").
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionFields {
    /// Runs in the mutating phase (true) or the validating phase (false).
    pub mutating: bool,
    /// admissionregistration/v1 `RuleWithOperations` list; no rules = never called.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Value>,
    /// A label selector on the request's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<Value>,
    /// A label selector on the object (and old object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_selector: Option<Value>,
    /// CEL match conditions (`name`, `expression`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_conditions: Option<Value>,
    /// `Exact` or `Equivalent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_policy: Option<Value>,
    /// `Never` or `IfNeeded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reinvocation_policy: Option<Value>,
    /// `None`, `NoneOnDryRun`, `Some` or `Unknown`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side_effects: Option<Value>,
    /// ValidatingAdmissionPolicyBinding's `validationActions` (`Deny`, `Warn`, `Audit`): what a
    /// rejection or a failure with `failurePolicy: Fail` does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_actions: Option<Value>,
}

/// A parsed and validated configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The access step.
    pub kind: Kind,
    /// Modules in configuration order.
    pub modules: Vec<ModuleConfig>,
}

fn serialize_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

/// Formats a duration for messages: whole seconds as "10s", else milliseconds ("500ms", rounded).
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        "0s".into()
    } else if ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else if ns >= 1_000_000 {
        format!("{}ms", (ns + 500_000) / 1_000_000)
    } else {
        format!("{}us", ns.div_ceil(1_000))
    }
}

/// Parses a Go-style duration: a sequence of decimal numbers with units `ns`, `us`, `µs`, `ms`,
/// `s`, `m`, `h` (e.g. `500ms`, `2s`, `1m30s`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Parses a byte quantity: an integer number of bytes, or a number with a Kubernetes suffix
/// (`Ki`, `Mi`, `Gi`, `k`, `M`, `G`).
pub fn parse_quantity(text: &str) -> Option<u64> {
    let s = text.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let number: u64 = s[..split].parse().ok()?;
    let factor: u64 = match &s[split..] {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// Parses YAML or JSON bytes into a JSON value.
pub fn parse_document(bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))
    } else if trimmed.is_empty() {
        Err("the document is empty".into())
    } else {
        serde_saphyr::from_str::<Value>(text).map_err(|e| format!("invalid YAML: {e}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding: the documents as written, into typed structs that reject unknown fields. Values are
// checked for their type here and for their meaning in the validation pass below.

/// A `timeout`: a Go-style duration string, with its text for messages.
#[derive(Debug)]
struct Timeout {
    value: Duration,
    text: String,
}

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timeout;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string such as \"2s\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Timeout, E> {
                match parse_duration(s) {
                    Some(value) => Ok(Timeout {
                        value,
                        text: s.to_string(),
                    }),
                    None => Err(E::custom(format!(
                        "must be a duration such as \"2s\" or \"500ms\", got \"{s}\""
                    ))),
                }
            }
        }
        d.deserialize_str(V)
    }
}

/// A `memoryLimit`: a number of bytes or a quantity string, with its text for messages.
#[derive(Debug)]
struct Quantity {
    bytes: u64,
    text: String,
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a quantity such as \"64Mi\"")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Quantity, E> {
                Ok(Quantity {
                    bytes: n,
                    text: n.to_string(),
                })
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Quantity, E> {
                match parse_quantity(s) {
                    Some(bytes) => Ok(Quantity {
                        bytes,
                        text: format!("\"{s}\""),
                    }),
                    None => Err(E::custom(format!(
                        "must be a quantity such as \"64Mi\", got \"{s}\""
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Declares a module struct as written in a configuration: the fields every module has, then
/// `$extra`. Authentication and authorization modules are [`RawModule`]s, admission modules
/// [`RawAdmissionModule`]s; two structs because serde cannot both flatten one struct into
/// another and reject unknown fields.
macro_rules! raw_module {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase", expecting = "a map")]
        struct $name {
            name: Option<String>,
            module: Option<String>,
            settings: Option<Value>,
            debug: Option<bool>,
            timeout: Option<Timeout>,
            memory_limit: Option<Quantity>,
            failure_policy: Option<String>,
            sha256: Option<String>,
            $($(#[$fdoc])* $field: $ty,)*
        }
    };
}

raw_module!(
    /// An authentication or authorization module as written. Decoded for its strictness only
    /// (a field of admission is unknown here); the values are read from a [`RawAdmissionModule`].
    #[allow(dead_code)]
    RawModule {}
);

raw_module!(
    /// An admission module as written. The matching fields and `validationActions` are the
    /// caller's: any JSON value, passed through.
    RawAdmissionModule {
        mutating: Option<bool>,
        #[serde(rename = "type")]
        module_type: Option<ModuleType>,
        rules: Option<Value>,
        namespace_selector: Option<Value>,
        object_selector: Option<Value>,
        match_conditions: Option<Value>,
        match_policy: Option<Value>,
        reinvocation_policy: Option<Value>,
        side_effects: Option<Value>,
        validation_actions: Option<Value>,
    }
);

/// A configuration file as written: its modules, each decoded on its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map with a \"modules\" list")]
struct RawConfig {
    modules: Option<Vec<Value>>,
}

/// An `AdmissionConfiguration` document as written; only the `WASM` plugin is decoded.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "an AdmissionConfiguration map"
)]
struct RawAdmissionConfiguration {
    #[allow(dead_code)] // accepted, as kube-apiserver reads it
    api_version: Option<String>,
    #[allow(dead_code)]
    kind: Option<String>,
    plugins: Option<Vec<Value>>,
}

/// The `WASM` entry of an `AdmissionConfiguration`'s plugins.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a map")]
struct RawPlugin {
    #[allow(dead_code)] // "WASM": how the entry was found
    name: Option<String>,
    path: Option<String>,
    configuration: Option<Value>,
}

/// One problem: where (the document or module, then the field path inside it) and what.
struct Problem {
    at: String,
    field: String,
    message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match (self.at.is_empty(), self.field.is_empty()) {
            (true, true) => write!(f, "the configuration {}", self.message),
            (true, false) => write!(f, "{}: {}", self.field, self.message),
            (false, true) => write!(f, "{}: {}", self.at, self.message),
            (false, false) => write!(f, "{}: field \"{}\": {}", self.at, self.field, self.message),
        }
    }
}

/// Every problem found while decoding and validating, in document order: the error list of
/// Kubernetes' config validation (`field.ErrorList`).
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, at: &str, field: &str, message: impl Into<String>) {
        self.0.push(Problem {
            at: at.to_string(),
            field: field.to_string(),
            message: message.into(),
        });
    }
}

/// Decodes `value` strictly as a `T`. On an error, records it with its field path, removes the
/// offending field from `value` and decodes again, so that every field's problem is reported
/// (serde stops at the first). Returns what remains decoded; `None` when `value` itself has the
/// wrong shape.
fn decode<T: DeserializeOwned>(value: &mut Value, at: &str, p: &mut Problems) -> Option<T> {
    loop {
        let err = match serde_path_to_error::deserialize::<_, T>(&*value) {
            Ok(t) => return Some(t),
            Err(e) => e,
        };
        let message = err.inner().to_string();
        let mut segments: Vec<String> = err
            .path()
            .iter()
            .filter_map(|s| match s {
                Segment::Map { key } => Some(key.clone()),
                Segment::Seq { index } => Some(format!("[{index}]")),
                Segment::Enum { variant } => Some(variant.clone()),
                Segment::Unknown => None,
            })
            .collect();
        // An unknown field's path is its parent's: name the field itself.
        let unknown = message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name.to_string());
        if let Some(name) = &unknown
            && segments.is_empty()
        {
            segments.push(name.clone());
        }
        let field = segments.iter().fold(String::new(), |mut path, s| {
            if !path.is_empty() && !s.starts_with('[') {
                path.push('.');
            }
            path.push_str(s);
            path
        });
        p.add(at, &field, humanize(&message));
        // Set the field aside and decode the rest; a value that is not a map ends here.
        let top = segments.first()?;
        value.as_object_mut()?.remove(top)?;
    }
}

/// Rewrites serde's messages in the configuration's words: "unknown field `x`, expected one of
/// `a`, `b`" becomes "unknown field (allowed: a, b)"; "invalid type: integer `5`, expected a
/// string" becomes "must be a string, got integer `5`"; "unknown variant `x`, expected `a` or
/// `b`" (or "one of `a`, `b`, `c`") becomes "must be a or b, got \"x\"" ("a, b or c"). Messages
/// of our own pass unchanged.
fn humanize(message: &str) -> String {
    let names = |list: &str| {
        list.trim_start_matches("one of ")
            .replace("` or `", "`, `")
            .replace('`', "")
    };
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((_, expected)) = rest.split_once("`, expected ")
    {
        return format!("unknown field (allowed: {})", names(expected));
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((got, expected)) = rest.split_once("`, expected ")
    {
        // "`a` or `b`", or "one of `a`, `b`, `c`": the names, read as "a, b or c".
        let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let list = match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => expected.replace('`', ""),
        };
        return format!("must be {list}, got \"{got}\"");
    }
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((got, expected)) = rest.rsplit_once(", expected ")
    {
        let got = match got {
            "map" => "a map",
            "sequence" => "a list",
            "null" | "unit value" => "null",
            other => other,
        };
        return format!(
            "must be {}, got {got}",
            expected.replace("a sequence", "a list")
        );
    }
    message.to_string()
}

// ---------------------------------------------------------------------------------------------
// Validation: one pass over the decoded structs, every problem with its field path, defaults
// applied.

/// Validates one decoded module and applies the defaults; `None` when it has problems.
fn validate_module(
    kind: Kind,
    id: usize,
    at: &str,
    raw: RawAdmissionModule,
    base_dir: &Path,
    p: &mut Problems,
) -> Option<ModuleConfig> {
    let start = p.0.len();
    let module = match raw.module.as_deref() {
        None => {
            p.add(at, "module", "is required: the path of the .wasm file");
            PathBuf::new()
        }
        Some(s) if s.trim().is_empty() => {
            p.add(at, "module", "must not be empty");
            PathBuf::new()
        }
        Some(s) if Path::new(s).is_absolute() => PathBuf::from(s),
        Some(s) => base_dir.join(s),
    };
    let default_name = module
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match raw.name {
        None => default_name,
        Some(s) if s.trim().is_empty() => {
            p.add(at, "name", "must not be empty");
            s
        }
        Some(s) if s.contains('/') || s.chars().any(char::is_whitespace) => {
            p.add(at, "name", "must not contain '/' or white space");
            s
        }
        Some(s) => s,
    };
    let timeout = match raw.timeout {
        None => DEFAULT_TIMEOUT,
        Some(t) if t.value.is_zero() => {
            p.add(at, "timeout", "must be greater than zero");
            DEFAULT_TIMEOUT
        }
        Some(t) if t.value > MAX_TIMEOUT => {
            p.add(
                at,
                "timeout",
                format!(
                    "must be at most {}, got \"{}\"",
                    format_duration(MAX_TIMEOUT),
                    t.text
                ),
            );
            DEFAULT_TIMEOUT
        }
        Some(t) => t.value,
    };
    let memory_limit = match raw.memory_limit {
        None => DEFAULT_MEMORY_LIMIT,
        Some(q) if (MIN_MEMORY_LIMIT..=MAX_MEMORY_LIMIT).contains(&q.bytes) => q.bytes,
        Some(q) => {
            p.add(
                at,
                "memoryLimit",
                format!("must be between 1Mi and 4Gi, got {}", q.text),
            );
            DEFAULT_MEMORY_LIMIT
        }
    };
    let sha256 = match raw.sha256 {
        None => None,
        Some(s) => {
            let s = s.trim().to_ascii_lowercase();
            if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
                Some(s)
            } else {
                p.add(at, "sha256", "must be 64 hexadecimal digits");
                None
            }
        }
    };
    let failure_policy = match (kind, raw.failure_policy.as_deref()) {
        (Kind::Authentication, None) => FailurePolicy::NotAuthenticated,
        (Kind::Authentication, Some(_)) => {
            p.add(
                at,
                "failurePolicy",
                "is not supported for authentication: a failing module never authenticates",
            );
            FailurePolicy::NotAuthenticated
        }
        (Kind::Authorization, None | Some("NoOpinion")) => FailurePolicy::NoOpinion,
        (Kind::Authorization, Some("Deny")) => FailurePolicy::Deny,
        (Kind::Admission, None | Some("Fail")) => FailurePolicy::Fail,
        (Kind::Admission, Some("Ignore")) => FailurePolicy::Ignore,
        (Kind::Authorization, Some(other)) => {
            p.add(
                at,
                "failurePolicy",
                format!("must be NoOpinion or Deny, got \"{other}\""),
            );
            FailurePolicy::NoOpinion
        }
        (Kind::Admission, Some(other)) => {
            p.add(
                at,
                "failurePolicy",
                format!("must be Fail or Ignore, got \"{other}\""),
            );
            FailurePolicy::Fail
        }
    };
    let module_type = raw.module_type.unwrap_or(ModuleType::Wasi);
    let mutating = raw.mutating.unwrap_or(false);
    if module_type.is_rego() {
        if mutating {
            p.add(
                at,
                "mutating",
                format!(
                    "must be false for type {}: Rego policies only validate",
                    module_type.as_str()
                ),
            );
        }
        if let Some(v) = raw.settings.as_ref().filter(|v| !v.is_object()) {
            let kind_of = match v {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "a list",
                Value::Object(_) => "a map",
            };
            p.add(
                at,
                "settings",
                format!(
                    "must be a mapping for type {} (it becomes the policy's {}), got {kind_of}",
                    module_type.as_str(),
                    if module_type == ModuleType::Opa {
                        "data document"
                    } else {
                        "parameters"
                    },
                ),
            );
        }
    }
    let admission = (kind == Kind::Admission).then_some(AdmissionFields {
        mutating,
        rules: raw.rules,
        namespace_selector: raw.namespace_selector,
        object_selector: raw.object_selector,
        match_conditions: raw.match_conditions,
        match_policy: raw.match_policy,
        reinvocation_policy: raw.reinvocation_policy,
        side_effects: raw.side_effects,
        validation_actions: raw.validation_actions,
    });
    if p.0.len() > start {
        return None;
    }
    Some(ModuleConfig {
        id,
        name,
        module,
        settings: raw.settings,
        debug: raw.debug.unwrap_or(false),
        timeout,
        memory_limit,
        sha256,
        failure_policy,
        module_type,
        admission,
    })
}

/// How module `id` is named in messages: `modules[id] "name"`, the name being the configured
/// one or the module file's basename, read from the document as written (before decoding, so
/// that a module with problems is still named).
fn module_ref(id: usize, item: &Value) -> String {
    let name = match item.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => item
            .get("module")
            .and_then(Value::as_str)
            .and_then(|m| Path::new(m).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if name.is_empty() {
        format!("modules[{id}]")
    } else {
        format!("modules[{id}] \"{name}\"")
    }
}

/// Finds the `WASM` plugin's configuration in an `AdmissionConfiguration` document: its inline
/// `configuration`, or the file named by `path` (relative to `base_dir`). Returns the modules
/// document and the directory relative module paths resolve against.
fn admission_plugin_config(
    mut doc: Value,
    base_dir: &Path,
    p: &mut Problems,
) -> Option<(Value, PathBuf)> {
    const AT: &str = "AdmissionConfiguration";
    let start = p.0.len();
    let raw: RawAdmissionConfiguration = decode(&mut doc, AT, p)?;
    let Some(plugins) = raw.plugins else {
        if p.0.len() == start {
            p.add(AT, "plugins", "must be a list of plugins");
        }
        return None;
    };
    let mut found = None;
    let mut configured = false;
    for (i, mut plugin) in plugins.into_iter().enumerate() {
        let at = format!("{AT}: plugins[{i}]");
        let Value::Object(m) = &plugin else {
            p.add(&at, "", "must be a map");
            continue;
        };
        if m.get("name").and_then(Value::as_str) != Some("WASM") {
            continue;
        }
        if configured {
            p.add(&at, "name", "the WASM plugin is configured twice");
            continue;
        }
        configured = true;
        let Some(wasm) = decode::<RawPlugin>(&mut plugin, &at, p) else {
            continue;
        };
        found = match (wasm.configuration, wasm.path) {
            (Some(_), Some(_)) => {
                p.add(
                    &at,
                    "",
                    "set either \"configuration\" or \"path\", not both",
                );
                None
            }
            (Some(c), None) => Some((c, base_dir.to_path_buf())),
            (None, Some(path)) => {
                let file = if Path::new(&path).is_absolute() {
                    PathBuf::from(&path)
                } else {
                    base_dir.join(&path)
                };
                match std::fs::read(&file) {
                    Err(e) => {
                        p.add(&at, "path", format!("cannot read {}: {e}", file.display()));
                        None
                    }
                    Ok(bytes) => match parse_document(&bytes) {
                        Err(e) => {
                            p.add(&at, "path", format!("{}: {e}", file.display()));
                            None
                        }
                        Ok(v) => {
                            Some((v, file.parent().map(Path::to_path_buf).unwrap_or_default()))
                        }
                    },
                }
            }
            (None, None) => {
                p.add(
                    &at,
                    "",
                    "the WASM plugin needs \"configuration\" or \"path\"",
                );
                None
            }
        };
    }
    if !configured && p.0.len() == start {
        p.add(AT, "plugins", "has no plugin named WASM");
    }
    found.filter(|_| p.0.len() == start)
}

/// Parses and validates a configuration for `kind`. `base_dir` is the directory relative module
/// paths resolve against (the configuration file's directory). Every problem is listed in one
/// [`ErrorCode::Config`] error, one per line.
pub fn parse(kind: Kind, bytes: &[u8], base_dir: &Path) -> Result<Config, Error> {
    let doc = parse_document(bytes).map_err(|e| {
        Error::new(
            ErrorCode::Config,
            format!("invalid {} configuration: {e}", kind.name()),
        )
    })?;
    let mut p = Problems::default();
    let is_admission_configuration = |m: &Map<String, Value>| {
        m.contains_key("plugins")
            || m.get("kind").and_then(Value::as_str) == Some("AdmissionConfiguration")
    };
    let (mut doc, base_dir) = match doc {
        Value::Object(m) if kind == Kind::Admission && is_admission_configuration(&m) => {
            match admission_plugin_config(Value::Object(m), base_dir, &mut p) {
                Some(found) => found,
                None => return Err(config_error(kind, p)),
            }
        }
        doc => (doc, base_dir.to_path_buf()),
    };
    let Some(raw) = decode::<RawConfig>(&mut doc, "", &mut p) else {
        return Err(config_error(kind, p));
    };
    let mut modules = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (id, mut item) in raw.modules.unwrap_or_default().into_iter().enumerate() {
        let at = module_ref(id, &item);
        let start = p.0.len();
        // Strict decoding with the kind's struct; an authentication or authorization module
        // that decodes is then read as the superset of fields (the admission ones absent).
        let raw = if kind == Kind::Admission {
            decode::<RawAdmissionModule>(&mut item, &at, &mut p)
        } else {
            decode::<RawModule>(&mut item, &at, &mut p)
                .and_then(|_| serde_json::from_value::<RawAdmissionModule>(item).ok())
        };
        let Some(raw) = raw else { continue };
        let m = validate_module(kind, id, &at, raw, &base_dir, &mut p);
        if let Some(m) = m.filter(|_| p.0.len() == start) {
            if let Some(first) = seen.insert(m.name.clone(), id) {
                p.add(&format!("modules[{id}] \"{}\"", m.name), "name", format!("duplicate name: modules[{first}] has the same name (names default to the module file's basename)"));
            }
            modules.push(m);
        }
    }
    if !p.0.is_empty() {
        // Report unreadable module files of the entries that did parse in the same message:
        // the operator fixes everything in one go.
        for m in &modules {
            if let Err(e) = std::fs::File::open(&m.module) {
                let at = format!("modules[{}] \"{}\"", m.id, m.name);
                p.add(
                    &at,
                    "module",
                    format!("cannot read module file {}: {e}", m.module.display()),
                );
            }
        }
        return Err(config_error(kind, p));
    }
    Ok(Config { kind, modules })
}

fn config_error(kind: Kind, p: Problems) -> Error {
    let n = p.0.len();
    let mut message = format!(
        "invalid {} configuration ({n} problem{}):",
        kind.name(),
        if n == 1 { "" } else { "s" }
    );
    for problem in p.0 {
        message.push_str("\n- ");
        message.push_str(&problem.to_string());
    }
    Error::new(ErrorCode::Config, message)
}

/// Whether the environment switch `name` (`KUBEWASM_PERF_MAP`, `KUBEWASM_RECYCLE`,
/// `KUBEWASM_TIMING`) is on.
pub fn env_switch(name: &str) -> bool {
    switch_on(std::env::var_os(name).as_deref())
}

/// Whether a switch's value turns it on: only `1` does; unset, empty, `0`, `true`, ... leave it
/// off.
fn switch_on(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| v == "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_is_on_only_on_one() {
        let cases: &[(Option<&str>, bool)] = &[
            (None, false),
            (Some("1"), true),
            (Some(""), false),
            (Some("0"), false),
            (Some("true"), false),
            (Some("yes"), false),
            (Some(" 1"), false),
        ];
        for (value, want) in cases {
            assert_eq!(
                switch_on(value.map(std::ffi::OsStr::new)),
                *want,
                "{value:?}"
            );
        }
    }

    fn problems(kind: Kind, doc: &str) -> String {
        match parse(kind, doc.as_bytes(), Path::new("/nonexistent")) {
            Ok(c) => panic!("want an error, got {c:?}"),
            Err(e) => {
                assert_eq!(e.code, ErrorCode::Config);
                e.message
            }
        }
    }

    #[test]
    fn every_problem_with_its_field_path() {
        let cases: &[(&str, Kind, &str, &[&str])] = &[
            (
                "two problems in one module",
                Kind::Admission,
                "modules:\n- {name: a, module: a.wasm, timeout: 5, colour: blue, failurePolicy: Sometimes}\n",
                &[
                    "(3 problems)",
                    r#"modules[0] "a": field "timeout": must be a duration string such as "2s", got integer `5`"#,
                    r#"modules[0] "a": field "colour": unknown field (allowed: name, module, settings, debug, timeout, memoryLimit, failurePolicy, sha256, mutating, type, rules, "#,
                    r#"modules[0] "a": field "failurePolicy": must be Fail or Ignore, got "Sometimes""#,
                ],
            ),
            (
                "admission fields are unknown to authentication",
                Kind::Authentication,
                "modules:\n- {module: a.wasm, mutating: true}\n",
                &[
                    r#"modules[0] "a.wasm": field "mutating": unknown field (allowed: name, module, settings, debug, timeout, memoryLimit, failurePolicy, sha256)"#,
                ],
            ),
            (
                "types",
                Kind::Admission,
                "modules:\n- {module: a.wasm, debug: yes please, name: [x], type: wasm, memoryLimit: 12Qi, mutating: 1}\n",
                &[
                    r#"modules[0] "a.wasm": field "debug": must be a boolean, got string "yes please""#,
                    r#"field "name": must be a string, got a list"#,
                    r#"field "type": must be wasi, kubewarden, opa or gatekeeper, got "wasm""#,
                    r#"field "memoryLimit": must be a quantity such as "64Mi", got "12Qi""#,
                    r#"field "mutating": must be a boolean, got integer `1`"#,
                ],
            ),
            (
                "values",
                Kind::Authorization,
                "modules:\n- {name: 'a b', module: ' ', timeout: 1m, memoryLimit: 100, sha256: xyz, failurePolicy: Allow}\n- {name: c, timeout: 0s}\n- {module: b.wasm, timeout: soon}\n- 5\n",
                &[
                    r#"modules[0] "a b": field "name": must not contain '/' or white space"#,
                    r#"modules[0] "a b": field "module": must not be empty"#,
                    r#"modules[0] "a b": field "timeout": must be at most 30s, got "1m""#,
                    r#"modules[0] "a b": field "memoryLimit": must be between 1Mi and 4Gi, got 100"#,
                    r#"modules[0] "a b": field "sha256": must be 64 hexadecimal digits"#,
                    r#"modules[0] "a b": field "failurePolicy": must be NoOpinion or Deny, got "Allow""#,
                    r#"modules[1] "c": field "module": is required: the path of the .wasm file"#,
                    r#"modules[1] "c": field "timeout": must be greater than zero"#,
                    r#"modules[2] "b.wasm": field "timeout": must be a duration such as "2s" or "500ms", got "soon""#,
                    "modules[3]: must be a map, got integer `5`",
                ],
            ),
            (
                "authentication has no failure policy",
                Kind::Authentication,
                "modules:\n- {module: a.wasm, failurePolicy: Fail}\n",
                &[r#"field "failurePolicy": is not supported for authentication"#],
            ),
            (
                "top level",
                Kind::Authorization,
                "base: {}\nmodules: {a: b}\n",
                &[
                    r#"base: unknown field (allowed: modules)"#,
                    "modules: must be a list, got a map",
                ],
            ),
            (
                "not a map",
                Kind::Authorization,
                "just a string\n",
                &[
                    r#"the configuration must be a map with a "modules" list, got string "just a string""#,
                ],
            ),
            (
                "admission configuration",
                Kind::Admission,
                "kind: AdmissionConfiguration\nplugins:\n- {name: WASM, configuration: {}, path: x, extra: 1}\n- {name: WASM, path: y}\n",
                &[
                    r#"AdmissionConfiguration: plugins[0]: field "extra": unknown field (allowed: name, path, configuration)"#,
                    r#"AdmissionConfiguration: plugins[0]: set either "configuration" or "path", not both"#,
                    r#"AdmissionConfiguration: plugins[1]: field "name": the WASM plugin is configured twice"#,
                ],
            ),
            (
                "admission configuration without the plugin",
                Kind::Admission,
                "kind: AdmissionConfiguration\nplugins:\n- {name: Other}\nextra: 1\n",
                &[
                    r#"AdmissionConfiguration: field "extra": unknown field (allowed: apiVersion, kind, plugins)"#,
                ],
            ),
            (
                "admission configuration without plugins",
                Kind::Admission,
                "kind: AdmissionConfiguration\n",
                &[r#"AdmissionConfiguration: field "plugins": must be a list of plugins"#],
            ),
            (
                "duplicate names",
                Kind::Authentication,
                "modules:\n- {module: /a/x.wasm}\n- {module: /b/x.wasm}\n",
                &[
                    r#"modules[1] "x.wasm": field "name": duplicate name: modules[0] has the same name"#,
                ],
            ),
        ];
        for (name, kind, doc, wants) in cases {
            let message = problems(*kind, doc);
            for want in *wants {
                assert!(
                    message.contains(want),
                    "{name}: missing {want:?} in:\n{message}"
                );
            }
        }
    }

    #[test]
    fn defaults_and_pass_through() {
        let doc = r#"{"modules": [{"module": "/m/a.wasm", "rules": "anything", "sideEffects": 7,
            "matchConditions": [{"bogus": true}], "validationActions": []}]}"#;
        let c = parse(Kind::Admission, doc.as_bytes(), Path::new("/")).unwrap();
        let m = &c.modules[0];
        assert_eq!(m.name, "a.wasm");
        assert_eq!(m.timeout, DEFAULT_TIMEOUT);
        assert_eq!(m.memory_limit, DEFAULT_MEMORY_LIMIT);
        assert_eq!(m.failure_policy, FailurePolicy::Fail);
        assert_eq!(m.module_type, ModuleType::Wasi);
        let out = serde_json::to_value(m).unwrap();
        // The caller's fields come back as written, and only when written: the caller
        // validates them and applies their defaults.
        assert_eq!(out["rules"], "anything");
        assert_eq!(out["sideEffects"], 7);
        assert_eq!(out["matchConditions"], serde_json::json!([{"bogus": true}]));
        assert_eq!(out["validationActions"], serde_json::json!([]));
        assert!(out.get("matchPolicy").is_none() && out.get("reinvocationPolicy").is_none());
        assert_eq!(out["mutating"], false);

        let c = parse(
            Kind::Authorization,
            b"modules:\n- {module: a.wasm, timeout: 1.5s, memoryLimit: 2Mi, debug: true}\n",
            Path::new("/etc/k"),
        )
        .unwrap();
        let m = &c.modules[0];
        assert_eq!(m.module, Path::new("/etc/k/a.wasm"));
        assert_eq!(m.timeout, Duration::from_millis(1500));
        assert_eq!(m.memory_limit, 2 << 20);
        assert!(m.debug);
        assert_eq!(m.failure_policy, FailurePolicy::NoOpinion);
        assert!(m.admission.is_none());
    }
}
