//! Mutations answered by modules, and how they turn into one RFC 6902 patch.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// A module's mutation of the request's object.
#[derive(Debug)]
pub enum Mutation {
    /// `patchType: Full`: the whole mutated object.
    Full(Value),
    /// `patchType: JSONPatch`: RFC 6902 operations against the object the module saw.
    JsonPatch(json_patch::Patch),
}

impl Mutation {
    /// Decodes a base64 `patch` of the given `patchType`.
    pub fn decode(patch_type: &str, base64: &str) -> Result<Mutation, String> {
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

    /// Applies the mutation to `object`, returning the mutated object.
    pub fn apply(self, mut object: Value) -> Result<Value, String> {
        match self {
            Mutation::Full(new) => Ok(new),
            Mutation::JsonPatch(ops) => {
                json_patch::patch(&mut object, &ops)
                    .map_err(|e| format!("cannot apply the module's JSONPatch: {e}"))?;
                Ok(object)
            }
        }
    }
}

/// A mutation may not change what the object is: its apiVersion, kind, name or namespace.
pub fn check_identity(before: &Value, after: &Value) -> Result<(), String> {
    for path in [
        "/apiVersion",
        "/kind",
        "/metadata/name",
        "/metadata/namespace",
    ] {
        if before.pointer(path) != after.pointer(path) {
            return Err(format!(
                "the mutation changes {path}, which a module may not change"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(v: &Value) -> String {
        STANDARD.encode(serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn full_and_json_patch_apply() {
        let obj = json!({"kind":"ConfigMap","data":{"a":"1"}});
        let full =
            Mutation::decode("Full", &b64(&json!({"kind":"ConfigMap","data":{"a":"2"}}))).unwrap();
        assert_eq!(full.apply(obj.clone()).unwrap()["data"]["a"], "2");
        let ops = json!([{"op":"add","path":"/data/b","value":"x"}]);
        let jp = Mutation::decode("JSONPatch", &b64(&ops)).unwrap();
        assert_eq!(jp.apply(obj.clone()).unwrap()["data"]["b"], "x");
        let bad =
            Mutation::decode("JSONPatch", &b64(&json!([{"op":"remove","path":"/nope"}]))).unwrap();
        assert!(bad.apply(obj).unwrap_err().contains("cannot apply"));
    }

    #[test]
    fn decode_errors() {
        assert!(
            Mutation::decode("Full", "%%%")
                .unwrap_err()
                .contains("base64")
        );
        assert!(
            Mutation::decode("Full", &b64(&json!([1])))
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(
            Mutation::decode("Merge", &b64(&json!({})))
                .unwrap_err()
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
                .contains("/metadata/name")
        );
    }
}
