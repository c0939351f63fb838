//! Copies the WAL back into the database file beside the writer, so that the writer
//! rarely has to.
//!
//! SQLite checkpoints on the committing connection once the WAL passes a size (by default
//! 1,000 pages): it `fsync`s the WAL, copies its pages into the database file and
//! `fsync`s that. On the writer thread every write waiting for the next commit waits for
//! those `fsync`s too, which is what set the p99 latency at a steady 1,000 invoices/s
//! (`strace` put the `fsync`s at up to 8.5 ms, about 75 a second). This thread runs a
//! `PASSIVE` checkpoint on its own connection every few milliseconds, so the copying and
//! its `fsync`s happen here. A passive checkpoint never blocks the writer, and on its own
//! it cannot keep the WAL bounded under sustained load: the writer keeps appending, so
//! the WAL is never wholly copied and never restarts. The writer therefore keeps a
//! checkpoint of its own as a backstop, at a larger size ([`WRITER_CHECKPOINT_PAGES`]);
//! by then most pages are already copied and synced, so it is short.

use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::{StoreError, StoreResult};

/// How often the checkpointer looks at the WAL.
const PERIOD: Duration = Duration::from_millis(20);

/// The writer's own checkpoint threshold (SQLite's `wal_autocheckpoint`, in pages).
pub(super) const WRITER_CHECKPOINT_PAGES: i64 = 4_000;

/// Handle to the checkpoint thread.
pub(super) struct Checkpointer {
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Opens a connection of its own on `db_path` and starts the thread.
    pub(super) fn start(db_path: &Path) -> StoreResult<Checkpointer> {
        let conn = Connection::open(db_path)?;
        // The checkpoint lock is the only thing it may wait for; the writer's own
        // checkpoint holds it briefly.
        conn.busy_timeout(Duration::from_millis(100))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("erp-sync-ckpt".into())
            .spawn(move || run(&conn, &stopped))
            .map_err(|e| StoreError::Writer(format!("starting the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Tells the thread to stop and hands back its handle to wait for (a checkpoint in
    /// progress finishes first).
    pub(super) fn stop(&self) -> Option<JoinHandle<()>> {
        drop(self.stop.lock().ok().and_then(|mut s| s.take()));
        self.thread.lock().ok().and_then(|mut t| t.take())
    }
}

fn run(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(PERIOD) {
        // (busy, WAL pages, pages copied); a busy or failed checkpoint is simply tried
        // again next period, and the writer's own checkpoint stays as the backstop.
        let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        if let Err(e) = result {
            tracing::debug!(error = %e, "a background WAL checkpoint failed; retrying");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_what_the_writer_left_in_the_wal_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        // No checkpoints of the writer's own: whatever reaches the file, this thread copied.
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .execute_batch("CREATE TABLE t (b BLOB NOT NULL)")
            .unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        for _ in 0..500 {
            writer
                .execute("INSERT INTO t (b) VALUES (zeroblob(1000))", [])
                .unwrap();
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), before);

        let checkpointer = Checkpointer::start(&path).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() < 500 * 1000
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        checkpointer.stop().unwrap().join().unwrap();
        assert!(
            std::fs::metadata(&path).unwrap().len() >= 500 * 1000,
            "the database file holds the 500 rows"
        );
    }
}
