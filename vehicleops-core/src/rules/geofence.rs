//! [`GeofenceRule`]: enter, exit and dwell events for polygon and circle fences.
//!
//! Fences are indexed by their bounding boxes in an R-tree (`rstar`), so a reading costs one
//! tree descent plus an exact containment test for the few fences whose box holds the point,
//! however many fences there are.

use std::collections::HashSet;
use std::ops::ControlFlow;

use chrono::{DateTime, Duration, Utc};
use geo::{Area, Coord, Intersects, LineString, Polygon};
use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};

use super::seconds;
use crate::error::ValidationError;
use crate::geodesy;
use crate::model::{Alert, AlertSignal, AlertTransition, AlertType, GeoPoint, Severity, Telemetry};
use crate::traits::{AlertRule, RuleState};

/// The area a fence covers.
#[derive(Debug, Clone, PartialEq)]
pub enum FenceShape {
    /// A polygon in plain longitude/latitude degrees (`x` = longitude, `y` = latitude), holes
    /// allowed. Edges are straight in degrees, which is what site-sized fences need; a polygon
    /// must not cross the antimeridian.
    Polygon(Polygon<f64>),
    /// Every point within `radius_m` metres (great-circle distance) of `center`.
    Circle { center: GeoPoint, radius_m: f64 },
}

/// One geofence and what to signal for it.
///
/// By default a fence applies to every fleet, signals enter and exit, has no dwell limit and
/// severity MEDIUM.
#[derive(Debug, Clone, PartialEq)]
pub struct Fence {
    id: String,
    name: Option<String>,
    shape: FenceShape,
    fleet_id: Option<String>,
    dwell: Option<Duration>,
    severity: Severity,
    on_enter: bool,
    on_exit: bool,
}

impl Fence {
    fn with_shape(id: impl Into<String>, shape: FenceShape) -> Self {
        Self {
            id: id.into(),
            name: None,
            shape,
            fleet_id: None,
            dwell: None,
            severity: Severity::Medium,
            on_enter: true,
            on_exit: true,
        }
    }

    /// A polygon through `vertices` (closed automatically).
    pub fn polygon(id: impl Into<String>, vertices: impl IntoIterator<Item = GeoPoint>) -> Self {
        let ring: Vec<Coord<f64>> = vertices
            .into_iter()
            .map(|p| Coord {
                x: p.longitude,
                y: p.latitude,
            })
            .collect();
        Self::from_geo_polygon(id, Polygon::new(LineString::new(ring), Vec::new()))
    }

    /// A `geo` polygon in longitude/latitude degrees, e.g. one with holes.
    pub fn from_geo_polygon(id: impl Into<String>, polygon: Polygon<f64>) -> Self {
        Self::with_shape(id, FenceShape::Polygon(polygon))
    }

    /// A circle of `radius_m` metres around `center`.
    pub fn circle(id: impl Into<String>, center: GeoPoint, radius_m: f64) -> Self {
        Self::with_shape(id, FenceShape::Circle { center, radius_m })
    }

    /// A human name used in messages.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Applies the fence to readings of this fleet only.
    pub fn with_fleet(mut self, fleet_id: impl Into<String>) -> Self {
        self.fleet_id = Some(fleet_id.into());
        self
    }

    /// Raises GEOFENCE_DWELL once a vehicle has been inside for longer than `dwell`.
    pub fn with_dwell(mut self, dwell: Duration) -> Self {
        self.dwell = Some(dwell);
        self
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Whether entering emits a GEOFENCE_ENTER event (default true).
    pub fn with_enter_events(mut self, on: bool) -> Self {
        self.on_enter = on;
        self
    }

    /// Whether leaving emits a GEOFENCE_EXIT event (default true).
    pub fn with_exit_events(mut self, on: bool) -> Self {
        self.on_exit = on;
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn shape(&self) -> &FenceShape {
        &self.shape
    }

    pub fn fleet_id(&self) -> Option<&str> {
        self.fleet_id.as_deref()
    }

    pub fn dwell(&self) -> Option<Duration> {
        self.dwell
    }

    pub fn severity(&self) -> Severity {
        self.severity
    }

    pub fn enter_events(&self) -> bool {
        self.on_enter
    }

    pub fn exit_events(&self) -> bool {
        self.on_exit
    }

    /// Whether `p` is inside the fence; the boundary counts as inside.
    pub fn contains(&self, p: GeoPoint) -> bool {
        match &self.shape {
            FenceShape::Polygon(polygon) => polygon.intersects(&Coord {
                x: p.longitude,
                y: p.latitude,
            }),
            FenceShape::Circle { center, radius_m } => geodesy::distance_m(*center, p) <= *radius_m,
        }
    }

    /// A signal about this fence, keyed by its id.
    fn signal(
        &self,
        transition: AlertTransition,
        alert_type: AlertType,
        value: f64,
        threshold: f64,
        message: String,
    ) -> AlertSignal {
        AlertSignal {
            transition,
            alert_type,
            severity: self.severity,
            value,
            threshold,
            message,
            key: Some(self.id.clone()),
        }
    }

    fn applies_to(&self, fleet_id: &str) -> bool {
        self.fleet_id.as_deref().is_none_or(|f| f == fleet_id)
    }

    /// `id`, or `name (id)` when the fence has a name.
    fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} ({})", self.id),
            None => self.id.clone(),
        }
    }

    /// Checks the fence; errors name the field and the fence.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let id = &self.id;
        if id.trim().is_empty() {
            return Err(ValidationError::new("id", "a fence needs a non-empty id"));
        }
        match &self.shape {
            FenceShape::Polygon(polygon) => {
                // `Polygon::new` closes the ring, so n vertices are stored as n + 1 coordinates.
                let vertices = polygon.exterior().0.len().saturating_sub(1);
                if vertices < 3 {
                    return Err(ValidationError::new(
                        "points",
                        format!("fence {id:?}: a polygon needs at least 3 points, got {vertices}"),
                    ));
                }
                let rings = std::iter::once(polygon.exterior()).chain(polygon.interiors());
                for c in rings.flat_map(|r| r.coords()) {
                    check_position(id, c.y, c.x)?;
                }
                if polygon.unsigned_area() <= 0.0 {
                    return Err(ValidationError::new(
                        "points",
                        format!("fence {id:?}: the polygon's points are collinear (zero area)"),
                    ));
                }
            }
            FenceShape::Circle { center, radius_m } => {
                check_position(id, center.latitude, center.longitude)?;
                if !(radius_m.is_finite() && *radius_m > 0.0) {
                    return Err(ValidationError::new(
                        "radius_m",
                        format!(
                            "fence {id:?}: radius must be a positive number of metres, got {radius_m}"
                        ),
                    ));
                }
            }
        }
        if let Some(dwell) = self.dwell {
            if dwell <= Duration::zero() {
                return Err(ValidationError::new(
                    "dwell_secs",
                    format!("fence {id:?}: dwell must be positive"),
                ));
            }
        }
        Ok(())
    }

    /// The bounding box as `[lon, lat]` corners. Circles that reach a pole or the antimeridian
    /// get the full longitude range: a box too large costs an exact test, one too small loses
    /// a vehicle.
    fn bounds(&self) -> ([f64; 2], [f64; 2]) {
        match &self.shape {
            FenceShape::Polygon(polygon) => {
                let (mut min, mut max) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
                for c in polygon.exterior().coords() {
                    min = [min[0].min(c.x), min[1].min(c.y)];
                    max = [max[0].max(c.x), max[1].max(c.y)];
                }
                (min, max)
            }
            FenceShape::Circle { center, radius_m } => {
                // Angular radius, plus a hair for rounding in the haversine test.
                let delta = radius_m / geo::Haversine.radius() * (1.0 + 1e-9) + 1e-12;
                let dlat = delta.to_degrees();
                let (lat, lon) = (center.latitude, center.longitude);
                let (south, north) = (lat - dlat, lat + dlat);
                if south <= -90.0 || north >= 90.0 {
                    return ([-180.0, south.max(-90.0)], [180.0, north.min(90.0)]);
                }
                // Widest longitude extent of a spherical cap.
                let dlon = (delta.sin() / lat.to_radians().cos())
                    .min(1.0)
                    .asin()
                    .to_degrees();
                let (west, east) = (lon - dlon, lon + dlon);
                if west < -180.0 || east > 180.0 {
                    return ([-180.0, south], [180.0, north]);
                }
                ([west, south], [east, north])
            }
        }
    }
}

fn check_position(id: &str, latitude: f64, longitude: f64) -> Result<(), ValidationError> {
    if !(-90.0..=90.0).contains(&latitude) {
        return Err(ValidationError::new(
            "latitude",
            format!("fence {id:?}: latitude {latitude} is outside -90..=90"),
        ));
    }
    if !(-180.0..=180.0).contains(&longitude) {
        return Err(ValidationError::new(
            "longitude",
            format!("fence {id:?}: longitude {longitude} is outside -180..=180"),
        ));
    }
    Ok(())
}

/// A fence's bounding box in the index, carrying the fence's position in `fences`.
type IndexedBox = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// Signals when vehicles enter, leave, or stay too long in any of many geofences.
///
/// Per fence:
/// * entering → a GEOFENCE_ENTER [`AlertTransition::Event`] (the first reading inside counts);
/// * leaving → a GEOFENCE_EXIT event, `value` = seconds spent inside;
/// * staying strictly longer than the fence's dwell limit (by reading timestamps) → a
///   GEOFENCE_DWELL [`AlertTransition::Raised`] (value = seconds inside, threshold = the
///   limit), cleared when the vehicle leaves.
///
/// Every signal's `key` is the fence id. Signals of one reading come in a fixed order: dwell
/// clears and exits, then enters, then dwell raises; within each, in the order fences were given.
#[derive(Debug, Clone)]
pub struct GeofenceRule {
    name: String,
    fences: Vec<Fence>,
    index: RTree<IndexedBox>,
}

/// One vehicle's fences, sorted by fence position.
#[derive(Debug, Default)]
struct GeofenceState {
    inside: Vec<Inside>,
    /// Scratch list of the fences containing the current reading, kept to reuse its buffer.
    current: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Inside {
    fence: u32,
    since: DateTime<Utc>,
    dwell_raised: bool,
}

impl GeofenceRule {
    /// Validates the fences (ids unique) and builds the index.
    pub fn new(fences: Vec<Fence>) -> Result<Self, ValidationError> {
        if fences.len() > u32::MAX as usize {
            return Err(ValidationError::new("fences", "too many fences"));
        }
        let mut ids = HashSet::with_capacity(fences.len());
        for fence in &fences {
            fence.validate()?;
            if !ids.insert(fence.id.as_str()) {
                return Err(ValidationError::new(
                    "id",
                    format!("fence id {:?} is used twice", fence.id),
                ));
            }
        }
        let boxes = fences
            .iter()
            .enumerate()
            .map(|(i, fence)| {
                let (min, max) = fence.bounds();
                GeomWithData::new(Rectangle::from_corners(min, max), i as u32)
            })
            .collect();
        Ok(Self {
            name: "geofence".to_string(),
            fences,
            index: RTree::bulk_load(boxes),
        })
    }

    /// Renames the rule (for logs and metrics), e.g. when a server runs several fence sets.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn fences(&self) -> &[Fence] {
        &self.fences
    }

    /// The fences that apply to `fleet_id` and contain `p`, in the order they were given.
    pub fn fences_containing(&self, p: GeoPoint, fleet_id: &str) -> Vec<&Fence> {
        let mut found = Vec::new();
        let _ = self.visit_containing(p, fleet_id, |i| {
            found.push(i);
            ControlFlow::<()>::Continue(())
        });
        found.sort_unstable();
        found
            .into_iter()
            .map(|i| &self.fences[i as usize])
            .collect()
    }

    /// Calls `f` with the position of every fence that applies to `fleet_id` and contains `p`.
    fn visit_containing<B>(
        &self,
        p: GeoPoint,
        fleet_id: &str,
        mut f: impl FnMut(u32) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        self.index
            .locate_all_at_point_int(&[p.longitude, p.latitude], |candidate| {
                let fence = &self.fences[candidate.data as usize];
                if fence.applies_to(fleet_id) && fence.contains(p) {
                    f(candidate.data)
                } else {
                    ControlFlow::Continue(())
                }
            })
    }
}

impl AlertRule for GeofenceRule {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, reading: &Telemetry, state: &mut RuleState, out: &mut Vec<AlertSignal>) {
        let p = reading.position();
        let fleet = reading.fleet_id.as_str();
        // A vehicle that has never been in a fence and is not in one now needs no state.
        if state.is_empty()
            && self
                .visit_containing(p, fleet, |_| ControlFlow::Break(()))
                .is_continue()
        {
            return;
        }
        let GeofenceState { inside, current } = state.get::<GeofenceState>();
        current.clear();
        let _ = self.visit_containing(p, fleet, |i| {
            current.push(i);
            ControlFlow::<()>::Continue(())
        });
        current.sort_unstable();
        let now = reading.timestamp;
        let vehicle = &reading.vehicle_id;

        inside.retain(|entry| {
            if current.binary_search(&entry.fence).is_ok() {
                return true;
            }
            let fence = &self.fences[entry.fence as usize];
            let stayed = seconds(now - entry.since);
            if entry.dwell_raised {
                out.push(fence.signal(
                    AlertTransition::Cleared,
                    AlertType::GEOFENCE_DWELL,
                    stayed,
                    fence.dwell.map_or(0.0, seconds),
                    format!(
                        "Vehicle {vehicle} left geofence {} after {stayed} s",
                        fence.label()
                    ),
                ));
            }
            if fence.on_exit {
                out.push(fence.signal(
                    AlertTransition::Event,
                    AlertType::GEOFENCE_EXIT,
                    stayed,
                    0.0,
                    format!("Vehicle {vehicle} exited geofence {}", fence.label()),
                ));
            }
            false
        });

        for &i in current.iter() {
            let Err(at) = inside.binary_search_by_key(&i, |e| e.fence) else {
                continue;
            };
            inside.insert(
                at,
                Inside {
                    fence: i,
                    since: now,
                    dwell_raised: false,
                },
            );
            let fence = &self.fences[i as usize];
            if fence.on_enter {
                out.push(fence.signal(
                    AlertTransition::Event,
                    AlertType::GEOFENCE_ENTER,
                    0.0,
                    0.0,
                    format!("Vehicle {vehicle} entered geofence {}", fence.label()),
                ));
            }
        }

        for entry in inside.iter_mut() {
            let fence = &self.fences[entry.fence as usize];
            let Some(limit) = fence.dwell else { continue };
            let stayed = now - entry.since;
            if entry.dwell_raised || stayed <= limit {
                continue;
            }
            entry.dwell_raised = true;
            let (stayed, limit) = (seconds(stayed), seconds(limit));
            out.push(fence.signal(
                AlertTransition::Raised,
                AlertType::GEOFENCE_DWELL,
                stayed,
                limit,
                format!(
                    "Vehicle {vehicle} has been in geofence {} for {stayed} s (limit {limit} s)",
                    fence.label()
                ),
            ));
        }
    }

    /// Claims an open GEOFENCE_DWELL alert of one of this rule's fences (its key is the fence
    /// id): the vehicle counts as inside since it entered (the trigger time less the seconds
    /// inside the alert recorded), with the dwell already raised. The next reading inside signals
    /// nothing (no second ENTER, no second DWELL); the next one outside clears the dwell and
    /// signals the EXIT. ENTER and EXIT are events, never open, so there is nothing else to
    /// take up.
    fn restore(&self, alert: &Alert, state: &mut RuleState) -> bool {
        if alert.alert_type != AlertType::GEOFENCE_DWELL {
            return false;
        }
        let Some(key) = alert.key.as_deref() else {
            return false;
        };
        let Some(i) = self
            .fences
            .iter()
            .position(|f| f.id == key && f.applies_to(&alert.fleet_id))
        else {
            return false;
        };
        let inside_for = if alert.value.is_finite() && alert.value > 0.0 {
            Duration::milliseconds((alert.value * 1000.0).min(1e15) as i64)
        } else {
            self.fences[i].dwell.unwrap_or_else(Duration::zero)
        };
        let entry = Inside {
            fence: i as u32,
            since: alert.triggered_at - inside_for,
            dwell_raised: true,
        };
        let inside = &mut state.get::<GeofenceState>().inside;
        match inside.binary_search_by_key(&entry.fence, |e| e.fence) {
            Ok(at) => inside[at] = entry,
            Err(at) => inside.insert(at, entry),
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{ReadingExt, reading, run};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const BOGOTA: GeoPoint = GeoPoint {
        latitude: 4.711,
        longitude: -74.0721,
    };

    fn pt(latitude: f64, longitude: f64) -> GeoPoint {
        GeoPoint {
            latitude,
            longitude,
        }
    }

    /// A square of side `2 * half` degrees around (lat, lon).
    fn square(id: &str, lat: f64, lon: f64, half: f64) -> Fence {
        Fence::polygon(
            id,
            [
                pt(lat - half, lon - half),
                pt(lat - half, lon + half),
                pt(lat + half, lon + half),
                pt(lat + half, lon - half),
            ],
        )
    }

    /// (transition, type, key) of each signal of each reading.
    type Summary = Vec<Vec<(AlertTransition, String, String)>>;

    fn summarize(signals: &[Vec<AlertSignal>]) -> Summary {
        signals
            .iter()
            .map(|s| {
                s.iter()
                    .map(|s| {
                        (
                            s.transition,
                            s.alert_type.to_string(),
                            s.key.clone().unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .collect()
    }

    fn ev(t: AlertTransition, ty: &str, key: &str) -> (AlertTransition, String, String) {
        (t, ty.to_string(), key.to_string())
    }

    use AlertTransition::{Cleared, Event, Raised};

    #[test]
    fn polygon_enter_and_exit() {
        let rule = GeofenceRule::new(vec![
            square("depot", 4.70, -74.07, 0.01).with_name("Depot North"),
        ])
        .unwrap();
        let at = |s: i64, lat: f64| reading("VH-1", s).with_position(lat, -74.07);
        let signals = run(
            &rule,
            &mut RuleState::default(),
            &[
                at(0, 4.72),
                at(10, 4.70),
                at(20, 4.705),
                at(30, 4.69),
                at(40, 4.60),
            ],
        );
        assert_eq!(
            summarize(&signals),
            vec![
                vec![],
                vec![ev(Event, "GEOFENCE_ENTER", "depot")],
                vec![],
                vec![],
                vec![ev(Event, "GEOFENCE_EXIT", "depot")],
            ]
        );
        assert_eq!(
            signals[1][0].message,
            "Vehicle VH-1 entered geofence Depot North (depot)"
        );
        assert_eq!(signals[4][0].value, 30.0, "seconds spent inside");
        assert_eq!(signals[4][0].severity, Severity::Medium);
    }

    #[test]
    fn the_boundary_counts_as_inside() {
        let rule = GeofenceRule::new(vec![square("sq", 0.0, 0.0, 1.0)]).unwrap();
        let signals = run(
            &rule,
            &mut RuleState::default(),
            &[reading("VH-1", 0).with_position(1.0, 0.5)],
        );
        assert_eq!(signals[0].len(), 1);
    }

    #[test]
    fn first_reading_inside_is_an_enter() {
        let rule = GeofenceRule::new(vec![square("depot", 4.70, -74.07, 0.01)]).unwrap();
        let signals = run(
            &rule,
            &mut RuleState::default(),
            &[reading("VH-1", 0).with_position(4.70, -74.07)],
        );
        assert_eq!(
            summarize(&signals),
            vec![vec![ev(Event, "GEOFENCE_ENTER", "depot")]]
        );
    }

    #[test]
    fn circle_by_metres() {
        let rule = GeofenceRule::new(vec![Fence::circle("yard", BOGOTA, 100.0)]).unwrap();
        let at = |s: i64, metres: f64| {
            let p = geodesy::destination(BOGOTA, 45.0, metres);
            reading("VH-1", s).with_position(p.latitude, p.longitude)
        };
        let signals = run(
            &rule,
            &mut RuleState::default(),
            &[at(0, 101.0), at(1, 99.0), at(2, 0.0), at(3, 100.5)],
        );
        assert_eq!(
            summarize(&signals),
            vec![
                vec![],
                vec![ev(Event, "GEOFENCE_ENTER", "yard")],
                vec![],
                vec![ev(Event, "GEOFENCE_EXIT", "yard")],
            ]
        );
    }

    #[test]
    fn circle_across_the_antimeridian() {
        let rule =
            GeofenceRule::new(vec![Fence::circle("dateline", pt(0.0, 179.9995), 200.0)]).unwrap();
        // 0.001 degrees of longitude at the equator is about 111 m.
        let signals = run(
            &rule,
            &mut RuleState::default(),
            &[reading("VH-1", 0).with_position(0.0, -179.9995)],
        );
        assert_eq!(signals[0].len(), 1);
    }

    #[test]
    fn polygon_holes_are_outside() {
        let ring = |h: f64| LineString::from(vec![(-h, -h), (h, -h), (h, h), (-h, h), (-h, -h)]);
        let donut = Polygon::new(ring(1.0), vec![ring(0.5)]);
        let rule = GeofenceRule::new(vec![Fence::from_geo_polygon("donut", donut)]).unwrap();
        let p = |s: i64, lat: f64| reading("VH-1", s).with_position(lat, 0.0);
        let signals = run(
            &rule,
            &mut RuleState::default(),
            &[p(0, 0.75), p(1, 0.0), p(2, 0.75)],
        );
        assert_eq!(
            summarize(&signals),
            vec![
                vec![ev(Event, "GEOFENCE_ENTER", "donut")],
                vec![ev(Event, "GEOFENCE_EXIT", "donut")],
                vec![ev(Event, "GEOFENCE_ENTER", "donut")],
            ]
        );
    }

    #[test]
    fn dwell_raises_once_after_the_limit_and_clears_on_exit() {
        let rule = GeofenceRule::new(vec![
            square("bay", 4.70, -74.07, 0.01).with_dwell(Duration::seconds(60)),
        ])
        .unwrap();
        let inside = |s: i64| reading("VH-1", s).with_position(4.70, -74.07);
        let signals = run(
            &rule,
            &mut RuleState::default(),
            &[
                inside(0),
                inside(30),
                inside(60), // exactly the limit: not yet
                inside(61),
                inside(90),
                reading("VH-1", 100).with_position(5.0, -74.07),
            ],
        );
        assert_eq!(
            summarize(&signals),
            vec![
                vec![ev(Event, "GEOFENCE_ENTER", "bay")],
                vec![],
                vec![],
                vec![ev(Raised, "GEOFENCE_DWELL", "bay")],
                vec![],
                vec![
                    ev(Cleared, "GEOFENCE_DWELL", "bay"),
                    ev(Event, "GEOFENCE_EXIT", "bay")
                ],
            ]
        );
        let raised = &signals[3][0];
        assert_eq!((raised.value, raised.threshold), (61.0, 60.0));
    }

    #[test]
    fn a_restored_dwell_is_not_entered_or_raised_again_and_clears_on_exit() {
        use crate::rules::episode::open_alert;
        let rule = GeofenceRule::new(vec![
            square("gate", 4.60, -74.07, 0.01),
            square("bay", 4.70, -74.07, 0.01).with_dwell(Duration::seconds(60)),
        ])
        .unwrap();
        let mut state = RuleState::default();
        let dwell = |key: &str| {
            open_alert(
                "VH-1",
                AlertType::GEOFENCE_DWELL,
                Some(key),
                crate::rules::testing::at(61),
                61.0,
            )
        };
        assert!(!rule.restore(&dwell("gone"), &mut state), "no such fence");
        let enter = open_alert(
            "VH-1",
            AlertType::GEOFENCE_ENTER,
            Some("bay"),
            crate::rules::testing::at(0),
            0.0,
        );
        assert!(!rule.restore(&enter, &mut state), "events are not episodes");
        assert!(state.is_empty());
        assert!(rule.restore(&dwell("bay"), &mut state));

        let inside = |s: i64| reading("VH-1", s).with_position(4.70, -74.07);
        let signals = run(
            &rule,
            &mut state,
            &[
                inside(120),
                inside(500),
                reading("VH-1", 600).with_position(4.60, -74.07),
            ],
        );
        assert_eq!(
            summarize(&signals),
            vec![
                vec![],
                vec![],
                vec![
                    ev(Cleared, "GEOFENCE_DWELL", "bay"),
                    ev(Event, "GEOFENCE_EXIT", "bay"),
                    ev(Event, "GEOFENCE_ENTER", "gate"),
                ],
            ]
        );
        assert_eq!(
            signals[2][1].value, 600.0,
            "seconds inside count from the entry before the restart"
        );
    }

    #[test]
    fn a_restored_dwell_of_another_fleets_fence_is_not_claimed() {
        use crate::rules::episode::open_alert;
        let rule = GeofenceRule::new(vec![
            square("bay", 4.70, -74.07, 0.01)
                .with_fleet("fleet-002")
                .with_dwell(Duration::seconds(60)),
        ])
        .unwrap();
        let stored = open_alert(
            "VH-1",
            AlertType::GEOFENCE_DWELL,
            Some("bay"),
            crate::rules::testing::at(61),
            61.0,
        );
        assert!(!rule.restore(&stored, &mut RuleState::default()));
    }

    #[test]
    fn overlapping_fences_and_switched_off_events() {
        let rule = GeofenceRule::new(vec![
            square("site", 4.70, -74.07, 0.05),
            Fence::circle("pump", pt(4.70, -74.07), 500.0).with_exit_events(false),
            square("quiet", 4.70, -74.07, 0.05).with_enter_events(false),
        ])
        .unwrap();
        let at = |s: i64, lat: f64| reading("VH-1", s).with_position(lat, -74.07);
        let signals = run(
            &rule,
            &mut RuleState::default(),
            &[at(0, 4.70), at(1, 4.74), at(2, 4.80)],
        );
        assert_eq!(
            summarize(&signals),
            vec![
                vec![
                    ev(Event, "GEOFENCE_ENTER", "site"),
                    ev(Event, "GEOFENCE_ENTER", "pump")
                ],
                vec![], // left the pump circle, but its exit events are off
                vec![
                    ev(Event, "GEOFENCE_EXIT", "site"),
                    ev(Event, "GEOFENCE_EXIT", "quiet")
                ],
            ]
        );
    }

    #[test]
    fn fleet_scoped_fences_ignore_other_fleets() {
        let rule = GeofenceRule::new(vec![
            square("f2-only", 4.70, -74.07, 0.01).with_fleet("fleet-002"),
        ])
        .unwrap();
        let mut mine = reading("VH-1", 0).with_position(4.70, -74.07);
        let other = mine.clone();
        mine.fleet_id = "fleet-002".to_string();
        let mut state = RuleState::default();
        assert!(run(&rule, &mut state, &[other]).concat().is_empty());
        assert!(
            state.is_empty(),
            "no state for vehicles outside every fence"
        );
        assert_eq!(
            run(&rule, &mut RuleState::default(), &[mine])
                .concat()
                .len(),
            1
        );
    }

    #[test]
    fn state_is_per_vehicle() {
        let rule = GeofenceRule::new(vec![square("depot", 4.70, -74.07, 0.01)]).unwrap();
        let (mut a, mut b) = (RuleState::default(), RuleState::default());
        let inside = |v: &str, s: i64| reading(v, s).with_position(4.70, -74.07);
        let mut out = Vec::new();
        rule.evaluate(&inside("A", 0), &mut a, &mut out);
        rule.evaluate(&inside("B", 0), &mut b, &mut out);
        rule.evaluate(&inside("A", 1), &mut a, &mut out);
        assert_eq!(out.len(), 2, "each vehicle enters once: {out:?}");
        out.clear();
        rule.evaluate(&reading("B", 2).with_position(0.0, 0.0), &mut b, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].alert_type, AlertType::GEOFENCE_EXIT);
        assert!(out[0].message.starts_with("Vehicle B "));
    }

    /// 5,000 fences, half squares and half circles, overlapping; a vehicle wandering among them
    /// must get exactly the enters and exits a brute-force scan of every fence predicts.
    #[test]
    fn many_fences_match_a_brute_force_scan() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let fences: Vec<Fence> = (0..5_000)
            .map(|i| {
                let lat = rng.random_range(4.5..4.9);
                let lon = rng.random_range(-74.3..-73.9);
                let id = format!("f{i}");
                if i % 2 == 0 {
                    square(&id, lat, lon, rng.random_range(0.001..0.02))
                } else {
                    Fence::circle(id, pt(lat, lon), rng.random_range(50.0..2_000.0))
                }
            })
            .collect();
        let rule = GeofenceRule::new(fences.clone()).unwrap();
        let mut state = RuleState::default();
        let mut before: HashSet<String> = HashSet::new();
        let (mut enters, mut exits) = (0, 0);
        let mut p = pt(4.7, -74.1);
        for s in 0..2_000 {
            p = pt(
                (p.latitude + rng.random_range(-0.004..0.004)).clamp(4.45, 4.95),
                (p.longitude + rng.random_range(-0.004..0.004)).clamp(-74.35, -73.85),
            );
            let now: HashSet<String> = fences
                .iter()
                .filter(|f| f.contains(p))
                .map(|f| f.id.clone())
                .collect();
            let mut out = Vec::new();
            rule.evaluate(
                &reading("VH-1", s).with_position(p.latitude, p.longitude),
                &mut state,
                &mut out,
            );
            let keys = |ty: AlertType| -> HashSet<String> {
                out.iter()
                    .filter(|s| s.alert_type == ty)
                    .map(|s| s.key.clone().unwrap())
                    .collect()
            };
            assert_eq!(keys(AlertType::GEOFENCE_ENTER), &now - &before, "step {s}");
            assert_eq!(keys(AlertType::GEOFENCE_EXIT), &before - &now, "step {s}");
            let mut via_index: Vec<_> = rule
                .fences_containing(p, "fleet-001")
                .into_iter()
                .map(|f| f.id.clone())
                .collect();
            via_index.sort();
            let mut brute: Vec<_> = now.iter().cloned().collect();
            brute.sort();
            assert_eq!(via_index, brute, "step {s}");
            enters += (&now - &before).len();
            exits += (&before - &now).len();
            before = now;
        }
        assert!(
            enters > 100 && exits > 100,
            "the walk must cross fences: {enters} {exits}"
        );
    }

    #[test]
    fn validation_names_the_field() {
        let field = |fences: Vec<Fence>| GeofenceRule::new(fences).unwrap_err().field;
        let two = Fence::polygon("two", [pt(0.0, 0.0), pt(1.0, 1.0)]);
        let e = GeofenceRule::new(vec![two]).unwrap_err();
        assert_eq!(e.field, "points");
        assert!(
            e.reason.contains("\"two\""),
            "names the fence: {}",
            e.reason
        );
        assert_eq!(
            field(vec![Fence::polygon(
                "line",
                [pt(0.0, 0.0), pt(1.0, 1.0), pt(2.0, 2.0)]
            )]),
            "points"
        );
        assert_eq!(field(vec![square("north", 90.5, 0.0, 1.0)]), "latitude");
        assert_eq!(
            field(vec![Fence::circle("c", pt(91.0, 0.0), 10.0)]),
            "latitude"
        );
        assert_eq!(
            field(vec![Fence::circle("c", pt(0.0, 181.0), 10.0)]),
            "longitude"
        );
        assert_eq!(field(vec![Fence::circle("c", BOGOTA, 0.0)]), "radius_m");
        assert_eq!(
            field(vec![Fence::circle("c", BOGOTA, f64::NAN)]),
            "radius_m"
        );
        assert_eq!(field(vec![Fence::circle("", BOGOTA, 10.0)]), "id");
        assert_eq!(
            field(vec![
                Fence::circle("c", BOGOTA, 10.0),
                Fence::circle("c", BOGOTA, 20.0)
            ]),
            "id"
        );
        assert_eq!(
            field(vec![
                Fence::circle("c", BOGOTA, 10.0).with_dwell(Duration::zero())
            ]),
            "dwell_secs"
        );
        assert!(
            GeofenceRule::new(Vec::new()).is_ok(),
            "no fences is allowed"
        );
    }
}
