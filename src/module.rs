//! Loaded modules: a module's configuration, its settings serialised once, and what its
//! protocol needs to call it. Loading reads the file (or its valid `.cwasm`), compiles and links
//! it for its protocol, and checks it once (Kubewarden settings validation included).

use std::time::Duration;

use serde_json::Value;

use crate::call::{Deadline, Report};
use crate::config::{Kind, ModuleConfig, ModuleType};
use crate::error::{Failure, FailureKind};
use crate::log::{LogLine, Redactor};
use crate::protocol::{kubewarden, opa, wasi};
use crate::runtime::{self, Compiled};

/// How a loaded module is called.
pub(crate) enum Protocol {
    /// The original module specification: the compiled module.
    Wasi(Compiled),
    /// A Kubewarden policy.
    Kubewarden(kubewarden::Policy),
    /// A Rego policy (`opa` or `gatekeeper`).
    Rego(opa::Policy),
}

/// A module loaded and ready to call.
pub(crate) struct LoadedModule {
    /// Its configuration, defaults applied.
    pub config: ModuleConfig,
    /// `settings` serialised once at load.
    pub settings: Option<Vec<u8>>,
    /// How it is called.
    pub protocol: Protocol,
}

impl LoadedModule {
    /// Calls a `wasi` module for `kind` with `request` (see [`wasi::exchange`]).
    pub(crate) fn call_wasi(
        &self,
        kind: Kind,
        request: &[u8],
        deadline: Deadline,
        redactor: &Redactor,
        report: &mut Report,
    ) -> (Result<Option<Value>, Failure>, Duration) {
        match &self.protocol {
            Protocol::Wasi(compiled) => wasi::exchange(
                kind,
                wasi::Module {
                    config: &self.config,
                    compiled,
                    settings: self.settings.as_deref(),
                },
                request,
                deadline,
                redactor,
                report,
            ),
            Protocol::Kubewarden(_) | Protocol::Rego(_) => (
                Err(Failure::new(
                    FailureKind::HostError,
                    "a Kubewarden or Rego policy cannot serve this step",
                )),
                Duration::ZERO,
            ),
        }
    }
}

/// Loads the module `m` for `kind`; load-time notes (a `.cwasm` used or ignored) go to `logs`.
pub(crate) fn load(
    kind: Kind,
    m: &ModuleConfig,
    logs: &mut Vec<LogLine>,
) -> Result<LoadedModule, String> {
    let settings = match &m.settings {
        Some(v) => {
            Some(serde_json::to_vec(v).map_err(|e| format!("cannot serialise settings: {e}"))?)
        }
        None => None,
    };
    match m.module_type {
        ModuleType::Wasi => {
            let bytes = runtime::read_module(&m.module, m.sha256.as_deref())?;
            logs.extend(bytes.notes(&m.name));
            let compiled = runtime::load(
                &bytes,
                m.memory_limit,
                false,
                &[wasi::export_for(kind)],
                |_| Ok(()),
            )?;
            Ok(LoadedModule {
                config: m.clone(),
                settings,
                protocol: Protocol::Wasi(compiled),
            })
        }
        ModuleType::Kubewarden => {
            let bytes = runtime::read_module(&m.module, m.sha256.as_deref())?;
            logs.extend(bytes.notes(&m.name));
            let policy = kubewarden::load(m, &bytes)?;
            Ok(LoadedModule {
                config: m.clone(),
                settings,
                protocol: Protocol::Kubewarden(policy),
            })
        }
        ModuleType::Opa | ModuleType::Gatekeeper => {
            let bytes = runtime::read_module(&m.module, m.sha256.as_deref())?;
            logs.extend(bytes.notes(&m.name));
            let policy = opa::load(m, &bytes, logs)?;
            Ok(LoadedModule {
                config: m.clone(),
                settings,
                protocol: Protocol::Rego(policy),
            })
        }
    }
}
