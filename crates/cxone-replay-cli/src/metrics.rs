//! `--metrics-addr`: Prometheus metrics of a replay at `/metrics`, fed by the engine's
//! [`RunObserver`], served by a small axum server for the run's duration.
//!
//! `prometheus-client` keeps the metrics in a registry of our own (no global recorder, so
//! nothing outside the run can add to it and tests can hold several), has histograms, and is
//! small: a few pure-Rust crates. The server is axum, already in the workspace (the emulator).

use crate::error::CliError;
use cxone_dlq_replay::domain::{AuditRecord, FailureClass, ReplayStatus};
use cxone_dlq_replay::{Exchange, Op, RunObserver};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The environment variable naming the metrics address when `--metrics-addr` is absent
/// (loopback only).
pub const METRICS_ADDR_ENV: &str = "CXONE_METRICS_ADDR";

/// How long the server may take to finish the responses in progress when it stops.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicStatus {
    topic: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicClass {
    topic: String,
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicReason {
    topic: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpStatus {
    op: &'static str,
    status: String,
}

/// A run's metrics; the [`RunObserver`] that feeds them.
pub struct Metrics {
    registry: Registry,
    events: Family<TopicStatus, Counter>,
    failures: Family<TopicClass, Counter>,
    skips: Family<TopicReason, Counter>,
    http: Family<OpStatus, Counter>,
    latency: Histogram,
    in_flight: Gauge,
    held: Counter<f64, AtomicU64>,
    /// The run has ended: the next scrape reads the final values.
    finished: AtomicBool,
    /// A scrape began after the run ended.
    scraped_after: Notify,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            registry: Registry::default(),
            events: Family::default(),
            failures: Family::default(),
            skips: Family::default(),
            http: Family::default(),
            // 1 ms to about 33 s.
            latency: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            in_flight: Gauge::default(),
            held: Counter::default(),
            finished: AtomicBool::new(false),
            scraped_after: Notify::new(),
        };
        let r = &mut m.registry;
        // Counters are written with `_total` appended.
        r.register(
            "cxone_replay_events",
            "Events given a final audit record, by topic and status",
            m.events.clone(),
        );
        r.register(
            "cxone_replay_failures",
            "FAILED events by topic and failure class",
            m.failures.clone(),
        );
        r.register(
            "cxone_replay_skips",
            "SKIPPED events by topic and skip reason",
            m.skips.clone(),
        );
        r.register(
            "cxone_replay_http_requests",
            "HTTP exchanges by op (token, discovery, dlq_page, put) and status (or the class of a transport failure)",
            m.http.clone(),
        );
        r.register(
            "cxone_replay_put_latency_seconds",
            "Per sent event, from just before its PUT to its final outcome, retries included",
            m.latency.clone(),
        );
        r.register(
            "cxone_replay_in_flight",
            "Sends in flight",
            m.in_flight.clone(),
        );
        r.register(
            "cxone_replay_rate_limited_seconds",
            "Time every request was held by a 429's Retry-After",
            m.held.clone(),
        );
        m
    }
}

impl Metrics {
    /// The metrics in Prometheus' (OpenMetrics) text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// A scrape: the text, and if the run has ended, the note that its final values were read.
    fn scrape(&self) -> String {
        let finished = self.finished.load(Ordering::Acquire);
        let text = self.render();
        if finished {
            self.scraped_after.notify_one();
        }
        text
    }
}

impl RunObserver for Metrics {
    fn outcome(&self, record: &AuditRecord) {
        let topic = record.topic_id.clone();
        match record.status {
            ReplayStatus::Failed => {
                let class = record
                    .error_classification
                    .unwrap_or(FailureClass::UnknownFailure);
                self.failures
                    .get_or_create(&TopicClass {
                        topic: topic.clone(),
                        class: class.as_str(),
                    })
                    .inc();
            }
            ReplayStatus::Skipped => {
                if let Some(reason) = record.skip_reason {
                    self.skips
                        .get_or_create(&TopicReason {
                            topic: topic.clone(),
                            reason: reason.as_str(),
                        })
                        .inc();
                }
            }
            _ => {}
        }
        self.events
            .get_or_create(&TopicStatus {
                topic,
                status: record.status.as_str(),
            })
            .inc();
    }

    fn http_exchange(&self, op: Op, exchange: Exchange) {
        let status = match exchange {
            Exchange::Status(code) => code.to_string(),
            Exchange::Failed(class) => class.as_str().to_string(),
            _ => "UNKNOWN_FAILURE".to_string(),
        };
        self.http
            .get_or_create(&OpStatus {
                op: op.name(),
                status,
            })
            .inc();
    }

    fn put_latency(&self, latency: Duration) {
        self.latency.observe(latency.as_secs_f64());
    }

    fn in_flight(&self, n: usize) {
        self.in_flight.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    fn rate_limited(&self, added: Duration) {
        self.held.inc_by(added.as_secs_f64());
    }
}

/// The address to serve metrics at: `--metrics-addr` (any address), else
/// `CXONE_METRICS_ADDR` (loopback only), else none.
///
/// # Errors
/// Exit 2 naming the flag (or the variable) when the address is not `HOST:PORT` with an IP
/// address (or `localhost`), or a port; or when the variable names a non-loopback address.
pub fn address(flag: Option<&str>, env: Option<&str>) -> Result<Option<SocketAddr>, CliError> {
    if let Some(a) = flag {
        return parse(a).map(Some).map_err(|problem| {
            CliError::usage(format!("invalid --metrics-addr `{a}`: {problem}"))
        });
    }
    let Some(a) = env.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let addr = parse(a).map_err(|problem| {
        CliError::usage(format!(
            "invalid {METRICS_ADDR_ENV} `{a}` (--metrics-addr): {problem}"
        ))
    })?;
    if !addr.ip().is_loopback() {
        return Err(CliError::usage(format!(
            "{METRICS_ADDR_ENV} may only name a loopback address, not {addr}"
        ))
        .hint(format!(
            "to serve metrics beyond this host, pass --metrics-addr {addr} on the command line"
        )));
    }
    Ok(Some(addr))
}

/// `HOST:PORT` (an IP address, or `localhost`), or a port alone (loopback).
fn parse(s: &str) -> Result<SocketAddr, String> {
    const EXPECTED: &str = "expected HOST:PORT with an IP address (e.g. 127.0.0.1:9898), \
                            localhost:PORT, or a port";
    let s = s.trim();
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Some(port) = s.strip_prefix("localhost:") {
        return port
            .parse::<u16>()
            .map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p))
            .map_err(|_| EXPECTED.to_string());
    }
    s.parse::<SocketAddr>().map_err(|_| EXPECTED.to_string())
}

/// The metrics server of a run.
#[derive(Debug)]
pub struct Server {
    metrics: Arc<Metrics>,
    addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Binds `addr` and serves `GET /metrics` from now on.
    ///
    /// # Errors
    /// Exit 2 naming `--metrics-addr` when the address cannot be bound.
    pub async fn start(addr: SocketAddr) -> Result<Self, CliError> {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            CliError::usage(format!(
                "cannot serve metrics at {addr} (--metrics-addr): {e}"
            ))
        })?;
        let addr = listener.local_addr().unwrap_or(addr);
        let metrics = Arc::new(Metrics::default());
        let stop = CancellationToken::new();
        let app = axum::Router::new()
            .route("/metrics", axum::routing::get(scrape))
            .with_state(Arc::clone(&metrics));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "the metrics server stopped");
            }
        });
        Ok(Server {
            metrics,
            addr,
            stop,
            task,
        })
    }

    /// The metrics, to observe the run with.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// Says where the metrics are, on stderr.
    pub fn announce(&self) {
        crate::output::err_line(&format!("serving metrics at http://{}/metrics", self.addr));
    }

    /// Stops serving, once the run has ended: with `linger`, after one scrape has read the
    /// final values, `linger` has passed, or `cut_short` has completed (a SIGINT or SIGTERM:
    /// the process is being stopped), whichever comes first.
    pub async fn stop(self, linger: Option<Duration>, cut_short: impl Future<Output = ()>) {
        self.metrics.finished.store(true, Ordering::Release);
        if let Some(d) = linger {
            tokio::select! {
                () = self.metrics.scraped_after.notified() => {}
                () = tokio::time::sleep(d) => {}
                () = cut_short => {}
            }
        }
        self.stop.cancel();
        let mut task = self.task;
        if tokio::time::timeout(STOP_TIMEOUT, &mut task).await.is_err() {
            task.abort();
        }
    }
}

async fn scrape(
    axum::extract::State(metrics): axum::extract::State<Arc<Metrics>>,
) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.scrape(),
    )
}

#[cfg(test)]
mod tests;
