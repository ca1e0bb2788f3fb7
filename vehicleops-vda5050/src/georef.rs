//! Georeferencing a site's map frame, so map-frame poses also get GPS coordinates.

use serde::{Deserialize, Serialize};
use vehicleops_core::GeoPoint;
use vehicleops_core::geodesy;

/// Where a site's map frame lies on the earth: the WGS84 position of its origin and how far its
/// x axis is turned from east (degrees, counter-clockwise, like `theta`).
///
/// Accurate for site-sized maps (a few kilometres), where the earth is locally flat.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SiteGeoreference {
    pub origin: GeoPoint,
    #[serde(default)]
    pub rotation_deg: f64,
}

impl SiteGeoreference {
    /// The GPS position of map point `(x, y)` (metres).
    pub fn to_geo(&self, x: f64, y: f64) -> GeoPoint {
        let (east, north) = rotate(x, y, self.rotation_deg.to_radians());
        let distance = east.hypot(north);
        if distance == 0.0 {
            return self.origin;
        }
        let bearing = east.atan2(north).to_degrees();
        geodesy::destination(self.origin, bearing, distance)
    }

    /// The map point `(x, y)` of a GPS position, the inverse of [`Self::to_geo`].
    pub fn to_map(&self, point: GeoPoint) -> (f64, f64) {
        let distance = geodesy::distance_m(self.origin, point);
        if distance == 0.0 {
            return (0.0, 0.0);
        }
        let bearing = geodesy::bearing_deg(self.origin, point).to_radians();
        let (east, north) = (distance * bearing.sin(), distance * bearing.cos());
        rotate(east, north, -self.rotation_deg.to_radians())
    }

    /// A map-frame `theta` (radians counter-clockwise from the map's x axis) as a compass
    /// heading (degrees clockwise from north, `[0, 360)`).
    pub fn heading_deg(&self, theta: f64) -> f64 {
        (90.0 - theta.to_degrees() - self.rotation_deg).rem_euclid(360.0)
    }
}

fn rotate(x: f64, y: f64, angle: f64) -> (f64, f64) {
    let (sin, cos) = angle.sin_cos();
    (x * cos - y * sin, x * sin + y * cos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(rotation_deg: f64) -> SiteGeoreference {
        SiteGeoreference {
            origin: GeoPoint {
                latitude: 52.52,
                longitude: 13.405,
            },
            rotation_deg,
        }
    }

    #[test]
    fn unrotated_x_points_east_and_y_north() {
        let s = site(0.0);
        let east = s.to_geo(100.0, 0.0);
        assert!((geodesy::distance_m(s.origin, east) - 100.0).abs() < 0.01);
        assert!((geodesy::bearing_deg(s.origin, east) - 90.0).abs() < 0.01);
        let north = s.to_geo(0.0, 50.0);
        assert!(north.latitude > s.origin.latitude);
        assert!((north.longitude - s.origin.longitude).abs() < 1e-9);
        assert_eq!(s.heading_deg(0.0), 90.0);
        assert!((s.heading_deg(std::f64::consts::FRAC_PI_2) - 0.0).abs() < 1e-9);
    }

    #[test]
    fn map_and_geo_round_trip_with_rotation() {
        let s = site(30.0);
        for (x, y) in [(0.0, 0.0), (120.5, -40.0), (-300.0, 250.0)] {
            let (bx, by) = s.to_map(s.to_geo(x, y));
            assert!(
                (bx - x).abs() < 0.01 && (by - y).abs() < 0.01,
                "{x},{y} -> {bx},{by}"
            );
        }
        // The map's x axis turned 90° counter-clockwise points north.
        let s = site(90.0);
        let bearing = geodesy::bearing_deg(s.origin, s.to_geo(10.0, 0.0));
        assert!(!(0.01..=359.99).contains(&bearing), "{bearing}");
        assert_eq!(s.heading_deg(0.0), 0.0);
    }
}
