//! [`Vda5050CommandSink`]: VehicleOps commands as VDA 5050 instant actions and orders, with
//! their lifecycle read back from the vehicles' `state`.
//!
//! | Command | Sent as | Tracked by |
//! |---|---|---|
//! | STOP | instantActions `startPause` (or `cancelOrder`, [`StopMode`]) | its action state |
//! | RESUME | instantActions `stopPause` | its action state |
//! | REROUTE | an order through the waypoints (an update of the running order, `orderUpdateId` + 1, when there is one) | the order |
//! | RETURN_TO_BASE | an order (or update) to the charging node with `startCharging` there | the `startCharging` action state, or an error rejecting its order |
//!
//! Action ids are the command ids. Action states map to acknowledgements: WAITING,
//! INITIALIZING and RUNNING → DELIVERED; FINISHED → EXECUTED; FAILED → FAILED (with the
//! `resultDescription`). An order is DELIVERED once `state` shows its id and update id,
//! EXECUTED once its last node is passed (also under a later update), FAILED when the vehicle
//! reports an error that references it, or ends or leaves the order before that node. Delivery and execution timeouts are the
//! [`vehicleops_core::CommandTimeouts`] of the `CommandCenter` (EXPIRED, TIMEOUT).
//!
//! VDA 5050 messages have no expiry field, so a vehicle cannot refuse a late instant action or
//! order itself: the sink refuses to publish a command already past its `expires_at` (the
//! `CommandCenter` records it EXPIRED, "not sent").
//!
//! Vehicles are addressed by serial number (= vehicle id) under a pinned manufacturer
//! ([`IdentityPinning`]): by default [`SinkConfig::manufacturer`] for every vehicle, or one
//! configured per vehicle, or (only when enabled) the first one seen in a vehicle's `state`.
//! A `state` under another manufacturer for a pinned serial number, or whose header
//! (`manufacturer`, `serialNumber`) disagrees with its topic, is rejected: logged, counted in
//! [`SinkCounters::rejected`], and it neither changes where commands go nor acknowledges any.
//!
//! Each vehicle is spoken to in its VDA 5050 version ([`ProtocolVersion`]): the one
//! configured for it ([`IdentityPinning::versions`]), else the one its latest `connection` or
//! `state` header announces, else 2.1.0. Our headers carry that version, what 2.0 lacks is not
//! sent, and the official schemas of that version check what is sent and received. A vehicle
//! announcing a version not supported (1.x, 3.x) gets nothing: its commands fail at once with
//! the reason. An action is also FAILED by an error in `state` that references its action id
//! (e.g. a `versionError` of a vehicle rejecting the message).
//!
//! The sink is also the VDA 5050 [`MissionLink`]: a mission goes to its vehicle as an order
//! whose id is the mission id, with a start node where the vehicle stands and one node per
//! waypoint. The start node and the first [`MISSION_LOOKAHEAD`] waypoints are the base, the
//! rest the horizon; each time the vehicle reaches a waypoint, an order update releases the
//! waypoints up to [`MISSION_LOOKAHEAD`] beyond it (never past the route, nothing sent when
//! nothing new is released). A cancelled mission is an instantActions `cancelOrder`.

use std::collections::HashMap;
use std::sync::Mutex as SyncMutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use rumqttc::{AsyncClient, QoS};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use vehicleops_core::{
    Command, CommandAck, CommandKind, CommandSink, CommandStatus, DispatchReceipt, Error, Mission,
    MissionLink, Result, VehicleCapabilities,
};

use crate::factsheet::FACTSHEET_REQUEST;
use crate::georef::SiteGeoreference;
use crate::messages::{Action, ActionStatus, BlockingType, Header, InstantActions, Order, State};
use crate::mqtt::{self, Incoming, MqttEndpoint};
use crate::order::{OrderProgress, RoutePoint, order, progress, route};
use crate::schema::SchemaValidator;
use crate::topic::{MessageKind, TopicAddress, TopicScheme};
use crate::version::ProtocolVersion;

/// What STOP sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopMode {
    /// `startPause`: the vehicle halts and keeps its order; RESUME continues it.
    #[default]
    Pause,
    /// `cancelOrder`: the vehicle halts and drops its order.
    CancelOrder,
}

/// Configuration of the command sink.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub endpoint: MqttEndpoint,
    pub scheme: TopicScheme,
    /// Used for vehicles whose `state` has not been seen yet.
    pub manufacturer: String,
    pub stop_mode: StopMode,
    /// Where RETURN_TO_BASE sends vehicles (and `startCharging` runs).
    pub charging_node: RoutePoint,
    /// Needed for REROUTE and missions, whose waypoints are GPS positions.
    pub georeference: Option<SiteGeoreference>,
}

/// Which manufacturer each vehicle (serial number) is addressed under and trusted from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityPinning {
    /// Vehicle id (serial number) → manufacturer; vehicles not listed use
    /// [`SinkConfig::manufacturer`] (or first contact, below).
    pub vehicles: HashMap<String, String>,
    /// Pin an unlisted vehicle to the manufacturer of its first valid `state` instead of
    /// [`SinkConfig::manufacturer`]. Trusts whoever speaks first: enable only on a broker
    /// whose ACLs keep clients to their own topics.
    pub first_contact: bool,
    /// Vehicle id (serial number) → the VDA 5050 version it is spoken to in, whatever it
    /// announces (e.g. from its registration); vehicles not listed are spoken to in the
    /// version their headers announce.
    #[serde(default)]
    pub versions: HashMap<String, ProtocolVersion>,
}

/// What the sink did with the `state` messages it received.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Messages rejected: not JSON or schema-invalid, header and topic disagreeing, or from
    /// another manufacturer than the vehicle's pinned one.
    pub rejected: AtomicU64,
    /// `state` messages ignored because they came from a vehicle not known yet while
    /// [`MAX_TRACKED_VEHICLES`] vehicles were already tracked.
    pub vehicles_refused: AtomicU64,
    /// `factsheetRequest`s sent and factsheets read.
    pub factsheet_requests: AtomicU64,
    pub factsheets: AtomicU64,
}

/// How long after the first `factsheetRequest` a vehicle that has not answered is asked again,
/// then how often, and how many times in all (until it reconnects): a vehicle without
/// factsheets is not asked forever. The first retry comes soon because a request sent as the
/// vehicle announced itself ONLINE can reach the broker before the vehicle subscribed to its
/// `instantActions`, and MQTT keeps nothing for a later subscriber.
const FACTSHEET_FIRST_RETRY: Duration = Duration::from_secs(3);
const FACTSHEET_RETRY: Duration = Duration::from_secs(30);
const FACTSHEET_ATTEMPTS: u32 = 3;

/// Most vehicles the sink keeps a `state` (and a first-contact pin) of; the `state` of one
/// more is ignored (counted in [`SinkCounters::vehicles_refused`]), so serial numbers
/// chosen by publishers cannot grow the sink without bound.
pub const MAX_TRACKED_VEHICLES: usize = 100_000;

/// Whether a `state` of `serial` must be ignored: a new vehicle while `max` are tracked.
fn refuses_new(shared: &Shared, serial: &str, max: usize) -> bool {
    shared.vehicles.len() >= max && !shared.vehicles.contains_key(serial)
}

/// How a command's outcome shows up in `state`.
#[derive(Debug, Clone)]
enum Tracking {
    /// By an action's state; `order` is the order (id, update id) that carries the action,
    /// whose rejection fails the command too.
    /// `message` is the headerId of the instantActions message that carries it: a vehicle
    /// that rejects the whole message may reference only that.
    Action {
        action_id: String,
        order: Option<(String, u64)>,
        message: Option<u64>,
    },
    Order {
        order_id: String,
        update_id: u64,
        last_sequence_id: u64,
    },
}

#[derive(Debug, Clone)]
struct Tracked {
    command_id: String,
    vehicle_id: String,
    tracking: Tracking,
    delivered: bool,
    sent_at: Instant,
}

/// How many waypoints of a mission's order are released ahead of the vehicle: at the start
/// the first ones, and after each waypoint reached the next ones (the rest stays horizon).
pub const MISSION_LOOKAHEAD: usize = 2;

/// The id of a mission's `n`-th waypoint node (1-based) in its order.
fn waypoint_node_id(mission_id: &str, n: usize) -> String {
    format!("{mission_id}-{n}")
}

/// Commands without an outcome after this are forgotten (the `CommandCenter` has long timed
/// them out), so vehicles that never answer cannot grow the tracking table.
const TRACKING_LIMIT: Duration = Duration::from_secs(3600);

/// What the sink knows about one vehicle.
#[derive(Debug, Default)]
struct VehicleTrack {
    /// Pinned at first contact ([`IdentityPinning::first_contact`]).
    manufacturer: Option<String>,
    state: Option<State>,
    /// The latest order (or update) sent to it, whole: the nodes of earlier updates before
    /// the latest update's first node, then the latest update's.
    order: Option<Order>,
    /// A `state` has shown `order`'s id since it was sent: it reached the vehicle.
    order_shown: bool,
    /// What its latest factsheet says it can do.
    capabilities: Option<VehicleCapabilities>,
    /// `factsheetRequest`s sent since it last came online, and when the last one went out.
    factsheet_requests: u32,
    factsheet_requested_at: Option<Instant>,
    /// The `version` of its latest admitted `connection` or `state` header.
    announced: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    vehicles: HashMap<String, VehicleTrack>,
    tracked: Vec<Tracked>,
    /// Next headerId per (vehicle, topic).
    header_ids: HashMap<(String, MessageKind), u64>,
}

/// Sends commands and missions to VDA 5050 vehicles over MQTT.
pub struct Vda5050CommandSink {
    config: SinkConfig,
    client: AsyncClient,
    shared: std::sync::Arc<SyncMutex<Shared>>,
    identity: std::sync::Arc<Identity>,
    counters: std::sync::Arc<SinkCounters>,
    acks: Mutex<mpsc::Receiver<CommandAck>>,
    subscribed: watch::Receiver<bool>,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for Vda5050CommandSink {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Vda5050CommandSink {
    /// Connects, subscribes to every vehicle's `state`, and starts tracking on the current
    /// runtime. Every vehicle is pinned to [`SinkConfig::manufacturer`].
    pub fn connect(config: SinkConfig) -> Self {
        Self::connect_pinned(config, IdentityPinning::default())
    }

    /// [`Self::connect`] with vehicles pinned as `pinning` says.
    pub fn connect_pinned(config: SinkConfig, pinning: IdentityPinning) -> Self {
        let identity = std::sync::Arc::new(Identity {
            default_manufacturer: config.manufacturer.clone(),
            pinning,
        });
        let counters = std::sync::Arc::new(SinkCounters::default());
        let conn = mqtt::connect(
            &config.endpoint,
            vec![
                config.scheme.all_vehicles(MessageKind::State),
                config.scheme.all_vehicles(MessageKind::Connection),
                config.scheme.all_vehicles(MessageKind::Factsheet),
            ],
            None,
            1024,
        );
        let shared = std::sync::Arc::new(SyncMutex::new(Shared::default()));
        let (ack_tx, ack_rx) = mpsc::channel(1024);
        let tracker = tokio::spawn(track(
            conn.inbox,
            conn.client.clone(),
            config.scheme.clone(),
            shared.clone(),
            identity.clone(),
            counters.clone(),
            ack_tx,
        ));
        Vda5050CommandSink {
            config,
            client: conn.client,
            shared,
            identity,
            counters,
            acks: Mutex::new(ack_rx),
            subscribed: conn.subscribed,
            tasks: [conn.task, tracker],
        }
    }

    /// What the sink did with the `state` messages it received.
    pub fn counters(&self) -> std::sync::Arc<SinkCounters> {
        self.counters.clone()
    }

    /// The manufacturer the vehicle is addressed under and trusted from.
    pub fn manufacturer_of(&self, vehicle_id: &str) -> String {
        let shared = self.shared.lock().expect("sink lock");
        self.identity.manufacturer(&shared, vehicle_id)
    }

    /// Waits until the broker has acknowledged the `state` subscription.
    pub async fn wait_subscribed(&self) {
        mqtt::wait_subscribed(&mut self.subscribed.clone()).await;
    }

    /// The VDA 5050 version the vehicle is spoken to in (see the module documentation);
    /// `Err` when it announces one that is not supported.
    pub fn version_of(&self, vehicle_id: &str) -> Result<ProtocolVersion> {
        let shared = self.shared.lock().expect("sink lock");
        self.identity.version(&shared, vehicle_id)
    }

    fn header(&self, shared: &mut Shared, vehicle_id: &str, kind: MessageKind) -> Result<Header> {
        next_header(&self.identity, shared, vehicle_id, kind)
    }

    async fn publish<T: Serialize>(
        &self,
        header: &Header,
        kind: MessageKind,
        message: &T,
    ) -> Result<String> {
        let (topic, payload) = encode(&self.config.scheme, header, kind, message)?;
        self.client
            .publish(topic.as_str(), QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| Error::backend("mqtt", e))?;
        Ok(format!("{topic}#{}", header.header_id))
    }

    /// What the vehicle's latest factsheet says it can do; `None` until one was read.
    pub fn capabilities_of(&self, vehicle_id: &str) -> Option<VehicleCapabilities> {
        let shared = self.shared.lock().expect("sink lock");
        shared.vehicles.get(vehicle_id)?.capabilities.clone()
    }

    /// `Err` (naming the vehicle, the action and what its factsheet lists) when the vehicle's
    /// factsheet leaves out `action_type` used as `scope`; `Ok` when it lists it or no
    /// factsheet is known.
    fn check_action(&self, vehicle_id: &str, action_type: &str, scope: &str) -> Result<()> {
        match self.capabilities_of(vehicle_id) {
            Some(caps) => caps
                .check_action(action_type, scope)
                .map_err(|reason| Error::validation("command", reason)),
            None => Ok(()),
        }
    }

    /// `Err` when an order of `nodes` nodes is longer than the vehicle's factsheet allows.
    fn check_order_length(&self, vehicle_id: &str, nodes: usize) -> Result<()> {
        let limit = self
            .capabilities_of(vehicle_id)
            .and_then(|c| c.max_order_nodes);
        match limit {
            Some(max) if nodes as u64 > max => Err(Error::validation(
                "waypoints",
                format!(
                    "vehicle {vehicle_id} takes orders of at most {max} nodes (its factsheet); \
                     this route needs {nodes}"
                ),
            )),
            _ => Ok(()),
        }
    }

    async fn instant_action(&self, vehicle_id: &str, action: Action) -> Result<String> {
        let header = {
            let mut shared = self.shared.lock().expect("sink lock");
            let header = self.header(&mut shared, vehicle_id, MessageKind::InstantActions)?;
            shared.tracked.push(Tracked {
                command_id: action.action_id.clone(),
                vehicle_id: vehicle_id.to_owned(),
                tracking: Tracking::Action {
                    action_id: action.action_id.clone(),
                    order: None,
                    message: Some(header.header_id),
                },
                delivered: false,
                sent_at: Instant::now(),
            });
            header
        };
        let message = InstantActions {
            header: header.clone(),
            actions: vec![action],
        };
        self.publish(&header, MessageKind::InstantActions, &message)
            .await
    }

    /// Sends `points` to a vehicle: a new order `new_order_id` (from where the vehicle stands)
    /// when it has none running, else an update of the running one that continues from its
    /// last base node. The first `released` of `points` join the base, the rest are horizon.
    async fn send_route(
        &self,
        vehicle_id: &str,
        new_order_id: &str,
        mut points: Vec<RoutePoint>,
        released: usize,
        last_actions: Vec<Action>,
        tracking_id: Option<&str>,
    ) -> Result<Order> {
        let given = points.len();
        let (header, message) = {
            let mut shared = self.shared.lock().expect("sink lock");
            let track = shared.vehicles.entry(vehicle_id.to_owned()).or_default();
            let (order_id, update_id, first_seq) = match route_start(track, vehicle_id)? {
                RouteStart::Update {
                    order_id,
                    update_id,
                    base,
                    base_seq,
                } => {
                    points.insert(0, base);
                    (order_id, update_id, base_seq)
                }
                RouteStart::New { from } => {
                    points.splice(0..0, from);
                    (new_order_id.to_owned(), 0, 0)
                }
            };
            // The node put in front (start or last base node) is always released.
            let released = (released + points.len() - given).min(points.len());
            let (nodes, edges) = route(&points, first_seq, released, last_actions);
            let last_sequence_id = nodes.last().map_or(first_seq, |n| n.sequence_id);
            let header = self.header(&mut shared, vehicle_id, MessageKind::Order)?;
            let message = order(header.clone(), &order_id, update_id, nodes, edges);
            // Remember the whole order: what was sent before this update's first node, then
            // the update.
            let track = shared.vehicles.entry(vehicle_id.to_owned()).or_default();
            let mut whole = message.clone();
            if update_id > 0 {
                if let Some(prev) = track.order.as_ref().filter(|o| o.order_id == order_id) {
                    let before = |seq: u64| seq < first_seq;
                    whole.nodes = prev
                        .nodes
                        .iter()
                        .filter(|n| before(n.sequence_id))
                        .cloned()
                        .chain(whole.nodes)
                        .collect();
                    whole.edges = prev
                        .edges
                        .iter()
                        .filter(|e| before(e.sequence_id))
                        .cloned()
                        .chain(whole.edges)
                        .collect();
                }
            }
            if track
                .order
                .as_ref()
                .is_none_or(|o| o.order_id != whole.order_id)
            {
                track.order_shown = false;
            }
            track.order = Some(whole);
            if let Some(command_id) = tracking_id {
                shared.tracked.push(Tracked {
                    command_id: command_id.to_owned(),
                    vehicle_id: vehicle_id.to_owned(),
                    tracking: Tracking::Order {
                        order_id,
                        update_id,
                        last_sequence_id,
                    },
                    delivered: false,
                    sent_at: Instant::now(),
                });
            }
            (header, message)
        };
        self.publish(&header, MessageKind::Order, &message).await?;
        Ok(message)
    }

    /// GPS waypoints as route points in the charging node's map, named `<prefix>-<n>`.
    fn waypoints_to_route(
        &self,
        field: &'static str,
        waypoints: &[vehicleops_core::Waypoint],
        prefix: &str,
    ) -> Result<Vec<RoutePoint>> {
        let site = self.config.georeference.ok_or_else(|| {
            Error::validation(
                field,
                "GPS waypoints need a site georeference in the VDA 5050 sink configuration",
            )
        })?;
        Ok(waypoints
            .iter()
            .enumerate()
            .map(|(i, wp)| {
                let (x, y) = site.to_map(wp.point());
                RoutePoint {
                    node_id: format!("{prefix}-{}", i + 1),
                    x,
                    y,
                    map_id: self.config.charging_node.map_id.clone(),
                }
            })
            .collect())
    }

    /// Sends a mission as an order: a start node where the vehicle stands, then one node per
    /// waypoint (in the map of the charging node), the first `released` waypoints as base and
    /// the rest as horizon (release more with
    /// [`Self::release`]). Track it with [`Self::order_progress`].
    pub async fn assign_mission(&self, mission: &Mission, released: usize) -> Result<Order> {
        let points = self.waypoints_to_route("waypoints", &mission.waypoints, &mission.id)?;
        self.check_order_length(&mission.vehicle_id, points.len() + 1)?;
        self.send_route(
            &mission.vehicle_id,
            &mission.id,
            points,
            released,
            Vec::new(),
            None,
        )
        .await
    }

    /// Releases the first `released` nodes (counting the start node) of the vehicle's order
    /// with an order update (`orderUpdateId` + 1) that repeats the horizon from the last base
    /// node on.
    pub async fn release(&self, vehicle_id: &str, released: usize) -> Result<Order> {
        let (sent, base_seq) = {
            let shared = self.shared.lock().expect("sink lock");
            let track = shared.vehicles.get(vehicle_id);
            let sent = track
                .and_then(|t| t.order.clone())
                .ok_or_else(|| Error::not_found("order for vehicle", vehicle_id))?;
            let base_seq = sent
                .nodes
                .iter()
                .filter(|n| n.released)
                .map(|n| n.sequence_id)
                .max()
                .unwrap_or(0);
            (sent, base_seq)
        };
        let points: Vec<RoutePoint> = sent
            .nodes
            .iter()
            .filter(|n| n.sequence_id > base_seq)
            .filter_map(|n| {
                n.node_position.as_ref().map(|p| RoutePoint {
                    node_id: n.node_id.clone(),
                    x: p.x,
                    y: p.y,
                    map_id: p.map_id.clone(),
                })
            })
            .collect();
        let already = sent.nodes.iter().filter(|n| n.released).count();
        self.send_route(
            vehicle_id,
            &sent.order_id,
            points,
            released.saturating_sub(already),
            Vec::new(),
            None,
        )
        .await
    }

    /// Publishes instant actions that no command tracks (e.g. a cancelled mission's
    /// `cancelOrder`).
    async fn untracked_instant_action(&self, vehicle_id: &str, action: Action) -> Result<String> {
        let header = {
            let mut shared = self.shared.lock().expect("sink lock");
            self.header(&mut shared, vehicle_id, MessageKind::InstantActions)?
        };
        let message = InstantActions {
            header: header.clone(),
            actions: vec![action],
        };
        self.publish(&header, MessageKind::InstantActions, &message)
            .await
    }

    /// The latest order (or update, with what came before it) sent to the vehicle.
    pub fn sent_order(&self, vehicle_id: &str) -> Option<Order> {
        let shared = self.shared.lock().expect("sink lock");
        shared.vehicles.get(vehicle_id)?.order.clone()
    }

    /// Progress through the latest order sent to the vehicle, from its latest `state`.
    pub fn order_progress(&self, vehicle_id: &str) -> Option<OrderProgress> {
        let shared = self.shared.lock().expect("sink lock");
        let track = shared.vehicles.get(vehicle_id)?;
        progress(track.order.as_ref()?, track.state.as_ref()?)
    }

    /// The vehicle's latest `state`, if one was received.
    pub fn last_state(&self, vehicle_id: &str) -> Option<State> {
        let shared = self.shared.lock().expect("sink lock");
        shared.vehicles.get(vehicle_id)?.state.clone()
    }
}

#[async_trait]
impl CommandSink for Vda5050CommandSink {
    /// Refuses (`Conflict`) a command already past its `expires_at`: instantActions and orders
    /// carry no expiry, so a late command would be carried out however late it arrives. The
    /// `CommandCenter` records such a refusal as EXPIRED with this reason.
    async fn dispatch(&self, command: &Command) -> Result<DispatchReceipt> {
        let now = Utc::now();
        if command.is_expired_at(now) {
            return Err(Error::Conflict(format!(
                "command {} expired at {} before it could be sent; VDA 5050 instantActions and \
                 orders carry no expiry, so it is not published late",
                command.id,
                command
                    .expires_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            )));
        }
        // A vehicle speaking an unsupported version gets nothing (fails at once, with why).
        self.version_of(&command.vehicle_id)?;
        let id = command.id.clone();
        let transport_ref = match command.command {
            CommandKind::Stop => {
                let action_type = match self.config.stop_mode {
                    StopMode::Pause => "startPause",
                    StopMode::CancelOrder => "cancelOrder",
                };
                self.check_action(&command.vehicle_id, action_type, "INSTANT")?;
                self.instant_action(
                    &command.vehicle_id,
                    Action::new(action_type, id.clone(), BlockingType::Hard),
                )
                .await?
            }
            CommandKind::Resume => {
                self.check_action(&command.vehicle_id, "stopPause", "INSTANT")?;
                self.instant_action(
                    &command.vehicle_id,
                    Action::new("stopPause", id.clone(), BlockingType::Hard),
                )
                .await?
            }
            CommandKind::Reroute => {
                let points =
                    self.waypoints_to_route("params.waypoints", &command.params.waypoints, &id)?;
                let n = points.len();
                // The node where the vehicle is (or its last base node) comes first.
                self.check_order_length(&command.vehicle_id, n + 1)?;
                let order = self
                    .send_route(&command.vehicle_id, &id, points, n, Vec::new(), Some(&id))
                    .await?;
                format!("order {}#{}", order.order_id, order.order_update_id)
            }
            CommandKind::ReturnToBase => {
                self.check_action(&command.vehicle_id, "startCharging", "NODE")?;
                let charge = Action::new("startCharging", id.clone(), BlockingType::Hard);
                let order = self
                    .send_route(
                        &command.vehicle_id,
                        &id,
                        vec![self.config.charging_node.clone()],
                        1,
                        vec![charge],
                        None,
                    )
                    .await?;
                self.shared
                    .lock()
                    .expect("sink lock")
                    .tracked
                    .push(Tracked {
                        command_id: id.clone(),
                        vehicle_id: command.vehicle_id.clone(),
                        tracking: Tracking::Action {
                            action_id: id.clone(),
                            order: Some((order.order_id.clone(), order.order_update_id)),
                            message: None,
                        },
                        delivered: false,
                        sent_at: Instant::now(),
                    });
                format!("order {}#{}", order.order_id, order.order_update_id)
            }
        };
        Ok(DispatchReceipt {
            command_id: id,
            accepted_at: Utc::now(),
            transport_ref: Some(transport_ref),
        })
    }

    async fn next_ack(&self) -> Option<CommandAck> {
        self.acks.lock().await.recv().await
    }

    fn capabilities(&self, vehicle_id: &str) -> Option<VehicleCapabilities> {
        self.capabilities_of(vehicle_id)
    }
}

/// Missions as orders with base and horizon (see the module documentation).
#[async_trait]
impl MissionLink for Vda5050CommandSink {
    /// Sends the mission as an order ([`Self::assign_mission`]) with the start node and the
    /// first [`MISSION_LOOKAHEAD`] waypoints as base.
    async fn assign(&self, mission: &Mission, _issued_by: &str) -> Result<()> {
        let released = MISSION_LOOKAHEAD.min(mission.waypoints.len());
        let order = self.assign_mission(mission, released).await?;
        debug!(mission_id = %mission.id, order_id = %order.order_id,
               update_id = order.order_update_id, "mission sent as an order");
        Ok(())
    }

    /// Releases the waypoints up to [`MISSION_LOOKAHEAD`] beyond the last one reached with an
    /// order update ([`Self::release`]); sends nothing when they are released already or the
    /// order no longer carries the mission's route (replaced by a REROUTE, say). Fails when no
    /// order of the vehicle is known here (the order was sent before a restart, or by another
    /// instance): the vehicle then waits at the end of its base.
    async fn progressed(&self, mission: &Mission) -> Result<()> {
        let target = {
            let shared = self.shared.lock().expect("sink lock");
            let Some(order) = shared
                .vehicles
                .get(&mission.vehicle_id)
                .and_then(|t| t.order.as_ref())
            else {
                return Err(Error::Conflict(format!(
                    "no order of vehicle {} was sent by this instance; the horizon of mission {} \
                     cannot be released",
                    mission.vehicle_id, mission.id
                )));
            };
            let Some(target) = mission_release_target(order, mission) else {
                debug!(mission_id = %mission.id, order_id = %order.order_id,
                       "the vehicle's order no longer carries the mission's route; nothing released");
                return Ok(());
            };
            if target <= order.nodes.iter().filter(|n| n.released).count() {
                return Ok(());
            }
            target
        };
        let update = self.release(&mission.vehicle_id, target).await?;
        debug!(mission_id = %mission.id, order_id = %update.order_id,
               update_id = update.order_update_id, released = target, "mission horizon released");
        Ok(())
    }

    /// The mission's waypoints the vehicle's `state` shows behind it ([`waypoints_passed`]).
    fn waypoints_reached(&self, mission: &Mission) -> Option<u32> {
        let shared = self.shared.lock().expect("sink lock");
        let track = shared.vehicles.get(&mission.vehicle_id)?;
        waypoints_passed(track.order.as_ref()?, track.state.as_ref()?, mission)
    }

    /// Sends instantActions `cancelOrder` (action id `<mission id>-cancel`, not tracked as a
    /// command), unless the vehicle is known to run another order or to have finished this
    /// one.
    async fn cancel(&self, mission: &Mission, _issued_by: &str) -> Result<()> {
        let needed = {
            let shared = self.shared.lock().expect("sink lock");
            cancel_needed(shared.vehicles.get(&mission.vehicle_id), &mission.id)
        };
        if !needed {
            debug!(mission_id = %mission.id, "the vehicle does not run the mission's order; nothing to cancel");
            return Ok(());
        }
        self.check_action(&mission.vehicle_id, "cancelOrder", "INSTANT")?;
        let action = Action::new(
            "cancelOrder",
            format!("{}-cancel", mission.id),
            BlockingType::Hard,
        );
        self.untracked_instant_action(&mission.vehicle_id, action)
            .await
            .map(|_| ())
    }
}

/// How many nodes of `order` (the whole order sent, released ones first) should be released
/// for `mission` as far as it got: the nodes before its first waypoint (the start node), the
/// waypoints reached and [`MISSION_LOOKAHEAD`] more, never beyond the route. `None` when the
/// order does not carry the mission's whole route.
fn mission_release_target(order: &Order, mission: &Mission) -> Option<usize> {
    let total = mission.waypoints.len();
    let first = order
        .nodes
        .iter()
        .position(|n| n.node_id == waypoint_node_id(&mission.id, 1))?;
    let last = order.nodes.get(first + total.checked_sub(1)?)?;
    if last.node_id != waypoint_node_id(&mission.id, total) {
        return None;
    }
    Some(first + (mission.completed_waypoints as usize + MISSION_LOOKAHEAD).min(total))
}

/// How many of `mission`'s waypoints, from the first, the vehicle has passed according to its
/// `state`: nodes of the order it runs (as last sent from here) with a sequence id up to its
/// `lastNodeSequenceId` and no longer among its `nodeStates`. `None` when the state is of
/// another order than the one sent.
fn waypoints_passed(order: &Order, state: &State, mission: &Mission) -> Option<u32> {
    if state.order_id != order.order_id {
        return None;
    }
    let passed = |k: usize| {
        let id = waypoint_node_id(&mission.id, k);
        order
            .nodes
            .iter()
            .find(|n| n.node_id == id)
            .is_some_and(|n| {
                n.sequence_id <= state.last_node_sequence_id
                    && !state
                        .node_states
                        .iter()
                        .any(|s| s.sequence_id == n.sequence_id)
            })
    };
    Some(
        (1..=mission.waypoints.len())
            .take_while(|k| passed(*k))
            .count() as u32,
    )
}

/// Whether a cancelled mission's vehicle has to be sent `cancelOrder`: not when its `state`
/// shows it running an order that holds none of the mission's nodes, nor when it shows the
/// mission's order (as last sent) finished; otherwise (nothing known, the order still on its
/// way, the mission running) yes.
fn cancel_needed(track: Option<&VehicleTrack>, mission_id: &str) -> bool {
    let prefix = format!("{mission_id}-");
    let ours = |node_id: &str| node_id.starts_with(&prefix);
    let sent = track
        .and_then(|t| t.order.as_ref())
        .filter(|o| o.nodes.iter().any(|n| ours(&n.node_id)));
    let Some(state) = track.and_then(|t| t.state.as_ref()) else {
        return true;
    };
    let shows_sent = sent.is_some_and(|o| {
        state.order_id == o.order_id && state.order_update_id >= o.order_update_id
    });
    if state.node_states.is_empty() {
        // Nothing running: the order is either still on its way, or over.
        return sent.is_some() && !shows_sent;
    }
    state.order_id == mission_id
        || state.node_states.iter().any(|n| ours(&n.node_id))
        || sent.is_some_and(|o| o.order_id == state.order_id)
}

/// The pinning and the manufacturer it falls back to.
#[derive(Debug)]
struct Identity {
    default_manufacturer: String,
    pinning: IdentityPinning,
}

impl Identity {
    /// The version `vehicle_id` is spoken to in: configured, else announced, else 2.1.0.
    fn version(&self, shared: &Shared, vehicle_id: &str) -> Result<ProtocolVersion> {
        if let Some(v) = self.pinning.versions.get(vehicle_id) {
            return Ok(*v);
        }
        let announced = shared
            .vehicles
            .get(vehicle_id)
            .and_then(|v| v.announced.as_deref());
        match announced {
            None => Ok(ProtocolVersion::default()),
            Some(version) => ProtocolVersion::parse(version).map_err(|e| {
                Error::validation(
                    "vda5050",
                    format!(
                        "vehicle {vehicle_id} announces VDA 5050 version {version:?}, which is \
                         not supported (supported: 2.0.x, 2.1.x); nothing is sent to it ({e})"
                    ),
                )
            }),
        }
    }

    /// The manufacturer `vehicle_id` is pinned to (or, with first contact pinning and no
    /// `state` seen yet, addressed under for now).
    fn manufacturer(&self, shared: &Shared, vehicle_id: &str) -> String {
        if let Some(m) = self.pinning.vehicles.get(vehicle_id) {
            return m.clone();
        }
        if self.pinning.first_contact {
            if let Some(m) = shared
                .vehicles
                .get(vehicle_id)
                .and_then(|v| v.manufacturer.as_ref())
            {
                return m.clone();
            }
        }
        self.default_manufacturer.clone()
    }

    /// Checks a `state` received on `address` against its header and the vehicle's pinned
    /// manufacturer, pinning it at first contact when enabled. `Err` is why it is rejected.
    fn admit(
        &self,
        shared: &mut Shared,
        address: &TopicAddress,
        header: &Header,
    ) -> std::result::Result<(), String> {
        if header.manufacturer != address.manufacturer
            || header.serial_number != address.serial_number
        {
            return Err(format!(
                "header names {}/{} but the topic {}/{}",
                header.manufacturer,
                header.serial_number,
                address.manufacturer,
                address.serial_number
            ));
        }
        let serial = &address.serial_number;
        let pinned = if let Some(m) = self.pinning.vehicles.get(serial) {
            m.clone()
        } else if self.pinning.first_contact {
            let track = shared.vehicles.entry(serial.clone()).or_default();
            track
                .manufacturer
                .get_or_insert_with(|| address.manufacturer.clone())
                .clone()
        } else {
            self.default_manufacturer.clone()
        };
        if pinned != address.manufacturer {
            return Err(format!(
                "vehicle {serial} is pinned to manufacturer {pinned}, not {}",
                address.manufacturer
            ));
        }
        Ok(())
    }
}

/// The header of the next message of `kind` to a vehicle: its version, its pinned
/// manufacturer and the next headerId of that topic.
fn next_header(
    identity: &Identity,
    shared: &mut Shared,
    vehicle_id: &str,
    kind: MessageKind,
) -> Result<Header> {
    let version = identity.version(shared, vehicle_id)?;
    let manufacturer = identity.manufacturer(shared, vehicle_id);
    let id = shared
        .header_ids
        .entry((vehicle_id.to_owned(), kind))
        .or_insert(0);
    let header_id = *id;
    *id += 1;
    Ok(Header {
        header_id,
        timestamp: Utc::now(),
        version: version.as_str().to_owned(),
        manufacturer,
        serial_number: vehicle_id.to_owned(),
    })
}

/// The topic and the schema-checked JSON of a message with `header`.
fn encode<T: Serialize>(
    scheme: &TopicScheme,
    header: &Header,
    kind: MessageKind,
    message: &T,
) -> Result<(String, Vec<u8>)> {
    let version = ProtocolVersion::parse(&header.version)
        .map_err(|e| Error::validation("vda5050", e.to_string()))?;
    let payload = SchemaValidator::for_version(version)
        .to_checked_json(kind, message)
        .map_err(|e| Error::validation("vda5050", e.to_string()))?;
    let topic = scheme.topic(&header.manufacturer, &header.serial_number, kind);
    Ok((topic, payload))
}

/// What a received `state`, `connection` or `factsheet` is, once checked against the schemas
/// of the version its header announces.
struct Received {
    header: Header,
    /// `Err` when the version is not supported (only the header was read then).
    version: std::result::Result<ProtocolVersion, String>,
    /// For a `state` in a supported version.
    state: Option<State>,
    /// A `connection` saying ONLINE.
    online: bool,
    /// For a `factsheet` in a supported version: what it says the vehicle can do.
    capabilities: Option<std::result::Result<VehicleCapabilities, String>>,
}

fn receive(kind: MessageKind, payload: &[u8]) -> std::result::Result<Received, String> {
    let mut json: serde_json::Value = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    let header: Header = serde_json::from_value(json.clone())
        .map_err(|e| format!("no valid VDA 5050 header: {e}"))?;
    let version = ProtocolVersion::parse(&header.version).map_err(|e| e.to_string());
    let mut state = None;
    let mut capabilities = None;
    let online = kind == MessageKind::Connection
        && json.get("connectionState").and_then(|s| s.as_str()) == Some("ONLINE");
    if let Ok(v) = version {
        crate::version::relax_received(&mut json, kind, v);
        let schemas = SchemaValidator::for_version(v);
        // No 2.0 factsheet schema is shipped: such a factsheet is read as far as it goes.
        if schemas.covers(kind) {
            schemas.validate(kind, &json).map_err(|e| e.to_string())?;
        }
        match kind {
            MessageKind::State => {
                state = Some(serde_json::from_value(json).map_err(|e| e.to_string())?);
            }
            MessageKind::Factsheet => {
                capabilities = Some(crate::factsheet::capabilities(
                    &header.serial_number,
                    v,
                    &json,
                    Utc::now(),
                ));
            }
            _ => {}
        }
    }
    Ok(Received {
        header,
        version,
        state,
        online,
        capabilities,
    })
}

/// Reads `state` and `connection` messages: learns each vehicle's version from their headers,
/// remembers its `state` and turns tracked commands' progress into acknowledgements. Messages
/// that fail [`Identity::admit`] or the schemas of their version are rejected; those in an
/// unsupported version only teach the vehicle's version (and count as rejected).
async fn track(
    mut inbox: mpsc::Receiver<Incoming>,
    client: AsyncClient,
    scheme: TopicScheme,
    shared: std::sync::Arc<SyncMutex<Shared>>,
    identity: std::sync::Arc<Identity>,
    counters: std::sync::Arc<SinkCounters>,
    acks: mpsc::Sender<CommandAck>,
) {
    while let Some(message) = inbox.recv().await {
        let Some(address) = scheme.parse(&message.topic) else {
            continue;
        };
        let received = match receive(address.kind, &message.payload) {
            Ok(received) => received,
            Err(reason) => {
                counters.rejected.fetch_add(1, Ordering::Relaxed);
                warn!(topic = %message.topic, %reason, "VDA 5050 message ignored by the command sink");
                continue;
            }
        };
        let out = {
            let mut shared = shared.lock().expect("sink lock");
            if refuses_new(&shared, &address.serial_number, MAX_TRACKED_VEHICLES) {
                let before = counters.vehicles_refused.fetch_add(1, Ordering::Relaxed);
                if before % 1000 == 0 {
                    warn!(topic = %message.topic, refused = before + 1, max = MAX_TRACKED_VEHICLES,
                          "VDA 5050 state of a new vehicle ignored by the command sink: too many vehicles tracked");
                }
                continue;
            }
            if let Err(reason) = identity.admit(&mut shared, &address, &received.header) {
                counters.rejected.fetch_add(1, Ordering::Relaxed);
                warn!(topic = %message.topic, %reason, "VDA 5050 message rejected by the command sink");
                continue;
            }
            shared
                .vehicles
                .entry(address.serial_number.clone())
                .or_default()
                .announced = Some(received.header.version.clone());
            if let Err(reason) = &received.version {
                counters.rejected.fetch_add(1, Ordering::Relaxed);
                warn!(topic = %message.topic, %reason, "VDA 5050 message in an unsupported version: nothing will be sent to the vehicle");
                continue;
            }
            let serial = &address.serial_number;
            match received.capabilities {
                Some(Ok(capabilities)) => {
                    counters.factsheets.fetch_add(1, Ordering::Relaxed);
                    info!(vehicle_id = %serial, actions = ?capabilities.actions.as_ref().map(|a| a.len()),
                          "VDA 5050 factsheet read");
                    shared
                        .vehicles
                        .entry(serial.clone())
                        .or_default()
                        .capabilities = Some(capabilities);
                    continue;
                }
                Some(Err(reason)) => {
                    counters.rejected.fetch_add(1, Ordering::Relaxed);
                    warn!(topic = %message.topic, %reason, "VDA 5050 factsheet not readable");
                    continue;
                }
                None => {}
            }
            let request = factsheet_request(&identity, &mut shared, serial, received.online);
            if let Some(request) = request {
                send_untracked(&client, &scheme, &counters, request);
            }
            let Some(state) = received.state else {
                continue;
            };
            let mut out = Vec::new();
            shared.tracked.retain_mut(|t| {
                if t.sent_at.elapsed() >= TRACKING_LIMIT {
                    return false;
                }
                if t.vehicle_id != address.serial_number {
                    return true;
                }
                let step = assess(t, &state);
                let keep = !matches!(step, Some((s, _)) if s.is_terminal());
                if let Some((status, reason)) = step {
                    if status == CommandStatus::Delivered {
                        t.delivered = true;
                    }
                    out.push(CommandAck {
                        command_id: t.command_id.clone(),
                        vehicle_id: t.vehicle_id.clone(),
                        status,
                        at: state.header.timestamp,
                        reason,
                    });
                }
                keep
            });
            let track = shared
                .vehicles
                .entry(address.serial_number.clone())
                .or_default();
            if track
                .order
                .as_ref()
                .is_some_and(|o| o.order_id == state.order_id)
            {
                track.order_shown = true;
            }
            track.state = Some(state);
            out
        };
        for ack in out {
            if acks.send(ack).await.is_err() {
                return;
            }
        }
    }
}

/// The `factsheetRequest` to send to a vehicle just heard from, if one is due: it has no
/// factsheet here, or has just come (back) online (it may have changed), and was asked fewer
/// than [`FACTSHEET_ATTEMPTS`] times, the last one [`FACTSHEET_FIRST_RETRY`] ago or more
/// after the first request, [`FACTSHEET_RETRY`] after later ones.
fn factsheet_request(
    identity: &Identity,
    shared: &mut Shared,
    vehicle_id: &str,
    online: bool,
) -> Option<InstantActions> {
    let track = shared.vehicles.entry(vehicle_id.to_owned()).or_default();
    if online {
        track.factsheet_requests = 0;
        track.factsheet_requested_at = None;
    } else if track.capabilities.is_some() {
        return None;
    }
    let wait = if track.factsheet_requests <= 1 {
        FACTSHEET_FIRST_RETRY
    } else {
        FACTSHEET_RETRY
    };
    let due = track.factsheet_requests < FACTSHEET_ATTEMPTS
        && track
            .factsheet_requested_at
            .is_none_or(|at| at.elapsed() >= wait);
    if !due {
        return None;
    }
    track.factsheet_requests += 1;
    track.factsheet_requested_at = Some(Instant::now());
    let attempt = track.factsheet_requests;
    let header = next_header(identity, shared, vehicle_id, MessageKind::InstantActions).ok()?;
    let action_id = format!("factsheet-{}-{}", header.header_id, attempt);
    Some(InstantActions {
        header,
        actions: vec![Action::new(
            FACTSHEET_REQUEST,
            action_id,
            BlockingType::None,
        )],
    })
}

/// Publishes a message no command tracks without waiting: called from the task that reads
/// the inbox the MQTT event loop fills, it must not wait for that loop.
fn send_untracked(
    client: &AsyncClient,
    scheme: &TopicScheme,
    counters: &SinkCounters,
    message: InstantActions,
) {
    let sent = encode(
        scheme,
        &message.header,
        MessageKind::InstantActions,
        &message,
    )
    .and_then(|(topic, payload)| {
        client
            .try_publish(topic, QoS::AtLeastOnce, false, payload)
            .map_err(|e| Error::backend("mqtt", e))
    });
    match sent {
        Ok(()) => {
            counters.factsheet_requests.fetch_add(1, Ordering::Relaxed);
            debug!(vehicle_id = %message.header.serial_number, "factsheet requested");
        }
        Err(e) => warn!(vehicle_id = %message.header.serial_number, error = %e,
                        "factsheet request not sent; asking again later"),
    }
}

/// Where the next route sent to a vehicle begins.
#[derive(Debug, Clone, PartialEq)]
enum RouteStart {
    /// An update of the vehicle's current order that goes on from its last base node
    /// (`base`, sequence id `base_seq`): released nodes cannot be taken back.
    Update {
        order_id: String,
        update_id: u64,
        base: RoutePoint,
        base_seq: u64,
    },
    /// A new order, from where the vehicle stands when that is known.
    New { from: Option<RoutePoint> },
}

/// Where the next route to the vehicle of `track` begins.
///
/// The order (update) this sink sent last is the vehicle's current one while its `state` does
/// not show it yet — it is on its way, unless the vehicle reported an error about it — or
/// shows an older update of it: the vehicle's state trails what was sent, and an update that
/// went on from that state's base would start behind the base already released, or a new
/// order would repeat an order id. Otherwise the state is as new as what was sent: an order
/// with nodes left to do (ours or another master's) is updated, an idle vehicle gets a new
/// order.
fn route_start(track: &VehicleTrack, vehicle_id: &str) -> Result<RouteStart> {
    let state = track.state.as_ref();
    let refused = |s: &State, o: &Order| order_error(s, &o.order_id, o.order_update_id).is_some();
    let ahead = track.order.as_ref().filter(|o| match state {
        None => !track.order_shown,
        Some(s) if s.order_id == o.order_id => {
            s.order_update_id < o.order_update_id && !refused(s, o)
        }
        Some(s) => !track.order_shown && !refused(s, o),
    });
    let no_position = || {
        Error::validation(
            "vda5050",
            format!("vehicle {vehicle_id}'s last base node has no position"),
        )
    };
    if let Some(sent) = ahead {
        let base = sent
            .nodes
            .iter()
            .filter(|n| n.released)
            .max_by_key(|n| n.sequence_id)
            .ok_or_else(no_position)?;
        let p = base.node_position.as_ref().ok_or_else(no_position)?;
        return Ok(RouteStart::Update {
            order_id: sent.order_id.clone(),
            update_id: sent.order_update_id + 1,
            base: RoutePoint {
                node_id: base.node_id.clone(),
                x: p.x,
                y: p.y,
                map_id: p.map_id.clone(),
            },
            base_seq: base.sequence_id,
        });
    }
    let Some(s) = state.filter(|s| !s.node_states.is_empty()) else {
        // Idle (or never heard of): a new order starts where the vehicle is.
        let from = state.and_then(|s| {
            s.agv_position.as_ref().map(|p| RoutePoint {
                node_id: Some(s.last_node_id.clone())
                    .filter(|id| !id.is_empty())
                    .unwrap_or_else(|| format!("{vehicle_id}-start")),
                x: p.x,
                y: p.y,
                map_id: p.map_id.clone(),
            })
        });
        return Ok(RouteStart::New { from });
    };
    // Start at the last base node of the order the vehicle runs.
    let base = s
        .node_states
        .iter()
        .filter(|n| n.released)
        .max_by_key(|n| n.sequence_id);
    let (id, seq, pos) = match base {
        Some(n) => (n.node_id.clone(), n.sequence_id, n.node_position.clone()),
        None => (s.last_node_id.clone(), s.last_node_sequence_id, None),
    };
    let sent = track.order.as_ref().filter(|o| o.order_id == s.order_id);
    let pos = pos.or_else(|| {
        sent.and_then(|o| o.nodes.iter().find(|n| n.sequence_id == seq))
            .and_then(|n| n.node_position.clone())
    });
    let pos = pos.ok_or_else(no_position)?;
    Ok(RouteStart::Update {
        order_id: s.order_id.clone(),
        // Our last update may not show in `state` yet.
        update_id: s.order_update_id.max(sent.map_or(0, |o| o.order_update_id)) + 1,
        base: RoutePoint {
            node_id: id,
            x: pos.x,
            y: pos.y,
            map_id: pos.map_id,
        },
        base_seq: seq,
    })
}

/// `"errorType: errorDescription"` of an error the vehicle reports about this order (update),
/// e.g. an `orderUpdateError` rejecting it.
fn order_error(state: &State, order_id: &str, update_id: u64) -> Option<String> {
    let e = state.errors.iter().find(|e| {
        let refs = &e.error_references;
        refs.iter()
            .any(|r| r.reference_key == "orderId" && r.reference_value == order_id)
            && refs.iter().all(|r| {
                r.reference_key != "orderUpdateId" || r.reference_value == update_id.to_string()
            })
    })?;
    Some(format!(
        "{}: {}",
        e.error_type,
        e.error_description.clone().unwrap_or_default()
    ))
}

/// `"errorType: errorDescription"` of an error the vehicle reports about this action (it
/// references the action id), e.g. a `versionError` rejecting the instant actions carrying it.
fn action_error(state: &State, action_id: &str) -> Option<String> {
    let e = state.errors.iter().find(|e| {
        e.error_references
            .iter()
            .any(|r| r.reference_key == "actionId" && r.reference_value == action_id)
    })?;
    Some(format!(
        "{}: {}",
        e.error_type,
        e.error_description.clone().unwrap_or_default()
    ))
}

/// `"errorType: errorDescription"` of an error the vehicle reports about the instantActions
/// message with this headerId (it references `headerId`, and `topic` `instantActions` if it
/// names a topic), e.g. one rejecting a message it could not parse.
fn instant_actions_error(state: &State, header_id: u64) -> Option<String> {
    let e = state.errors.iter().find(|e| {
        let refs = &e.error_references;
        refs.iter()
            .any(|r| r.reference_key == "headerId" && r.reference_value == header_id.to_string())
            && refs
                .iter()
                .all(|r| r.reference_key != "topic" || r.reference_value == "instantActions")
    })?;
    Some(format!(
        "{}: {}",
        e.error_type,
        e.error_description.clone().unwrap_or_default()
    ))
}

/// The acknowledgement `state` implies for a tracked command, if any new one.
fn assess(t: &Tracked, state: &State) -> Option<(CommandStatus, Option<String>)> {
    let delivered = |t: &Tracked| {
        if t.delivered {
            None
        } else {
            Some((CommandStatus::Delivered, None))
        }
    };
    match &t.tracking {
        Tracking::Action {
            action_id,
            order,
            message,
        } => {
            if let Some(reason) = order
                .as_ref()
                .and_then(|(id, update)| order_error(state, id, *update))
                .or_else(|| action_error(state, action_id))
                .or_else(|| message.and_then(|id| instant_actions_error(state, id)))
            {
                return Some((CommandStatus::Failed, Some(reason)));
            }
            let s = state
                .action_states
                .iter()
                .find(|a| &a.action_id == action_id)?;
            match s.action_status {
                ActionStatus::Waiting | ActionStatus::Initializing | ActionStatus::Running => {
                    delivered(t)
                }
                ActionStatus::Finished => Some((CommandStatus::Executed, None)),
                ActionStatus::Failed => Some((
                    CommandStatus::Failed,
                    Some(
                        s.result_description
                            .clone()
                            .unwrap_or_else(|| "the vehicle reported the action as FAILED".into()),
                    ),
                )),
            }
        }
        Tracking::Order {
            order_id,
            update_id,
            last_sequence_id,
        } => {
            if let Some(reason) = order_error(state, order_id, *update_id) {
                return Some((CommandStatus::Failed, Some(reason)));
            }
            if &state.order_id != order_id || state.order_update_id < *update_id {
                return if t.delivered {
                    Some((
                        CommandStatus::Failed,
                        Some(format!("replaced by order {}", state.order_id)),
                    ))
                } else {
                    None
                };
            }
            // Sequence ids grow along the route, so a later update (which starts at this
            // route's last base node) still counts this route as done once it is passed.
            let passed_last = state.last_node_sequence_id >= *last_sequence_id
                && !state
                    .node_states
                    .iter()
                    .any(|n| n.sequence_id == *last_sequence_id);
            if passed_last {
                return Some((CommandStatus::Executed, None));
            }
            if state.node_states.is_empty() {
                return Some((
                    CommandStatus::Failed,
                    Some("the order ended before its last node (cancelled)".into()),
                ));
            }
            delivered(t)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agv::sample_state;
    use crate::messages::{ActionState, ErrorLevel, ErrorReference, NodeState, VehicleError};

    fn tracked(tracking: Tracking, delivered: bool) -> Tracked {
        Tracked {
            command_id: "cmd-1".into(),
            vehicle_id: "AGV-1".into(),
            tracking,
            delivered,
            sent_at: Instant::now(),
        }
    }

    fn with_action(status: ActionStatus) -> State {
        let mut s = sample_state("AGV-1");
        s.action_states.push(ActionState {
            action_id: "cmd-1".into(),
            action_type: Some("startPause".into()),
            action_status: status,
            result_description: (status == ActionStatus::Failed).then(|| "brakes stuck".into()),
        });
        s
    }

    #[tokio::test]
    async fn a_command_past_its_expiry_is_not_published() {
        // Nothing listens on port 1: a command that got as far as publishing would fail
        // differently (or wait for the broker), not with this refusal.
        let sink = Vda5050CommandSink::connect(SinkConfig {
            endpoint: MqttEndpoint::new("127.0.0.1", 1, "expiry-test"),
            scheme: TopicScheme::default(),
            manufacturer: "acme".into(),
            stop_mode: StopMode::Pause,
            charging_node: RoutePoint {
                node_id: "charger".into(),
                x: 0.0,
                y: 0.0,
                map_id: "site".into(),
            },
            georeference: None,
        });
        let mut stop = Command::new(
            "AGV-1",
            "fleet-001",
            CommandKind::Stop,
            vehicleops_core::CommandParams::default(),
            "op-1",
        )
        .unwrap();
        stop.expires_at = Some(Utc::now() - chrono::Duration::seconds(1));
        let err = sink.dispatch(&stop).await.unwrap_err();
        assert_eq!(err.kind(), vehicleops_core::ErrorKind::Conflict, "{err}");
        assert!(err.to_string().contains("carry no expiry"), "{err}");
        assert_eq!(
            sink.shared.lock().unwrap().header_ids.len(),
            0,
            "nothing built"
        );
    }

    fn address(manufacturer: &str, serial: &str) -> TopicAddress {
        TopicAddress {
            manufacturer: manufacturer.into(),
            serial_number: serial.into(),
            kind: MessageKind::State,
        }
    }

    fn header_of(manufacturer: &str, serial: &str) -> Header {
        let mut h = sample_state(serial).header;
        h.manufacturer = manufacturer.into();
        h
    }

    #[test]
    fn states_are_admitted_only_from_the_pinned_identity() {
        let identity = |vehicles: &[(&str, &str)], first_contact| Identity {
            default_manufacturer: "acme".into(),
            pinning: IdentityPinning {
                vehicles: vehicles
                    .iter()
                    .map(|(v, m)| ((*v).into(), (*m).into()))
                    .collect(),
                first_contact,
                versions: HashMap::new(),
            },
        };
        let admit = |id: &Identity, shared: &mut Shared, m: &str, serial: &str| {
            id.admit(shared, &address(m, serial), &header_of(m, serial))
        };
        let mut shared = Shared::default();

        // Default: every vehicle is the configured manufacturer's.
        let pinned = identity(&[], false);
        assert!(admit(&pinned, &mut shared, "acme", "AGV-1").is_ok());
        let why = admit(&pinned, &mut shared, "evil", "AGV-1").unwrap_err();
        assert!(why.contains("pinned to manufacturer acme"), "{why}");
        assert_eq!(pinned.manufacturer(&shared, "AGV-1"), "acme");

        // Header and topic must agree.
        let why = pinned
            .admit(
                &mut shared,
                &address("acme", "AGV-1"),
                &header_of("acme", "AGV-2"),
            )
            .unwrap_err();
        assert!(why.contains("header names acme/AGV-2"), "{why}");

        // Configured per vehicle.
        let mapped = identity(&[("AGV-9", "globex")], false);
        assert!(admit(&mapped, &mut shared, "globex", "AGV-9").is_ok());
        assert!(admit(&mapped, &mut shared, "acme", "AGV-9").is_err());
        assert_eq!(mapped.manufacturer(&shared, "AGV-9"), "globex");
        assert_eq!(mapped.manufacturer(&shared, "AGV-1"), "acme");

        // First contact, when enabled: the first identity sticks.
        let mut shared = Shared::default();
        let first = identity(&[], true);
        assert_eq!(first.manufacturer(&shared, "AGV-5"), "acme", "until seen");
        assert!(admit(&first, &mut shared, "initech", "AGV-5").is_ok());
        assert!(admit(&first, &mut shared, "evil", "AGV-5").is_err());
        assert!(admit(&first, &mut shared, "initech", "AGV-5").is_ok());
        assert_eq!(first.manufacturer(&shared, "AGV-5"), "initech");
    }

    #[test]
    fn action_states_map_to_the_command_lifecycle() {
        let action = || Tracking::Action {
            action_id: "cmd-1".into(),
            order: None,
            message: Some(7),
        };
        for waiting in [
            ActionStatus::Waiting,
            ActionStatus::Initializing,
            ActionStatus::Running,
        ] {
            assert_eq!(
                assess(&tracked(action(), false), &with_action(waiting)),
                Some((CommandStatus::Delivered, None))
            );
            assert_eq!(
                assess(&tracked(action(), true), &with_action(waiting)),
                None,
                "DELIVERED once"
            );
        }
        assert_eq!(
            assess(
                &tracked(action(), true),
                &with_action(ActionStatus::Finished)
            ),
            Some((CommandStatus::Executed, None))
        );
        assert_eq!(
            assess(
                &tracked(action(), false),
                &with_action(ActionStatus::Failed)
            ),
            Some((CommandStatus::Failed, Some("brakes stuck".into())))
        );
        assert_eq!(
            assess(&tracked(action(), false), &sample_state("AGV-1")),
            None,
            "not seen yet"
        );
        // A vehicle that rejects the whole message names only its headerId (here with the
        // topic): the command fails at once with its reason. Another topic's headerId 7, or
        // another headerId, is not ours.
        let rejecting = |header_id: &str, topic: &str| {
            let mut s = sample_state("AGV-1");
            s.errors.push(VehicleError {
                error_type: "validationError".into(),
                error_references: vec![
                    ErrorReference {
                        reference_key: "headerId".into(),
                        reference_value: header_id.into(),
                    },
                    ErrorReference {
                        reference_key: "topic".into(),
                        reference_value: topic.into(),
                    },
                ],
                error_description: Some("actions: required".into()),
                error_level: ErrorLevel::Warning,
            });
            s
        };
        assert_eq!(
            assess(&tracked(action(), false), &rejecting("7", "instantActions")),
            Some((
                CommandStatus::Failed,
                Some("validationError: actions: required".into())
            ))
        );
        assert_eq!(
            assess(&tracked(action(), false), &rejecting("7", "order")),
            None
        );
        assert_eq!(
            assess(&tracked(action(), false), &rejecting("8", "instantActions")),
            None
        );
    }

    #[test]
    fn an_action_fails_with_the_order_that_carries_it() {
        let charge = Tracking::Action {
            action_id: "cmd-1".into(),
            order: Some(("cmd-1".into(), 0)),
            message: None,
        };
        let mut s = sample_state("AGV-1");
        s.errors.push(VehicleError {
            error_type: "orderError".into(),
            error_references: vec![
                ErrorReference {
                    reference_key: "orderId".into(),
                    reference_value: "cmd-1".into(),
                },
                ErrorReference {
                    reference_key: "orderUpdateId".into(),
                    reference_value: "0".into(),
                },
            ],
            error_description: Some("order o7 still running".into()),
            error_level: ErrorLevel::Warning,
        });
        assert_eq!(
            assess(&tracked(charge, false), &s),
            Some((
                CommandStatus::Failed,
                Some("orderError: order o7 still running".into())
            ))
        );
    }

    fn running(order_id: &str, update_id: u64, last_seq: u64, pending: &[u64]) -> State {
        let mut s = sample_state("AGV-1");
        s.order_id = order_id.into();
        s.order_update_id = update_id;
        s.last_node_sequence_id = last_seq;
        s.node_states = pending
            .iter()
            .map(|seq| NodeState {
                node_id: format!("n{seq}"),
                sequence_id: *seq,
                released: true,
                node_position: None,
            })
            .collect();
        s
    }

    /// A mission `m1` of `n` waypoints, `completed` of them reached.
    fn mission(n: usize, completed: u32) -> Mission {
        let mut m = vehicleops_core::MissionRequest {
            fleet_id: "fleet-vda".into(),
            vehicle_id: "AGV-1".into(),
            mission_type: vehicleops_core::MissionType::Delivery,
            waypoints: (1..=n as u32)
                .map(|i| vehicleops_core::Waypoint {
                    latitude: 52.52,
                    longitude: 13.405 + 0.0001 * f64::from(i),
                    order: i,
                })
                .collect(),
            priority: Default::default(),
        }
        .into_mission()
        .unwrap();
        m.id = "m1".into();
        m.completed_waypoints = completed;
        m
    }

    /// An order through `ids`, the first `released` in the base.
    fn order_through(ids: &[&str], released: usize) -> Order {
        let points: Vec<RoutePoint> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| RoutePoint {
                node_id: (*id).into(),
                x: i as f64,
                y: 0.0,
                map_id: "site".into(),
            })
            .collect();
        let (nodes, edges) = route(&points, 0, released, Vec::new());
        order(sample_state("AGV-1").header, "m1", 0, nodes, edges)
    }

    #[test]
    fn a_mission_releases_two_waypoints_beyond_the_last_reached_never_past_its_route() {
        let o = order_through(&["start", "m1-1", "m1-2", "m1-3", "m1-4"], 3);
        // Start node + waypoints reached + 2, capped at start + 4.
        let target = |completed| mission_release_target(&o, &mission(4, completed));
        assert_eq!(
            [target(0), target(1), target(2), target(3), target(4)],
            [Some(3), Some(4), Some(5), Some(5), Some(5)]
        );
        // Without a start node (the vehicle's position was not known), one less.
        let bare = order_through(&["m1-1", "m1-2", "m1-3"], 2);
        assert_eq!(mission_release_target(&bare, &mission(3, 1)), Some(3));
        // An order that no longer carries the whole route (a REROUTE replaced its horizon),
        // or another mission's order: nothing to release.
        let replaced = order_through(&["start", "m1-1", "m1-2", "cmd-9-1"], 3);
        assert_eq!(mission_release_target(&replaced, &mission(3, 1)), None);
        let other = order_through(&["start", "m2-1"], 2);
        assert_eq!(mission_release_target(&other, &mission(1, 0)), None);
    }

    /// `(order id, update id, base node id, base sequence id)` of an update.
    fn update_from(start: RouteStart) -> (String, u64, String, u64) {
        match start {
            RouteStart::Update {
                order_id,
                update_id,
                base,
                base_seq,
            } => (order_id, update_id, base.node_id, base_seq),
            other => panic!("not an update: {other:?}"),
        }
    }

    #[test]
    fn routes_go_on_from_what_was_sent_while_the_state_trails_it() {
        let track = |state: Option<State>, order: &Order, shown: bool| VehicleTrack {
            manufacturer: None,
            state,
            order: Some(order.clone()),
            order_shown: shown,
            announced: None,
            ..VehicleTrack::default()
        };
        let start = |t: VehicleTrack| route_start(&t, "AGV-1").unwrap();
        let expect = |order_id: &str, update_id, base: &str, base_seq| {
            (order_id.to_owned(), update_id, base.to_owned(), base_seq)
        };
        // Order m1 sent (start, m1-1 and m1-2 released, m1-3 horizon); the vehicle's state does
        // not show it yet, or nothing was heard of the vehicle: a release goes on from what was
        // sent, as update 1 — never as a second order m1 #0.
        let sent = order_through(&["start", "m1-1", "m1-2", "m1-3"], 3);
        let finished_before = running("cmd-1", 0, 4, &[]);
        assert_eq!(
            update_from(start(track(Some(finished_before.clone()), &sent, false))),
            expect("m1", 1, "m1-2", 4)
        );
        assert_eq!(
            update_from(start(track(None, &sent, false))),
            expect("m1", 1, "m1-2", 4)
        );

        // Update 1 released m1-3; the state still shows update 0: update 2 goes on from m1-3,
        // not from the state's older base (the vehicle would refuse that).
        let mut released = order_through(&["start", "m1-1", "m1-2", "m1-3"], 4);
        released.order_update_id = 1;
        let behind = running("m1", 0, 2, &[4]);
        assert_eq!(
            update_from(start(track(Some(behind), &released, true))),
            expect("m1", 2, "m1-3", 6)
        );
        // Once the state shows update 1, it is as new as what was sent: its base, the next id.
        let current = running("m1", 1, 4, &[6]);
        assert_eq!(
            update_from(start(track(Some(current), &released, true))),
            expect("m1", 2, "n6", 6)
        );

        // The vehicle refused the order: what was sent does not count; idle, it gets a new
        // order from where it stands.
        let mut refused = finished_before.clone();
        refused.errors.push(VehicleError {
            error_type: "orderError".into(),
            error_references: vec![ErrorReference {
                reference_key: "orderId".into(),
                reference_value: "m1".into(),
            }],
            error_description: Some("order cmd-1 still running".into()),
            error_level: ErrorLevel::Warning,
        });
        assert!(matches!(
            start(track(Some(refused), &sent, false)),
            RouteStart::New { from: Some(_) }
        ));
        // Finished: a new order from its last node.
        let mut done = running("m1", 1, 6, &[]);
        done.last_node_id = "m1-3".into();
        match start(track(Some(done), &released, true)) {
            RouteStart::New { from: Some(p) } => assert_eq!(p.node_id, "m1-3"),
            other => panic!("{other:?}"),
        }
        // It took m1 and then another master's order: that order is updated.
        let mut theirs = running("other", 3, 0, &[2]);
        theirs.node_states[0].node_position = Some(crate::messages::NodePosition {
            x: 5.0,
            y: 1.0,
            theta: None,
            allowed_deviation_x_y: None,
            map_id: "site".into(),
        });
        assert_eq!(
            update_from(start(track(Some(theirs), &released, true))),
            expect("other", 4, "n2", 2)
        );
    }

    #[test]
    fn waypoints_behind_the_vehicle_count_from_its_state() {
        // The mission's order: start (0), m1-1 (2), m1-2 (4), m1-3 (6).
        let sent = order_through(&["start", "m1-1", "m1-2", "m1-3"], 4);
        let m = mission(3, 0);
        let at = |last_seq: u64, pending: &[u64]| running("m1", 0, last_seq, pending);
        assert_eq!(waypoints_passed(&sent, &at(0, &[2, 4, 6]), &m), Some(0));
        assert_eq!(waypoints_passed(&sent, &at(2, &[4, 6]), &m), Some(1));
        assert_eq!(waypoints_passed(&sent, &at(4, &[6]), &m), Some(2));
        assert_eq!(waypoints_passed(&sent, &at(6, &[]), &m), Some(3));
        // Another order in the state: nothing said.
        assert_eq!(
            waypoints_passed(&sent, &running("cmd-9", 0, 6, &[]), &m),
            None
        );
        // An order that no longer carries the route past the first waypoint (replaced by a
        // REROUTE): only what it carries counts.
        let replaced = order_through(&["start", "m1-1", "cmd-9-1"], 3);
        assert_eq!(waypoints_passed(&replaced, &at(4, &[]), &m), Some(1));
    }

    #[test]
    fn cancel_order_goes_only_to_a_vehicle_that_may_run_the_mission() {
        let sent = order_through(&["start", "m1-1", "m1-2"], 2);
        let track = |state: Option<State>, order: Option<Order>| VehicleTrack {
            manufacturer: None,
            state,
            order,
            order_shown: false,
            announced: None,
            ..VehicleTrack::default()
        };
        // Nothing known (e.g. just restarted): send.
        assert!(cancel_needed(None, "m1"));
        assert!(cancel_needed(Some(&track(None, Some(sent.clone()))), "m1"));
        // Running the mission's order.
        let ours = running("m1", 0, 0, &[2, 4]);
        assert!(cancel_needed(
            Some(&track(Some(ours), Some(sent.clone()))),
            "m1"
        ));
        // Idle, the order still on its way.
        let idle = sample_state("AGV-1");
        assert!(cancel_needed(
            Some(&track(Some(idle.clone()), Some(sent.clone()))),
            "m1"
        ));
        // Idle and nothing of the mission was sent from here: nothing to cancel.
        assert!(!cancel_needed(Some(&track(Some(idle), None)), "m1"));
        // The mission's order finished.
        let done = running("m1", 0, 4, &[]);
        assert!(!cancel_needed(
            Some(&track(Some(done), Some(sent.clone()))),
            "m1"
        ));
        // Running another order: leave it alone.
        let other = running("cmd-3", 0, 0, &[2]);
        assert!(!cancel_needed(Some(&track(Some(other), Some(sent))), "m1"));
    }

    #[test]
    fn orders_are_delivered_executed_or_failed_from_state() {
        let order = || Tracking::Order {
            order_id: "o1".into(),
            update_id: 1,
            last_sequence_id: 4,
        };
        assert_eq!(
            assess(&tracked(order(), false), &running("o1", 0, 0, &[2, 4])),
            None,
            "the update is not taken yet"
        );
        assert_eq!(
            assess(&tracked(order(), false), &running("o1", 1, 0, &[2, 4])),
            Some((CommandStatus::Delivered, None))
        );
        assert_eq!(
            assess(&tracked(order(), true), &running("o1", 1, 2, &[4])),
            None
        );
        assert_eq!(
            assess(&tracked(order(), true), &running("o1", 1, 4, &[])),
            Some((CommandStatus::Executed, None))
        );
        assert_eq!(
            assess(&tracked(order(), true), &running("o1", 2, 6, &[8])),
            Some((CommandStatus::Executed, None)),
            "a later update continued from the last node"
        );
        let (status, reason) = assess(&tracked(order(), true), &running("o1", 1, 2, &[])).unwrap();
        assert_eq!(status, CommandStatus::Failed);
        assert!(reason.unwrap().contains("cancelled"));
        let (status, reason) = assess(&tracked(order(), true), &running("o2", 0, 0, &[2])).unwrap();
        assert_eq!(
            (status, reason.as_deref()),
            (CommandStatus::Failed, Some("replaced by order o2"))
        );

        let mut rejected = running("o1", 0, 0, &[2]);
        rejected.errors.push(VehicleError {
            error_type: "orderUpdateError".into(),
            error_references: vec![
                ErrorReference {
                    reference_key: "orderId".into(),
                    reference_value: "o1".into(),
                },
                ErrorReference {
                    reference_key: "orderUpdateId".into(),
                    reference_value: "1".into(),
                },
            ],
            error_description: Some("does not start at the last base node".into()),
            error_level: ErrorLevel::Warning,
        });
        let (status, reason) = assess(&tracked(order(), false), &rejected).unwrap();
        assert_eq!(status, CommandStatus::Failed);
        assert_eq!(
            reason.as_deref(),
            Some("orderUpdateError: does not start at the last base node")
        );
        // An error about another update of the same order is not this command's.
        rejected.errors[0].error_references[1].reference_value = "7".into();
        assert_eq!(assess(&tracked(order(), false), &rejected), None);
    }

    #[test]
    fn states_of_new_vehicles_are_refused_once_the_cap_is_reached() {
        let mut shared = Shared::default();
        for i in 0..100 {
            assert!(!refuses_new(&shared, &format!("AGV-{i}"), 100));
            shared
                .vehicles
                .insert(format!("AGV-{i}"), VehicleTrack::default());
        }
        assert!(refuses_new(&shared, "AGV-100", 100), "a new one when full");
        assert!(!refuses_new(&shared, "AGV-7", 100), "a known one goes on");
    }
}
