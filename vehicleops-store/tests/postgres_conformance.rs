//! The shared store conformance suite against a real PostgreSQL server, each check in a new
//! database (see `postgres_support` for where the server comes from).
#![cfg(feature = "postgres")]

mod postgres_support;

use std::sync::Arc;

use vehicleops_store::testing::Store;
use vehicleops_store::{PostgresConfig, PostgresStore};

async fn fresh_stores() -> Store {
    let mut config = PostgresConfig::new(postgres_support::fresh_database().await);
    config.max_connections = 4;
    Arc::new(
        PostgresStore::connect_with(config)
            .await
            .expect("connect the store to its fresh database"),
    )
}

vehicleops_store::store_conformance_tests!(fresh_stores);
