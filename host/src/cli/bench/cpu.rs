//! Where the bench's CPU time goes: the server's threads against the load generator's.
//!
//! The load generator and the sink run on a runtime of their own whose threads are named
//! [`LOAD_THREAD`]; every other thread of the process belongs to the server (API, worker,
//! SQLite writer, Wasm epoch ticker). With both on one 2-core machine, delivered/s is
//! capped by their sum; the server's share alone says what the server would sustain with
//! the load generator and the sink on another machine. Per-thread CPU time comes from
//! `/proc/self/task/<tid>/schedstat` (nanoseconds on a CPU), so this reports only on Linux.

use std::collections::HashMap;
use std::time::Duration;

/// The name of the load generator's and the sink's threads.
pub const LOAD_THREAD: &str = "bench-load";

/// CPU time used by each thread of the process so far, by thread id.
pub struct Snapshot(HashMap<u64, (bool, u64)>);

/// CPU time between two snapshots, split between server and load generator.
#[derive(Debug, Clone, Copy)]
pub struct Split {
    pub server: Duration,
    pub load: Duration,
}

impl Snapshot {
    /// Reads every thread's CPU time; `None` where `/proc` does not have it.
    pub fn take() -> Option<Snapshot> {
        let mut threads = HashMap::new();
        for entry in std::fs::read_dir("/proc/self/task").ok()? {
            let Ok(entry) = entry else { continue };
            let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            // A thread may exit between listing and reading; it is skipped.
            let (Ok(comm), Ok(stat)) = (
                std::fs::read_to_string(entry.path().join("comm")),
                std::fs::read_to_string(entry.path().join("schedstat")),
            ) else {
                continue;
            };
            let Some(ns) = stat.split_whitespace().next().and_then(|f| f.parse().ok()) else {
                continue;
            };
            threads.insert(tid, (comm.trim().starts_with(LOAD_THREAD), ns));
        }
        Some(Snapshot(threads))
    }

    /// The CPU time spent since `earlier`. A thread that exited in between is missed,
    /// which undercounts; tokio's and sqlx's threads live for the whole run.
    pub fn since(&self, earlier: &Snapshot) -> Split {
        let (mut server, mut load) = (0u64, 0u64);
        for (tid, (is_load, ns)) in &self.0 {
            let before = earlier.0.get(tid).map_or(0, |(_, ns)| *ns);
            let used = ns.saturating_sub(before);
            if *is_load {
                load += used;
            } else {
                server += used;
            }
        }
        Split {
            server: Duration::from_nanos(server),
            load: Duration::from_nanos(load),
        }
    }
}
