//! Opens the store an engine keeps its data in.

use std::sync::Arc;

use vehicleops_core::{Error, FleetStore, Result};

use crate::settings::StoreSettings;

/// Opens (and migrates) the store `settings` names.
pub async fn open_store(settings: &StoreSettings) -> Result<Arc<dyn FleetStore>> {
    match settings {
        StoreSettings::Sqlite { path } => {
            let path = path.clone();
            // Opening migrates the schema: blocking work, kept off the async workers.
            let store = tokio::task::spawn_blocking(move || match path {
                Some(p) => vehicleops_store::SqliteStore::open(p),
                None => vehicleops_store::SqliteStore::in_memory(),
            })
            .await
            .map_err(|e| Error::backend("sqlite", e))??;
            Ok(Arc::new(store))
        }
        StoreSettings::Postgres { url } => open_postgres(url).await,
    }
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str) -> Result<Arc<dyn FleetStore>> {
    Ok(Arc::new(
        vehicleops_store::PostgresStore::connect(url).await?,
    ))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_url: &str) -> Result<Arc<dyn FleetStore>> {
    Err(Error::Config(
        "a PostgreSQL store needs VehicleOps built with the `postgres` feature".into(),
    ))
}
