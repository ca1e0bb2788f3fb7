use serde::{Deserialize, Serialize};

use super::GeoPoint;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    pub id: String,
    pub name: String,
}

/// A registered vehicle. `home` is where RETURN_TO_BASE drives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vehicle {
    pub id: String,
    pub fleet_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub home: Option<GeoPoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// Sees and commands every fleet.
    Admin,
    /// Manages the fleets listed in `fleet_ids`.
    Manager,
    /// Operates the fleets listed in `fleet_ids`.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Manager => "MANAGER",
            Role::Operator => "OPERATOR",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = crate::ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ADMIN" => Ok(Role::Admin),
            "MANAGER" => Ok(Role::Manager),
            "OPERATOR" => Ok(Role::Operator),
            other => Err(crate::ValidationError::new(
                "role",
                format!("unknown role {other:?}"),
            )),
        }
    }
}

/// A person who uses the platform. The password hash (argon2 PHC string) is never serialized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operator {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub fleet_ids: Vec<String>,
    #[serde(skip_serializing, default)]
    pub password_hash: String,
}

impl Operator {
    /// Whether this operator may see and command `fleet_id`.
    pub fn can_access(&self, fleet_id: &str) -> bool {
        self.role == Role::Admin || self.fleet_ids.iter().any(|f| f == fleet_id)
    }
}
