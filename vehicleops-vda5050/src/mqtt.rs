//! A small layer over `rumqttc`: connect, keep subscriptions across reconnects, and hand
//! incoming publishes to a channel. Public so that other vehicle-side clients (the UniFFI
//! vehicle agent) connect the same way as [`crate::SimulatedAgv`].

use std::time::Duration;

use rumqttc::{
    AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, QoS, TlsConfiguration, Transport,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// Where the broker is and who we are to it. `Debug` hides the password.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct MqttEndpoint {
    pub host: String,
    pub port: u16,
    /// Must be unique per connection on the broker.
    pub client_id: String,
    /// The broker drops (and publishes the will of) a client silent for 1.5 × this.
    #[serde(default = "default_keep_alive")]
    pub keep_alive: Duration,
    /// Sent in CONNECT with [`Self::password`] when set (brokers with a password file).
    #[serde(default)]
    pub username: Option<String>,
    /// Only sent together with a [`Self::username`].
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// PEM file of the CA(s) the broker's certificate must chain to; set, the connection is
    /// MQTT over TLS (rustls) and the broker is verified against `host` (a name or an IP
    /// address in the certificate's subjectAltName). Unset: plain TCP.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for MqttEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttEndpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("keep_alive", &self.keep_alive)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

fn default_keep_alive() -> Duration {
    Duration::from_secs(5)
}

impl MqttEndpoint {
    /// An endpoint with a 5-second keep-alive.
    pub fn new(host: impl Into<String>, port: u16, client_id: impl Into<String>) -> Self {
        MqttEndpoint {
            host: host.into(),
            port,
            client_id: client_id.into(),
            keep_alive: default_keep_alive(),
            username: None,
            password: None,
            ca_file: None,
        }
    }

    /// The same endpoint over TLS, trusting the CA(s) in the PEM file `ca_file`.
    pub fn with_tls(mut self, ca_file: impl Into<std::path::PathBuf>) -> Self {
        self.ca_file = Some(ca_file.into());
        self
    }

    /// The same endpoint, logging in as `username` with `password`.
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.username = Some(username.into());
        self.password = Some(password.into());
        self
    }

    /// Parses `host:port` (the form of `VEHICLEOPS_TEST_MQTT`).
    pub fn from_address(address: &str, client_id: impl Into<String>) -> Option<Self> {
        let (host, port) = address.trim().rsplit_once(':')?;
        Some(MqttEndpoint::new(host, port.parse().ok()?, client_id))
    }
}

/// One message as it arrived.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub topic: String,
    pub payload: Vec<u8>,
}

/// A running connection: the client to publish with, incoming messages, and whether the
/// subscriptions are in place.
pub struct Connection {
    pub client: AsyncClient,
    pub inbox: mpsc::Receiver<Incoming>,
    pub subscribed: watch::Receiver<bool>,
    pub task: JoinHandle<()>,
}

/// Connects on the current runtime. The event loop task re-subscribes after every reconnect
/// and ends when `inbox` is dropped; aborting it drops the socket without a DISCONNECT, which
/// makes the broker publish the will.
pub fn connect(
    endpoint: &MqttEndpoint,
    subscriptions: Vec<String>,
    will: Option<LastWill>,
    inbox_capacity: usize,
) -> Connection {
    let mut options = MqttOptions::new(&endpoint.client_id, &endpoint.host, endpoint.port);
    options.set_keep_alive(endpoint.keep_alive.max(Duration::from_secs(1)));
    options.set_clean_session(true);
    options.set_max_packet_size(1 << 20, 1 << 20);
    if let Some(will) = will {
        options.set_last_will(will);
    }
    if let Some(username) = &endpoint.username {
        options.set_credentials(username, endpoint.password.as_deref().unwrap_or_default());
    }
    if let Some(path) = &endpoint.ca_file {
        // Never plain TCP when a CA is configured: an unreadable file leaves no CA, so the
        // connection keeps failing (and logging why) instead.
        let ca = std::fs::read(path).unwrap_or_else(|e| {
            warn!(path = %path.display(), error = %e, "MQTT CA file unreadable; not connecting without TLS");
            Vec::new()
        });
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
            ca,
            alpn: None,
            client_auth: None,
        }));
    }
    let (client, eventloop) = AsyncClient::new(options, 64);
    let (tx, inbox) = mpsc::channel(inbox_capacity.max(1));
    let (ready_tx, subscribed) = watch::channel(false);
    let task = tokio::spawn(run(eventloop, client.clone(), subscriptions, tx, ready_tx));
    Connection {
        client,
        inbox,
        subscribed,
        task,
    }
}

async fn run(
    mut eventloop: EventLoop,
    client: AsyncClient,
    subscriptions: Vec<String>,
    tx: mpsc::Sender<Incoming>,
    ready: watch::Sender<bool>,
) {
    let mut pending_subacks = 0usize;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                debug!("MQTT connected");
                pending_subacks = subscriptions.len();
                ready.send_replace(subscriptions.is_empty());
                for filter in &subscriptions {
                    // try_: awaiting the request queue from inside the loop that drains it
                    // could deadlock.
                    if let Err(e) = client.try_subscribe(filter.as_str(), QoS::AtLeastOnce) {
                        warn!(filter, error = %e, "MQTT subscribe failed");
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                pending_subacks = pending_subacks.saturating_sub(1);
                if pending_subacks == 0 {
                    ready.send_replace(true);
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let message = Incoming {
                    topic: p.topic.clone(),
                    payload: p.payload.to_vec(),
                };
                if tx.send(message).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                if tx.is_closed() {
                    return;
                }
                ready.send_replace(false);
                warn!(error = %e, "MQTT connection error; reconnecting");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// Waits until the subscriptions are acknowledged by the broker.
pub async fn wait_subscribed(subscribed: &mut watch::Receiver<bool>) {
    // An Err means the event loop ended; nothing more to wait for.
    let _ = subscribed.wait_for(|ready| *ready).await;
}
