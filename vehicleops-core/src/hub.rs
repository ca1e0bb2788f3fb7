//! The live hub: fans vehicle updates, alerts and command/mission events out to subscribers.
//!
//! Each subscriber has its own queue. Vehicle updates are *coalesced* per vehicle: a subscriber
//! that falls behind receives the latest state of each vehicle rather than every intermediate
//! one, so its queue never holds more than one update per vehicle and a slow client can never
//! slow the pipeline. Alerts and lifecycle events are never coalesced or dropped.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use vehicleops_core::hub::{LiveEvent, LiveHub};
//! let hub = LiveHub::new();
//! let mut sub = hub.subscribe("fleet-001");
//! # let t: vehicleops_core::Telemetry = serde_json::from_str(r#"{"vehicle_id":"VH-1","fleet_id":"fleet-001","latitude":4.7,"longitude":-74.0,"speed_kmh":10,"battery_pct":90,"engine_temp_c":70,"status":"MOVING","timestamp":"2024-01-01T00:00:00Z"}"#).unwrap();
//! hub.publish_updates(&[std::sync::Arc::new(vehicleops_core::hub::LiveUpdate::from_reading(&t, vec![]))]);
//! match sub.recv().await {
//!     Some(LiveEvent::Update(u)) => assert_eq!(u.vehicle_id, "VH-1"),
//!     other => panic!("{other:?}"),
//! }
//! # });
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::model::{Alert, AlertType, Command, MapPose, Mission, Telemetry, VehicleStatus};
use crate::pipeline::DEFAULT_MAX_VEHICLES;

/// A vehicle's live state, in the original's WebSocket shape (plus load, heading, seq, pose).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveUpdate {
    pub vehicle_id: String,
    pub fleet_id: String,
    pub latitude: f64,
    pub longitude: f64,
    pub speed_kmh: f64,
    pub battery_pct: f64,
    pub engine_temp_c: f64,
    pub load_pct: f64,
    pub heading_deg: f64,
    pub status: VehicleStatus,
    /// Alert types currently open for the vehicle.
    pub alerts: Vec<AlertType>,
    pub seq: u64,
    pub timestamp: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pose: Option<MapPose>,
}

impl LiveUpdate {
    pub fn from_reading(t: &Telemetry, alerts: Vec<AlertType>) -> Self {
        LiveUpdate {
            vehicle_id: t.vehicle_id.clone(),
            fleet_id: t.fleet_id.clone(),
            latitude: t.latitude,
            longitude: t.longitude,
            speed_kmh: t.speed_kmh,
            battery_pct: t.battery_pct,
            engine_temp_c: t.engine_temp_c,
            load_pct: t.load_pct,
            heading_deg: t.heading_deg,
            status: t.status,
            alerts,
            seq: t.seq,
            timestamp: t.timestamp,
            pose: t.pose.clone(),
        }
    }
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    Update(Arc<LiveUpdate>),
    Alert(Arc<Alert>),
    Command(Arc<Command>),
    Mission(Arc<Mission>),
}

impl LiveEvent {
    pub fn fleet_id(&self) -> &str {
        match self {
            LiveEvent::Update(u) => &u.fleet_id,
            LiveEvent::Alert(a) => &a.fleet_id,
            LiveEvent::Command(c) => &c.fleet_id,
            LiveEvent::Mission(m) => &m.fleet_id,
        }
    }
}

/// Subscribes to every fleet (for fan-out bridges and admins).
pub const ALL_FLEETS: &str = "*";

#[derive(Default)]
struct Queue {
    /// Events that are never coalesced, in order.
    events: VecDeque<LiveEvent>,
    /// Vehicles with a pending update, oldest first; the update itself lives in `pending`.
    order: VecDeque<String>,
    pending: HashMap<String, Arc<LiveUpdate>>,
    closed: bool,
}

struct Subscriber {
    id: u64,
    queue: Mutex<Queue>,
    notify: Notify,
}

/// The latest update of every tracked vehicle, at most `max` of them.
struct Latest {
    /// Fleet → vehicle → (latest update, when it was last updated: its key in `recency`).
    by_fleet: HashMap<String, HashMap<String, (Arc<LiveUpdate>, u64)>>,
    /// (fleet, vehicle) by when last updated, least recent first.
    recency: BTreeMap<u64, (String, String)>,
    clock: u64,
    max: usize,
}

impl Latest {
    fn new(max: usize) -> Self {
        Latest {
            by_fleet: HashMap::new(),
            recency: BTreeMap::new(),
            clock: 0,
            max,
        }
    }

    fn put(&mut self, u: &Arc<LiveUpdate>) {
        self.clock += 1;
        let clock = self.clock;
        let fleet = match self.by_fleet.get_mut(&u.fleet_id) {
            Some(f) => f,
            None => self.by_fleet.entry(u.fleet_id.clone()).or_default(),
        };
        match fleet.get_mut(&u.vehicle_id) {
            Some(slot) => {
                self.recency.remove(&slot.1);
                *slot = (u.clone(), clock);
            }
            None => {
                fleet.insert(u.vehicle_id.clone(), (u.clone(), clock));
            }
        }
        self.recency
            .insert(clock, (u.fleet_id.clone(), u.vehicle_id.clone()));
    }

    /// Drops the least recently updated vehicles beyond `max`; returns how many.
    fn evict(&mut self) -> u64 {
        let mut evicted = 0;
        while self.recency.len() > self.max {
            let Some((_, (fleet_id, vehicle_id))) = self.recency.pop_first() else {
                break;
            };
            if let Some(fleet) = self.by_fleet.get_mut(&fleet_id) {
                fleet.remove(&vehicle_id);
                if fleet.is_empty() {
                    self.by_fleet.remove(&fleet_id);
                }
            }
            evicted += 1;
        }
        evicted
    }
}

struct HubInner {
    subscribers: RwLock<HashMap<String, Vec<Arc<Subscriber>>>>,
    latest: RwLock<Latest>,
    next_id: AtomicU64,
    subscriber_count: AtomicUsize,
    coalesced: AtomicU64,
    evicted: AtomicU64,
}

/// Cheap to clone; all clones share the same subscribers.
#[derive(Clone)]
pub struct LiveHub {
    inner: Arc<HubInner>,
}

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub::with_max_vehicles(DEFAULT_MAX_VEHICLES)
    }
}

impl std::fmt::Debug for LiveHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveHub")
            .field("subscribers", &self.subscriber_count())
            .finish()
    }
}

impl LiveHub {
    /// A hub keeping the latest state of at most [`DEFAULT_MAX_VEHICLES`] vehicles.
    pub fn new() -> Self {
        Self::default()
    }

    /// A hub keeping the latest state (for [`LiveHub::snapshot`]) of at most `max_vehicles`
    /// vehicles: beyond it, the least recently updated vehicle is dropped from the snapshot
    /// until its next update (counted in [`LiveHub::evicted_vehicles`]).
    pub fn with_max_vehicles(max_vehicles: usize) -> Self {
        LiveHub {
            inner: Arc::new(HubInner {
                subscribers: RwLock::default(),
                latest: RwLock::new(Latest::new(max_vehicles)),
                next_id: AtomicU64::new(0),
                subscriber_count: AtomicUsize::new(0),
                coalesced: AtomicU64::new(0),
                evicted: AtomicU64::new(0),
            }),
        }
    }

    /// Vehicles dropped from the snapshot because more than the cap were tracked.
    pub fn evicted_vehicles(&self) -> u64 {
        self.inner.evicted.load(Ordering::Relaxed)
    }

    /// Vehicles whose latest state the hub keeps.
    pub fn tracked_vehicles(&self) -> usize {
        self.inner
            .latest
            .read()
            .expect("hub lock poisoned")
            .recency
            .len()
    }

    /// Subscribes to one fleet (or [`ALL_FLEETS`]). The subscription ends when dropped.
    pub fn subscribe(&self, fleet_id: &str) -> Subscription {
        let sub = Arc::new(Subscriber {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            queue: Mutex::new(Queue::default()),
            notify: Notify::new(),
        });
        self.inner
            .subscribers
            .write()
            .expect("hub lock poisoned")
            .entry(fleet_id.to_string())
            .or_default()
            .push(sub.clone());
        self.inner.subscriber_count.fetch_add(1, Ordering::Relaxed);
        Subscription {
            hub: self.inner.clone(),
            fleet_id: fleet_id.to_string(),
            sub,
        }
    }

    /// The latest update of every vehicle of a fleet seen by this hub, ordered by vehicle id.
    pub fn snapshot(&self, fleet_id: &str) -> Vec<Arc<LiveUpdate>> {
        let latest = self.inner.latest.read().expect("hub lock poisoned");
        let mut v: Vec<_> = latest
            .by_fleet
            .get(fleet_id)
            .map(|m| m.values().map(|(u, _)| u.clone()).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.vehicle_id.cmp(&b.vehicle_id));
        v
    }

    pub fn subscriber_count(&self) -> usize {
        self.inner.subscriber_count.load(Ordering::Relaxed)
    }

    /// Updates replaced in a subscriber queue by a newer one for the same vehicle.
    pub fn coalesced_updates(&self) -> u64 {
        self.inner.coalesced.load(Ordering::Relaxed)
    }

    /// Publishes vehicle updates. Never blocks on subscribers.
    pub fn publish_updates(&self, updates: &[Arc<LiveUpdate>]) {
        if updates.is_empty() {
            return;
        }
        {
            let mut latest = self.inner.latest.write().expect("hub lock poisoned");
            for u in updates {
                latest.put(u);
            }
            let evicted = latest.evict();
            if evicted > 0 {
                self.inner.evicted.fetch_add(evicted, Ordering::Relaxed);
            }
        }
        let subs = self.inner.subscribers.read().expect("hub lock poisoned");
        if subs.is_empty() {
            return;
        }
        let all = subs.get(ALL_FLEETS);
        for u in updates {
            let fleet_subs = subs.get(&u.fleet_id);
            for sub in fleet_subs
                .into_iter()
                .flatten()
                .chain(all.into_iter().flatten())
            {
                let mut q = sub.queue.lock().expect("subscriber lock poisoned");
                match q.pending.get_mut(&u.vehicle_id) {
                    Some(slot) => {
                        *slot = u.clone();
                        self.inner.coalesced.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        q.pending.insert(u.vehicle_id.clone(), u.clone());
                        q.order.push_back(u.vehicle_id.clone());
                    }
                }
                drop(q);
                sub.notify.notify_one();
            }
        }
    }

    /// Publishes an event that must reach every subscriber of its fleet (never coalesced).
    pub fn publish_event(&self, event: LiveEvent) {
        let subs = self.inner.subscribers.read().expect("hub lock poisoned");
        let fleet_subs = subs.get(event.fleet_id());
        for sub in fleet_subs
            .into_iter()
            .flatten()
            .chain(subs.get(ALL_FLEETS).into_iter().flatten())
        {
            sub.queue
                .lock()
                .expect("subscriber lock poisoned")
                .events
                .push_back(event.clone());
            sub.notify.notify_one();
        }
    }

    /// Ends every subscription: pending events are still delivered, then `recv` returns `None`.
    pub fn close(&self) {
        let subs = self.inner.subscribers.read().expect("hub lock poisoned");
        for sub in subs.values().flatten() {
            sub.queue.lock().expect("subscriber lock poisoned").closed = true;
            sub.notify.notify_one();
        }
    }
}

/// A live subscription. Dropping it unsubscribes.
pub struct Subscription {
    hub: Arc<HubInner>,
    fleet_id: String,
    sub: Arc<Subscriber>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("fleet_id", &self.fleet_id)
            .finish()
    }
}

impl Subscription {
    pub fn fleet_id(&self) -> &str {
        &self.fleet_id
    }

    /// The next event, waiting if there is none; `None` once the hub is closed and drained.
    /// Alerts and lifecycle events come before pending vehicle updates.
    pub async fn recv(&mut self) -> Option<LiveEvent> {
        loop {
            let notified = self.sub.notify.notified();
            {
                let mut q = self.sub.queue.lock().expect("subscriber lock poisoned");
                if let Some(e) = pop(&mut q) {
                    return Some(e);
                }
                if q.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Moves up to `max` ready events into `out` without waiting; returns how many.
    pub fn drain_into(&mut self, out: &mut Vec<LiveEvent>, max: usize) -> usize {
        let mut q = self.sub.queue.lock().expect("subscriber lock poisoned");
        let mut n = 0;
        while n < max {
            match pop(&mut q) {
                Some(e) => {
                    out.push(e);
                    n += 1;
                }
                None => break,
            }
        }
        n
    }

    /// Events waiting in this subscriber's queue (at most one update per vehicle).
    pub fn pending(&self) -> usize {
        let q = self.sub.queue.lock().expect("subscriber lock poisoned");
        q.events.len() + q.order.len()
    }
}

fn pop(q: &mut Queue) -> Option<LiveEvent> {
    if let Some(e) = q.events.pop_front() {
        return Some(e);
    }
    let vehicle = q.order.pop_front()?;
    q.pending.remove(&vehicle).map(LiveEvent::Update)
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut subs = self.hub.subscribers.write().expect("hub lock poisoned");
        if let Some(list) = subs.get_mut(&self.fleet_id) {
            list.retain(|s| s.id != self.sub.id);
            if list.is_empty() {
                subs.remove(&self.fleet_id);
            }
        }
        self.hub.subscriber_count.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlertType, Severity};

    fn update(fleet: &str, vehicle: &str, seq: u64) -> Arc<LiveUpdate> {
        Arc::new(LiveUpdate {
            vehicle_id: vehicle.into(),
            fleet_id: fleet.into(),
            latitude: 4.7,
            longitude: -74.0,
            speed_kmh: seq as f64,
            battery_pct: 80.0,
            engine_temp_c: 70.0,
            load_pct: 10.0,
            heading_deg: 0.0,
            status: VehicleStatus::Moving,
            alerts: vec![],
            seq,
            timestamp: Utc::now(),
            pose: None,
        })
    }

    fn alert(fleet: &str, n: u32) -> Arc<Alert> {
        Arc::new(Alert {
            id: format!("alert-{n}"),
            vehicle_id: "VH-1".into(),
            fleet_id: fleet.into(),
            alert_type: AlertType::OVERSPEED,
            severity: Severity::High,
            value: 92.0,
            threshold: 80.0,
            message: "fast".into(),
            key: None,
            triggered_at: Utc::now(),
            cleared_at: None,
            acknowledged: false,
            acknowledged_by: None,
            acknowledged_at: None,
            notes: None,
        })
    }

    fn seqs(sub: &mut Subscription) -> Vec<(String, u64)> {
        let mut out = vec![];
        sub.drain_into(&mut out, usize::MAX);
        out.into_iter()
            .map(|e| match e {
                LiveEvent::Update(u) => (u.vehicle_id.clone(), u.seq),
                LiveEvent::Alert(a) => (a.id.clone(), 0),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn slow_subscriber_gets_latest_state_per_vehicle() {
        let hub = LiveHub::new();
        let mut slow = hub.subscribe("f1");
        for seq in 1..=1000 {
            hub.publish_updates(&[update("f1", "A", seq), update("f1", "B", seq)]);
        }
        assert_eq!(
            slow.pending(),
            2,
            "queue is bounded by the number of vehicles"
        );
        assert_eq!(
            seqs(&mut slow),
            vec![("A".into(), 1000), ("B".into(), 1000)]
        );
        assert_eq!(hub.coalesced_updates(), 2 * 999);
    }

    #[test]
    fn alerts_are_never_coalesced_and_come_first() {
        let hub = LiveHub::new();
        let mut sub = hub.subscribe("f1");
        hub.publish_updates(&[update("f1", "A", 1)]);
        for n in 0..500 {
            hub.publish_event(LiveEvent::Alert(alert("f1", n)));
        }
        let got = seqs(&mut sub);
        assert_eq!(got.len(), 501);
        assert_eq!(got[0].0, "alert-0");
        assert_eq!(got[499].0, "alert-499");
        assert_eq!(got[500], ("A".into(), 1));
    }

    #[test]
    fn fleets_are_isolated_and_all_fleets_sees_everything() {
        let hub = LiveHub::new();
        let mut f1 = hub.subscribe("f1");
        let mut f2 = hub.subscribe("f2");
        let mut all = hub.subscribe(ALL_FLEETS);
        hub.publish_updates(&[update("f1", "A", 1), update("f2", "B", 1)]);
        hub.publish_event(LiveEvent::Alert(alert("f2", 7)));
        assert_eq!(seqs(&mut f1), vec![("A".into(), 1)]);
        assert_eq!(seqs(&mut f2), vec![("alert-7".into(), 0), ("B".into(), 1)]);
        assert_eq!(seqs(&mut all).len(), 3);
    }

    #[test]
    fn snapshot_holds_latest_per_vehicle_and_drop_unsubscribes() {
        let hub = LiveHub::new();
        let sub = hub.subscribe("f1");
        assert_eq!(hub.subscriber_count(), 1);
        hub.publish_updates(&[
            update("f1", "B", 1),
            update("f1", "A", 1),
            update("f1", "B", 2),
        ]);
        let snap: Vec<_> = hub
            .snapshot("f1")
            .iter()
            .map(|u| (u.vehicle_id.clone(), u.seq))
            .collect();
        assert_eq!(snap, vec![("A".into(), 1), ("B".into(), 2)]);
        assert!(hub.snapshot("f9").is_empty());
        drop(sub);
        assert_eq!(hub.subscriber_count(), 0);
        hub.publish_updates(&[update("f1", "A", 3)]);
    }

    #[tokio::test]
    async fn recv_waits_for_events_and_ends_on_close() {
        let hub = LiveHub::new();
        let mut sub = hub.subscribe("f1");
        let h2 = hub.clone();
        let task = tokio::spawn(async move {
            tokio::task::yield_now().await;
            h2.publish_updates(&[update("f1", "A", 1)]);
            h2.close();
        });
        assert!(matches!(sub.recv().await, Some(LiveEvent::Update(u)) if u.seq == 1));
        assert_eq!(sub.recv().await, None);
        task.await.unwrap();
    }

    #[test]
    fn the_snapshot_keeps_the_most_recently_updated_vehicles_up_to_the_cap() {
        let hub = LiveHub::with_max_vehicles(100);
        hub.publish_updates(&[update("fleet-001", "VH-keep", 0)]);
        for i in 0..10_000 {
            hub.publish_updates(&[update("fleet-001", &format!("VH-{i}"), i)]);
            if i % 50 == 0 {
                // Seen again: the least recently seen go first, not the first seen.
                hub.publish_updates(&[update("fleet-001", "VH-keep", i)]);
            }
        }
        assert_eq!(hub.tracked_vehicles(), 100);
        assert_eq!(hub.evicted_vehicles(), 10_001 - 100);
        let snapshot = hub.snapshot("fleet-001");
        assert_eq!(snapshot.len(), 100);
        assert!(snapshot.iter().any(|u| u.vehicle_id == "VH-keep"));
        assert!(snapshot.iter().any(|u| u.vehicle_id == "VH-9999"));
        assert!(!snapshot.iter().any(|u| u.vehicle_id == "VH-0"));
        // An evicted vehicle comes back with its next update.
        hub.publish_updates(&[update("fleet-002", "VH-0", 1)]);
        assert_eq!(hub.snapshot("fleet-002").len(), 1);
        assert_eq!(hub.tracked_vehicles(), 100);
    }
}
