//! Encoding of readings in PostgreSQL's binary `COPY` format.
//!
//! The format is simple (a signature, then per row a field count and length-prefixed big-endian
//! values) and saves the server from parsing text: this is the fastest way to load rows.

use chrono::{DateTime, Utc};
use vehicleops_core::{Error, Reading, Result};

/// The columns of the staging table, in the order [`encode_readings`] writes them.
pub const STAGING_COLUMNS: &str = "vehicle_id, fleet_id, time, seq, latitude, longitude, \
     speed_kmh, battery_pct, engine_temp_c, load_pct, heading_deg, status, distance_m, \
     pose_x, pose_y, pose_theta, pose_map_id";

const FIELDS_PER_ROW: i16 = 17;

/// Signature, flags (no OIDs) and an empty header extension.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Microseconds from the Unix epoch to PostgreSQL's epoch, 2000-01-01T00:00:00Z.
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// Encodes `readings` as one binary `COPY` stream, trailer included, for a table with the
/// columns [`STAGING_COLUMNS`] in that order (e.g. `vehicleops.telemetry`).
///
/// Fails with a validation error for a `seq` that does not fit PostgreSQL's `bigint`.
pub fn encode_readings(readings: &[Reading]) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(HEADER.len() + readings.len() * 200 + 2);
    buf.extend_from_slice(HEADER);
    for reading in readings {
        let t = &reading.telemetry;
        buf.extend_from_slice(&FIELDS_PER_ROW.to_be_bytes());
        put_text(&mut buf, &t.vehicle_id);
        put_text(&mut buf, &t.fleet_id);
        put_i64(&mut buf, pg_timestamp(t.timestamp));
        put_i64(&mut buf, seq_to_bigint(t.seq)?);
        for value in [
            t.latitude,
            t.longitude,
            t.speed_kmh,
            t.battery_pct,
            t.engine_temp_c,
            t.load_pct,
            t.heading_deg,
        ] {
            put_f64(&mut buf, value);
        }
        put_text(&mut buf, t.status.as_str());
        put_f64(&mut buf, reading.distance_m);
        match &t.pose {
            Some(pose) => {
                put_f64(&mut buf, pose.x);
                put_f64(&mut buf, pose.y);
                put_f64(&mut buf, pose.theta);
                put_text(&mut buf, &pose.map_id);
            }
            None => (0..4).for_each(|_| put_null(&mut buf)),
        }
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    Ok(buf)
}

/// `seq` as stored: PostgreSQL has no unsigned 64-bit integer.
pub(crate) fn seq_to_bigint(seq: u64) -> Result<i64> {
    i64::try_from(seq).map_err(|_| {
        Error::validation(
            "seq",
            format!("sequence number {seq} is larger than {}", i64::MAX),
        )
    })
}

/// A timestamp as PostgreSQL's binary `timestamptz`: microseconds since 2000-01-01 UTC.
fn pg_timestamp(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros() - PG_EPOCH_OFFSET_MICROS
}

fn put_text(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as i32).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_i64(buf: &mut Vec<u8>, v: i64) {
    buf.extend_from_slice(&8i32.to_be_bytes());
    buf.extend_from_slice(&v.to_be_bytes());
}

fn put_f64(buf: &mut Vec<u8>, v: f64) {
    buf.extend_from_slice(&8i32.to_be_bytes());
    buf.extend_from_slice(&v.to_be_bytes());
}

fn put_null(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&(-1i32).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use vehicleops_core::{Telemetry, VehicleStatus};

    fn reading(seq: u64) -> Reading {
        Reading {
            telemetry: Telemetry {
                vehicle_id: "VH-1".into(),
                fleet_id: "F".into(),
                latitude: 1.0,
                longitude: 2.0,
                speed_kmh: 3.0,
                battery_pct: 4.0,
                engine_temp_c: 5.0,
                load_pct: 6.0,
                status: VehicleStatus::Moving,
                timestamp: Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 1).unwrap(),
                heading_deg: 7.0,
                seq,
                pose: None,
            },
            distance_m: 8.0,
        }
    }

    #[test]
    fn stream_has_signature_rows_and_trailer() {
        let buf = encode_readings(&[reading(9)]).unwrap();
        assert!(buf.starts_with(b"PGCOPY\n\xff\r\n\0"));
        assert!(buf.ends_with(&[0xff, 0xff]));
        let row = &buf[HEADER.len()..];
        assert_eq!(&row[..2], &17i16.to_be_bytes());
        // vehicle_id: length 4, then the bytes.
        assert_eq!(&row[2..6], &4i32.to_be_bytes());
        assert_eq!(&row[6..10], b"VH-1");
        // The four pose fields are NULL (length -1) just before the trailer.
        let tail = &buf[buf.len() - 2 - 16..buf.len() - 2];
        assert_eq!(tail, [0xff; 16]);
    }

    #[test]
    fn timestamps_count_from_the_postgres_epoch() {
        let t = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 1).unwrap();
        assert_eq!(pg_timestamp(t), 1_000_000);
    }

    #[test]
    fn oversized_seq_is_a_validation_error() {
        let err = encode_readings(&[reading(u64::MAX)]).unwrap_err();
        assert_eq!(err.kind(), vehicleops_core::ErrorKind::Validation);
        assert!(err.to_string().contains("seq"));
    }
}
