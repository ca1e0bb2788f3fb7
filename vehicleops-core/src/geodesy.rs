//! Great-circle helpers over the `geo` crate, in the units the domain uses (metres, degrees).

use geo::{Bearing, Destination, Distance, Haversine, Point};

use crate::model::GeoPoint;

fn point(p: GeoPoint) -> Point<f64> {
    Point::new(p.longitude, p.latitude)
}

/// Haversine distance in metres.
pub fn distance_m(a: GeoPoint, b: GeoPoint) -> f64 {
    Haversine.distance(point(a), point(b))
}

/// Initial bearing from `a` to `b`, degrees clockwise from north in `[0, 360)`.
pub fn bearing_deg(a: GeoPoint, b: GeoPoint) -> f64 {
    Haversine.bearing(point(a), point(b)).rem_euclid(360.0)
}

/// The point `distance_m` metres from `from` along `bearing_deg`.
pub fn destination(from: GeoPoint, bearing_deg: f64, distance_m: f64) -> GeoPoint {
    let p = Haversine.destination(point(from), bearing_deg, distance_m);
    GeoPoint {
        latitude: p.y(),
        longitude: p.x(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_degree_of_latitude_is_about_111_km() {
        let a = GeoPoint {
            latitude: 4.0,
            longitude: -74.0,
        };
        let b = GeoPoint {
            latitude: 5.0,
            longitude: -74.0,
        };
        let d = distance_m(a, b);
        assert!((d - 111_195.0).abs() < 100.0, "{d}");
        assert!((bearing_deg(a, b) - 0.0).abs() < 1e-6);
        let east = GeoPoint {
            latitude: 4.0,
            longitude: -73.0,
        };
        assert!((bearing_deg(a, east) - 90.0).abs() < 0.1);
        let c = destination(a, 90.0, 1000.0);
        assert!((distance_m(a, c) - 1000.0).abs() < 0.01);
    }
}
