//! Calling a component: a fresh sandbox per call, and every way a call can fail.

use std::time::{Duration, Instant};

use super::bindings::{tweak_v1, webhook_v1};
use super::logs::BoundedLog;
use super::{CheckError, Loaded, WasmHost, World};

/// What the host tells a guest about the delivery (the WIT `context` record).
#[derive(Debug, Clone, Default)]
pub struct GuestContext {
    pub event_type: String,
    pub event_id: String,
    pub tenant_id: String,
    pub connection_id: String,
    pub config: Vec<(String, String)>,
}

/// A webhook transform's output, checked against the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookOutput {
    pub body: Vec<u8>,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
}

/// Why a call produced no usable output. Everything but `Busy` is permanent: a retry
/// would run the same code on the same input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformFailure {
    #[error("the transform rejected the invoice: {0}")]
    Rejected(String),
    #[error("the transform does not support this invoice: {0}")]
    Unsupported(String),
    #[error("the transform failed: {0}")]
    Other(String),
    #[error(
        "the transform exceeded its fuel budget of {0} units (an endless loop, or too much work per invoice)"
    )]
    OutOfFuel(u64),
    #[error("the transform exceeded its time limit of {0} ms")]
    TimedOut(u128),
    #[error("the transform exceeded its memory cap of {0} MiB")]
    MemoryCap(usize),
    #[error("the transform crashed: {0}")]
    Trap(String),
    #[error("the transform's output was refused: {0}")]
    BadOutput(String),
    #[error("the transform could not be loaded: {0}")]
    Load(String),
    #[error("every transform slot is busy: {0}")]
    Busy(String),
}

impl TransformFailure {
    /// Whether trying again later could succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, TransformFailure::Busy(_))
    }
}

/// The result of one call, with what a developer wants to see about it.
#[derive(Debug, Clone)]
pub struct Invocation<T> {
    pub result: Result<T, TransformFailure>,
    pub stdout: String,
    pub stderr: String,
    /// Whether either log was cut at the limit.
    pub logs_truncated: bool,
    pub fuel_used: u64,
    pub duration: Duration,
    pub peak_memory_bytes: usize,
}

impl<T> Invocation<T> {
    /// A call that failed before the guest ran.
    pub fn failed(failure: TransformFailure) -> Invocation<T> {
        Invocation {
            result: Err(failure),
            stdout: String::new(),
            stderr: String::new(),
            logs_truncated: false,
            fuel_used: 0,
            duration: Duration::ZERO,
            peak_memory_bytes: 0,
        }
    }

    /// Post-processes a successful output, keeping the logs and measurements.
    pub fn and_then<U>(self, f: impl FnOnce(T) -> Result<U, TransformFailure>) -> Invocation<U> {
        Invocation {
            result: self.result.and_then(f),
            stdout: self.stdout,
            stderr: self.stderr,
            logs_truncated: self.logs_truncated,
            fuel_used: self.fuel_used,
            duration: self.duration,
            peak_memory_bytes: self.peak_memory_bytes,
        }
    }

    /// Both logs in one text for the sync log: `None` when the guest printed nothing.
    pub fn logs_text(&self) -> Option<String> {
        let mut text = String::new();
        if !self.stdout.is_empty() {
            text.push_str("stdout:\n");
            text.push_str(&self.stdout);
        }
        if !self.stderr.is_empty() {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str("stderr:\n");
            text.push_str(&self.stderr);
        }
        if self.logs_truncated {
            text.push_str("\n[output truncated]");
        }
        (!text.is_empty()).then_some(text)
    }
}

fn guest_error(e: webhook_v1::erp_sync::transform::types::TransformError) -> TransformFailure {
    use webhook_v1::erp_sync::transform::types::TransformError as E;
    match e {
        E::Rejected(m) => TransformFailure::Rejected(m),
        E::Unsupported(m) => TransformFailure::Unsupported(m),
        E::Other(m) => TransformFailure::Other(m),
    }
}

fn tweak_error(e: tweak_v1::erp_sync::transform::types::TransformError) -> TransformFailure {
    use tweak_v1::erp_sync::transform::types::TransformError as E;
    match e {
        E::Rejected(m) => TransformFailure::Rejected(m),
        E::Unsupported(m) => TransformFailure::Unsupported(m),
        E::Other(m) => TransformFailure::Other(m),
    }
}

/// Headers a transform may not set: the host owns them.
fn reserved_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "content-type"
            | "content-length"
            | "host"
            | "transfer-encoding"
            | "connection"
            | "webhook-id"
            | "webhook-timestamp"
            | "webhook-signature"
    ) || lower.starts_with("x-aforo-")
}

impl WasmHost {
    /// Classifies a wasmtime error from instantiation or a call.
    fn classify(
        &self,
        err: wasmtime::Error,
        memory_cap_hit: bool,
        stderr: &str,
    ) -> TransformFailure {
        if memory_cap_hit {
            return TransformFailure::MemoryCap(self.limits.memory_bytes >> 20);
        }
        if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
            match trap {
                wasmtime::Trap::OutOfFuel => return TransformFailure::OutOfFuel(self.limits.fuel),
                wasmtime::Trap::Interrupt => {
                    return TransformFailure::TimedOut(self.limits.timeout.as_millis());
                }
                _ => {}
            }
        }
        if err
            .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
        {
            return TransformFailure::Busy(format!("{err:#}"));
        }
        let tail: String = stderr
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        if tail.is_empty() {
            TransformFailure::Trap(format!("{err:#}"))
        } else {
            TransformFailure::Trap(format!("{err:#}; guest stderr: {tail}"))
        }
    }

    async fn run<T>(
        &self,
        sha256: &str,
        world: World,
        bytes: &[u8],
        call: impl AsyncCall<T>,
    ) -> Invocation<T> {
        let started = Instant::now();
        let loaded = match self.loaded(sha256, world, bytes).await {
            Ok(l) => l,
            Err(e) => return Invocation::failed(TransformFailure::Load(e.to_string())),
        };
        let _permit = match self.permits.acquire().await {
            Ok(p) => p,
            Err(e) => return Invocation::failed(TransformFailure::Busy(e.to_string())),
        };
        let stdout = BoundedLog::new(self.limits.log_bytes);
        let stderr = BoundedLog::new(self.limits.log_bytes);
        let mut store = self.new_store(&stdout, &stderr);
        let outcome = call.call(&loaded, &mut store).await;
        let fuel_used = self.limits.fuel - store.get_fuel().unwrap_or(0);
        let (out, out_cut) = stdout.contents();
        let (err, err_cut) = stderr.contents();
        let limiter = &store.data().limiter;
        let result = match outcome {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(f)) => Err(f),
            Err(e) => Err(self.classify(e, limiter.memory_cap_hit, &err)),
        };
        Invocation {
            result,
            peak_memory_bytes: limiter.peak_memory,
            stdout: out,
            stderr: err,
            logs_truncated: out_cut || err_cut,
            fuel_used,
            duration: started.elapsed(),
        }
    }

    /// Runs a webhook transform on one invoice (contract JSON).
    pub async fn run_webhook(
        &self,
        sha256: &str,
        bytes: &[u8],
        ctx: &GuestContext,
        invoice_json: &str,
    ) -> Invocation<WebhookOutput> {
        let limits = self.limits.clone();
        self.run(
            sha256,
            World::WebhookTransform,
            bytes,
            WebhookCall {
                ctx,
                invoice_json,
                limits,
            },
        )
        .await
    }

    /// Runs an invoice tweak on one invoice (contract JSON); the output is JSON text the
    /// caller must validate.
    pub async fn run_tweak(
        &self,
        sha256: &str,
        bytes: &[u8],
        ctx: &GuestContext,
        invoice_json: &str,
    ) -> Invocation<String> {
        let limits = self.limits.clone();
        self.run(
            sha256,
            World::InvoiceTweak,
            bytes,
            TweakCall {
                ctx,
                invoice_json,
                limits,
            },
        )
        .await
    }
}

type CallResult<T> = wasmtime::Result<Result<T, TransformFailure>>;

/// The sandbox of one call.
type GuestStore = wasmtime::Store<super::HostState>;

/// One kind of call on a loaded component.
trait AsyncCall<T> {
    async fn call(self, loaded: &Loaded, store: &mut GuestStore) -> CallResult<T>;
}

/// Converts a [`GuestContext`] to each world's generated `context` record.
macro_rules! guest_context_into {
    ($($context:path),+) => {$(
        impl From<&GuestContext> for $context {
            fn from(c: &GuestContext) -> Self {
                Self {
                    event_type: c.event_type.clone(),
                    event_id: c.event_id.clone(),
                    tenant_id: c.tenant_id.clone(),
                    connection_id: c.connection_id.clone(),
                    config: c.config.clone(),
                }
            }
        }
    )+};
}

guest_context_into!(
    webhook_v1::erp_sync::transform::types::Context,
    tweak_v1::erp_sync::transform::types::Context
);

/// The refusal of a component of the other world than the call `wanted`.
fn wrong_world<T>(wanted: World) -> CallResult<T> {
    let message = match wanted {
        World::WebhookTransform => "this component is an invoice-tweak, not a webhook-transform",
        World::InvoiceTweak => "this component is a webhook-transform, not an invoice-tweak",
    };
    Ok(Err(TransformFailure::Load(message.into())))
}

struct WebhookCall<'a> {
    ctx: &'a GuestContext,
    invoice_json: &'a str,
    limits: super::Limits,
}

impl AsyncCall<WebhookOutput> for WebhookCall<'_> {
    async fn call(self, loaded: &Loaded, store: &mut GuestStore) -> CallResult<WebhookOutput> {
        let Loaded::Webhook(pre) = loaded else {
            return wrong_world(World::WebhookTransform);
        };
        let payload = match pre
            .instantiate_async(&mut *store)
            .await?
            .erp_sync_transform_webhook()
            .call_transform(&mut *store, &self.ctx.into(), self.invoice_json)
            .await?
        {
            Ok(p) => p,
            Err(e) => return Ok(Err(guest_error(e))),
        };
        if payload.body.len() > self.limits.max_output_bytes {
            return Ok(Err(TransformFailure::BadOutput(format!(
                "the body is {} bytes, above the limit of {} bytes",
                payload.body.len(),
                self.limits.max_output_bytes
            ))));
        }
        if payload.headers.len() > self.limits.max_headers {
            return Ok(Err(TransformFailure::BadOutput(format!(
                "{} headers, above the limit of {}",
                payload.headers.len(),
                self.limits.max_headers
            ))));
        }
        let size: usize = payload
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len())
            .sum();
        if size > self.limits.max_header_bytes {
            return Ok(Err(TransformFailure::BadOutput(format!(
                "headers take {size} bytes, above the limit of {}",
                self.limits.max_header_bytes
            ))));
        }
        let mut headers = Vec::with_capacity(payload.headers.len());
        for h in payload.headers {
            if reserved_header(&h.name) {
                return Ok(Err(TransformFailure::BadOutput(format!(
                    "header {:?} is set by erp-sync and cannot be overridden (content type goes in content-type)",
                    h.name
                ))));
            }
            if reqwest::header::HeaderName::from_bytes(h.name.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(&h.value).is_err()
            {
                return Ok(Err(TransformFailure::BadOutput(format!(
                    "header {:?} is not a valid HTTP header",
                    h.name
                ))));
            }
            headers.push((h.name, h.value));
        }
        if reqwest::header::HeaderValue::from_str(&payload.content_type).is_err()
            || payload.content_type.is_empty()
        {
            return Ok(Err(TransformFailure::BadOutput(format!(
                "content type {:?} is not a valid header value",
                payload.content_type
            ))));
        }
        Ok(Ok(WebhookOutput {
            body: payload.body,
            content_type: payload.content_type,
            headers,
        }))
    }
}

struct TweakCall<'a> {
    ctx: &'a GuestContext,
    invoice_json: &'a str,
    limits: super::Limits,
}

impl AsyncCall<String> for TweakCall<'_> {
    async fn call(self, loaded: &Loaded, store: &mut GuestStore) -> CallResult<String> {
        let Loaded::Tweak(pre) = loaded else {
            return wrong_world(World::InvoiceTweak);
        };
        let instance = pre.instantiate_async(&mut *store).await?;
        match instance
            .erp_sync_transform_tweak()
            .call_adjust(&mut *store, &self.ctx.into(), self.invoice_json)
            .await?
        {
            Ok(out) if out.len() > self.limits.max_output_bytes => {
                Ok(Err(TransformFailure::BadOutput(format!(
                    "the invoice returned is {} bytes, above the limit of {} bytes",
                    out.len(),
                    self.limits.max_output_bytes
                ))))
            }
            Ok(out) => Ok(Ok(out)),
            Err(e) => Ok(Err(tweak_error(e))),
        }
    }
}

impl From<CheckError> for TransformFailure {
    fn from(e: CheckError) -> Self {
        TransformFailure::Load(e.to_string())
    }
}
