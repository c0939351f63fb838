//! The single writer: one thread owns SQLite's write connection and commits whatever
//! work is waiting for it as one transaction (group commit).
//!
//! SQLite has one writer at a time, and a commit costs about as much for one row as for
//! a hundred. So every write of erp-sync is a closure sent to this thread. The thread
//! takes what is queued (up to [`MAX_BATCH`] closures), runs each in its own savepoint
//! inside one `BEGIN IMMEDIATE` transaction, commits once, and only then answers the
//! callers: nothing is acknowledged before it is committed. Under light load a batch is
//! one closure and nothing waits for company; under heavy load hundreds of ingests and
//! settlements share one commit. A closure that fails rolls back its own savepoint only.
//!
//! The thread speaks to SQLite through rusqlite rather than sqlx: each statement is a
//! direct call on a cached prepared statement, where sqlx's SQLite driver hands every
//! statement to a worker thread and back, which profiling showed to dominate the write
//! path (docs/performance.md). Reads stay on sqlx's read-only pool.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::{StoreError, StoreResult};

/// The most closures one transaction carries, so one commit's latency stays bounded.
const MAX_BATCH: usize = 256;

/// Prepared statements kept per connection; more than the store has distinct writes.
const STATEMENT_CACHE: usize = 128;

/// Answers a caller once its batch's commit is known (`Err` carries the commit error).
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A caller's closure, wrapped to run in a savepoint and hand back its reply.
type Work = Box<dyn FnOnce(&mut Transaction<'_>) -> Reply + Send>;

enum Message {
    Work(Work),
    /// Finish what is queued before this message, then close the connection.
    Stop(oneshot::Sender<()>),
}

/// Handle to the writer thread; shared by every clone of the store.
pub(super) struct Writer {
    queue: mpsc::Sender<Message>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<Counters>,
}

/// How well group commit is doing: writes per commit is the batching factor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub commits: u64,
    pub writes: u64,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    writes: AtomicU64,
}

impl Writer {
    /// Opens the write connection on `db_path` (already created and migrated) and starts
    /// the thread.
    pub(super) fn start(db_path: &Path) -> StoreResult<Writer> {
        let conn = Connection::open(db_path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // 32 MiB of page cache (SQLite's default is 2 MiB): the indexes the hot writes
        // touch stay in memory instead of being read back from the file.
        conn.pragma_update(None, "cache_size", -32 * 1024)?;
        // Each write runs in its own savepoint, whose rollback journal (the statement
        // sub-journal) SQLite otherwise keeps in a temporary file: an open, unlink and
        // close per group commit. In memory it costs a few pages of RAM per commit.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let (queue, inbox) = mpsc::channel();
        let stats = Arc::new(Counters::default());
        let counters = stats.clone();
        let thread = std::thread::Builder::new()
            .name("erp-sync-writer".into())
            .spawn(move || serve(conn, inbox, &counters))
            .map_err(|e| StoreError::Writer(format!("starting the writer thread: {e}")))?;
        Ok(Writer {
            queue,
            thread: Mutex::new(Some(thread)),
            stats,
        })
    }

    /// Commits and writes so far.
    pub(super) fn stats(&self) -> WriteStats {
        WriteStats {
            commits: self.stats.commits.load(Ordering::Relaxed),
            writes: self.stats.writes.load(Ordering::Relaxed),
        }
    }

    /// Runs `f` in the next transaction and answers its result once that transaction is
    /// committed. `f` sees the writes of the closures before it in the same batch.
    pub(super) async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<StoreResult<T>>();
        let work: Work = Box::new(move |tx| {
            let result = in_savepoint(tx, f);
            Box::new(move |committed| {
                let result = match committed {
                    Ok(()) => result,
                    Err(commit) if result.is_ok() => Err(StoreError::Writer(format!(
                        "the transaction could not be committed: {commit}"
                    ))),
                    Err(_) => result,
                };
                // The caller may have gone (a client hung up); the write stands.
                let _ = answer.send(result);
            })
        });
        self.queue
            .send(Message::Work(work))
            .map_err(|_| StoreError::Writer("the store is closed".into()))?;
        answered.await.map_err(|_| {
            StoreError::Writer(
                "the write was not committed (the store is closing or the database failed; see the log)"
                    .into(),
            )
        })?
    }

    /// Commits what is queued, closes the connection and waits for the thread to end.
    pub(super) async fn stop(&self) {
        let (done, stopped) = oneshot::channel();
        if self.queue.send(Message::Stop(done)).is_ok() {
            let _ = stopped.await;
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// Runs one caller's closure in a savepoint of the batch's transaction: its failure (or
/// panic) undoes its own writes and nobody else's.
fn in_savepoint<T>(
    tx: &mut Transaction<'_>,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    let savepoint = tx.savepoint()?;
    let result = catch_unwind(AssertUnwindSafe(|| f(&savepoint))).unwrap_or_else(|_| {
        Err(StoreError::Writer(
            "a store write panicked; it was rolled back".into(),
        ))
    });
    if result.is_ok() {
        savepoint.commit()?;
    }
    // Dropping an uncommitted savepoint rolls it back.
    result
}

/// The thread's loop: a batch is everything queued when the previous commit ended.
fn serve(mut conn: Connection, inbox: mpsc::Receiver<Message>, counters: &Counters) {
    let mut stop = None;
    while stop.is_none() {
        let Ok(first) = inbox.recv() else { break };
        let mut batch = Vec::new();
        match first {
            Message::Work(w) => batch.push(w),
            Message::Stop(done) => {
                stop = Some(done);
                break;
            }
        }
        while batch.len() < MAX_BATCH {
            match inbox.try_recv() {
                Ok(Message::Work(w)) => batch.push(w),
                Ok(Message::Stop(done)) => {
                    stop = Some(done);
                    break;
                }
                Err(_) => break,
            }
        }
        counters.commits.fetch_add(1, Ordering::Relaxed);
        counters
            .writes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        commit_batch(&mut conn, batch);
    }
    if let Err((_, e)) = conn.close() {
        tracing::error!(error = %e, "closing the SQLite write connection failed");
    }
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

fn commit_batch(conn: &mut Connection, batch: Vec<Work>) {
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            // Dropping the batch answers every caller that its write was not committed.
            tracing::error!(error = %e, writes = batch.len(), "starting a write transaction failed");
            return;
        }
    };
    let replies: Vec<Reply> = batch.into_iter().map(|work| work(&mut tx)).collect();
    let committed = tx.commit().map_err(|e| e.to_string());
    if let Err(e) = &committed {
        tracing::error!(error = %e, writes = replies.len(), "committing a write transaction failed");
    }
    for reply in replies {
        reply(committed.clone());
    }
}
