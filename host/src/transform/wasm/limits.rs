//! What one transform call may use, and the memory limiter that enforces it.

use std::time::Duration;

/// Per-call limits; every call gets a fresh sandbox with these budgets.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Deterministic CPU budget (wasmtime fuel); about 10 M per ms of guest CPU.
    pub fuel: u64,
    /// Wall-clock backstop.
    pub timeout: Duration,
    /// Largest linear memory, in bytes.
    pub memory_bytes: usize,
    /// Largest output body (webhook payload or tweaked invoice), in bytes.
    pub max_output_bytes: usize,
    /// Most extra headers a webhook transform may return, and their total size.
    pub max_headers: usize,
    pub max_header_bytes: usize,
    /// Bytes of stdout and of stderr kept, each.
    pub log_bytes: usize,
    /// Calls running at once (sizes the instance pool).
    pub concurrency: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 200_000_000,
            timeout: Duration::from_secs(1),
            memory_bytes: 64 << 20,
            max_output_bytes: 1 << 20,
            max_headers: 32,
            max_header_bytes: 8 << 10,
            log_bytes: 16 << 10,
            concurrency: 32,
        }
    }
}

/// Caps linear memory and remembers whether the cap was hit and the peak, because a
/// refused growth does not surface as a `Trap`: the guest's `memory.grow` just returns
/// -1 and the guest fails in its own way.
pub struct Limiter {
    pub max_memory: usize,
    pub peak_memory: usize,
    pub memory_cap_hit: bool,
}

impl Limiter {
    /// A limiter for `max_memory` bytes.
    pub fn new(max_memory: usize) -> Self {
        Limiter {
            max_memory,
            peak_memory: 0,
            memory_cap_hit: false,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.memory_cap_hit = true;
            return Err(wasmtime::Error::msg(format!(
                "memory cap of {} MiB reached (asked for {} MiB)",
                self.max_memory >> 20,
                desired >> 20
            )));
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
