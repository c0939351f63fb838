//! Copies the WAL back into the database file beside the writer, so that the writer
//! rarely has to.
//!
//! SQLite checkpoints on the committing connection once the WAL passes a size (by default
//! 1,000 pages): it `fsync`s the WAL, copies its pages into the database file and
//! `fsync`s that. On the writer thread every write waiting for the next commit waits for
//! those `fsync`s too, which is what set the p99 latency at a steady 1,000 invoices/s
//! (`strace` put the `fsync`s at up to 8.5 ms, about 75 a second). This thread runs a
//! `PASSIVE` checkpoint on its own connection after commits (at most one per [`PERIOD`];
//! the writer nudges it, so an idle service does not wake), so the copying and its
//! `fsync`s happen here. A passive checkpoint never blocks the writer, and on its own it
//! cannot keep the WAL bounded under sustained load: the writer keeps appending, so the
//! WAL is never wholly copied and never restarts. The writer therefore keeps a checkpoint
//! of its own as a backstop, at a larger size ([`WRITER_CHECKPOINT_PAGES`]); by then most
//! pages are already copied and synced, so it is short.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::{StoreError, StoreResult};

/// The least time between two checkpoints of this thread.
const PERIOD: Duration = Duration::from_millis(20);

/// The writer's own checkpoint threshold (SQLite's `wal_autocheckpoint`, in pages).
pub(super) const WRITER_CHECKPOINT_PAGES: i64 = 4_000;

/// The checkpoint thread; it ends once its [`Nudge`] is dropped.
pub(super) struct Checkpointer(JoinHandle<()>);

/// What the writer holds to tell the checkpointer that it committed.
pub(super) struct Nudge(mpsc::SyncSender<()>);

impl Nudge {
    /// Something was committed; never blocks (nudges coalesce while one is pending).
    pub(super) fn committed(&self) {
        let _ = self.0.try_send(());
    }
}

impl Checkpointer {
    /// Opens a connection of its own on `db_path` and starts the thread.
    pub(super) fn start(db_path: &Path) -> StoreResult<(Checkpointer, Nudge)> {
        let conn = Connection::open(db_path)?;
        // The checkpoint lock is the only thing it may wait for; the writer's own
        // checkpoint holds it briefly.
        conn.busy_timeout(Duration::from_millis(100))?;
        let (nudge, nudged) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("erp-sync-ckpt".into())
            .spawn(move || run(&conn, &nudged))
            .map_err(|e| StoreError::Writer(format!("starting the checkpoint thread: {e}")))?;
        Ok((Checkpointer(thread), Nudge(nudge)))
    }

    /// Waits for the thread to end (after its nudge was dropped).
    pub(super) fn join(self) {
        let _ = self.0.join();
    }
}

fn run(conn: &Connection, nudged: &mpsc::Receiver<()>) {
    while nudged.recv().is_ok() {
        // A busy or failed checkpoint is simply tried again after the next commit, and
        // the writer's own checkpoint stays as the backstop.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %e, "a background WAL checkpoint failed; retrying");
        }
        std::thread::sleep(PERIOD);
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

        let (checkpointer, nudge) = Checkpointer::start(&path).unwrap();
        nudge.committed();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() < 500 * 1000
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(nudge);
        checkpointer.join();
        assert!(
            std::fs::metadata(&path).unwrap().len() >= 500 * 1000,
            "the database file holds the 500 rows"
        );
    }
}
