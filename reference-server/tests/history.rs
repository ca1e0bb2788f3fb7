//! Looking back through the API: a vehicle's simplified path for trip playback, a fleet at a
//! past instant with the alerts open then, and the same history as CSV and Parquet downloads.
//! Readings are injected with timestamps an hour ago, so the demo's simulated vehicles (which
//! report from now on) are not part of the past.

mod common;

use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use vehicleops_core::Telemetry;

const VEHICLE: &str = "fleet-001-VH-050";

/// Reading `i` of an L-shaped drive: 100 readings north, then 100 east, one a second from
/// `base`; 1.1 m apart. Readings 60..=65 are over the speed limit (an OVERSPEED episode that
/// the reading at 66 clears) and 120..=129 are IDLE.
fn drive(base: DateTime<Utc>, i: u64) -> Telemetry {
    let step = 0.00001;
    let (north, east) = if i < 100 {
        (i as f64, 0.0)
    } else {
        (99.0, (i - 99) as f64)
    };
    serde_json::from_value(json!({
        "vehicle_id": VEHICLE,
        "fleet_id": "fleet-001",
        "latitude": 4.70 + north * step,
        "longitude": -74.08 + east * step,
        "speed_kmh": if (60..=65).contains(&i) { 95.0 } else { 10.0 },
        "battery_pct": 80.0,
        "engine_temp_c": 70.0,
        "load_pct": 50.0,
        "status": if (120..130).contains(&i) { "IDLE" } else { "MOVING" },
        "timestamp": base + Duration::seconds(i as i64),
        "seq": i,
    }))
    .unwrap()
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn second_of(base: DateTime<Utc>, point: &Value) -> i64 {
    let t: DateTime<Utc> = point["timestamp"].as_str().unwrap().parse().unwrap();
    (t - base).num_seconds()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_fleet_snapshots_and_exports_of_the_past() {
    // A retention policy long enough to keep this test's data: it runs at start and shows in
    // /metrics.
    let s = TestServer::start(&[
        "--retention-alerts-days",
        "400",
        "--retention-commands-days",
        "400",
    ])
    .await;
    let operator = s.token("operator").await;
    let base = (Utc::now() - Duration::hours(1))
        .duration_trunc(Duration::seconds(1))
        .unwrap();
    s.inject((0..200).map(|i| drive(base, i)).collect()).await;
    let window = format!(
        "from={}&to={}",
        iso(base - Duration::minutes(1)),
        iso(base + Duration::minutes(10))
    );
    let path = eventually("the drive is stored", || async {
        let (st, b) = s
            .get(
                &format!("/api/v1/telemetry/{VEHICLE}/path?{window}&tolerance_m=1"),
                &operator,
            )
            .await;
        (st == StatusCode::OK && b["readings"] == 200).then_some(b)
    })
    .await;

    // The path: its ends, the corner, and where the status changed (IDLE from 120, MOVING
    // again from 130); the straight stretches in between are dropped.
    let seconds: Vec<i64> = path["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| second_of(base, p))
        .collect();
    assert_eq!(seconds, [0, 99, 120, 130, 199], "{path}");
    assert_eq!(path["vehicle_id"], VEHICLE);
    assert_eq!(path["tolerance_m"], 1.0);
    assert_eq!(path["points"][2]["status"], "IDLE");
    for key in ["latitude", "longitude", "speed_kmh", "heading_deg"] {
        assert!(path["points"][0][key].is_number(), "{key} in {path}");
    }
    let (st, all) = s
        .get(
            &format!("/api/v1/telemetry/{VEHICLE}/path?{window}&tolerance_m=0"),
            &operator,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(all["points"].as_array().unwrap().len(), 200);

    for (query, field) in [
        (format!("{window}&tolerance_m=-1"), "tolerance_m"),
        (format!("{window}&tolerance_m=5000"), "tolerance_m"),
        (format!("{window}&tolerance_m=wide"), "tolerance_m"),
        (
            format!("from={}&to={}", iso(base - Duration::days(8)), iso(base)),
            "from",
        ),
    ] {
        let (st, b) = s
            .get(
                &format!("/api/v1/telemetry/{VEHICLE}/path?{query}"),
                &operator,
            )
            .await;
        assert_eq!(
            assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
            Some(field),
            "{query}: {b}"
        );
    }

    // The fleet at instants of the drive: where the vehicle was, and the OVERSPEED episode
    // open from 60 until the reading at 66 cleared it.
    let snapshot = |second: i64| {
        let (s, operator) = (&s, &operator);
        async move {
            let at = iso(base + Duration::seconds(second));
            let (st, b) = s
                .get(
                    &format!("/api/v1/fleet/fleet-001/snapshot?at={at}"),
                    operator,
                )
                .await;
            assert_eq!(st, StatusCode::OK, "{b}");
            b
        }
    };
    let mine = |b: &Value, list: &str| -> Vec<Value> {
        b[list]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["vehicle_id"] == VEHICLE)
            .cloned()
            .collect()
    };
    let before = snapshot(-1).await;
    assert!(mine(&before, "vehicles").is_empty(), "{before}");
    let during = snapshot(63).await;
    let vehicles = mine(&during, "vehicles");
    assert_eq!(vehicles.len(), 1, "{during}");
    assert_eq!(second_of(base, &vehicles[0]), 63);
    assert_eq!(vehicles[0]["speed_kmh"], 95.0);
    let alerts = mine(&during, "open_alerts");
    assert_eq!(alerts.len(), 1, "{during}");
    assert_eq!(alerts[0]["alert_type"], "OVERSPEED");
    let at_start: DateTime<Utc> = alerts[0]["triggered_at"].as_str().unwrap().parse().unwrap();
    assert_eq!((at_start - base).num_seconds(), 60);
    let after = snapshot(100).await;
    assert_eq!(second_of(base, &mine(&after, "vehicles")[0]), 100);
    assert!(mine(&after, "open_alerts").is_empty(), "{after}");
    assert_eq!(after["fleet_id"], "fleet-001");

    // Access first, then the fleet, then the instant.
    let (st, b) = s
        .get(
            "/api/v1/fleet/fleet-003/snapshot?at=2026-01-01T00:00:00Z",
            &operator,
        )
        .await;
    assert_error(st, &b, StatusCode::FORBIDDEN, "FORBIDDEN");
    let admin = s.token("admin").await;
    let (st, b) = s
        .get(
            "/api/v1/fleet/fleet-404/snapshot?at=2026-01-01T00:00:00Z",
            &admin,
        )
        .await;
    assert_error(st, &b, StatusCode::NOT_FOUND, "NOT_FOUND");
    for query in ["", "?at=yesterday", "?at=2200-01-01T00:00:00Z"] {
        let (st, b) = s
            .get(
                &format!("/api/v1/fleet/fleet-001/snapshot{query}"),
                &operator,
            )
            .await;
        assert_eq!(
            assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
            Some("at"),
            "{query}: {b}"
        );
    }

    // The same drive as a download: CSV and Parquet, one vehicle or the whole fleet, with the
    // OVERSPEED episode among the fleet's alerts.
    let export = |query: String| {
        let (s, operator) = (&s, &operator);
        async move {
            let r = s
                .http
                .get(s.url(&format!("/api/v1/export/{query}")))
                .bearer_auth(operator)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let header = |name: &str| {
                r.headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default()
            };
            let (kind, disposition) = (header("content-type"), header("content-disposition"));
            (status, kind, disposition, r.bytes().await.unwrap())
        }
    };
    let mine = format!("fleet_id=fleet-001&vehicle_id={VEHICLE}&{window}");
    let (st, kind, disposition, body) = export(format!("telemetry?{mine}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(kind, "text/csv; charset=utf-8");
    assert!(
        disposition.starts_with("attachment; filename=\"fleet-001_fleet-001-VH-050_telemetry_")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let text = String::from_utf8(body.to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 201, "a header and the 200 readings");
    assert!(
        lines[0].starts_with("vehicle_id,fleet_id,timestamp,seq,"),
        "{}",
        lines[0]
    );
    assert!(
        lines[61].starts_with(&format!("{VEHICLE},fleet-001,")),
        "{}",
        lines[61]
    );
    assert_eq!(
        lines[61].split(',').nth(6),
        Some("95"),
        "speed of reading 60"
    );

    let (st, kind, disposition, body) = export(format!("telemetry?{mine}&format=parquet")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(kind, "application/vnd.apache.parquet");
    assert!(disposition.ends_with(".parquet\""), "{disposition}");
    let rows: usize = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(body)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 200);

    let (st, _, _, body) = export(format!("alerts?fleet_id=fleet-001&{window}")).await;
    assert_eq!(st, StatusCode::OK);
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains(&format!(",{VEHICLE},fleet-001,OVERSPEED,"))),
        "{text}"
    );

    let metrics = eventually("the retention run at start", || async {
        let text = s
            .http
            .get(s.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.contains("vehicleops_retention_runs_total 1")
            .then_some(text)
    })
    .await;
    for line in [
        "vehicleops_retention_failures_total 0",
        "vehicleops_retention_removed_total{kind=\"alerts\"} 0",
        "vehicleops_retention_last_run_timestamp_seconds ",
    ] {
        assert!(metrics.contains(line), "{line} missing from /metrics");
    }

    // Access first (the fleet), then what was asked.
    let (st, _, _, body) = export(format!("telemetry?fleet_id=fleet-003&{window}")).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{body:?}");
    let (st, b) = s
        .get(
            &format!("/api/v1/export/alerts?fleet_id=fleet-001&vehicle_id=VH-404&{window}"),
            &operator,
        )
        .await;
    assert_error(st, &b, StatusCode::NOT_FOUND, "NOT_FOUND");
    for (query, field) in [
        (format!("audit?fleet_id=fleet-001&{window}"), "kind"),
        (
            format!("alerts?fleet_id=fleet-001&format=xlsx&{window}"),
            "format",
        ),
        (
            format!(
                "telemetry?fleet_id=fleet-001&from={}&to={}",
                iso(base - Duration::days(400)),
                iso(base)
            ),
            "from",
        ),
        (window.clone(), "fleet_id"),
    ] {
        let path = if field == "fleet_id" {
            format!("/api/v1/export/alerts?{query}")
        } else {
            format!("/api/v1/export/{query}")
        };
        let (st, b) = s.get(&path, &operator).await;
        assert_eq!(
            assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
            Some(field),
            "{query}: {b}"
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_reports_of_a_past_day_as_json_and_files() {
    let s = TestServer::start(&[]).await;
    let operator = s.token("operator").await;
    // Noon UTC three days ago: the whole drive is on one day, before the demo's live readings.
    let base = (Utc::now() - Duration::days(3))
        .duration_trunc(Duration::days(1))
        .unwrap()
        + Duration::hours(12);
    let day = base.date_naive();
    s.inject((0..200).map(|i| drive(base, i)).collect()).await;
    let report_url =
        |query: &str| format!("/api/v1/reports/fleet/fleet-001?from={day}&to={day}&{query}");
    // The alert is stored a moment after the readings.
    let report = eventually("the drive and its alert are in the report", || async {
        let (st, b) = s
            .get(&report_url(&format!("vehicle_id={VEHICLE}")), &operator)
            .await;
        (st == StatusCode::OK && b["fleet"]["readings"] == 200 && b["fleet"]["alerts"] == 1)
            .then_some(b)
    })
    .await;
    assert_eq!(report["from"], day.to_string());
    assert_eq!(report["utc_offset_minutes"], 0);
    let fleet = &report["fleet"];
    // Four minutes with readings (12:00–12:03): 240 s, ten readings of the third IDLE.
    let seconds = |key: &str| fleet[key].as_f64().unwrap();
    assert!(
        (seconds("driving_s") + seconds("idle_s") + seconds("other_s") - 240.0).abs() < 1e-6,
        "{fleet}"
    );
    assert!((seconds("idle_s") - 10.0).abs() < 1e-6, "{fleet}");
    let km = seconds("distance_km");
    assert!((0.15..0.3).contains(&km), "about 1.1 m × 199 steps: {km}");
    assert_eq!(fleet["max_speed_kmh"], 95.0);
    assert_eq!(fleet["alerts_by_type"]["OVERSPEED"], 1, "{fleet}");
    assert_eq!(report["vehicles"][0]["vehicle_id"], VEHICLE);
    assert_eq!(report["days"][0]["day"], day.to_string());
    assert_eq!(report["fleet_days"].as_array().unwrap().len(), 1);

    // The same days as a file.
    let r = s
        .http
        .get(s.url(&report_url(&format!("vehicle_id={VEHICLE}&format=csv"))))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        disposition,
        format!("attachment; filename=\"fleet-001_{VEHICLE}_report_{day}_{day}.csv\"")
    );
    let text = r.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("day,vehicle_id,readings,distance_km,"));
    assert!(
        lines[1].starts_with(&format!("{day},{VEHICLE},200,")),
        "{text}"
    );

    // Access first, then what was asked.
    let (st, _) = s
        .get(
            &format!("/api/v1/reports/fleet/fleet-003?from={day}&to={day}"),
            &operator,
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    for (query, field) in [
        ("utc_offset_minutes=900".to_string(), "utc_offset_minutes"),
        ("format=xlsx".to_string(), "format"),
    ] {
        let (st, b) = s.get(&report_url(&query), &operator).await;
        assert_eq!(
            assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
            Some(field),
            "{query}: {b}"
        );
    }
    let (st, b) = s.get(&report_url("vehicle_id=VH-404"), &operator).await;
    assert_error(st, &b, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (st, b) = s
        .get(
            "/api/v1/reports/fleet/fleet-001?from=2025-01-01&to=2026-06-01",
            &operator,
        )
        .await;
    assert_eq!(
        assert_error(st, &b, StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE").as_deref(),
        Some("to"),
        "{b}"
    );
    let (st, b) = s
        .get("/api/v1/reports/fleet/fleet-001?from=yesterday", &operator)
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    s.stop().await;
}
