//! The CLI end to end: a fast simulated run into a database file, then `export` of its
//! telemetry to Parquet (read back) and of its alerts to CSV; bad requests exit non-zero with a
//! message that says what is wrong.

use std::process::{Command, Output};

use chrono::{Duration, SecondsFormat, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_embedded-fleet"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("running embedded-fleet")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_run_is_exported_to_parquet_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fleet.db");
    let db = db.to_str().unwrap();
    let from = (Utc::now() - Duration::minutes(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    // 4 vehicles, a reading every 500 ms, 20 simulated seconds: 160 readings.
    let run = cli(&[
        "--vehicles",
        "4",
        "--fast",
        "--duration-secs",
        "20",
        "--scenario",
        "fault-injection",
        "--db",
        db,
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).starts_with("160 readings stored"),
        "{}",
        text(&run.stdout)
    );
    let to = (Utc::now() + Duration::minutes(5)).to_rfc3339_opts(SecondsFormat::Secs, true);

    let parquet = dir.path().join("telemetry.parquet");
    let out = cli(&[
        "export",
        "telemetry",
        "--db",
        db,
        "--from",
        &from,
        "--to",
        &to,
        "--out",
        parquet.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("160 telemetry records of fleet-demo-001 written to"),
        "{}",
        text(&out.stdout)
    );
    let file = std::fs::File::open(&parquet).unwrap();
    let rows: usize = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 160);

    let csv = dir.path().join("alerts.csv");
    let out = cli(&[
        "export",
        "alerts",
        "--db",
        db,
        "--from",
        &from,
        "--to",
        &to,
        "--out",
        csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&csv).unwrap();
    assert!(
        written.starts_with("id,vehicle_id,fleet_id,alert_type,"),
        "{written}"
    );

    // The daily report: per-vehicle totals printed, the vehicle-days written to a file.
    let day = |days: i64| (Utc::now() + Duration::days(days)).date_naive().to_string();
    let (yesterday, tomorrow) = (day(-1), day(1));
    let out = cli(&[
        "report", "--db", db, "--from", &yesterday, "--to", &tomorrow,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines.len(),
        6,
        "a header, 4 vehicles and the fleet: {printed}"
    );
    assert!(lines[0].starts_with("vehicle"), "{printed}");
    assert!(lines[1].starts_with("fleet-demo-001-VH-"), "{printed}");
    let fleet: Vec<&str> = lines[5].split_whitespace().collect();
    assert_eq!(fleet[..2], ["fleet", "160"], "{printed}");
    let report = dir.path().join("report.csv");
    let out = cli(&[
        "report",
        "--db",
        db,
        "--from",
        &yesterday,
        "--to",
        &tomorrow,
        "--utc-offset-minutes",
        "-300",
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&report).unwrap();
    assert!(written.starts_with("day,vehicle_id,readings,"), "{written}");
    let readings: u64 = written
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(readings, 160, "{written}");
    for (args, says) in [
        (vec!["report", "--db", db, "--from", "2026-13-01"], "--from"),
        (
            vec!["report", "--db", db, "--utc-offset-minutes", "-900"],
            "utc_offset_minutes",
        ),
    ] {
        let out = cli(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }

    // What is wrong, said plainly.
    for (args, says) in [
        (
            vec!["export", "audit", "--db", db, "--out", "x.csv"],
            "unknown export `audit`",
        ),
        (
            vec!["export", "alerts", "--db", db, "--out", "x.xlsx"],
            "name a .csv or .parquet",
        ),
        (
            vec![
                "export",
                "alerts",
                "--db",
                db,
                "--fleet-id",
                "nope",
                "--out",
                "x.csv",
            ],
            "nope",
        ),
        (
            vec!["export", "alerts", "--db", "/no/such.db", "--out", "x.csv"],
            "run the simulation",
        ),
    ] {
        let out = cli(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}
