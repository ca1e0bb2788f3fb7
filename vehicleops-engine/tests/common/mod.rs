//! Helpers the engine's integration tests share.

#![allow(dead_code)] // each test binary uses a different subset

use std::future::Future;
use std::time::{Duration, Instant};

/// Upper bound for waiting on something asynchronous (a guard against hanging, not a
/// performance assertion).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Polls `check` every 20 ms until it returns `Some`, for at most [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_every(what, Duration::from_millis(20), check).await
}

/// Polls `check` every `every` until it returns `Some`, for at most [`DEADLINE`].
pub async fn eventually_every<T, F, Fut>(what: &str, every: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(every).await;
    }
}

/// An in-memory engine with the fleets registered and each `(vehicle, fleet)` registered in
/// its fleet: the setup of the export and report tests.
pub async fn engine_with_vehicles(
    fleets: &[&str],
    vehicles: &[(&str, &str)],
) -> vehicleops_engine::Engine {
    let engine = vehicleops_engine::Engine::open(vehicleops_engine::EngineSettings::default())
        .await
        .unwrap();
    for fleet in fleets {
        engine.register_fleet(fleet, None).await.unwrap();
    }
    for (id, fleet) in vehicles {
        engine
            .register_vehicle(vehicleops_core::Vehicle {
                id: (*id).into(),
                fleet_id: (*fleet).into(),
                name: None,
                home: None,
            })
            .await
            .unwrap();
    }
    engine
}
