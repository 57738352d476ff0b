//! Decisions, the same for every protocol: a module's [`Verdict`] on an admission request, the
//! rejection [`Status`], and the [`Mutation`] of the object with its bounded application
//! ([`patch`]). The protocols produce them; the admission step combines them.

pub mod patch;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::Failure;
use crate::limits::{
    MAX_AUDIT_ANNOTATIONS, MAX_AUDIT_KEY, MAX_AUDIT_VALUE, MAX_MESSAGE, MAX_WARNING, MAX_WARNINGS,
    sanitize,
};

pub use patch::Mutation;

/// A rejection's status, as `metav1.Status` carries it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Status {
    /// HTTP code; 403 when the module gave none.
    pub code: i64,
    /// The module's message.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The module's reason.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// An audit annotation from a module; the caller prefixes the key with the module name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditAnnotation {
    /// Module name.
    pub module: String,
    /// Key as the module gave it.
    pub key: String,
    /// Value.
    pub value: String,
}

/// A module's answer, the same for every protocol.
#[derive(Debug, Default)]
pub struct Verdict {
    /// The request may proceed.
    pub allowed: bool,
    /// The rejection's status.
    pub status: Option<Status>,
    /// The mutation of the object, from a mutating module.
    pub mutation: Option<Mutation>,
    /// Warnings for the client.
    pub warnings: Vec<String>,
    /// Audit annotations, by key as the module gave them.
    pub audit_annotations: BTreeMap<String, String>,
}

/// Applies the text bounds of [`crate::limits`] to a verdict; going over one is an output limit.
pub(crate) fn bound_texts(mut v: Verdict) -> Result<Verdict, Failure> {
    if v.warnings.len() > MAX_WARNINGS {
        return Err(Failure::output_limit(format!(
            "the module returned {} warnings, more than the {MAX_WARNINGS} allowed",
            v.warnings.len()
        )));
    }
    if v.audit_annotations.len() > MAX_AUDIT_ANNOTATIONS {
        return Err(Failure::output_limit(format!(
            "the module returned {} audit annotations, more than the {MAX_AUDIT_ANNOTATIONS} allowed",
            v.audit_annotations.len()
        )));
    }
    if let Some(key) = v.audit_annotations.keys().find(|k| k.len() > MAX_AUDIT_KEY) {
        return Err(Failure::output_limit(format!(
            "an audit annotation key is {} bytes long, more than the {MAX_AUDIT_KEY} allowed",
            key.len()
        )));
    }
    for w in &mut v.warnings {
        *w = sanitize(w, MAX_WARNING);
    }
    v.audit_annotations = std::mem::take(&mut v.audit_annotations)
        .into_iter()
        .map(|(k, val)| (sanitize(&k, MAX_AUDIT_KEY), sanitize(&val, MAX_AUDIT_VALUE)))
        .collect();
    if let Some(status) = &mut v.status {
        status.message = sanitize(&status.message, MAX_MESSAGE);
        status.reason = sanitize(&status.reason, MAX_MESSAGE);
    }
    Ok(v)
}
