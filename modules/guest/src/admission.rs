//! `admission.k8s.io/v1` AdmissionReview and helpers for the `validate` export.
//!
//! Objects stay `serde_json::Value`s, so a Full patch built from `request.object` keeps
//! every field, including those this library knows nothing about.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::authn::UserInfo;

/// The `apiVersion` the host requires on an AdmissionReview response.
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// The `kind` the host requires on an AdmissionReview response.
pub const KIND: &str = "AdmissionReview";

/// An AdmissionReview: `request` on input, `response` on output.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReview {
    /// `admission.k8s.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `AdmissionReview`.
    #[serde(default)]
    pub kind: String,
    /// The request (input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<AdmissionRequest>,
    /// The response (output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<AdmissionResponse>,
}

/// `AdmissionReview.request`. Fields not modelled here are kept in `other`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    /// The request uid; the response must carry the same.
    #[serde(default)]
    pub uid: String,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operation: String,
    /// Object name (may be empty on CREATE with generateName).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Object namespace (empty for cluster-scoped objects).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The new object (absent or `null` on DELETE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
    /// The old object (UPDATE and DELETE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_object: Option<Value>,
    /// The type of the object (e.g. `{"group": "", "version": "v1", "kind": "ConfigMap"}`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub kind: GroupVersionKind,
    /// The resource being requested (e.g. `configmaps`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub resource: GroupVersionResource,
    /// The subresource being requested, if any (e.g. `status`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub_resource: String,
    /// The kind of the original API request, when it differs from `kind` (conversion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_kind: Option<GroupVersionKind>,
    /// The resource of the original API request, when it differs from `resource`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_resource: Option<GroupVersionResource>,
    /// The subresource of the original API request.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_sub_resource: String,
    /// Who made the request.
    #[serde(default, skip_serializing_if = "is_default")]
    pub user_info: UserInfo,
    /// Whether the request is a dry run (a module with side effects must not have them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// The operation's options (`CreateOptions`, `UpdateOptions`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
    /// Every field not modelled above, as it came.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

crate::de::with_other_fields!(AdmissionRequest, "an AdmissionRequest object", {
    "uid" => uid,
    "operation" => operation,
    "name" => name,
    "namespace" => namespace,
    "object" => object,
    "oldObject" => old_object,
    "kind" => kind,
    "resource" => resource,
    "subResource" => sub_resource,
    "requestKind" => request_kind,
    "requestResource" => request_resource,
    "requestSubResource" => request_sub_resource,
    "userInfo" => user_info,
    "dryRun" => dry_run,
    "options" => options,
});

/// A group, version and kind, as in `request.kind`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupVersionKind {
    /// API group (empty for the core group).
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
}

/// A group, version and resource, as in `request.resource`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupVersionResource {
    /// API group (empty for the core group).
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Resource (plural, lower case).
    #[serde(default)]
    pub resource: String,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl AdmissionRequest {
    /// `request.object` if it is a JSON object with the given `apiVersion` and `kind`;
    /// otherwise an error message (no object, or an object of another type).
    pub fn object_of_kind(&self, api_version: &str, kind: &str) -> Result<&Value, String> {
        let object = self
            .object
            .as_ref()
            .ok_or_else(|| "no object in request".to_owned())?;
        let field = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or("");
        if !object.is_object() || field("apiVersion") != api_version || field("kind") != kind {
            return Err(format!(
                "expected a {api_version} {kind}, got apiVersion '{}' kind '{}'",
                field("apiVersion"),
                field("kind")
            ));
        }
        Ok(object)
    }

    /// Like [`AdmissionRequest::object_of_kind`], but moves the object out of the request
    /// (no copy), e.g. to mutate it into a Full patch.
    pub fn take_object_of_kind(&mut self, api_version: &str, kind: &str) -> Result<Value, String> {
        self.object_of_kind(api_version, kind)?;
        Ok(self.object.take().unwrap_or_default())
    }
}

/// `AdmissionReview.response`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// Must equal `request.uid`.
    pub uid: String,
    /// Whether the request is admitted.
    pub allowed: bool,
    /// Why not (for rejections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Base64 of the patch (mutating modules only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// `Full` (the whole mutated object) or `JSONPatch` (RFC 6902).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    /// Warnings for the API client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Audit annotations (the host prefixes the keys with the module name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
}

/// The `metav1.Status` of a rejection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Machine-readable reason (e.g. `Forbidden`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// HTTP status code (e.g. 403).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
}

impl AdmissionReview {
    /// An AdmissionReview response (apiVersion and kind set) carrying `response`.
    pub fn respond(response: AdmissionResponse) -> AdmissionReview {
        AdmissionReview {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            request: None,
            response: Some(response),
        }
    }

    /// Takes the request out of an input review; an error when there is none.
    pub fn into_request(self) -> Result<AdmissionRequest, String> {
        self.request
            .ok_or_else(|| "no request in AdmissionReview".to_owned())
    }
}

/// Admit, without changes.
pub fn accept(uid: &str) -> AdmissionReview {
    AdmissionReview::respond(AdmissionResponse {
        uid: uid.to_owned(),
        allowed: true,
        ..AdmissionResponse::default()
    })
}

/// Reject with `status: {message, code}`.
pub fn reject(uid: &str, message: &str, code: i32) -> AdmissionReview {
    AdmissionReview::respond(AdmissionResponse {
        uid: uid.to_owned(),
        allowed: false,
        status: Some(Status {
            message: message.to_owned(),
            reason: String::new(),
            code: Some(code),
        }),
        ..AdmissionResponse::default()
    })
}

/// Admit with a `Full` patch: `patch` = base64 of the whole mutated object's JSON.
pub fn mutate_full<T: Serialize + ?Sized>(
    uid: &str,
    object: &T,
) -> Result<AdmissionReview, String> {
    patched(uid, "Full", object)
}

/// Admit with a `JSONPatch`: `patch` = base64 of the RFC 6902 operations array.
pub fn mutate_json_patch<T: Serialize + ?Sized>(
    uid: &str,
    operations: &T,
) -> Result<AdmissionReview, String> {
    patched(uid, "JSONPatch", operations)
}

fn patched<T: Serialize + ?Sized>(
    uid: &str,
    patch_type: &str,
    patch: &T,
) -> Result<AdmissionReview, String> {
    let json = serde_json::to_vec(patch).map_err(|e| format!("cannot serialise patch: {e}"))?;
    Ok(AdmissionReview::respond(AdmissionResponse {
        uid: uid.to_owned(),
        allowed: true,
        patch: Some(base64::engine::general_purpose::STANDARD.encode(json)),
        patch_type: Some(patch_type.to_owned()),
        ..AdmissionResponse::default()
    }))
}

/// Escapes one reference token of an RFC 6901 JSON pointer (`~` → `~0`, `/` → `~1`),
/// e.g. for an annotation key like `example.com/owner`.
pub fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn full_patch_is_base64_of_the_object() {
        let review = mutate_full("u", &json!({"kind": "ConfigMap"})).unwrap();
        let out = serde_json::to_value(&review).unwrap();
        assert_eq!(out["apiVersion"], API_VERSION);
        assert_eq!(out["kind"], KIND);
        assert_eq!(out["response"]["uid"], "u");
        assert_eq!(out["response"]["patchType"], "Full");
        let patch = base64::engine::general_purpose::STANDARD
            .decode(out["response"]["patch"].as_str().unwrap())
            .unwrap();
        assert_eq!(patch, br#"{"kind":"ConfigMap"}"#);
    }

    #[test]
    fn reject_carries_message_and_code() {
        let out = serde_json::to_value(reject("u", "no", 403)).unwrap();
        assert_eq!(
            out["response"],
            json!({"uid": "u", "allowed": false, "status": {"message": "no", "code": 403}})
        );
    }

    #[test]
    fn unknown_request_fields_are_kept() {
        let request: AdmissionRequest = serde_json::from_value(
            json!({"uid": "u", "dryRun": true, "object": null, "future": {"a": 1}}),
        )
        .unwrap();
        assert_eq!(request.dry_run, Some(true));
        assert_eq!(request.other["future"]["a"], 1);
        assert!(request.object.is_none());
        assert_eq!(
            request.object_of_kind("v1", "ConfigMap").unwrap_err(),
            "no object in request"
        );
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(pointer_token("a/b~c"), "a~1b~0c");
    }
}
