//! The analytics/history time-window validation on any pair of instants chrono can represent
//! (including its extremes, which a query string can carry), with its promises checked: an
//! accepted window lies in 1970-01-01 ..= 2100-01-01, is ordered and spans at most 366 days.
#![no_main]

use arbitrary::Arbitrary;
use chrono::{DateTime, Duration, Utc};
use libfuzzer_sys::fuzz_target;
use vehicleops_server::api::handlers::fuzzing;

#[derive(Debug, Arbitrary)]
struct Input {
    from: Option<(i64, u32)>,
    to: Option<(i64, u32)>,
}

fn instant(t: Option<(i64, u32)>) -> Option<DateTime<Utc>> {
    let (secs, nanos) = t?;
    // Half the inputs are mapped into chrono's range so the interesting boundaries get hit.
    let secs = if secs & 1 == 0 {
        secs
    } else {
        let (min, max) = (
            DateTime::<Utc>::MIN_UTC.timestamp(),
            DateTime::<Utc>::MAX_UTC.timestamp(),
        );
        min + (secs >> 1).rem_euclid(max - min + 1)
    };
    DateTime::from_timestamp(secs, nanos % 2_000_000_000)
}

fuzz_target!(|input: Input| {
    let (from, to) = (instant(input.from), instant(input.to));
    match fuzzing::window(from, to) {
        Ok(range) => {
            let earliest = DateTime::<Utc>::UNIX_EPOCH;
            let latest = DateTime::parse_from_rfc3339("2100-01-01T00:00:00Z")
                .unwrap()
                .to_utc();
            assert!(earliest <= range.from && range.from <= range.to && range.to <= latest);
            assert!(range.to - range.from <= Duration::days(366));
            if let Some(from) = from {
                assert_eq!(range.from, from);
            }
            if let Some(to) = to {
                assert_eq!(range.to, to);
            }
        }
        Err(e) => assert!(e.status.is_client_error(), "{e:?}"),
    }
});
