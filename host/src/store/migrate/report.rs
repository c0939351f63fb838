//! What a run did and found, and how it is printed.

use std::fmt;

/// What a run did and found, per table, in copy order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    pub tables: Vec<TableReport>,
    /// Jobs that were leased in the source (their server did not stop cleanly), copied
    /// as pending with the lease cleared.
    pub requeued_leased_jobs: u64,
}

/// One table of a [`MigrationReport`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableReport {
    pub table: &'static str,
    /// Rows in the SQLite store.
    pub source_rows: u64,
    /// Rows this run inserted (rows already in the target are not counted).
    pub copied: u64,
    /// Rows in the PostgreSQL table after the run.
    pub target_rows: u64,
    /// Source rows with no matching row in the target; zero when verified.
    pub missing: u64,
    /// The keys of a few missing rows (not for tables whose keys are credentials).
    pub missing_examples: Vec<String>,
}

impl MigrationReport {
    /// The report of one table.
    pub fn table(&self, name: &str) -> Option<&TableReport> {
        self.tables.iter().find(|t| t.table == name)
    }

    /// Rows this run inserted, over all tables.
    pub fn copied(&self) -> u64 {
        self.tables.iter().map(|t| t.copied).sum()
    }

    /// Source rows missing in the target, over all tables.
    pub fn missing(&self) -> u64 {
        self.tables.iter().map(|t| t.missing).sum()
    }

    /// The tables with missing rows, with a few of their keys, on one line for the
    /// error message.
    pub(super) fn missing_summary(&self) -> String {
        self.tables
            .iter()
            .filter(|t| t.missing > 0)
            .map(|t| {
                if t.missing_examples.is_empty() {
                    format!("{}: {}", t.table, t.missing)
                } else {
                    format!(
                        "{}: {}, e.g. {}",
                        t.table,
                        t.missing,
                        t.missing_examples.join(", ")
                    )
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<18} {:>12} {:>12} {:>12} {:>9}",
            "table", "source rows", "copied now", "target rows", "missing"
        )?;
        for t in &self.tables {
            writeln!(
                f,
                "{:<18} {:>12} {:>12} {:>12} {:>9}",
                t.table, t.source_rows, t.copied, t.target_rows, t.missing
            )?;
        }
        for t in &self.tables {
            if t.target_rows > t.source_rows {
                writeln!(
                    f,
                    "warning: {}: the target has {} more rows than the source (already in use?)",
                    t.table,
                    t.target_rows - t.source_rows
                )?;
            }
        }
        if self.requeued_leased_jobs > 0 {
            writeln!(
                f,
                "note: {} jobs were leased in the source (its server did not stop cleanly); they were copied as pending with the lease cleared, to be delivered again",
                self.requeued_leased_jobs
            )?;
        }
        let missing = self.missing();
        if missing == 0 {
            write!(f, "verified: every source row is in the target")
        } else {
            write!(
                f,
                "NOT verified: {missing} source rows are missing in the target"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_warns() {
        let report = MigrationReport {
            tables: vec![TableReport {
                table: "jobs",
                source_rows: 2,
                copied: 0,
                target_rows: 5,
                missing: 0,
                missing_examples: vec![],
            }],
            requeued_leased_jobs: 1,
        };
        let text = report.to_string();
        assert!(
            text.contains("the target has 3 more rows than the source (already in use?)"),
            "{text}"
        );
        assert!(text.contains("1 jobs were leased"), "{text}");
        assert!(
            text.ends_with("verified: every source row is in the target"),
            "{text}"
        );
    }
}
