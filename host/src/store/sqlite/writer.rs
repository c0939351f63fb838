//! The single writer: one thread owns SQLite's write connection and commits whatever
//! work is waiting for it as one transaction (group commit).
//!
//! SQLite has one writer at a time, and a commit costs about as much for one row as for
//! a hundred. So every write of erp-sync is a closure sent to this thread. The thread
//! takes what is queued (up to [`MAX_BATCH`] closures), runs them one after the other
//! inside one `BEGIN IMMEDIATE` transaction, commits once, and only then answers the
//! callers: nothing is acknowledged before it is committed. Under light load a batch is
//! one closure and nothing waits for company; under heavy load hundreds of ingests and
//! settlements share one commit.
//!
//! A closure that fails must undo its own writes and nobody else's. Savepoints do that,
//! but a savepoint per closure made SQLite copy every page a closure touched into the
//! statement journal first, which profiling put at a sixth of the writer's time. So a
//! batch runs optimistically, without savepoints: a closure that fails before changing
//! any row (the usual failure: something not found, a conflict found by reading) has
//! nothing to undo, and the batch goes on. Only a closure that fails after changing rows,
//! or panics, makes the writer roll the whole transaction back and run the batch again,
//! this time each closure in its own savepoint. That is why a closure may run twice, and
//! must be `FnMut`; only the run that is committed is answered.
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

use super::checkpointer::{Checkpointer, Nudge, WRITER_CHECKPOINT_PAGES};
use super::{StoreError, StoreResult};

/// The most closures one transaction carries, so one commit's latency stays bounded.
const MAX_BATCH: usize = 256;

/// Prepared statements kept per connection; more than the store has distinct writes.
const STATEMENT_CACHE: usize = 128;

/// One caller's write, waiting in a batch.
trait Write: Send {
    /// Runs the closure straight in the batch's transaction. Returns false when it failed
    /// after changing rows (or panicked): then the batch has to be undone and replayed.
    fn run_direct(&mut self, tx: &Transaction<'_>) -> bool;
    /// Runs the closure in a savepoint of its own, so a failure undoes only its writes.
    fn run_isolated(&mut self, tx: &mut Transaction<'_>);
    /// Answers the caller once the batch's commit is known (`Err` carries the commit error).
    fn answer(self: Box<Self>, committed: Result<(), String>);
}

type Work = Box<dyn Write>;

/// A closure, its latest result and the caller waiting for it.
struct Pending<T, F> {
    f: F,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Write for Pending<T, F>
where
    T: Send + 'static,
    F: FnMut(&Connection) -> StoreResult<T> + Send + 'static,
{
    fn run_direct(&mut self, tx: &Transaction<'_>) -> bool {
        let before = tx.total_changes();
        match catch_unwind(AssertUnwindSafe(|| (self.f)(tx))) {
            Ok(result) => {
                let clean = result.is_ok() || tx.total_changes() == before;
                self.result = Some(result);
                clean
            }
            Err(_) => false,
        }
    }

    fn run_isolated(&mut self, tx: &mut Transaction<'_>) {
        self.result = Some(in_savepoint(tx, &mut self.f));
    }

    fn answer(self: Box<Self>, committed: Result<(), String>) {
        let result = self.result.unwrap_or_else(|| {
            Err(StoreError::Writer(
                "the write did not run (the transaction could not be started)".into(),
            ))
        });
        let result = match committed {
            Ok(()) => result,
            Err(commit) if result.is_ok() => Err(StoreError::Writer(format!(
                "the transaction could not be committed: {commit}"
            ))),
            Err(_) => result,
        };
        // The caller may have gone (a client hung up); the write stands.
        let _ = self.reply.send(result);
    }
}

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
    checkpointer: Mutex<Option<Checkpointer>>,
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
        // SQLite's default 2 MiB of page cache, on purpose. Every commit scans the whole
        // page-cache hash (pcache1TruncateUnsafe), so 32 MiB cost 7 % of the writer's
        // time; and with 200,000 queued invoices the larger cache neither ingested nor
        // drained faster (the OS page cache serves the reads), while RSS grew by 30 MiB.
        conn.pragma_update(None, "cache_size", -2 * 1024)?;
        // A replayed batch runs each write in a savepoint, and some statements need a
        // statement journal; SQLite otherwise keeps those in temporary files (an open,
        // unlink and close each). In memory they cost a few pages of RAM.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // The checkpointer thread copies the WAL back as it grows; the writer's own
        // checkpoint is the backstop that keeps the WAL bounded (see `checkpointer`).
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        let (checkpointer, nudge) = Checkpointer::start(db_path)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let (queue, inbox) = mpsc::channel();
        let stats = Arc::new(Counters::default());
        let counters = stats.clone();
        let thread = std::thread::Builder::new()
            .name("erp-sync-writer".into())
            .spawn(move || serve(conn, inbox, &counters, &nudge))
            .map_err(|e| StoreError::Writer(format!("starting the writer thread: {e}")))?;
        Ok(Writer {
            queue,
            thread: Mutex::new(Some(thread)),
            stats,
            checkpointer: Mutex::new(Some(checkpointer)),
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
    /// committed. `f` sees the writes of the closures before it in the same batch. It may
    /// run twice (see the module documentation); only the committed run is answered.
    pub(super) async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answered) = oneshot::channel::<StoreResult<T>>();
        let work: Work = Box::new(Pending {
            f,
            result: None,
            reply,
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

    /// Commits what is queued, closes the connection and waits for the thread (and, as
    /// its nudge goes with it, the checkpointer) to end.
    pub(super) async fn stop(&self) {
        let (done, stopped) = oneshot::channel();
        if self.queue.send(Message::Stop(done)).is_ok() {
            let _ = stopped.await;
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        let checkpointer = self.checkpointer.lock().ok().and_then(|mut c| c.take());
        if let Some(checkpointer) = checkpointer {
            let _ = tokio::task::spawn_blocking(move || checkpointer.join()).await;
        }
    }
}

/// Runs one caller's closure in a savepoint of the batch's transaction: its failure (or
/// panic) undoes its own writes and nobody else's.
fn in_savepoint<T>(
    tx: &mut Transaction<'_>,
    f: &mut impl FnMut(&Connection) -> StoreResult<T>,
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
fn serve(mut conn: Connection, inbox: mpsc::Receiver<Message>, counters: &Counters, nudge: &Nudge) {
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
        nudge.committed();
    }
    if let Err((_, e)) = conn.close() {
        tracing::error!(error = %e, "closing the SQLite write connection failed");
    }
    if let Some(done) = stop {
        let _ = done.send(());
    }
}

/// Runs a batch optimistically, and again with a savepoint per closure if one of them
/// failed after changing rows; commits; answers everyone.
fn commit_batch(conn: &mut Connection, mut batch: Vec<Work>) {
    let committed = match run_direct(conn, &mut batch) {
        Ok(true) => Ok(()),
        Ok(false) => run_isolated(conn, &mut batch),
        Err(e) => Err(e),
    };
    if let Err(e) = &committed {
        tracing::error!(error = %e, writes = batch.len(), "committing a write transaction failed");
    }
    for work in batch {
        work.answer(committed.clone());
    }
}

/// The fast path: every closure straight in one transaction. `Ok(false)` means one failed
/// after changing rows; the transaction was rolled back and nothing of the batch stands.
fn run_direct(conn: &mut Connection, batch: &mut [Work]) -> Result<bool, String> {
    let tx = begin(conn)?;
    if batch.iter_mut().all(|work| work.run_direct(&tx)) {
        tx.commit().map_err(|e| e.to_string())?;
        Ok(true)
    } else {
        tx.rollback()
            .map_err(|e| format!("rolling back a failed batch failed: {e}"))?;
        Ok(false)
    }
}

fn begin(conn: &mut Connection) -> Result<Transaction<'_>, String> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| format!("starting a write transaction failed: {e}"))
}

/// The slow path, after a failure with writes: each closure in its own savepoint.
fn run_isolated(conn: &mut Connection, batch: &mut [Work]) -> Result<(), String> {
    let mut tx = begin(conn)?;
    for work in batch.iter_mut() {
        work.run_isolated(&mut tx);
    }
    tx.commit().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A write for `commit_batch`, counting its runs, and the receiver of its answer.
    fn work<F>(runs: &Arc<AtomicUsize>, mut f: F) -> (Work, oneshot::Receiver<StoreResult<()>>)
    where
        F: FnMut(&Connection) -> StoreResult<()> + Send + 'static,
    {
        let runs = runs.clone();
        let (reply, answered) = oneshot::channel();
        let pending = Pending {
            f: move |db: &Connection| {
                runs.fetch_add(1, Ordering::SeqCst);
                f(db)
            },
            result: None,
            reply,
        };
        (Box::new(pending), answered)
    }

    fn insert(n: i64) -> impl FnMut(&Connection) -> StoreResult<()> + Send + 'static {
        move |db| {
            db.execute("INSERT INTO t (n) VALUES (?)", [n])?;
            Ok(())
        }
    }

    fn rows(conn: &Connection) -> Vec<i64> {
        let mut stmt = conn.prepare("SELECT n FROM t ORDER BY n").unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER NOT NULL)")
            .unwrap();
        conn
    }

    /// Commits one batch of three writes, `middle` between two inserts (1 and 3), and
    /// returns what it answered to `middle` and how many runs the batch took in all,
    /// after checking that the two inserts were committed and answered `Ok`.
    fn batch_around<F>(middle: F) -> (StoreResult<()>, usize)
    where
        F: FnMut(&Connection) -> StoreResult<()> + Send + 'static,
    {
        let mut conn = db();
        let runs = Arc::new(AtomicUsize::new(0));
        let (a, a_answer) = work(&runs, insert(1));
        let (b, b_answer) = work(&runs, middle);
        let (c, c_answer) = work(&runs, insert(3));
        commit_batch(&mut conn, vec![a, b, c]);
        assert_eq!(rows(&conn), vec![1, 3], "only the middle write is undone");
        assert!(a_answer.blocking_recv().unwrap().is_ok());
        assert!(c_answer.blocking_recv().unwrap().is_ok());
        (
            b_answer.blocking_recv().unwrap(),
            runs.load(Ordering::SeqCst),
        )
    }

    #[test]
    fn a_write_failing_after_changing_rows_is_undone_alone() {
        let (answer, runs) = batch_around(|db| {
            db.execute("INSERT INTO t (n) VALUES (2)", [])?;
            Err(StoreError::Conflict("b changed its mind".into()))
        });
        assert!(matches!(answer, Err(StoreError::Conflict(_))));
        // The first two ran twice (optimistically, then in savepoints); the last once,
        // after the failure had already sent the batch to the slow path.
        assert_eq!(runs, 5);
    }

    #[test]
    fn a_write_failing_before_changing_rows_does_not_replay_the_batch() {
        let (answer, runs) = batch_around(|_| Err(StoreError::NotFound("no such row".into())));
        assert!(matches!(answer, Err(StoreError::NotFound(_))));
        assert_eq!(runs, 3);
    }

    #[test]
    fn a_panicking_write_is_undone_alone() {
        let (answer, _) = batch_around(|db| {
            db.execute("INSERT INTO t (n) VALUES (2)", [])?;
            panic!("a bug in a write");
        });
        assert!(matches!(answer, Err(StoreError::Writer(m)) if m.contains("panicked")));
    }
}
