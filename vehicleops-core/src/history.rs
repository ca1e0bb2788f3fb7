//! Trip playback: a vehicle's readings over a window reduced to the points worth drawing.

use geo::{Coord, LineString, SimplifyIdx};

use crate::model::PathPoint;

/// Mean Earth radius (IUGG), metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// At most this many readings go through one Douglas–Peucker pass. `geo`'s implementation
/// recurses once per level of splitting, which on an unlucky path is once per point: pieces
/// bound the stack (and the quadratic worst case) at the cost of keeping each piece's ends.
const PIECE: usize = 4096;

/// Simplifies a path (oldest first) with Douglas–Peucker: no dropped point lies farther than
/// `tolerance_m` metres from the line through those kept. The first and last points are kept,
/// and so is the first point of every change of status (where the vehicle stopped, charged,
/// raised an alert…). A tolerance of 0 keeps everything.
pub fn simplify_path(points: Vec<PathPoint>, tolerance_m: f64) -> Vec<PathPoint> {
    if points.len() <= 2 || tolerance_m <= 0.0 {
        return points;
    }
    // Indices that must stay: the ends, status changes, and the ends of the pieces.
    let mut anchors = vec![0];
    for i in 1..points.len() {
        if points[i].status != points[i - 1].status || i - anchors[anchors.len() - 1] >= PIECE {
            anchors.push(i);
        }
    }
    if anchors[anchors.len() - 1] != points.len() - 1 {
        anchors.push(points.len() - 1);
    }
    let mut keep = Vec::with_capacity(points.len() / 8);
    keep.push(0);
    for pair in anchors.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        let piece = &points[from..=to];
        // Metres east and north of the piece's first point: over a site's few kilometres the
        // equirectangular projection errs far below any useful tolerance.
        let (lat0, lon0) = (piece[0].latitude, piece[0].longitude);
        let east = lat0.to_radians().cos() * EARTH_RADIUS_M;
        let line: LineString<f64> = piece
            .iter()
            .map(|p| Coord {
                x: (p.longitude - lon0).to_radians() * east,
                y: (p.latitude - lat0).to_radians() * EARTH_RADIUS_M,
            })
            .collect();
        // Each piece's first index is the previous piece's last, already kept.
        keep.extend(
            line.simplify_idx(&tolerance_m)
                .into_iter()
                .skip(1)
                .map(|i| from + i),
        );
    }
    let mut points = points.into_iter().map(Some).collect::<Vec<_>>();
    keep.into_iter().filter_map(|i| points[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VehicleStatus;
    use chrono::{DateTime, Utc};

    fn point(secs: i64, latitude: f64, longitude: f64, status: VehicleStatus) -> PathPoint {
        PathPoint {
            timestamp: DateTime::<Utc>::from_timestamp(1_700_000_000 + secs, 0).unwrap(),
            latitude,
            longitude,
            speed_kmh: 5.0,
            heading_deg: 0.0,
            status,
        }
    }

    /// About 1.1 m of latitude.
    const STEP: f64 = 0.00001;

    #[test]
    fn a_straight_run_keeps_its_ends_and_a_corner() {
        // North for 100 readings, then east for 100: an L.
        let mut path: Vec<PathPoint> = (0..100)
            .map(|i| point(i, 4.0 + i as f64 * STEP, -74.0, VehicleStatus::Moving))
            .collect();
        path.extend((1..=100).map(|i| {
            point(
                99 + i,
                4.0 + 99.0 * STEP,
                -74.0 + i as f64 * STEP,
                VehicleStatus::Moving,
            )
        }));
        let kept = simplify_path(path.clone(), 1.0);
        let secs: Vec<i64> = kept
            .iter()
            .map(|p| p.timestamp.timestamp() - 1_700_000_000)
            .collect();
        assert_eq!(secs, [0, 99, 199]);
    }

    #[test]
    fn wiggles_within_the_tolerance_go_and_larger_ones_stay() {
        // Along a line north, with one reading 0.5 m east and one 5.5 m east of it.
        let mut path: Vec<PathPoint> = (0..50)
            .map(|i| point(i, 4.0 + i as f64 * STEP, -74.0, VehicleStatus::Moving))
            .collect();
        path[10].longitude += 0.5 / 111_000.0;
        path[30].longitude += 5.5 / 111_000.0;
        let kept = simplify_path(path, 2.0);
        let secs: Vec<i64> = kept
            .iter()
            .map(|p| p.timestamp.timestamp() - 1_700_000_000)
            .collect();
        // The spike keeps its neighbours too: the line straight to it passes them by >2 m.
        assert_eq!(secs, [0, 29, 30, 31, 49]);
    }

    #[test]
    fn every_change_of_status_is_kept_and_zero_tolerance_keeps_all() {
        let path: Vec<PathPoint> = (0..20)
            .map(|i| {
                let status = if (5..8).contains(&i) {
                    VehicleStatus::Idle
                } else {
                    VehicleStatus::Moving
                };
                point(i, 4.0 + i as f64 * STEP, -74.0, status)
            })
            .collect();
        let kept = simplify_path(path.clone(), 10.0);
        let secs: Vec<i64> = kept
            .iter()
            .map(|p| p.timestamp.timestamp() - 1_700_000_000)
            .collect();
        assert_eq!(secs, [0, 5, 8, 19]);
        assert_eq!(simplify_path(path.clone(), 0.0), path);
    }

    #[test]
    fn a_long_circling_path_is_simplified_in_pieces_without_exhausting_the_stack() {
        // Ten thousand readings circling a 20 m loop: the kind of path that makes the
        // recursion deep.
        let path: Vec<PathPoint> = (0..10_000)
            .map(|i| {
                let a = i as f64 * 0.05;
                point(
                    i,
                    4.0 + a.sin() * 20.0 / 111_000.0,
                    -74.0 + a.cos() * 20.0 / 111_000.0,
                    VehicleStatus::Moving,
                )
            })
            .collect();
        let kept = simplify_path(path, 0.5);
        assert!(kept.len() > 10 && kept.len() < 10_000, "{}", kept.len());
        assert!(kept.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
    }
}
