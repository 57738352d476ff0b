//! Deserialisation of review types that keep the fields they do not model.
//!
//! `#[serde(flatten)]` on the catch-all map would make serde buffer the whole JSON object into
//! an intermediate tree first and then deserialise every field a second time from it (for
//! magic-validator's ConfigMap request, 5% of the module's instructions: docs/performance.md).
//! [`with_other_fields`] writes the one-pass `Deserialize` instead: known keys go straight to
//! their fields, every other key into the `other` map.

/// Implements `Deserialize` for `$ty` (which is `Default` and has an
/// `other: serde_json::Map<String, Value>` field) in one pass over the JSON object: each
/// `"json" => field` pair deserialises that key into that field, and any other key lands in
/// `other`. A repeated key is an error, as with serde's derive.
macro_rules! with_other_fields {
    ($ty:ident, $expecting:literal, { $($json:literal => $field:ident),* $(,)? }) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Fields;
                impl<'de> serde::de::Visitor<'de> for Fields {
                    type Value = $ty;

                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }

                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$ty, A::Error> {
                        let mut out = <$ty>::default();
                        $(let mut $field = None;)*
                        while let Some(key) = map.next_key::<$crate::de::Key<'de>>()? {
                            match key.as_str() {
                                $($json => {
                                    if $field.is_some() {
                                        return Err(serde::de::Error::duplicate_field($json));
                                    }
                                    $field = Some(map.next_value()?);
                                })*
                                _ => {
                                    match out.other.entry(key.into_string()) {
                                        serde_json::map::Entry::Occupied(o) => {
                                            return Err(serde::de::Error::custom(format_args!(
                                                "duplicate field `{}`",
                                                o.key()
                                            )));
                                        }
                                        serde_json::map::Entry::Vacant(v) => {
                                            v.insert(map.next_value()?);
                                        }
                                    }
                                }
                            }
                        }
                        $(if let Some(v) = $field { out.$field = v; })*
                        Ok(out)
                    }
                }
                deserializer.deserialize_map(Fields)
            }
        }
    };
}

/// An object key, borrowed from the input when it has no escapes (no allocation for the keys
/// that name a known field).
pub(crate) enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }

    pub(crate) fn into_string(self) -> String {
        match self {
            Key::Borrowed(s) => s.to_owned(),
            Key::Owned(s) => s,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a field name")
            }

            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(s))
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(s.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(s))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

pub(crate) use with_other_fields;

#[cfg(test)]
mod tests {
    use crate::admission::AdmissionRequest;
    use crate::authz::ResourceAttributes;
    use serde_json::json;

    #[test]
    fn known_fields_are_typed_and_the_rest_kept() {
        let input = json!({
            "uid": "u", "operation": "CREATE", "name": "n", "namespace": "ns",
            "object": {"kind": "ConfigMap", "data": {"a": "b"}}, "oldObject": null,
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "subResource": "status",
            "requestKind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "requestResource": {"group": "", "version": "v1", "resource": "configmaps"},
            "requestSubResource": "status",
            "userInfo": {"username": "admin", "groups": ["system:masters"], "extra": {"k": ["v"]}},
            "dryRun": false, "options": {"kind": "CreateOptions"}, "future": [1, {"b": null}],
        });
        let request: AdmissionRequest = serde_json::from_value(input.clone()).unwrap();
        let names = (
            request.uid.as_str(),
            request.operation.as_str(),
            request.name.as_str(),
        );
        assert_eq!(names, ("u", "CREATE", "n"));
        assert_eq!(request.namespace, "ns");
        assert_eq!(request.object.as_ref().unwrap()["data"]["a"], "b");
        assert!(request.old_object.is_none());
        assert_eq!(request.kind.kind, "ConfigMap");
        assert_eq!(request.resource.resource, "configmaps");
        assert_eq!(request.sub_resource, "status");
        assert_eq!(request.request_kind.as_ref().unwrap().version, "v1");
        let request_resource = request.request_resource.as_ref().unwrap();
        assert_eq!(request_resource.resource, "configmaps");
        assert_eq!(request.request_sub_resource, "status");
        assert_eq!(request.user_info.username, "admin");
        assert_eq!(request.user_info.extra["k"], ["v"]);
        assert_eq!(request.dry_run, Some(false));
        assert_eq!(request.options.as_ref().unwrap()["kind"], "CreateOptions");
        assert_eq!(request.other.len(), 1);
        assert_eq!(request.other["future"][1]["b"], serde_json::Value::Null);
        // Serialising gives back the input, less the null oldObject.
        let mut expected = input;
        expected.as_object_mut().unwrap().remove("oldObject");
        assert_eq!(serde_json::to_value(&request).unwrap(), expected);
    }

    #[test]
    fn bad_input_is_refused() {
        for (input, wanted) in [
            (r#"{"uid": "a", "uid": "b"}"#, "duplicate field `uid`"),
            (
                r#"{"dryRun": true, "dryRun": false}"#,
                "duplicate field `dryRun`",
            ),
            (r#"{"future": 1, "future": 2}"#, "duplicate field `future`"),
            (r#"{"dryRun": 1}"#, "expected a boolean"),
            (r#"{"uid": null}"#, "invalid type: null, expected a string"),
            (r#"[1]"#, "expected an AdmissionRequest object"),
        ] {
            let err = serde_json::from_str::<AdmissionRequest>(input).unwrap_err();
            assert!(err.to_string().contains(wanted), "{input}: {err}");
        }
        let err = serde_json::from_str::<ResourceAttributes>(r#"{"verb": 3}"#).unwrap_err();
        assert!(err.to_string().contains("expected a string"), "{err}");
    }

    #[test]
    fn resource_attributes_keep_selectors() {
        let attrs: ResourceAttributes = serde_json::from_value(json!({
            "verb": "list", "resource": "pods", "labelSelector": {"rawSelector": "a=b"},
        }))
        .unwrap();
        assert_eq!(
            (attrs.verb.as_str(), attrs.resource.as_str()),
            ("list", "pods")
        );
        assert_eq!(attrs.other["labelSelector"]["rawSelector"], "a=b");
    }
}
