//! A [`Handle`]: one loaded configuration (authentication, authorization or admission) with
//! its loaded modules. Safe to share between threads; every call gets fresh instances. Each
//! request goes to its step ([`crate::authentication`], [`crate::authorization`],
//! [`crate::admission`]), which runs over the handle's modules.

use std::path::Path;

use crate::admission::{self, AdmissionResult, Phase};
use crate::authentication::{self, AuthenticationResult};
use crate::authorization::{self, AuthorizationResult};
use crate::config::{self, Config, Kind};
use crate::error::{Error, ErrorCode};
use crate::log::LogLine;
use crate::module::{self, LoadedModule};

/// A loaded configuration: the object behind the C ABI's `kubewasm_handle`.
pub struct Handle {
    kind: Kind,
    modules: Vec<LoadedModule>,
    modules_json: Vec<u8>,
}

// The C ABI lets many threads use one handle at once: proven here, at compile time.
const _: () = {
    const fn shared_between_threads<T: Send + Sync>() {}
    shared_between_threads::<Handle>()
};

impl Handle {
    /// Parses `config` (YAML or JSON) for `kind`, then loads and compiles every module. All
    /// configuration problems are reported at once; so are all load problems.
    pub fn new(kind: Kind, config: &[u8], base_dir: &Path) -> Result<Handle, Error> {
        let Config { kind, modules } = config::parse(kind, config, base_dir)?;
        let mut loaded = Vec::with_capacity(modules.len());
        let mut problems = Vec::new();
        // Load-time notes (a .cwasm used or ignored), returned in modules_json's "logs".
        let mut logs: Vec<LogLine> = Vec::new();
        for m in &modules {
            match module::load(kind, m, &mut logs) {
                Ok(l) => loaded.push(l),
                Err(e) => problems.push(format!(
                    "modules[{}] \"{}\" ({}): {e}",
                    m.id,
                    m.name,
                    m.module.display()
                )),
            }
        }
        if !problems.is_empty() {
            let n = problems.len();
            let mut message = format!("cannot load {n} module{}:", if n == 1 { "" } else { "s" });
            for p in problems {
                message.push_str("\n- ");
                message.push_str(&p);
            }
            return Err(Error::new(ErrorCode::Load, message));
        }
        let modules_json = serde_json::to_vec(
            &serde_json::json!({ "kind": kind, "modules": modules, "logs": logs }),
        )
        .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        Ok(Handle {
            kind,
            modules: loaded,
            modules_json,
        })
    }

    /// The configuration with defaults applied, as JSON: `{"kind": ..., "modules": [...],
    /// "logs": [...]}`; `logs` are load-time notes for the caller to log (a `.cwasm` used or
    /// ignored).
    pub fn modules_json(&self) -> &[u8] {
        &self.modules_json
    }

    fn expect_kind(&self, kind: Kind) -> Result<(), Error> {
        if self.kind != kind {
            return Err(Error::invalid_argument(format!(
                "this handle was initialised for {:?}, not {:?}",
                self.kind, kind
            )));
        }
        Ok(())
    }

    /// Authenticates the token of a TokenReview (JSON). `timeout_ns` bounds the whole chain
    /// (0: module timeouts only).
    pub fn authenticate(
        &self,
        token_review: &[u8],
        timeout_ns: u64,
    ) -> Result<AuthenticationResult, Error> {
        self.expect_kind(Kind::Authentication)?;
        authentication::authenticate(&self.modules, token_review, timeout_ns)
    }

    /// Decides a SubjectAccessReview (JSON). `timeout_ns` bounds the whole chain (0: module
    /// timeouts only).
    pub fn authorize(&self, review: &[u8], timeout_ns: u64) -> Result<AuthorizationResult, Error> {
        self.expect_kind(Kind::Authorization)?;
        authorization::authorize(&self.modules, review, timeout_ns)
    }

    /// Runs the modules `ids` (in the given order) of `phase` on an AdmissionRequest (JSON:
    /// `AdmissionReview.request`). `timeout_ns` bounds the whole phase (0: module timeouts only).
    pub fn admit(
        &self,
        phase: Phase,
        ids: &[u32],
        request: &[u8],
        timeout_ns: u64,
    ) -> Result<AdmissionResult, Error> {
        self.expect_kind(Kind::Admission)?;
        admission::admit(&self.modules, phase, ids, request, timeout_ns)
    }
}
