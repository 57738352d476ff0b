//! The configuration format: one parser for the authentication, authorization and admission
//! files, YAML or JSON, strict (an unknown field is an error), defaults applied here and only
//! here, and every problem reported at once, each naming the module and the field.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// Fields only admission modules have. Kubernetes-typed values (rules, selectors, match
/// conditions) are checked for shape here and interpreted by the caller's webhook machinery.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionFields {
    /// Runs in the mutating phase (true) or the validating phase (false).
    pub mutating: bool,
    /// admissionregistration/v1 `RuleWithOperations` list; empty = never called.
    pub rules: Vec<Value>,
    /// A label selector on the request's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<Value>,
    /// A label selector on the object (and old object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_selector: Option<Value>,
    /// CEL match conditions (`name`, `expression`).
    pub match_conditions: Vec<Value>,
    /// `Exact` or `Equivalent` (default).
    pub match_policy: String,
    /// `Never` (default) or `IfNeeded`.
    pub reinvocation_policy: String,
    /// `None` (default), `NoneOnDryRun`, `Some` or `Unknown`.
    pub side_effects: String,
    /// ValidatingAdmissionPolicyBinding's `validationActions` (`Deny`, `Warn`, `Audit`): what a
    /// rejection or a failure with `failurePolicy: Fail` does. Opaque here: the caller (the Go
    /// plugin, which owns admission decisions) validates and applies it.
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
pub fn parse_quantity(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
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
        _ => None,
    }
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

/// Collects every problem found while validating, each with its location.
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, at: &str, field: &str, message: impl AsRef<str>) {
        let location = match (at.is_empty(), field.is_empty()) {
            (true, _) => field.to_string(),
            (false, true) => at.to_string(),
            (false, false) => format!("{at}: field \"{field}\""),
        };
        self.0.push(format!("{location}: {}", message.as_ref()));
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Reports every key of `map` not in `allowed`.
fn unknown_fields(map: &Map<String, Value>, allowed: &[&str], at: &str, p: &mut Problems) {
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            p.add(
                at,
                key,
                format!("unknown field (allowed: {})", allowed.join(", ")),
            );
        }
    }
}

fn get_bool(map: &Map<String, Value>, key: &str, at: &str, p: &mut Problems) -> bool {
    match map.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            p.add(
                at,
                key,
                format!("must be true or false, got {}", type_name(v)),
            );
            false
        }
    }
}

fn get_str<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    at: &str,
    p: &mut Problems,
) -> Option<&'a str> {
    match map.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(v) => {
            p.add(at, key, format!("must be a string, got {}", type_name(v)));
            None
        }
    }
}

fn get_enum(
    map: &Map<String, Value>,
    key: &str,
    choices: &[&str],
    default: &str,
    at: &str,
    p: &mut Problems,
) -> String {
    match get_str(map, key, at, p) {
        None => default.to_string(),
        Some(s) if choices.contains(&s) => s.to_string(),
        Some(s) => {
            p.add(
                at,
                key,
                format!("must be one of {}, got \"{s}\"", choices.join(", ")),
            );
            default.to_string()
        }
    }
}

fn string_list(value: &Value, at: &str, field: &str, p: &mut Problems) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v {
                Value::String(s) => Some(s.clone()),
                other => {
                    p.add(
                        at,
                        &format!("{field}[{i}]"),
                        format!("must be a string, got {}", type_name(other)),
                    );
                    None
                }
            })
            .collect(),
        other => {
            p.add(
                at,
                field,
                format!("must be a list of strings, got {}", type_name(other)),
            );
            Vec::new()
        }
    }
}

fn check_rules(value: &Value, at: &str, p: &mut Problems) -> Vec<Value> {
    let Value::Array(rules) = value else {
        p.add(
            at,
            "rules",
            format!("must be a list, got {}", type_name(value)),
        );
        return Vec::new();
    };
    for (i, rule) in rules.iter().enumerate() {
        let field = format!("rules[{i}]");
        let Value::Object(map) = rule else {
            p.add(
                at,
                &field,
                format!("must be a map, got {}", type_name(rule)),
            );
            continue;
        };
        let here = format!("{at}: field \"{field}\"");
        unknown_fields(
            map,
            &[
                "operations",
                "apiGroups",
                "apiVersions",
                "resources",
                "scope",
            ],
            &here,
            p,
        );
        for list in ["operations", "apiGroups", "apiVersions", "resources"] {
            match map.get(list) {
                None => p.add(&here, list, "is required"),
                Some(v) => {
                    let items = string_list(v, &here, list, p);
                    if items.is_empty() && v.is_array() {
                        p.add(&here, list, "must not be empty");
                    }
                    if list == "operations" {
                        for op in items {
                            if !["*", "CREATE", "UPDATE", "DELETE", "CONNECT"]
                                .contains(&op.as_str())
                            {
                                p.add(&here, list, format!("unknown operation \"{op}\" (allowed: *, CREATE, UPDATE, DELETE, CONNECT)"));
                            }
                        }
                    }
                }
            }
        }
        get_enum(map, "scope", &["*", "Cluster", "Namespaced"], "*", &here, p);
    }
    rules.clone()
}

fn check_selector(value: &Value, at: &str, field: &str, p: &mut Problems) {
    let Value::Object(map) = value else {
        p.add(
            at,
            field,
            format!("must be a label selector map, got {}", type_name(value)),
        );
        return;
    };
    let here = format!("{at}: field \"{field}\"");
    unknown_fields(map, &["matchLabels", "matchExpressions"], &here, p);
    if let Some(labels) = map.get("matchLabels") {
        match labels {
            Value::Object(l) => {
                for (k, v) in l {
                    if !v.is_string() {
                        p.add(&here, &format!("matchLabels.{k}"), "must be a string");
                    }
                }
            }
            other => p.add(
                &here,
                "matchLabels",
                format!("must be a map, got {}", type_name(other)),
            ),
        }
    }
    if let Some(exprs) = map.get("matchExpressions") {
        let Value::Array(exprs) = exprs else {
            p.add(&here, "matchExpressions", "must be a list");
            return;
        };
        for (i, e) in exprs.iter().enumerate() {
            let f = format!("matchExpressions[{i}]");
            let Value::Object(m) = e else {
                p.add(&here, &f, "must be a map");
                continue;
            };
            let inner = format!("{here}.{f}");
            unknown_fields(m, &["key", "operator", "values"], &inner, p);
            if get_str(m, "key", &inner, p).is_none() {
                p.add(&inner, "key", "is required");
            }
            match get_str(m, "operator", &inner, p) {
                Some("In" | "NotIn" | "Exists" | "DoesNotExist") => {}
                Some(op) => p.add(
                    &inner,
                    "operator",
                    format!("must be one of In, NotIn, Exists, DoesNotExist, got \"{op}\""),
                ),
                None => p.add(&inner, "operator", "is required"),
            }
            if let Some(v) = m.get("values") {
                string_list(v, &inner, "values", p);
            }
        }
    }
}

fn check_match_conditions(value: &Value, at: &str, p: &mut Problems) -> Vec<Value> {
    let Value::Array(items) = value else {
        p.add(
            at,
            "matchConditions",
            format!("must be a list, got {}", type_name(value)),
        );
        return Vec::new();
    };
    let mut names = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("matchConditions[{i}]");
        let Value::Object(m) = item else {
            p.add(at, &field, "must be a map with name and expression");
            continue;
        };
        let here = format!("{at}: field \"{field}\"");
        unknown_fields(m, &["name", "expression"], &here, p);
        match get_str(m, "name", &here, p) {
            Some(n) if !n.is_empty() => {
                if !names.insert(n.to_string()) {
                    p.add(
                        &here,
                        "name",
                        format!("duplicate match condition name \"{n}\""),
                    );
                }
            }
            _ => p.add(&here, "name", "is required"),
        }
        match get_str(m, "expression", &here, p) {
            Some(e) if !e.trim().is_empty() => {}
            _ => p.add(&here, "expression", "is required"),
        }
    }
    items.clone()
}

const COMMON_FIELDS: &[&str] = &[
    "name",
    "module",
    "settings",
    "debug",
    "timeout",
    "memoryLimit",
    "failurePolicy",
    "sha256",
];
const ADMISSION_FIELDS: &[&str] = &[
    "mutating",
    "type",
    "rules",
    "namespaceSelector",
    "objectSelector",
    "matchConditions",
    "matchPolicy",
    "reinvocationPolicy",
    "sideEffects",
    "validationActions",
];

fn parse_module(
    kind: Kind,
    id: usize,
    value: &Value,
    base_dir: &Path,
    p: &mut Problems,
) -> Option<ModuleConfig> {
    let Value::Object(map) = value else {
        p.add(
            &format!("modules[{id}]"),
            "",
            format!("must be a map, got {}", type_name(value)),
        );
        return None;
    };
    let module_str = map.get("module").and_then(Value::as_str).unwrap_or("");
    let default_name = Path::new(module_str)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let explicit_name = map.get("name").and_then(Value::as_str);
    let name = explicit_name.map(str::to_string).unwrap_or(default_name);
    let at = if name.is_empty() {
        format!("modules[{id}]")
    } else {
        format!("modules[{id}] \"{name}\"")
    };
    let start = p.0.len();

    let mut allowed: Vec<&str> = COMMON_FIELDS.to_vec();
    if kind == Kind::Admission {
        allowed.extend_from_slice(ADMISSION_FIELDS);
    }
    unknown_fields(map, &allowed, &at, p);

    match map.get("name") {
        None => {}
        Some(Value::String(s)) if s.trim().is_empty() => p.add(&at, "name", "must not be empty"),
        Some(Value::String(s)) if s.contains('/') || s.chars().any(char::is_whitespace) => {
            p.add(&at, "name", "must not contain '/' or white space")
        }
        Some(Value::String(_)) => {}
        Some(v) => p.add(
            &at,
            "name",
            format!("must be a string, got {}", type_name(v)),
        ),
    }
    let module = match map.get("module") {
        None | Some(Value::Null) => {
            p.add(&at, "module", "is required: the path of the .wasm file");
            PathBuf::new()
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            p.add(&at, "module", "must not be empty");
            PathBuf::new()
        }
        Some(Value::String(s)) => {
            let path = Path::new(s);
            if path.is_absolute() {
                path.to_path_buf()
            } else {
                base_dir.join(path)
            }
        }
        Some(v) => {
            p.add(
                &at,
                "module",
                format!("must be a string, got {}", type_name(v)),
            );
            PathBuf::new()
        }
    };
    let settings = match map.get("settings") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.clone()),
    };
    let debug = get_bool(map, "debug", &at, p);
    let timeout = match map.get("timeout") {
        None | Some(Value::Null) => DEFAULT_TIMEOUT,
        Some(Value::String(s)) => match parse_duration(s) {
            Some(d) if d.is_zero() => {
                p.add(&at, "timeout", "must be greater than zero");
                DEFAULT_TIMEOUT
            }
            Some(d) if d > MAX_TIMEOUT => {
                p.add(
                    &at,
                    "timeout",
                    format!(
                        "must be at most {}, got \"{s}\"",
                        format_duration(MAX_TIMEOUT)
                    ),
                );
                DEFAULT_TIMEOUT
            }
            Some(d) => d,
            None => {
                p.add(
                    &at,
                    "timeout",
                    format!("must be a duration such as \"2s\" or \"500ms\", got \"{s}\""),
                );
                DEFAULT_TIMEOUT
            }
        },
        Some(v) => {
            p.add(
                &at,
                "timeout",
                format!(
                    "must be a duration string such as \"2s\", got {}",
                    type_name(v)
                ),
            );
            DEFAULT_TIMEOUT
        }
    };
    let memory_limit = match map.get("memoryLimit") {
        None | Some(Value::Null) => DEFAULT_MEMORY_LIMIT,
        Some(v) => match parse_quantity(v) {
            Some(n) if (MIN_MEMORY_LIMIT..=MAX_MEMORY_LIMIT).contains(&n) => n,
            Some(_) => {
                p.add(
                    &at,
                    "memoryLimit",
                    format!("must be between 1Mi and 4Gi, got {v}"),
                );
                DEFAULT_MEMORY_LIMIT
            }
            None => {
                p.add(
                    &at,
                    "memoryLimit",
                    format!("must be a quantity such as \"64Mi\", got {v}"),
                );
                DEFAULT_MEMORY_LIMIT
            }
        },
    };
    let sha256 = match get_str(map, "sha256", &at, p) {
        None => None,
        Some(s) => {
            let s = s.trim().to_ascii_lowercase();
            if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
                Some(s)
            } else {
                p.add(&at, "sha256", "must be 64 hexadecimal digits");
                None
            }
        }
    };
    let failure_policy = match (kind, get_str(map, "failurePolicy", &at, p)) {
        (Kind::Authentication, None) => FailurePolicy::NotAuthenticated,
        (Kind::Authentication, Some(_)) => {
            p.add(
                &at,
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
                &at,
                "failurePolicy",
                format!("must be NoOpinion or Deny, got \"{other}\""),
            );
            FailurePolicy::NoOpinion
        }
        (Kind::Admission, Some(other)) => {
            p.add(
                &at,
                "failurePolicy",
                format!("must be Fail or Ignore, got \"{other}\""),
            );
            FailurePolicy::Fail
        }
    };
    let mut module_type = ModuleType::Wasi;
    let admission = if kind == Kind::Admission {
        module_type = match get_str(map, "type", &at, p) {
            None | Some("wasi") => ModuleType::Wasi,
            Some("kubewarden") => ModuleType::Kubewarden,
            Some("opa") => ModuleType::Opa,
            Some("gatekeeper") => ModuleType::Gatekeeper,
            Some(other) => {
                p.add(
                    &at,
                    "type",
                    format!("must be wasi, kubewarden, opa or gatekeeper, got \"{other}\""),
                );
                ModuleType::Wasi
            }
        };
        let mutating = get_bool(map, "mutating", &at, p);
        if module_type.is_rego() {
            if mutating {
                p.add(
                    &at,
                    "mutating",
                    format!(
                        "must be false for type {}: Rego policies only validate",
                        module_type.as_str()
                    ),
                );
            }
            if let Some(v) = settings.as_ref().filter(|v| !v.is_object()) {
                p.add(
                    &at,
                    "settings",
                    format!(
                        "must be a mapping for type {} (it becomes the policy's {}), got {}",
                        module_type.as_str(),
                        if module_type == ModuleType::Opa {
                            "data document"
                        } else {
                            "parameters"
                        },
                        type_name(v)
                    ),
                );
            }
        }
        let rules = map
            .get("rules")
            .map(|r| check_rules(r, &at, p))
            .unwrap_or_default();
        let namespace_selector = map
            .get("namespaceSelector")
            .filter(|v| !v.is_null())
            .cloned();
        if let Some(v) = &namespace_selector {
            check_selector(v, &at, "namespaceSelector", p);
        }
        let object_selector = map.get("objectSelector").filter(|v| !v.is_null()).cloned();
        if let Some(v) = &object_selector {
            check_selector(v, &at, "objectSelector", p);
        }
        let match_conditions = map
            .get("matchConditions")
            .filter(|v| !v.is_null())
            .map(|v| check_match_conditions(v, &at, p))
            .unwrap_or_default();
        let match_policy = get_enum(
            map,
            "matchPolicy",
            &["Exact", "Equivalent"],
            "Equivalent",
            &at,
            p,
        );
        let reinvocation_policy = get_enum(
            map,
            "reinvocationPolicy",
            &["Never", "IfNeeded"],
            "Never",
            &at,
            p,
        );
        if reinvocation_policy == "IfNeeded" && !mutating {
            p.add(
                &at,
                "reinvocationPolicy",
                "IfNeeded is only meaningful for a mutating module",
            );
        }
        let side_effects = get_enum(
            map,
            "sideEffects",
            &["None", "NoneOnDryRun", "Some", "Unknown"],
            "None",
            &at,
            p,
        );
        Some(AdmissionFields {
            mutating,
            rules,
            namespace_selector,
            object_selector,
            match_conditions,
            match_policy,
            reinvocation_policy,
            side_effects,
            validation_actions: map
                .get("validationActions")
                .filter(|v| !v.is_null())
                .cloned(),
        })
    } else {
        None
    };
    if p.0.len() > start {
        return None;
    }
    Some(ModuleConfig {
        id,
        name,
        module,
        settings,
        debug,
        timeout,
        memory_limit,
        sha256,
        failure_policy,
        module_type,
        admission,
    })
}

/// Finds the `WASM` plugin's configuration in an `AdmissionConfiguration` document: its inline
/// `configuration`, or the file named by `path` (relative to `base_dir`). Returns the modules
/// document and the directory relative module paths resolve against.
fn admission_plugin_config(
    doc: &Map<String, Value>,
    base_dir: &Path,
    p: &mut Problems,
) -> Option<(Value, PathBuf)> {
    unknown_fields(
        doc,
        &["apiVersion", "kind", "plugins"],
        "AdmissionConfiguration",
        p,
    );
    let Some(Value::Array(plugins)) = doc.get("plugins") else {
        p.add(
            "AdmissionConfiguration",
            "plugins",
            "must be a list of plugins",
        );
        return None;
    };
    let mut found = None;
    for (i, plugin) in plugins.iter().enumerate() {
        let at = format!("AdmissionConfiguration: plugins[{i}]");
        let Value::Object(m) = plugin else {
            p.add(&at, "", "must be a map");
            continue;
        };
        if m.get("name").and_then(Value::as_str) != Some("WASM") {
            continue;
        }
        unknown_fields(m, &["name", "path", "configuration"], &at, p);
        if found.is_some() {
            p.add(&at, "name", "the WASM plugin is configured twice");
            continue;
        }
        found = match (m.get("configuration"), get_str(m, "path", &at, p)) {
            (Some(_), Some(_)) => {
                p.add(
                    &at,
                    "",
                    "set either \"configuration\" or \"path\", not both",
                );
                None
            }
            (Some(c), None) => Some((c.clone(), base_dir.to_path_buf())),
            (None, Some(path)) => {
                let file = if Path::new(path).is_absolute() {
                    PathBuf::from(path)
                } else {
                    base_dir.join(path)
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
    if found.is_none() && p.0.is_empty() {
        p.add(
            "AdmissionConfiguration",
            "plugins",
            "has no plugin named WASM",
        );
    }
    found
}

/// Parses and validates a configuration for `kind`. `base_dir` is the directory relative module
/// paths resolve against (the configuration file's directory). Every problem is listed in one
/// [`ErrorCode::Config`] error, one per line.
pub fn parse(kind: Kind, bytes: &[u8], base_dir: &Path) -> Result<Config, Error> {
    let doc = parse_document(bytes).map_err(|e| {
        Error::new(
            ErrorCode::Config,
            format!("invalid {} configuration: {e}", kind_name(kind)),
        )
    })?;
    let mut p = Problems(Vec::new());
    let (doc, base_dir) = match &doc {
        Value::Object(m)
            if kind == Kind::Admission
                && (m.contains_key("plugins")
                    || m.get("kind").and_then(Value::as_str) == Some("AdmissionConfiguration")) =>
        {
            match admission_plugin_config(m, base_dir, &mut p) {
                Some(found) => found,
                None => return Err(config_error(kind, p)),
            }
        }
        _ => (doc, base_dir.to_path_buf()),
    };
    let Value::Object(top) = &doc else {
        p.add(
            "",
            "",
            format!(
                "the configuration must be a map with a \"modules\" list, got {}",
                type_name(&doc)
            ),
        );
        return Err(config_error(kind, p));
    };
    unknown_fields(top, &["modules"], "", &mut p);
    let items: &[Value] = match top.get("modules") {
        None | Some(Value::Null) => &[],
        Some(Value::Array(a)) => a,
        Some(v) => {
            p.add(
                "",
                "modules",
                format!("must be a list, got {}", type_name(v)),
            );
            &[]
        }
    };
    let mut modules = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (id, item) in items.iter().enumerate() {
        if let Some(m) = parse_module(kind, id, item, &base_dir, &mut p) {
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

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Authentication => "authentication",
        Kind::Authorization => "authorization",
        Kind::Admission => "admission",
    }
}

fn config_error(kind: Kind, p: Problems) -> Error {
    let n = p.0.len();
    let mut message = format!(
        "invalid {} configuration ({n} problem{}):",
        kind_name(kind),
        if n == 1 { "" } else { "s" }
    );
    for line in p.0 {
        message.push_str("\n- ");
        message.push_str(&line);
    }
    Error::new(ErrorCode::Config, message)
}
