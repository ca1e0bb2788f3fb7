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
