//! Prometheus metrics, one registry per running server (no process globals, so several
//! servers in one test process keep separate counts).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of the attempt counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    pub provider: String,
    /// `success`, `retry` or `failed`.
    pub outcome: String,
}

/// Labels of the queue-depth gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

/// Labels of the connections gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// `active`, `paused`, `needs_reauth`, …
    pub status: String,
}

/// Labels of the per-connection gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    pub connection_id: String,
}

/// Labels of the ingest counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IngestLabels {
    /// `new_version` or `unchanged`.
    pub result: String,
}

/// Every metric erp-sync exports.
pub struct Metrics {
    registry: Registry,
    pub attempts: Family<AttemptLabels, Counter>,
    pub ingested: Family<IngestLabels, Counter>,
    pub queue_depth: Family<StateLabels, Gauge>,
    /// Connections by status, read from the store at each scrape.
    pub connections: Family<StatusLabels, Gauge>,
    /// Documents whose latest delivery FAILED, by connection, read at each scrape.
    pub failed_documents: Family<ConnectionLabels, Gauge>,
    pub finalization_to_success: Histogram,
    pub ingest_to_success: Histogram,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        300.0, 3600.0,
    ]
    .into_iter()
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("erp_sync");
        let attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "attempts",
            "Delivery attempts by provider and outcome",
            attempts.clone(),
        );
        let ingested = Family::<IngestLabels, Counter>::default();
        registry.register(
            "invoices_ingested",
            "Invoices accepted by POST /v1/invoices",
            ingested.clone(),
        );
        let queue_depth = Family::<StateLabels, Gauge>::default();
        registry.register(
            "queue_depth",
            "Jobs waiting (pending) or in flight (leased)",
            queue_depth.clone(),
        );
        let connections = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "connections",
            "Connections by status (active, paused, needs_reauth, pending_auth, disconnected)",
            connections.clone(),
        );
        let failed_documents = Family::<ConnectionLabels, Gauge>::default();
        registry.register(
            "failed_documents",
            "Documents whose latest delivery on the connection FAILED (recover them with POST /v1/connections/{id}/recover)",
            failed_documents.clone(),
        );
        let finalization_to_success = Histogram::new(latency_buckets());
        registry.register(
            "finalization_to_success_seconds",
            "Seconds from an invoice's finalized_at to its successful delivery",
            finalization_to_success.clone(),
        );
        let ingest_to_success = Histogram::new(latency_buckets());
        registry.register(
            "ingest_to_success_seconds",
            "Seconds from accepting an invoice version to its successful delivery",
            ingest_to_success.clone(),
        );
        Metrics {
            registry,
            attempts,
            ingested,
            queue_depth,
            connections,
            failed_documents,
            finalization_to_success,
            ingest_to_success,
        }
    }
}

impl Metrics {
    /// Counts one attempt.
    pub fn attempt(&self, provider: &str, outcome: &str) {
        self.attempts
            .get_or_create(&AttemptLabels {
                provider: provider.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
