//! Mutations answered by modules, and how they turn into one RFC 6902 patch.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::time::Instant;

use json_patch::PatchOperation;
use serde_json::Value;

use crate::error::{Failure, FailureKind};
use crate::limits::{
    MAX_JSON_DEPTH, MAX_PATCH_COPY_BYTES, MAX_PATCH_OPERATIONS, json_depth, json_size_within,
};

/// A module's mutation of the request's object.
#[derive(Debug)]
pub enum Mutation {
    /// `patchType: Full`: the whole mutated object.
    Full(Value),
    /// `patchType: JSONPatch`: RFC 6902 operations against the object the module saw.
    JsonPatch(json_patch::Patch),
}

impl Mutation {
    /// Decodes a base64 `patch` of the given `patchType`; a bad one is a malformed answer.
    pub fn decode(patch_type: &str, base64: &str) -> Result<Mutation, Failure> {
        Self::decode_text(patch_type, base64).map_err(Failure::malformed)
    }

    fn decode_text(patch_type: &str, base64: &str) -> Result<Mutation, String> {
        let bytes = STANDARD
            .decode(base64.trim())
            .map_err(|e| format!("response.patch is not valid base64: {e}"))?;
        match patch_type {
            "Full" => {
                let v: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("the Full patch is not a JSON object: {e}"))?;
                if !v.is_object() {
                    return Err("the Full patch is not a JSON object".into());
                }
                Ok(Mutation::Full(v))
            }
            "JSONPatch" => serde_json::from_slice(&bytes)
                .map(Mutation::JsonPatch)
                .map_err(|e| format!("the JSONPatch is not a list of RFC 6902 operations: {e}")),
            other => Err(format!(
                "response.patchType \"{other}\" is not supported (use JSONPatch or Full)"
            )),
        }
    }

    /// Applies the mutation to `object`, returning the mutated object. The work is bounded: at
    /// most [`MAX_PATCH_OPERATIONS`] operations, [`MAX_PATCH_COPY_BYTES`] copied by `copy`
    /// operations in all, nesting no deeper than [`MAX_JSON_DEPTH`], and nothing after `deadline`
    /// (the rest of the module's time). Going over a bound fails with a message naming it
    /// (an output limit, or a timeout); a patch that does not apply is a malformed answer.
    pub fn apply(self, mut object: Value, deadline: Instant) -> Result<Value, Failure> {
        match self {
            Mutation::Full(new) => {
                check_depth(json_depth(&new)).map_err(Failure::output_limit)?;
                Ok(new)
            }
            Mutation::JsonPatch(ops) => {
                if ops.0.len() > MAX_PATCH_OPERATIONS {
                    return Err(Failure::output_limit(format!(
                        "the JSONPatch has {} operations, more than the {MAX_PATCH_OPERATIONS} allowed",
                        ops.0.len()
                    )));
                }
                let mut copied = 0usize;
                for (i, op) in ops.0.iter().enumerate() {
                    if Instant::now() > deadline {
                        return Err(Failure::new(
                            FailureKind::Timeout,
                            format!(
                                "applying the JSONPatch took longer than the module's timeout (stopped at operation {i})"
                            ),
                        ));
                    }
                    bound_operation(&object, op, &mut copied).map_err(|e| {
                        Failure::output_limit(format!("JSONPatch operation {i}: {e}"))
                    })?;
                    // The object is ours (a copy): no undo log is needed when an operation fails.
                    json_patch::patch_unsafe(&mut object, std::slice::from_ref(op)).map_err(
                        |e| Failure::malformed(format!("cannot apply the module's JSONPatch: {e}")),
                    )?;
                }
                Ok(object)
            }
        }
    }
}

fn check_depth(depth: usize) -> Result<(), String> {
    if depth > MAX_JSON_DEPTH {
        return Err(format!(
            "the mutated object would nest {depth} levels deep, more than the {MAX_JSON_DEPTH} allowed"
        ));
    }
    Ok(())
}

/// Checks, before it is applied, that one operation keeps the object within the nesting bound
/// and the patch within its accumulated copy size.
fn bound_operation(object: &Value, op: &PatchOperation, copied: &mut usize) -> Result<(), String> {
    let (path, value) = match op {
        PatchOperation::Add(o) => (&o.path, Some(&o.value)),
        PatchOperation::Replace(o) => (&o.path, Some(&o.value)),
        PatchOperation::Move(o) => (&o.path, object.pointer(o.from.as_str())),
        PatchOperation::Copy(o) => {
            let from = object.pointer(o.from.as_str());
            if let Some(v) = from {
                let budget = MAX_PATCH_COPY_BYTES - *copied;
                let size = json_size_within(v, budget).ok_or_else(|| {
                    format!(
                        "the copy operations copy more than {MAX_PATCH_COPY_BYTES} bytes in all (the accumulated copy size limit)"
                    )
                })?;
                *copied += size;
            }
            (&o.path, from)
        }
        PatchOperation::Remove(_) | PatchOperation::Test(_) => return Ok(()),
    };
    // The operation puts `value` at `path`: the new nesting there is the path's length plus the
    // value's own depth.
    let depth = path.count() + value.map_or(0, json_depth);
    check_depth(depth)
}

/// A mutation may not change what the object is: its apiVersion, kind, name or namespace (a
/// malformed answer when it does).
pub fn check_identity(before: &Value, after: &Value) -> Result<(), Failure> {
    for path in [
        "/apiVersion",
        "/kind",
        "/metadata/name",
        "/metadata/namespace",
    ] {
        if before.pointer(path) != after.pointer(path) {
            return Err(Failure::malformed(format!(
                "the mutation changes {path}, which a module may not change"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn later() -> Instant {
        Instant::now() + std::time::Duration::from_secs(10)
    }

    fn b64(v: &Value) -> String {
        STANDARD.encode(serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn full_and_json_patch_apply() {
        let obj = json!({"kind":"ConfigMap","data":{"a":"1"}});
        let full =
            Mutation::decode("Full", &b64(&json!({"kind":"ConfigMap","data":{"a":"2"}}))).unwrap();
        assert_eq!(full.apply(obj.clone(), later()).unwrap()["data"]["a"], "2");
        let ops = json!([{"op":"add","path":"/data/b","value":"x"}]);
        let jp = Mutation::decode("JSONPatch", &b64(&ops)).unwrap();
        assert_eq!(jp.apply(obj.clone(), later()).unwrap()["data"]["b"], "x");
        let bad =
            Mutation::decode("JSONPatch", &b64(&json!([{"op":"remove","path":"/nope"}]))).unwrap();
        assert!(
            bad.apply(obj, later())
                .unwrap_err()
                .message
                .contains("cannot apply")
        );
    }

    fn json_patch(ops: Value) -> Mutation {
        Mutation::JsonPatch(serde_json::from_value(ops).unwrap())
    }

    /// The answer of the reliability issue: a 1 KiB string, then copies that double it each time.
    fn doubling_copies(n: usize) -> Value {
        let mut ops = vec![json!({"op":"add","path":"/data/k0","value":"x".repeat(1024)})];
        for i in 1..=n {
            ops.push(json!({"op":"copy","from":"/data","path":format!("/data/k{i}")}));
        }
        Value::Array(ops)
    }

    #[test]
    fn host_work_is_bounded() {
        let obj = json!({"kind":"ConfigMap","data":{}});
        let deep = (0..MAX_JSON_DEPTH).fold(json!(1), |v, _| json!([v]));
        let cases: Vec<(&str, Mutation, &str)> = vec![
            (
                "doubling copies",
                json_patch(doubling_copies(20)),
                "accumulated copy size limit",
            ),
            (
                "too many operations",
                json_patch(Value::Array(
                    (0..=MAX_PATCH_OPERATIONS)
                        .map(|_| json!({"op":"test","path":"/kind","value":"ConfigMap"}))
                        .collect(),
                )),
                "more than the 10000 allowed",
            ),
            (
                "an add nesting too deep",
                json_patch(json!([{"op":"add","path":"/data/deep","value":deep}])),
                "levels deep",
            ),
            (
                "a Full object nesting too deep",
                Mutation::Full(json!({"kind":"ConfigMap","data":{"deep":deep}})),
                "levels deep",
            ),
            (
                "copies nesting deeper and deeper",
                json_patch(Value::Array(
                    (0..200)
                        .map(|_| json!({"op":"copy","from":"/data","path":"/data/d"}))
                        .collect(),
                )),
                "levels deep",
            ),
        ];
        for (name, mutation, want) in cases {
            let err = mutation.apply(obj.clone(), later()).unwrap_err();
            assert!(err.message.contains(want), "{name}: {err}");
            assert_eq!(err.kind, FailureKind::OutputLimit, "{name}");
        }
        // Below the bounds the same shapes apply.
        let ok = json_patch(doubling_copies(10))
            .apply(obj.clone(), later())
            .unwrap();
        assert_eq!(ok["data"].as_object().unwrap().len(), 11);
        // Past the deadline nothing is applied.
        let err = json_patch(doubling_copies(1))
            .apply(obj, Instant::now() - std::time::Duration::from_millis(1))
            .unwrap_err();
        assert!(
            err.message.contains("longer than the module's timeout"),
            "{err}"
        );
        assert_eq!(err.kind, FailureKind::Timeout);
    }

    #[test]
    fn decode_errors() {
        assert!(
            Mutation::decode("Full", "%%%")
                .unwrap_err()
                .message
                .contains("base64")
        );
        assert!(
            Mutation::decode("Full", &b64(&json!([1])))
                .unwrap_err()
                .message
                .contains("not a JSON object")
        );
        assert!(
            Mutation::decode("Merge", &b64(&json!({})))
                .unwrap_err()
                .message
                .contains("not supported")
        );
    }

    #[test]
    fn identity_is_kept() {
        let a = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}});
        let mut b = a.clone();
        b["metadata"]["labels"] = json!({"l":"v"});
        assert!(check_identity(&a, &b).is_ok());
        b["metadata"]["name"] = json!("y");
        assert!(
            check_identity(&a, &b)
                .unwrap_err()
                .message
                .contains("/metadata/name")
        );
    }
}
