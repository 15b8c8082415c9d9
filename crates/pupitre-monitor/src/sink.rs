//! Where the numbers of each result go: performance data, SNMP rates, exporter samples, RTTs.
//! The metric history (a later issue) implements [`MetricsSink`]; until then the engine is
//! given a [`NullSink`].

use pupitre_core::inventory::AssetId;
use pupitre_core::monitoring::check::CheckId;
use pupitre_core::monitoring::perfdata::PerfDatum;

/// The numeric values of one result.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultSample {
    pub check_id: CheckId,
    pub asset_id: AssetId,
    /// When the run started, epoch milliseconds.
    pub at: i64,
    pub perfdata: Vec<PerfDatum>,
}

/// Receives every result that carries numbers. Called from the engine's scheduling task:
/// an implementation must not block (queue the sample and return).
pub trait MetricsSink: Send + Sync {
    fn record(&self, sample: &ResultSample);
}

/// Drops every sample.
pub struct NullSink;

impl MetricsSink for NullSink {
    fn record(&self, _sample: &ResultSample) {}
}
