//! Checking an uploaded component against its world before it is ever stored.
//!
//! In order: it must be WebAssembly, a component (not a core module, not a precompiled
//! artifact), compile, export one of our worlds' interfaces (the one asked for, if
//! any), import nothing beyond WASI preview 2 (which the host provides empty), and
//! instantiate once under the production limits, because a record whose shape differs
//! from the host's only fails at instantiation.

use wasmtime::Engine;
use wasmtime::component::Component;

use super::bindings::{tweak_v1::InvoiceTweakPre, webhook_v1::WebhookTransformPre};
use super::{Loaded, WasmHost, World, logs::BoundedLog};

/// What a valid upload is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub world: World,
    /// The exported interface with its version, e.g. `erp-sync:transform/webhook@1.0.0`.
    pub export: String,
    pub sha256: String,
}

/// Why an upload is refused; each message says what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error(
        "the upload is not WebAssembly (it does not start with \\0asm); upload the .wasm file cargo built"
    )]
    NotWasm,
    #[error(
        "this is a core WebAssembly module, not a component; build it with `cargo build --release --target wasm32-wasip2`, which produces a component (see guest-templates/)"
    )]
    CoreModule,
    #[error("this is a precompiled wasmtime artifact (.cwasm); upload the .wasm component instead")]
    Precompiled,
    #[error("the component does not compile: {0}")]
    Compile(String),
    #[error(
        "this component implements {found} (it exports {export}), not {expected}; upload it with world={found} or build it from the {expected} template"
    )]
    WrongWorld {
        expected: &'static str,
        found: &'static str,
        export: String,
    },
    #[error(
        "this component exports none of erp-sync's interfaces (erp-sync:transform/webhook@1.x for webhook-transform, erp-sync:transform/tweak@1.x for invoice-tweak); it exports [{0}]. Build it from a template in guest-templates/"
    )]
    NoWorld(String),
    #[error(
        "the component imports {0}, which erp-sync does not provide: transforms get WASI preview 2 with no filesystem, network or environment, and no other imports"
    )]
    ForbiddenImport(String),
    #[error("the component does not match the {world} world: {message}")]
    Mismatch {
        world: &'static str,
        message: String,
    },
}

/// Tells a component from a core module by the layer field of the Wasm header.
fn classify_header(bytes: &[u8]) -> Result<(), CheckError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(CheckError::NotWasm);
    }
    if Engine::detect_precompiled(bytes).is_some() {
        return Err(CheckError::Precompiled);
    }
    match bytes[4..8] {
        [1, 0, 0, 0] => Err(CheckError::CoreModule),
        _ => Ok(()),
    }
}

fn detect_world(engine: &Engine, component: &Component) -> Result<(World, String), CheckError> {
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    for world in [World::WebhookTransform, World::InvoiceTweak] {
        let prefix = format!("{}@1.", world.export_interface());
        if let Some(export) = exports.iter().find(|e| e.starts_with(&prefix)) {
            return Ok((world, export.clone()));
        }
    }
    Err(CheckError::NoWorld(exports.join(", ")))
}

impl WasmHost {
    /// Links a compiled component for its world (imports resolved once).
    pub(super) fn link(&self, component: &Component, world: World) -> Result<Loaded, CheckError> {
        let mismatch = |message: String| CheckError::Mismatch {
            world: world.as_str(),
            message,
        };
        let pre = self.linker.instantiate_pre(component).map_err(|e| {
            let text = format!("{e:#}");
            match text.split('`').nth(1) {
                Some(import) if text.contains("import") => {
                    CheckError::ForbiddenImport(import.to_string())
                }
                _ => mismatch(text),
            }
        })?;
        Ok(match world {
            World::WebhookTransform => Loaded::Webhook(
                WebhookTransformPre::new(pre).map_err(|e| mismatch(format!("{e:#}")))?,
            ),
            World::InvoiceTweak => {
                Loaded::Tweak(InvoiceTweakPre::new(pre).map_err(|e| mismatch(format!("{e:#}")))?)
            }
        })
    }

    /// Validates an upload (see the module docs); `expected` is the world it claims.
    pub async fn check(
        &self,
        bytes: &[u8],
        expected: Option<World>,
    ) -> Result<Checked, CheckError> {
        classify_header(bytes)?;
        let sha256 = super::sha256_hex(bytes);
        let component = self.component(&sha256, bytes).await?;
        let (world, export) = detect_world(&self.engine, &component)?;
        if let Some(expected) = expected.filter(|e| *e != world) {
            return Err(CheckError::WrongWorld {
                expected: expected.as_str(),
                found: world.as_str(),
                export,
            });
        }
        let loaded = self.link(&component, world)?;
        // One trial instantiation under the production limits.
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| CheckError::Compile(e.to_string()))?;
        let log = BoundedLog::new(self.limits.log_bytes);
        let mut store = self.new_store(&log, &log);
        let trial = match &loaded {
            Loaded::Webhook(pre) => pre.instantiate_async(&mut store).await.map(|_| ()),
            Loaded::Tweak(pre) => pre.instantiate_async(&mut store).await.map(|_| ()),
        };
        trial.map_err(|e| CheckError::Mismatch {
            world: world.as_str(),
            message: format!("{e:#}"),
        })?;
        self.cache
            .lock()
            .expect("cache lock")
            .insert(sha256.clone(), loaded);
        Ok(Checked {
            world,
            export,
            sha256,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_classified() {
        assert_eq!(classify_header(b"hello world"), Err(CheckError::NotWasm));
        assert_eq!(
            classify_header(b"\0asm\x01\0\0\0"),
            Err(CheckError::CoreModule)
        );
        assert_eq!(classify_header(b"\0asm\x0d\0\x01\0"), Ok(()));
    }
}
