//! The Wasm host: customers' components run here, one fresh sandbox per call.
//!
//! One [`Engine`] per process, with the pooling allocator (instantiation in
//! microseconds; pooled memories stay resident between calls, see [`KEEP_RESIDENT`]), fuel (a deterministic CPU budget reported to developers) and epoch
//! interruption (a wall-clock backstop, ticked every 10 ms by a thread that holds only a
//! weak engine handle). Each component is compiled once per sha256 and kept as an
//! `InstancePre`; compiled artifacts are also written to `<data dir>/wasm-cache/` so a
//! restart does not recompile. Every call gets a new `Store` with its own memory cap,
//! fuel and deadline, a WASI context with nothing but captured stdout/stderr (no
//! filesystem, network, environment or inherited stdio), and is classified into a
//! [`TransformFailure`] when it goes wrong. `docs/architecture.md` ("The Wasm host") and
//! `docs/performance.md` hold the measurements behind these choices.

pub mod bindings;
mod invoke;
pub mod limits;
pub mod logs;
mod validate;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use invoke::{GuestContext, Invocation, TransformFailure, WebhookOutput};
pub use limits::Limits;
pub use validate::{CheckError, Checked};

use bindings::{tweak_v1::InvoiceTweakPre, webhook_v1::WebhookTransformPre};

/// The two worlds a component can implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    WebhookTransform,
    InvoiceTweak,
}

impl World {
    /// The world's name in the WIT package (and in the API).
    pub fn as_str(self) -> &'static str {
        match self {
            World::WebhookTransform => "webhook-transform",
            World::InvoiceTweak => "invoice-tweak",
        }
    }

    /// Parses a world name as the API takes it.
    pub fn parse(name: &str) -> Option<World> {
        match name {
            "webhook-transform" => Some(World::WebhookTransform),
            "invoice-tweak" => Some(World::InvoiceTweak),
            _ => None,
        }
    }

    /// The interface the world exports, without its version.
    fn export_interface(self) -> &'static str {
        match self {
            World::WebhookTransform => "erp-sync:transform/webhook",
            World::InvoiceTweak => "erp-sync:transform/tweak",
        }
    }
}

/// Per-call host state: the WASI context, its resources, and the memory limiter.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: limits::Limiter,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A compiled, linked component ready to instantiate.
#[derive(Clone)]
enum Loaded {
    Webhook(WebhookTransformPre<HostState>),
    Tweak(InvoiceTweakPre<HostState>),
}

/// Runs customers' components; cheap to share behind an `Arc`.
pub struct WasmHost {
    engine: Engine,
    linker: Linker<HostState>,
    limits: Limits,
    permits: Arc<Semaphore>,
    cache: Mutex<HashMap<String, Loaded>>,
    cache_dir: Option<PathBuf>,
    /// One compile per component at a time: uploads of the same new component wait for
    /// the first compile and then load its artifact instead of compiling again.
    compiling: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Compiles at once, so many distinct uploads cannot keep every core compiling.
    compile_slots: Semaphore,
    /// Uploads read into memory and checked at once (see [`WasmHost::upload_slot`]).
    upload_slots: Semaphore,
}

/// Uploads checked at once: each holds its component in memory and compiles it, and
/// a compilation already uses several threads.
const UPLOAD_SLOTS: usize = 1;

/// Compilations running at once (each uses several threads of its own).
const COMPILE_SLOTS: usize = 2;

/// Why the host could not start.
#[derive(Debug, thiserror::Error)]
#[error("starting the Wasm engine: {0}")]
pub struct EngineError(String);

/// How much of each pooled memory and table stays mapped between calls.
///
/// By default wasmtime gives a finished instance's pages back with `madvise` and the
/// next instance faults them in again; on this 2-core VM that was half of a 37 µs call
/// (page faults, and TLB shoot-downs because the process is multi-threaded). Linux
/// 6.7's `PAGEMAP_SCAN` tells wasmtime which pages the guest actually wrote, so it
/// resets just those with `memset` and the next call takes no fault (37 → 16 µs for the
/// 1-line flat-accounting transform, `cargo bench`). 2 MiB covers a Rust guest's 1 MiB
/// stack plus its first MiB of data and heap; a guest that grows past it gets the rest
/// decommitted as before. Without `PAGEMAP_SCAN` (older kernels) keeping memory
/// resident would `memset` the whole 2 MiB on every call, so it stays off.
const KEEP_RESIDENT: usize = 2 << 20;

const EPOCH_TICK: Duration = Duration::from_millis(10);

impl WasmHost {
    /// A host with these limits; compiled artifacts are cached in `cache_dir` if given.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Self, EngineError> {
        let n = limits.concurrency.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(8 * n)
            .total_memories(4 * n)
            .total_tables(4 * n)
            .total_stacks(n)
            .max_memory_size(limits.memory_bytes);
        if PoolingAllocationConfig::is_pagemap_scan_available() {
            pool.pagemap_scan(Enabled::Yes)
                .linear_memory_keep_resident(KEEP_RESIDENT)
                .table_keep_resident(KEEP_RESIDENT);
        }
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| EngineError(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| EngineError(e.to_string()))?;
        spawn_epoch_ticker(&engine);
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| EngineError(format!("{}: {e}", dir.display())))?;
        }
        Ok(WasmHost {
            engine,
            linker,
            permits: Arc::new(Semaphore::new(n as usize)),
            limits,
            cache: Mutex::new(HashMap::new()),
            cache_dir,
            compiling: Mutex::new(HashMap::new()),
            compile_slots: Semaphore::new(COMPILE_SLOTS),
            upload_slots: Semaphore::new(UPLOAD_SLOTS),
        })
    }

    /// A turn to check an upload: hold it while the upload is in memory and compiled,
    /// so concurrent uploads wait on disk (they are spooled) instead of each holding
    /// tens of MiB and a compilation at once.
    pub async fn upload_slot(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.upload_slots
            .acquire()
            .await
            .expect("the upload semaphore is never closed")
    }

    /// Whether a component is compiled and linked already (its bytes are not needed).
    pub fn is_loaded(&self, sha256: &str) -> bool {
        self.cache.lock().expect("cache lock").contains_key(sha256)
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn artifact_path(&self, sha256: &str) -> Option<PathBuf> {
        let key = compatibility_key(&self.engine);
        self.cache_dir
            .as_ref()
            .map(|d| d.join(format!("{sha256}-{key}.cwasm")))
    }

    /// Compiles (or loads from the disk cache) a component known by its sha256.
    async fn component(&self, sha256: &str, bytes: &[u8]) -> Result<Component, CheckError> {
        if let Some(component) = self.compiled_artifact(sha256) {
            return Ok(component);
        }
        let same = self
            .compiling
            .lock()
            .expect("compiling lock")
            .entry(sha256.to_string())
            .or_default()
            .clone();
        let _same = same.lock().await;
        if let Some(component) = self.compiled_artifact(sha256) {
            // Compiled by the upload this one waited for.
            return Ok(component);
        }
        let _slot = self
            .compile_slots
            .acquire()
            .await
            .map_err(|e| CheckError::Compile(e.to_string()))?;
        let engine = self.engine.clone();
        let owned = bytes.to_vec();
        let started = std::time::Instant::now();
        let component = tokio::task::spawn_blocking(move || Component::new(&engine, &owned))
            .await
            .map_err(|e| CheckError::Compile(e.to_string()))?
            .map_err(|e| CheckError::Compile(format!("{e:#}")))?;
        let path = self.artifact_path(sha256);
        tracing::info!(
            sha256,
            bytes = bytes.len(),
            ms = started.elapsed().as_millis() as u64,
            cached_at = path.as_ref().map(|p| p.display().to_string()),
            "compiled a component"
        );
        if let (Some(path), Ok(serialized)) = (path, component.serialize()) {
            // A name of its own per writer, then an atomic rename: two processes
            // compiling the same component (two `transform run`s, two servers on one
            // data dir) never leave a torn artifact behind.
            let tmp = path.with_extension(format!(
                "{}.{}.tmp",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ));
            if std::fs::write(&tmp, serialized).is_ok() && std::fs::rename(&tmp, &path).is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
        }
        Ok(component)
    }

    /// The component's compiled artifact from the disk cache, if there is a usable one.
    fn compiled_artifact(&self, sha256: &str) -> Option<Component> {
        let path = self.artifact_path(sha256).filter(|p| p.exists())?;
        // SAFETY: the file was written by this host, from `Component::serialize`, into
        // the data dir (or the user's own cache dir for the CLI), which only erp-sync
        // writes; its name carries the engine's compatibility key, and a file from
        // another wasmtime version or configuration is rejected with an error anyway,
        // not executed.
        match unsafe { Component::deserialize_file(&self.engine, &path) } {
            Ok(component) => {
                tracing::debug!(sha256, path = %path.display(), "loaded a compiled component from the cache");
                Some(component)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "unusable cached artifact; compiling again");
                None
            }
        }
    }

    /// The ready-to-run form of a stored component, compiling it on first use.
    async fn loaded(&self, sha256: &str, world: World, bytes: &[u8]) -> Result<Loaded, CheckError> {
        if let Some(l) = self.cache.lock().expect("cache lock").get(sha256) {
            return Ok(l.clone());
        }
        let component = self.component(sha256, bytes).await?;
        let loaded = self.link(&component, world)?;
        self.cache
            .lock()
            .expect("cache lock")
            .insert(sha256.to_string(), loaded.clone());
        Ok(loaded)
    }

    fn new_store(
        &self,
        stdout: &logs::BoundedLog,
        stderr: &logs::BoundedLog,
    ) -> wasmtime::Store<HostState> {
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build();
        let mut store = wasmtime::Store::new(
            &self.engine,
            HostState {
                wasi,
                table: ResourceTable::new(),
                limiter: limits::Limiter::new(self.limits.memory_bytes),
            },
        );
        store.limiter(|s| &mut s.limiter);
        store
            .set_fuel(self.limits.fuel)
            .expect("fuel is enabled on this engine");
        store
            .fuel_async_yield_interval(Some(10_000_000))
            .expect("fuel is enabled on this engine");
        let ticks = (self.limits.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1;
        store.set_epoch_deadline(ticks);
        store
    }
}

/// What a compiled artifact must match to be loaded by `engine`, as 16 hex digits:
/// wasmtime's precompile compatibility hash, which covers the exact wasmtime version
/// (`CARGO_PKG_VERSION`), the target triple, the compiler's flags and ISA flags, the
/// tunables (fuel, epochs, memory reservation, ...) and the enabled Wasm features.
/// An upgrade or a configuration change thus looks for other file names and never
/// loads a stale artifact (and `deserialize` checks the same things again).
fn compatibility_key(engine: &Engine) -> String {
    use std::hash::{Hash, Hasher};
    // SHA-256 behind the `Hasher` interface: unlike `DefaultHasher`, its output does
    // not change between Rust releases, so cache file names stay stable.
    struct StableHasher(sha2::Sha256);
    impl Hasher for StableHasher {
        fn write(&mut self, bytes: &[u8]) {
            sha2::Digest::update(&mut self.0, bytes);
        }
        fn finish(&self) -> u64 {
            let digest = sha2::Digest::finalize(self.0.clone());
            u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
        }
    }
    let mut hasher = StableHasher(<sha2::Sha256 as sha2::Digest>::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Ticks the engine's epoch until the engine is dropped.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}

/// Lowercase hex sha256 of a component's bytes: its identity in the store and cache.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_artifact_key_follows_the_engine_configuration() {
        let engine = |fuel: bool| {
            let mut config = Config::new();
            config.consume_fuel(fuel).epoch_interruption(true);
            Engine::new(&config).unwrap()
        };
        assert_eq!(
            compatibility_key(&engine(true)),
            compatibility_key(&engine(true))
        );
        assert_ne!(
            compatibility_key(&engine(true)),
            compatibility_key(&engine(false))
        );
        // The version is part of it: another wasmtime version gets other file names.
        let mut custom = Config::new();
        custom
            .consume_fuel(true)
            .epoch_interruption(true)
            .module_version(wasmtime::ModuleVersionStrategy::Custom("other".into()))
            .unwrap();
        assert_ne!(
            compatibility_key(&Engine::new(&custom).unwrap()),
            compatibility_key(&engine(true))
        );
    }
}
