//! Daily reports: what each vehicle of a fleet did on each calendar day of its site — distance,
//! time driving, idle, stopped and charging, speeds, alerts and completed missions.
//!
//! Days are the site's: `utc_offset_minutes` says where its midnight falls. Telemetry figures
//! come from the stores' per-minute rollups (a day of a vehicle reporting every second is 1,440
//! rows, not 86,400), alerts and missions from the repository.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Alert, Mission, MissionStatus, TimeRange};
use crate::error::ValidationError;

/// Longest report, in days.
pub const MAX_REPORT_DAYS: i64 = 366;

/// Offsets from UTC that exist somewhere (UTC−12:00 to UTC+14:00), in minutes.
pub const UTC_OFFSET_MINUTES: std::ops::RangeInclusive<i32> = -720..=840;

/// Which days a report covers: `from` to `to`, both included, as calendar days of a site whose
/// clocks are `utc_offset_minutes` ahead of UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportQuery {
    pub fleet_id: String,
    /// Only this vehicle; `None` for every vehicle of the fleet.
    pub vehicle_id: Option<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub utc_offset_minutes: i32,
}

impl ReportQuery {
    /// Checks the days and the offset (errors name the field).
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.from > self.to {
            return Err(ValidationError::new(
                "from",
                "`from` must not be after `to`",
            ));
        }
        let days = self.days();
        if days > MAX_REPORT_DAYS {
            return Err(ValidationError::new(
                "to",
                format!("a report covers at most {MAX_REPORT_DAYS} days (asked for {days})"),
            ));
        }
        if !UTC_OFFSET_MINUTES.contains(&self.utc_offset_minutes) {
            return Err(ValidationError::new(
                "utc_offset_minutes",
                "must be between -720 (UTC-12:00) and 840 (UTC+14:00)",
            ));
        }
        // The instants must exist: the first and last day ± the offset.
        if self.first_instant().is_none() || self.end_instant().is_none() {
            return Err(ValidationError::new("from", "the days are out of range"));
        }
        Ok(())
    }

    /// Reads a day written `YYYY-MM-DD` (what the bindings and the CLI take); the error names
    /// `field`.
    pub fn parse_day(field: &'static str, text: &str) -> Result<NaiveDate, ValidationError> {
        NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
            ValidationError::new(field, format!("`{text}` is not a day; write it YYYY-MM-DD"))
        })
    }

    /// Number of days covered.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    fn offset(&self) -> Duration {
        Duration::minutes(i64::from(self.utc_offset_minutes))
    }

    /// The site's midnight starting `day`, in UTC.
    fn midnight(&self, day: NaiveDate) -> Option<DateTime<Utc>> {
        day.and_hms_opt(0, 0, 0)?
            .and_utc()
            .checked_sub_signed(self.offset())
    }

    fn first_instant(&self) -> Option<DateTime<Utc>> {
        self.midnight(self.from)
    }

    /// The site's midnight ending the last day (excluded from the report).
    fn end_instant(&self) -> Option<DateTime<Utc>> {
        self.midnight(self.to.succ_opt()?)
    }

    /// The instants covered, inclusive: from the first day's midnight to one microsecond before
    /// the midnight after the last day. Only for a validated query.
    pub fn range(&self) -> TimeRange {
        let from = self.first_instant().expect("a validated report query");
        let to = self.end_instant().expect("a validated report query") - Duration::microseconds(1);
        TimeRange { from, to }
    }

    /// The site's calendar day holding `t`.
    pub fn day_of(&self, t: DateTime<Utc>) -> NaiveDate {
        (t + self.offset()).date_naive()
    }
}

/// What a vehicle, a fleet or a day adds up to. Times are seconds of observed time: each minute
/// with readings counts 60 s, shared between the statuses its readings had (a minute without
/// readings counts nowhere). Driving is status MOVING; `other_s` is ALERT, LOW_BATTERY and
/// OFFLINE.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportFigures {
    pub readings: u64,
    pub distance_km: f64,
    pub driving_s: f64,
    pub idle_s: f64,
    pub stopped_s: f64,
    pub charging_s: f64,
    pub other_s: f64,
    /// `None` without readings.
    pub avg_speed_kmh: Option<f64>,
    pub max_speed_kmh: Option<f64>,
    /// Alerts raised.
    pub alerts: u64,
    pub alerts_by_type: BTreeMap<String, u64>,
    pub missions_completed: u64,
}

impl ReportFigures {
    /// Adds `other` (average speed weighted by readings).
    pub fn add(&mut self, other: &ReportFigures) {
        let readings = self.readings + other.readings;
        self.avg_speed_kmh = match (self.avg_speed_kmh, other.avg_speed_kmh) {
            (Some(a), Some(b)) if readings > 0 => {
                Some((a * self.readings as f64 + b * other.readings as f64) / readings as f64)
            }
            (a, b) => a.or(b),
        };
        self.max_speed_kmh = match (self.max_speed_kmh, other.max_speed_kmh) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.readings = readings;
        self.distance_km += other.distance_km;
        self.driving_s += other.driving_s;
        self.idle_s += other.idle_s;
        self.stopped_s += other.stopped_s;
        self.charging_s += other.charging_s;
        self.other_s += other.other_s;
        self.alerts += other.alerts;
        for (alert_type, n) in &other.alerts_by_type {
            *self.alerts_by_type.entry(alert_type.clone()).or_default() += n;
        }
        self.missions_completed += other.missions_completed;
    }
}

/// One vehicle on one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleDay {
    pub vehicle_id: String,
    pub day: NaiveDate,
    #[serde(flatten)]
    pub figures: ReportFigures,
}

/// The whole fleet on one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetDay {
    pub day: NaiveDate,
    #[serde(flatten)]
    pub figures: ReportFigures,
}

/// One vehicle over the whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehicleTotals {
    pub vehicle_id: String,
    #[serde(flatten)]
    pub figures: ReportFigures,
}

/// A fleet's report over days: the fleet's totals, per day, per vehicle and per vehicle-day.
/// Days and vehicles without readings, alerts or missions are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetReport {
    pub fleet_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub utc_offset_minutes: i32,
    pub fleet: ReportFigures,
    /// Oldest day first.
    pub fleet_days: Vec<FleetDay>,
    /// Longest distance first, then by vehicle id.
    pub vehicles: Vec<VehicleTotals>,
    /// By day, then vehicle id.
    pub days: Vec<VehicleDay>,
}

/// Gathers a report's parts — the store's telemetry days, then alerts and missions as they are
/// read page by page — into a [`FleetReport`].
#[derive(Debug)]
pub struct FleetReportBuilder {
    query: ReportQuery,
    range: TimeRange,
    days: HashMap<(NaiveDate, String), ReportFigures>,
}

impl FleetReportBuilder {
    /// For a validated query.
    pub fn new(query: ReportQuery) -> Self {
        let range = query.range();
        FleetReportBuilder {
            query,
            range,
            days: HashMap::new(),
        }
    }

    fn wanted(&self, vehicle_id: &str) -> bool {
        self.query
            .vehicle_id
            .as_deref()
            .is_none_or(|v| v == vehicle_id)
    }

    fn day(&mut self, day: NaiveDate, vehicle_id: &str) -> &mut ReportFigures {
        self.days.entry((day, vehicle_id.to_string())).or_default()
    }

    /// Adds a vehicle-day of telemetry figures, as a store computed it.
    pub fn add_telemetry(&mut self, day: VehicleDay) {
        if self.wanted(&day.vehicle_id) {
            self.day(day.day, &day.vehicle_id).add(&day.figures);
        }
    }

    /// Counts an alert raised inside the report.
    pub fn add_alert(&mut self, alert: &Alert) {
        if !self.wanted(&alert.vehicle_id) || !self.range.contains(alert.triggered_at) {
            return;
        }
        let day = self.query.day_of(alert.triggered_at);
        let figures = self.day(day, &alert.vehicle_id);
        figures.alerts += 1;
        *figures
            .alerts_by_type
            .entry(alert.alert_type.as_str().to_string())
            .or_default() += 1;
    }

    /// Counts a mission if it completed inside the report.
    pub fn add_mission(&mut self, mission: &Mission) {
        let Some(completed_at) = mission.completed_at else {
            return;
        };
        if mission.status != MissionStatus::Completed
            || !self.wanted(&mission.vehicle_id)
            || !self.range.contains(completed_at)
        {
            return;
        }
        let day = self.query.day_of(completed_at);
        self.day(day, &mission.vehicle_id).missions_completed += 1;
    }

    pub fn finish(self) -> FleetReport {
        let mut days: Vec<VehicleDay> = self
            .days
            .into_iter()
            .map(|((day, vehicle_id), figures)| VehicleDay {
                vehicle_id,
                day,
                figures,
            })
            .collect();
        days.sort_by(|a, b| (a.day, &a.vehicle_id).cmp(&(b.day, &b.vehicle_id)));

        let mut fleet = ReportFigures::default();
        let mut fleet_days: BTreeMap<NaiveDate, ReportFigures> = BTreeMap::new();
        let mut vehicles: BTreeMap<&str, ReportFigures> = BTreeMap::new();
        for d in &days {
            fleet.add(&d.figures);
            fleet_days.entry(d.day).or_default().add(&d.figures);
            vehicles.entry(&d.vehicle_id).or_default().add(&d.figures);
        }
        let mut vehicles: Vec<VehicleTotals> = vehicles
            .into_iter()
            .map(|(vehicle_id, figures)| VehicleTotals {
                vehicle_id: vehicle_id.to_string(),
                figures,
            })
            .collect();
        vehicles.sort_by(|a, b| {
            b.figures
                .distance_km
                .total_cmp(&a.figures.distance_km)
                .then_with(|| a.vehicle_id.cmp(&b.vehicle_id))
        });
        FleetReport {
            fleet_id: self.query.fleet_id,
            from: self.query.from,
            to: self.query.to,
            utc_offset_minutes: self.query.utc_offset_minutes,
            fleet,
            fleet_days: fleet_days
                .into_iter()
                .map(|(day, figures)| FleetDay { day, figures })
                .collect(),
            vehicles,
            days,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AlertType, Severity};

    fn query(from: &str, to: &str, offset: i32) -> ReportQuery {
        ReportQuery {
            fleet_id: "f".into(),
            vehicle_id: None,
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
            utc_offset_minutes: offset,
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn days_are_the_sites_calendar_days() {
        // Bogotá (UTC−5): 2026-11-02 runs from 05:00 UTC to 05:00 UTC the next day.
        let q = query("2026-11-02", "2026-11-03", -300);
        q.validate().unwrap();
        assert_eq!(q.days(), 2);
        let range = q.range();
        assert_eq!(range.from, at("2026-11-02T05:00:00Z"));
        assert_eq!(range.to, at("2026-11-04T04:59:59.999999Z"));
        assert_eq!(
            q.day_of(at("2026-11-03T04:59:59Z")).to_string(),
            "2026-11-02"
        );
        assert_eq!(
            q.day_of(at("2026-11-03T05:00:00Z")).to_string(),
            "2026-11-03"
        );
    }

    #[test]
    fn days_parse_as_iso_dates_only() {
        assert_eq!(
            ReportQuery::parse_day("from", "2026-11-02")
                .unwrap()
                .to_string(),
            "2026-11-02"
        );
        for bad in ["2026-11-02 10:00:00", "02/11/2026", "", "2026-13-01"] {
            assert_eq!(
                ReportQuery::parse_day("from", bad).unwrap_err().field,
                "from"
            );
        }
    }

    #[test]
    fn bad_queries_name_the_field() {
        assert_eq!(
            query("2026-11-03", "2026-11-02", 0)
                .validate()
                .unwrap_err()
                .field,
            "from"
        );
        assert_eq!(
            query("2025-01-01", "2026-01-02", 0)
                .validate()
                .unwrap_err()
                .field,
            "to"
        );
        assert_eq!(
            query("2026-11-01", "2026-11-01", 900)
                .validate()
                .unwrap_err()
                .field,
            "utc_offset_minutes"
        );
        assert!(query("2025-01-01", "2025-12-31", 840).validate().is_ok());
    }

    fn figures(readings: u64, avg: f64, max: f64, km: f64) -> ReportFigures {
        ReportFigures {
            readings,
            distance_km: km,
            driving_s: 60.0,
            avg_speed_kmh: Some(avg),
            max_speed_kmh: Some(max),
            ..ReportFigures::default()
        }
    }

    #[test]
    fn adding_weights_the_average_speed_by_readings() {
        let mut a = figures(1, 10.0, 10.0, 1.0);
        a.add(&figures(3, 20.0, 25.0, 2.0));
        assert_eq!(a.readings, 4);
        assert_eq!(a.avg_speed_kmh, Some(17.5));
        assert_eq!(a.max_speed_kmh, Some(25.0));
        assert_eq!(a.distance_km, 3.0);
        assert_eq!(a.driving_s, 120.0);
        let mut empty = ReportFigures::default();
        empty.add(&a);
        assert_eq!(empty, a);
    }

    fn alert(vehicle: &str, alert_type: &str, triggered_at: &str) -> Alert {
        Alert {
            id: format!("{vehicle}-{triggered_at}"),
            vehicle_id: vehicle.into(),
            fleet_id: "f".into(),
            alert_type: AlertType::custom(alert_type),
            severity: Severity::Medium,
            value: 0.0,
            threshold: 0.0,
            message: String::new(),
            key: None,
            triggered_at: at(triggered_at),
            cleared_at: None,
            acknowledged: false,
            acknowledged_by: None,
            acknowledged_at: None,
            notes: None,
        }
    }

    #[test]
    fn the_builder_puts_each_part_on_its_day_and_totals_them() {
        let q = query("2026-11-02", "2026-11-03", -300);
        let mut b = FleetReportBuilder::new(q);
        let day = |d: &str| d.parse::<NaiveDate>().unwrap();
        b.add_telemetry(VehicleDay {
            vehicle_id: "A".into(),
            day: day("2026-11-02"),
            figures: figures(2, 10.0, 12.0, 1.0),
        });
        b.add_telemetry(VehicleDay {
            vehicle_id: "B".into(),
            day: day("2026-11-03"),
            figures: figures(2, 30.0, 40.0, 5.0),
        });
        // 02:00 UTC on the 3rd is still the 2nd in Bogotá.
        b.add_alert(&alert("A", "OVERSPEED", "2026-11-03T02:00:00Z"));
        b.add_alert(&alert("A", "OVERSPEED", "2026-11-03T06:00:00Z"));
        b.add_alert(&alert("B", "LOW_BATTERY", "2026-11-03T06:00:00Z"));
        // Before the report (04:59 UTC on the 2nd is the 1st in Bogotá).
        b.add_alert(&alert("B", "LOW_BATTERY", "2026-11-02T04:59:00Z"));

        let report = b.finish();
        assert_eq!(
            report
                .days
                .iter()
                .map(|d| (d.day.to_string(), d.vehicle_id.as_str(), d.figures.alerts))
                .collect::<Vec<_>>(),
            vec![
                ("2026-11-02".to_string(), "A", 1),
                ("2026-11-03".to_string(), "A", 1),
                ("2026-11-03".to_string(), "B", 1),
            ]
        );
        assert_eq!(report.vehicles[0].vehicle_id, "B", "longest distance first");
        assert_eq!(report.fleet.readings, 4);
        assert_eq!(report.fleet.distance_km, 6.0);
        assert_eq!(report.fleet.avg_speed_kmh, Some(20.0));
        assert_eq!(report.fleet.alerts_by_type["OVERSPEED"], 2);
        assert_eq!(report.fleet.alerts_by_type["LOW_BATTERY"], 1);
        assert_eq!(report.fleet_days.len(), 2);
        assert_eq!(report.fleet_days[1].figures.alerts, 2);
    }
}
