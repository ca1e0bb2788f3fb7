//! The client context every VehicleOps Kafka client uses: librdkafka's log lines and errors go
//! to `tracing` (target `vehicleops_kafka::librdkafka`) instead of the `log` crate, so "broker
//! down" and "all brokers down" show up in the application's logs next to its own events.

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use tracing::{debug, error, info, warn};
use vehicleops_core::Error;

/// Names the client in every log line, e.g. `telemetry-source`.
#[derive(Debug, Clone)]
pub struct LoggingContext {
    pub client: &'static str,
}

impl ClientContext for LoggingContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        let client = self.client;
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                error!(target: "vehicleops_kafka::librdkafka", client, facility, "{message}")
            }
            RDKafkaLogLevel::Warning => {
                warn!(target: "vehicleops_kafka::librdkafka", client, facility, "{message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                info!(target: "vehicleops_kafka::librdkafka", client, facility, "{message}")
            }
            RDKafkaLogLevel::Debug => {
                debug!(target: "vehicleops_kafka::librdkafka", client, facility, "{message}")
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // A failed connection is also logged through `log` (facility FAIL), with librdkafka's
        // own suppression of repeats: keep this copy out of the default log level.
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::BrokerTransportFailure) {
            debug!(target: "vehicleops_kafka::librdkafka", client = self.client, %error, "{reason}");
            return;
        }
        warn!(
            target: "vehicleops_kafka::librdkafka",
            client = self.client,
            %error,
            "Kafka client error: {reason}"
        );
    }
}

/// Consumers that commit automatically need no rebalance hooks beyond librdkafka's own.
impl rdkafka::consumer::ConsumerContext for LoggingContext {}

/// Maps an rdkafka error into the core's backend error, keeping it as the source.
pub(crate) fn kafka_error(what: &str, e: KafkaError) -> Error {
    Error::Backend {
        backend: "kafka",
        message: format!("{what}: {e}"),
        source: Some(Box::new(e)),
    }
}
