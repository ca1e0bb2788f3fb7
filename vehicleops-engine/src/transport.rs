//! Opens the transport an engine runs on: the pipeline's source, the command sink, how
//! missions reach vehicles, what publishes readings, what the built-in simulator drives, and
//! what transport-specific rules, observers and dead-letter sinks come with it.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use vehicleops_core::inproc::{InProcessBus, InProcessTelemetrySource};
use vehicleops_core::pipeline::ReadingObserver;
use vehicleops_core::{
    AlertRule, CommandSink, DeadLetterSink, LiveHub, MissionLink, ReadingPublisher, Result,
    TelemetryPublisher, TelemetrySource, VehicleCommandLink,
};

use crate::settings::TransportSettings;

/// How many commands (per lane) the in-process command channel holds.
const IN_PROCESS_COMMAND_CAPACITY: usize = 1024;

/// Opens the vehicle side of the transport's commands. It is opened only when it is taken: on
/// Kafka it joins the simulator's consumer group, and an instance that runs no simulator must
/// not join it (it would be assigned part of the commands and never execute them).
pub(crate) type OpenVehicleLink = Box<dyn FnOnce() -> Result<Arc<dyn VehicleCommandLink>> + Send>;

/// What the built-in simulator drives.
pub(crate) enum SimulatorTarget {
    /// The SDK's simulator publishes readings here and takes its commands from the link that
    /// `link` opens (the first simulator started, or `take_vehicle_link`, takes it).
    Core {
        publisher: Arc<dyn TelemetryPublisher>,
        link: Option<OpenVehicleLink>,
    },
    /// Simulated VDA 5050 AGVs on the transport's MQTT broker.
    #[cfg(feature = "vda5050")]
    Vda5050(Box<crate::settings::Vda5050Transport>),
}

/// An opened transport.
pub(crate) struct Transport {
    pub source: Arc<dyn TelemetrySource>,
    pub sink: Arc<dyn CommandSink>,
    /// How missions reach vehicles when the transport has a form of its own for them
    /// (VDA 5050: orders with base and horizon); `None`: as commands through the command
    /// center (`CommandMissionLink`).
    pub mission_link: Option<Arc<dyn MissionLink>>,
    /// Where the engine's user publishes readings; `None` when vehicles publish themselves
    /// (VDA 5050).
    pub publisher: Option<Arc<dyn ReadingPublisher>>,
    /// The in-process bus's reading side: closed at shutdown so the pipeline drains what is
    /// queued (it lives nowhere else).
    pub inproc_source: Option<Arc<InProcessTelemetrySource>>,
    pub simulator: SimulatorTarget,
    /// Rules the transport brings (VDA 5050: FATAL vehicle errors).
    pub rules: Vec<Arc<dyn AlertRule>>,
    pub observers: Vec<Arc<dyn ReadingObserver>>,
    pub dead_letters: Option<Arc<dyn DeadLetterSink>>,
    /// Run after the pipeline drained (leaves consumer groups, stops the live feed).
    pub on_stop: Vec<Box<dyn FnOnce() + Send>>,
}

/// Opens the transport `settings` names; `hub` is the engine's live hub (Kafka feeds other
/// instances' events into it), `rejections` counts what a source refuses before the pipeline.
pub(crate) async fn open(
    settings: &TransportSettings,
    hub: &LiveHub,
    rejections: &Arc<AtomicU64>,
) -> Result<Transport> {
    // Only some transports need the hub or the counter.
    let _ = (hub, rejections);
    match settings {
        TransportSettings::InProcess { capacity } => Ok(in_process(*capacity)),
        #[cfg(feature = "kafka")]
        TransportSettings::Kafka(kafka) => kafka::open(kafka, hub).await,
        #[cfg(feature = "vda5050")]
        TransportSettings::Vda5050(vda) => vda5050::open(vda, rejections).await,
    }
}

fn in_process(capacity: usize) -> Transport {
    let InProcessBus { publisher, source } = InProcessBus::new(capacity);
    let (sink, link) = vehicleops_core::inproc::command_channel(IN_PROCESS_COMMAND_CAPACITY);
    let source = Arc::new(source);
    Transport {
        source: source.clone(),
        sink: Arc::new(sink),
        mission_link: None,
        publisher: Some(Arc::new(publisher.clone())),
        inproc_source: Some(source),
        simulator: SimulatorTarget::Core {
            publisher: Arc::new(publisher),
            link: Some(Box::new(move || {
                Ok(Arc::new(link) as Arc<dyn VehicleCommandLink>)
            })),
        },
        rules: Vec::new(),
        observers: Vec::new(),
        dead_letters: None,
        on_stop: Vec::new(),
    }
}

#[cfg(feature = "kafka")]
mod kafka {
    //! Kafka: each engine's pipeline reads its share of the raw topic (one consumer group for
    //! all instances); with `share_events` it publishes what it processed, its alerts and
    //! mission progress to the event topics, and a live feed brings every other instance's
    //! events into this engine's hub.

    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use vehicleops_core::pipeline::ReadingObserver;
    use vehicleops_core::{LiveHub, Result, VehicleCommandLink};
    use vehicleops_kafka::{
        KafkaCommandSink, KafkaDeadLetterSink, KafkaEventPublisher, KafkaLiveFeed,
        KafkaTelemetryPublisher, KafkaTelemetrySource, KafkaVehicleLink, ProducerSettings,
        SourceSettings, ensure_topics, standard_topics,
    };

    use super::{SimulatorTarget, Transport};
    use crate::settings::KafkaTransport;

    /// How long topic creation may take before opening fails.
    const TOPIC_TIMEOUT: Duration = Duration::from_secs(30);
    /// How long a stop waits for processed readings and events still in the producer.
    const EVENTS_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

    pub(super) async fn open(settings: &KafkaTransport, hub: &LiveHub) -> Result<Transport> {
        let config = &settings.config;
        config.validate()?;
        if settings.create_topics {
            ensure_topics(
                config,
                &standard_topics(&config.topics),
                None,
                TOPIC_TIMEOUT,
            )
            .await?;
        }
        let producer = ProducerSettings::default();
        let source = Arc::new(KafkaTelemetrySource::new(
            config,
            SourceSettings::default(),
        )?);
        // Acknowledgements are read by every instance (a group of its own per sink); each
        // applies those of the commands it knows.
        let sink = Arc::new(KafkaCommandSink::new(config, &producer)?);
        // The simulated vehicles' side, opened when a simulator (or `take_vehicle_link`) takes
        // it: a group of its own, so it sees every command, and a stable one, so commands sent
        // while the simulator was down are picked up after it.
        let opened: Arc<Mutex<Option<Arc<KafkaVehicleLink>>>> = Arc::default();
        let open_link = {
            let (config, producer, opened) = (config.clone(), producer.clone(), opened.clone());
            Box::new(move || {
                let link = Arc::new(KafkaVehicleLink::new(
                    &config,
                    &format!("{}.simulator", config.group_id),
                    None,
                    &producer,
                )?);
                *opened.lock().unwrap_or_else(|p| p.into_inner()) = Some(link.clone());
                Ok(link as Arc<dyn VehicleCommandLink>)
            })
        };
        let publisher = Arc::new(KafkaTelemetryPublisher::new(config, &producer)?);
        let mut observers: Vec<Arc<dyn ReadingObserver>> = Vec::new();
        let (s, c) = (source.clone(), sink.clone());
        let mut on_stop: Vec<Box<dyn FnOnce() + Send>> = vec![Box::new(move || {
            s.close();
            c.close();
            if let Some(link) = opened.lock().unwrap_or_else(|p| p.into_inner()).take() {
                link.close();
            }
        })];
        if settings.share_events {
            let events = Arc::new(KafkaEventPublisher::new(config, &producer)?);
            let bridge = events.clone().bridge_hub(hub);
            let feed = KafkaLiveFeed::start(config, hub.clone(), Some(&events), false)?;
            observers.push(events.clone());
            on_stop.push(Box::new(move || {
                bridge.abort();
                feed.close();
                // The pipeline has stopped: what it observed last is still in the producer.
                if let Err(e) = events.flush(EVENTS_FLUSH_TIMEOUT) {
                    tracing::warn!(error = %e, "events not delivered to Kafka before the stop");
                }
            }));
        }
        Ok(Transport {
            source,
            sink,
            mission_link: None,
            publisher: Some(publisher.clone()),
            inproc_source: None,
            simulator: SimulatorTarget::Core {
                publisher,
                link: Some(open_link),
            },
            rules: Vec::new(),
            observers,
            dead_letters: Some(Arc::new(KafkaDeadLetterSink::new(config, &producer)?)),
            on_stop,
        })
    }
}

#[cfg(feature = "vda5050")]
mod vda5050 {
    //! VDA 5050: FATAL vehicle errors raise alerts through `FatalErrorRule`; messages the
    //! source rejects are logged by it and counted by the engine; missions go to the vehicles
    //! as orders with base and horizon through the command sink's `MissionLink`.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use async_trait::async_trait;
    use vehicleops_core::{DeadLetter, DeadLetterSink, Error, Result};
    use vehicleops_vda5050::{FatalErrorRule, Vda5050CommandSink, Vda5050TelemetrySource};

    use super::{SimulatorTarget, Transport};
    use crate::settings::Vda5050Transport;

    /// Counts the messages a source rejects before the pipeline sees them (it logs each itself).
    struct CountingDeadLetters(pub Arc<AtomicU64>);

    #[async_trait]
    impl DeadLetterSink for CountingDeadLetters {
        async fn send(&self, letters: Vec<DeadLetter>) -> Result<()> {
            self.0.fetch_add(letters.len() as u64, Ordering::Relaxed);
            Ok(())
        }
    }

    pub(super) async fn open(
        settings: &Vda5050Transport,
        rejections: &Arc<AtomicU64>,
    ) -> Result<Transport> {
        let source = Arc::new(
            Vda5050TelemetrySource::connect(settings.source.clone())
                .with_dead_letters(Arc::new(CountingDeadLetters(rejections.clone()))),
        );
        let sink = Arc::new(Vda5050CommandSink::connect_pinned(
            settings.sink.clone(),
            settings.pinning.clone(),
        ));
        let subscribed = async {
            source.wait_subscribed().await;
            sink.wait_subscribed().await;
        };
        tokio::time::timeout(settings.subscribe_timeout, subscribed)
            .await
            .map_err(|_| {
                Error::Config(format!(
                    "no answer from the MQTT broker at {}:{} within {:?}",
                    settings.source.endpoint.host,
                    settings.source.endpoint.port,
                    settings.subscribe_timeout
                ))
            })?;
        Ok(Transport {
            rules: vec![Arc::new(FatalErrorRule::new(source.fatal_errors()))],
            source,
            mission_link: Some(sink.clone()),
            sink,
            publisher: None,
            inproc_source: None,
            simulator: SimulatorTarget::Vda5050(Box::new(settings.clone())),
            observers: Vec::new(),
            dead_letters: None,
            on_stop: Vec::new(),
        })
    }
}
