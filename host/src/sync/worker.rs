//! The worker: claims due jobs, runs them with bounded concurrency, settles each attempt.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{RetryPolicy, SyncHandle};
use crate::connectors::{
    Attempted, Connector, Connectors, JobRef, Outcome, OutcomeKind, SyncRequest,
};
use crate::documents::AnyDocument;
use crate::domain::Invoice;
use crate::metrics::Metrics;
use crate::store::{
    Claim, ClaimedJob, ConnectionRow, ConnectionStatus, DocumentRef, JobNext, Prerequisite, Store,
    TransformRow, format_ms, now_ms,
};

/// Tunables of the worker.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Attempts in flight at once, over every connection. Each connection also has its
    /// own cap, set by its connector ([`crate::connectors::Connector::in_flight_cap`]), so
    /// a backlog on one connection never keeps another's deliveries waiting.
    pub concurrency: usize,
    /// Jobs claimed per claim statement.
    pub claim_batch: usize,
    /// How long a claim holds a job; longer than any attempt can take.
    pub lease: Duration,
    /// The longest the worker sleeps without looking for due jobs.
    pub idle_poll: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            concurrency: 1024,
            claim_batch: 64,
            lease: Duration::from_secs(15 * 60),
            idle_poll: Duration::from_secs(1),
        }
    }
}

/// Everything an attempt needs; shared by all attempt tasks.
pub struct Worker {
    pub store: Store,
    /// Connections' secrets, opened once per sealed value.
    pub secrets: super::secrets::OpenedSecrets,
    pub connectors: Arc<Connectors>,
    pub transforms: Arc<crate::transform::Transforms>,
    pub policy: RetryPolicy,
    pub metrics: Arc<Metrics>,
    pub settings: WorkerSettings,
    pub handle: SyncHandle,
    /// Attempts in flight per connection, against each connection's cap.
    pub in_flight: InFlight,
}

/// Attempts in flight per connection. A connection at its connector's cap is left out of
/// claims until one of its attempts ends.
#[derive(Default)]
pub struct InFlight {
    counts: Mutex<HashMap<String, (usize, usize)>>,
}

impl InFlight {
    /// The connections at their cap now.
    fn full(&self) -> Vec<String> {
        self.counts
            .lock()
            .expect("in-flight lock")
            .iter()
            .filter(|(_, (n, cap))| n >= cap)
            .map(|(id, _)| id.clone())
            .collect()
    }

    fn start(&self, connection_id: &str, cap: usize) {
        let mut counts = self.counts.lock().expect("in-flight lock");
        let entry = counts.entry(connection_id.to_string()).or_insert((0, cap));
        entry.0 += 1;
        entry.1 = cap;
    }

    /// One attempt ended; answers whether that took the connection below its cap (claims
    /// skipped it until now, so the worker should look again). A claim may take a few
    /// more than the cap: the wake-up comes when the count is below the cap, not on the
    /// first end, which would find it still full.
    fn end(&self, connection_id: &str) -> bool {
        let mut counts = self.counts.lock().expect("in-flight lock");
        let Some(entry) = counts.get_mut(connection_id) else {
            return false;
        };
        let was_full = entry.0 == entry.1;
        entry.0 = entry.0.saturating_sub(1);
        if entry.0 == 0 {
            counts.remove(connection_id);
        }
        was_full
    }
}

impl Worker {
    /// Runs until `shutdown` fires, then waits for attempts in flight to finish, so that
    /// nothing stays leased.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        let permits = Arc::new(Semaphore::new(self.settings.concurrency));
        loop {
            let first = tokio::select! {
                p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                _ = shutdown.cancelled() => break,
            };
            if shutdown.is_cancelled() {
                break;
            }
            let want = (1 + permits.available_permits()).min(self.settings.claim_batch);
            let lease_ms = self.settings.lease.as_millis() as i64;
            let full = self.in_flight.full();
            match self.store.claim_due(want as i64, lease_ms, &full).await {
                Ok(claimed) => {
                    // Fewer jobs than asked for: the claim took everything due, so the
                    // next claim waits for a wake-up or the next due time.
                    let took_all = claimed.claims.len() < want;
                    let mut first = Some(first);
                    for job in claimed.claims {
                        let permit = match first.take() {
                            Some(p) => p,
                            None => permits
                                .clone()
                                .try_acquire_owned()
                                .expect("claimed no more jobs than free permits"),
                        };
                        let cap = self.connectors.get(job.connection.provider).in_flight_cap();
                        self.in_flight.start(&job.connection.id, cap);
                        let worker = self.clone();
                        tracker.spawn(async move { worker.process(job, permit).await });
                    }
                    drop(first);
                    if took_all {
                        self.idle(claimed.next_due_ms, &shutdown).await;
                    }
                }
                Err(e) => {
                    drop(first);
                    tracing::error!(error = %e, "claiming jobs failed; retrying in a second");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.cancelled() => {}
                    }
                }
            }
        }
        tracker.close();
        tracker.wait().await;
    }

    /// Sleeps until the next job is due (as the claim that took everything due said), a
    /// wake-up arrives, or the idle poll elapses.
    async fn idle(&self, next_due_ms: Option<i64>, shutdown: &CancellationToken) {
        let mut sleep = self.settings.idle_poll;
        if let Some(due) = next_due_ms {
            let until = Duration::from_millis((due - now_ms()).max(0) as u64);
            sleep = sleep.min(until);
        }
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = self.handle.wake.notified() => {}
            _ = shutdown.cancelled() => {}
        }
    }

    async fn process(&self, claim: Claim, _permit: OwnedSemaphorePermit) {
        let job_id = claim.job.id.clone();
        let connection_id = claim.connection.id.clone();
        if let Err(e) = self.attempt(claim).await {
            // The lease runs out and the job is claimed again; nothing is lost.
            tracing::error!(job = %job_id, error = %e, "recording an attempt failed; the job will be retried");
        }
        if self.in_flight.end(&connection_id) {
            self.handle.wake();
        }
    }

    /// One attempt of one job: load the document, check what it applies to has reached
    /// the connection, tweak it (invoices), deliver it, decide what the job does next,
    /// and record the attempt.
    async fn attempt(&self, claim: Claim) -> Result<(), crate::store::StoreError> {
        let Claim {
            job,
            connection,
            body,
            tweak,
            prerequisites,
        } = claim;
        if connection.status != ConnectionStatus::Active {
            // Disconnect already cancelled (and logged) this job; give the lease back.
            return self.store.release_lease(&job).await;
        }
        let started = Instant::now();
        let stored = body.as_deref().unwrap_or_default();
        let (outcome, invoice) = match load(&job, body.as_deref()) {
            Err(failed) => (failed, None),
            Ok(AnyDocument::Invoice(invoice)) => {
                let (tweaked, tweak_logs) = self.tweaked(&job, tweak, invoice, stored).await;
                let outcome = match &tweaked {
                    Err(failed) => failed.clone(),
                    Ok((invoice, text)) => self.deliver(&job, &connection, invoice, text).await,
                };
                (
                    with_tweak_logs(outcome, tweak_logs),
                    tweaked.ok().map(|(invoice, _)| invoice),
                )
            }
            Ok(document) => match self
                .prerequisites(&job, &connection, &document, prerequisites)
                .await?
            {
                Ready::Go => (
                    self.deliver(&job, &connection, &document, stored).await,
                    None,
                ),
                Ready::Failed(outcome) => (outcome, None),
                Ready::Wait => return Ok(()),
            },
        };
        if outcome.kind == OutcomeKind::Held && connection.status == ConnectionStatus::Active {
            // Held, yet still active (e.g. no organisation chosen): stop claiming its jobs
            // until an operator acts, rather than holding the same job again and again.
            self.store
                .set_connection_status(&connection.id, ConnectionStatus::NeedsReauth)
                .await?;
        }
        let (next, note) = self.decide(&job, &connection, &outcome);
        self.record(
            &job,
            &connection,
            &outcome,
            next,
            note,
            started.elapsed(),
            invoice.as_ref(),
        )
        .await
    }

    /// Whether the documents `document` applies to have reached this connection: go,
    /// fail at once naming the one that FAILED there, or wait (the job is put back,
    /// uncounted and unlogged, with a note saying what it waits for).
    async fn prerequisites(
        &self,
        job: &ClaimedJob,
        connection: &ConnectionRow,
        document: &AnyDocument,
        claimed: Option<Vec<(DocumentRef, Prerequisite)>>,
    ) -> Result<Ready, crate::store::StoreError> {
        let states = match claimed {
            Some(states) => states,
            None => {
                let needed: Vec<DocumentRef> = document
                    .applies_to()
                    .into_iter()
                    .map(|l| DocumentRef {
                        doc_type: l.doc_type,
                        id: l.id,
                    })
                    .collect();
                let states = self.store.prerequisites(&connection.id, &needed).await?;
                needed.into_iter().zip(states).collect()
            }
        };
        let noun = job.doc_type.noun();
        if let Some((failed, _)) = states.iter().find(|(_, s)| *s == Prerequisite::Failed) {
            return Ok(Ready::Failed(Outcome::permanent(
                None,
                format!(
                    "not sent: {failed} FAILED on this connection, and this {noun} applies to it; \
                     re-sync {failed} (POST /v1/{}/{}/sync), then this {noun}",
                    crate::documents::api_path(failed.doc_type),
                    failed.id
                ),
            )));
        }
        let waiting: Vec<String> = states
            .iter()
            .filter(|(_, s)| *s == Prerequisite::Waiting)
            .map(|(d, _)| d.to_string())
            .collect();
        if waiting.is_empty() {
            return Ok(Ready::Go);
        }
        // Back off with the job's age: a payment posted just after its invoice looks
        // again within a second; one whose invoice never came, once a minute.
        let age = (now_ms() - job.created_ms).max(0);
        let at = now_ms() + (age / 4).clamp(200, 60_000);
        let note = format!(
            "waiting: {} must reach this connection first; looks again at {}",
            waiting.join(", "),
            format_ms(at)
        );
        self.store.wait_for_prerequisite(job, at, &note).await?;
        self.handle.wake();
        Ok(Ready::Wait)
    }

    /// Sends the (tweaked) invoice, or any other document, through the connection's
    /// connector.
    async fn deliver<D: Delivered>(
        &self,
        job: &ClaimedJob,
        connection: &ConnectionRow,
        document: &D,
        document_json: &str,
    ) -> Outcome {
        let secrets = match self.secrets.open(connection) {
            Ok(s) => s,
            Err(detail) => return Outcome::permanent(None, detail),
        };
        let stop = self.connectors.stops.token(&connection.id);
        let request = SyncRequest {
            stop: &stop,
            connection,
            secrets: &secrets,
            document,
            document_json,
            job_id: &job.id,
            event_id: &job.event_id,
            kind: job.kind,
            event_type: &job.event_type,
            event_created_ms: job.event_ms,
            attempt: job.attempts,
        };
        D::send(self.connectors.get(connection.provider), request).await
    }

    /// What the job does after this outcome, and the note the log entry ends with.
    fn decide(
        &self,
        job: &ClaimedJob,
        connection: &ConnectionRow,
        outcome: &Outcome,
    ) -> (JobNext, Option<String>) {
        let now = now_ms();
        match &outcome.kind {
            OutcomeKind::Success => (JobNext::Succeeded, None),
            OutcomeKind::Held => (
                JobNext::Held,
                Some("waiting: the delivery resumes when the connection is re-authorized".into()),
            ),
            OutcomeKind::Permanent => (
                JobNext::Failed,
                Some("not retried: no retry can fix this".into()),
            ),
            OutcomeKind::Deferred { after } => {
                let after = (*after).min(self.policy.max_retry_after);
                let at = now + after.as_millis() as i64;
                (
                    JobNext::Deferred(at),
                    Some(format!(
                        "runs again at {}; not counted as a retry",
                        format_ms(at)
                    )),
                )
            }
            OutcomeKind::Retryable { retry_after } => {
                let policy = self.policy.for_config(&connection.config);
                match policy.next_delay(job.attempts as u32, *retry_after) {
                    Some(delay) => {
                        let at = now + delay.as_millis() as i64;
                        (
                            JobNext::RetryAt(at),
                            Some(format!(
                                "retry {} of {} at {}",
                                job.attempts,
                                policy.max_retries,
                                format_ms(at)
                            )),
                        )
                    }
                    None => (
                        JobNext::Failed,
                        Some(format!("gave up after {} attempts", job.attempts)),
                    ),
                }
            }
        }
    }

    /// Logs the attempt and moves the job on (one transaction), counts it, and wakes the
    /// worker when something may have become claimable.
    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        job: &ClaimedJob,
        connection: &ConnectionRow,
        outcome: &Outcome,
        next: JobNext,
        note: Option<String>,
        took: Duration,
        invoice: Option<&Invoice>,
    ) -> Result<(), crate::store::StoreError> {
        let now = now_ms();
        let error = match (&outcome.detail, note) {
            (_, None) if outcome.is_success() => None,
            (Some(d), Some(n)) => Some(format!("{d} ({n})")),
            (Some(d), None) => Some(d.clone()),
            (None, n) => n,
        };
        let about = Attempted {
            connection,
            kind: job.kind.into(),
            job: Some(JobRef {
                job_id: &job.id,
                event_id: &job.event_id,
                doc_type: job.doc_type,
                document_id: &job.document_id,
            }),
            attempt: job.attempts,
            at_ms: now,
            took,
        };
        let entry = outcome.log_entry(about, error);
        let settled = self.store.settle_attempt(job, next, &entry).await?;
        if !settled.applied {
            tracing::warn!(job = %job.id, "the lease was lost during the attempt; its result was logged but not applied");
        } else if next == JobNext::Failed {
            self.raise_failed(job, connection, &entry).await;
        }
        let label = match next {
            JobNext::Succeeded => "success",
            JobNext::RetryAt(_) => "retry",
            JobNext::Failed => "failed",
            JobNext::Held => "held",
            JobNext::Deferred(_) => "deferred",
        };
        self.metrics.attempt(connection.provider.as_str(), label);
        if next == JobNext::Succeeded {
            let since_ingest = (now - job.created_ms).max(0) as f64 / 1000.0;
            self.metrics.ingest_to_success.observe(since_ingest);
            if let Some(invoice) = invoice {
                let since_final =
                    (now - invoice.finalized_at.timestamp_millis()).max(0) as f64 / 1000.0;
                self.metrics.finalization_to_success.observe(since_final);
            }
        }
        // Look again when something may have become claimable: the next version of this
        // invoice waited for this job; a retry may be due before whatever the worker
        // sleeps towards; a held or deferred job is pending again and its connection may
        // have been re-authorized meanwhile. Otherwise an empty claim would only cost a
        // write.
        if settled.unblocked
            || matches!(
                next,
                JobNext::RetryAt(_) | JobNext::Held | JobNext::Deferred(_)
            )
        {
            self.handle.wake();
        }
        Ok(())
    }

    /// Raises the `sync.failed` alert of a document that failed for good on a
    /// connection. The attempt is already recorded; an alert that cannot be stored is
    /// logged, and the FAILED entry still says everything.
    async fn raise_failed(
        &self,
        job: &ClaimedJob,
        connection: &ConnectionRow,
        entry: &crate::store::LogEntry,
    ) {
        let data = serde_json::json!({
            "connection_id": connection.id,
            "document_type": job.doc_type,
            "document_id": job.document_id,
            "event_id": job.event_id,
            "attempts": job.attempts,
            "response_code": entry.response_code,
            "error": entry.error,
        });
        if let Err(e) = self
            .store
            .raise_alert(
                &job.tenant_id,
                crate::store::AlertKind::SyncFailed,
                Some(&connection.id),
                data,
            )
            .await
        {
            tracing::error!(job = %job.id, error = %e, "raising the sync.failed alert failed");
        }
    }

    /// Applies the customer's invoice tweak, if one is set: the invoice and its canonical
    /// text (the stored text when nothing changed it). A failing tweak fails the attempt
    /// (permanently, unless the Wasm pool was only busy), with the guest's logs.
    async fn tweaked<'s>(
        &self,
        job: &ClaimedJob,
        tweak: Option<TransformRow>,
        invoice: Invoice,
        stored: &'s str,
    ) -> (Result<(Invoice, Cow<'s, str>), Outcome>, Option<String>) {
        let Some(tweak) = tweak else {
            return (Ok((invoice, Cow::Borrowed(stored))), None);
        };
        let ctx = crate::transform::wasm::GuestContext {
            event_type: job.event_type.clone(),
            event_id: job.event_id.clone(),
            tenant_id: job.tenant_id.clone(),
            connection_id: job.connection_id.clone(),
            config: Vec::new(),
        };
        let run = self
            .transforms
            .tweak(&job.tenant_id, &tweak.id, &ctx, &invoice, stored)
            .await;
        let logs = run.logs_text();
        match run.result {
            // The stored body is the invoice's canonical text; a tweaked invoice needs its own.
            Ok(tweaked) => {
                let text = Cow::Owned(tweaked.canonical_text());
                (Ok((tweaked, text)), logs)
            }
            Err(f) => {
                let detail = format!("invoice tweak {} ({}): {f}", tweak.id, tweak.name);
                let outcome = if f.is_retryable() {
                    Outcome::retryable(None, detail, None)
                } else {
                    Outcome::permanent(None, detail)
                };
                (Err(outcome), logs)
            }
        }
    }
}

/// What the worker decided about a document's prerequisites.
enum Ready {
    Go,
    Failed(Outcome),
    /// Put back to wait; nothing to record.
    Wait,
}

/// A connector's delivery in progress, as `async_trait` methods return it.
type Sending<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send + 'a>>;

/// A document the worker can hand to a connector: invoices go to [`Connector::sync`],
/// every other document to [`Connector::sync_document`].
///
/// [`Connector::sync`]: crate::connectors::Connector::sync
/// [`Connector::sync_document`]: crate::connectors::Connector::sync_document
trait Delivered: Sync + Sized {
    fn send<'a>(to: &'a dyn Connector, request: SyncRequest<'a, Self>) -> Sending<'a>;
}

impl Delivered for Invoice {
    fn send<'a>(to: &'a dyn Connector, request: SyncRequest<'a, Self>) -> Sending<'a> {
        to.sync(request)
    }
}

impl Delivered for AnyDocument {
    fn send<'a>(to: &'a dyn Connector, request: SyncRequest<'a, Self>) -> Sending<'a> {
        to.sync_document(request)
    }
}

/// The stored document version of the job, parsed.
fn load(job: &ClaimedJob, body: Option<&str>) -> Result<AnyDocument, Outcome> {
    let noun = job.doc_type.noun();
    let body = body.ok_or_else(|| {
        Outcome::permanent(
            None,
            format!(
                "the stored {noun} could not be loaded: {noun} {} version {} not found",
                job.document_id, job.version
            ),
        )
    })?;
    AnyDocument::load(job.doc_type, body).map_err(|e| {
        Outcome::permanent(
            None,
            format!(
                "the stored {noun} could not be loaded: corrupt stored JSON in document_versions.body: {e}"
            ),
        )
    })
}

/// What the customer's tweak printed comes first, then the connector's guest.
fn with_tweak_logs(mut outcome: Outcome, tweak_logs: Option<String>) -> Outcome {
    if let Some(tweak) = tweak_logs {
        let rest = outcome
            .guest_logs
            .take()
            .map(|l| format!("\n{l}"))
            .unwrap_or_default();
        outcome.guest_logs = Some(format!("invoice tweak:\n{tweak}{rest}"));
    }
    outcome
}
