//! Demo data: the original's fleets and its three demo accounts. Seeded only in demo mode.

use vehicleops_core::{Fleet, FleetRepository, Operator, Result, Role};

use crate::auth::hash_password;

/// A demo login, printed at start.
#[derive(Debug, Clone, Copy)]
pub struct DemoAccount {
    pub id: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub role: Role,
    pub fleet_ids: &'static [&'static str],
}

/// The original's default credentials.
pub const DEMO_ACCOUNTS: [DemoAccount; 3] = [
    DemoAccount {
        id: "op-admin",
        email: "admin@vehicleops.io",
        password: "Admin123!",
        role: Role::Admin,
        fleet_ids: &[],
    },
    DemoAccount {
        id: "op-manager",
        email: "manager@vehicleops.io",
        password: "Manager123!",
        role: Role::Manager,
        fleet_ids: &["fleet-001", "fleet-002", "fleet-003"],
    },
    DemoAccount {
        id: "op-001",
        email: "operator@vehicleops.io",
        password: "Operator123!",
        role: Role::Operator,
        fleet_ids: &["fleet-001", "fleet-002"],
    },
];

/// Demo fleets; the simulator drives vehicles in the first.
pub const DEMO_FLEETS: [(&str, &str); 3] = [
    ("fleet-001", "Industrial Zone A"),
    ("fleet-002", "Industrial Zone B"),
    ("fleet-003", "Port Logistics C"),
];

/// Creates the demo fleets and accounts (idempotent).
pub async fn seed(repo: &dyn FleetRepository) -> Result<()> {
    for (id, name) in DEMO_FLEETS {
        repo.upsert_fleet(&Fleet {
            id: id.into(),
            name: name.into(),
        })
        .await?;
    }
    for account in DEMO_ACCOUNTS {
        upsert_account(
            repo,
            account.id,
            account.email,
            account.password,
            account.role,
            account.fleet_ids.iter().map(|s| s.to_string()).collect(),
        )
        .await?;
    }
    Ok(())
}

/// Creates or updates an account with a freshly hashed password.
pub async fn upsert_account(
    repo: &dyn FleetRepository,
    id: &str,
    email: &str,
    password: &str,
    role: Role,
    fleet_ids: Vec<String>,
) -> Result<()> {
    let password = password.to_owned();
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| vehicleops_core::Error::backend_msg("argon2", e.to_string()))?
        .map_err(|e| vehicleops_core::Error::backend_msg("argon2", e.to_string()))?;
    repo.upsert_operator(&Operator {
        id: id.into(),
        email: email.to_lowercase(),
        role,
        fleet_ids,
        password_hash,
    })
    .await
}
