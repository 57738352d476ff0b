//! `authorization.k8s.io/v1` SubjectAccessReview and helpers for the `authz` export.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `apiVersion` of a SubjectAccessReview.
pub const API_VERSION: &str = "authorization.k8s.io/v1";
/// The `kind` of a SubjectAccessReview.
pub const KIND: &str = "SubjectAccessReview";

/// A SubjectAccessReview, as much of it as modules need.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReview {
    /// `authorization.k8s.io/v1` in responses built by this library.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// `SubjectAccessReview` in responses built by this library.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Who wants to do what. Not echoed in responses built here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<SubjectAccessReviewSpec>,
    /// The answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SubjectAccessReviewStatus>,
}

/// `SubjectAccessReview.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReviewSpec {
    /// The user name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// The user's uid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The user's groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The user's extra attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
    /// Set for a request on a resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_attributes: Option<ResourceAttributes>,
    /// Set for a request on a non-resource path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_resource_attributes: Option<NonResourceAttributes>,
}

/// `spec.resourceAttributes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAttributes {
    /// Namespace of the request (empty for cluster-scoped or all-namespace requests).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The verb (`get`, `list`, `create`, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verb: String,
    /// API group (empty = core).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// API version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Resource (`configmaps`, `pods`, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    /// Subresource (`status`, `log`, …).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
    /// Object name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Fields this library does not model (e.g. `fieldSelector`, `labelSelector`).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

crate::de::with_other_fields!(ResourceAttributes, "a resourceAttributes object", {
    "namespace" => namespace,
    "verb" => verb,
    "group" => group,
    "version" => version,
    "resource" => resource,
    "subresource" => subresource,
    "name" => name,
});

/// `spec.nonResourceAttributes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NonResourceAttributes {
    /// The URL path.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// The HTTP verb in lower case.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verb: String,
}

/// `SubjectAccessReview.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReviewStatus {
    /// The request is allowed.
    #[serde(default)]
    pub allowed: bool,
    /// The request is denied (no other authorizer is asked).
    #[serde(default)]
    pub denied: bool,
    /// Why, for the audit log and error messages.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// An error while evaluating the request.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub evaluation_error: String,
}

/// A SubjectAccessReview response carrying `status`, with apiVersion and kind set.
pub fn response(status: SubjectAccessReviewStatus) -> SubjectAccessReview {
    SubjectAccessReview {
        api_version: API_VERSION.to_owned(),
        kind: KIND.to_owned(),
        spec: None,
        status: Some(status),
    }
}

/// Allowed: `allowed: true, denied: false`.
pub fn allow() -> SubjectAccessReview {
    response(SubjectAccessReviewStatus {
        allowed: true,
        ..SubjectAccessReviewStatus::default()
    })
}

/// Denied with `reason`: `allowed: false, denied: true`.
pub fn deny(reason: &str) -> SubjectAccessReview {
    response(SubjectAccessReviewStatus {
        denied: true,
        reason: reason.to_owned(),
        ..SubjectAccessReviewStatus::default()
    })
}

/// No opinion: `allowed: false, denied: false`; the API server asks the next authorizer.
pub fn no_opinion() -> SubjectAccessReview {
    response(SubjectAccessReviewStatus::default())
}
