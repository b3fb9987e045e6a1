//! Principals' roles as stored.

use sea_orm::{DeriveActiveEnum, EnumIter};
use switchyard_protocol::Role as WireRole;

/// A principal's role, stored as the PostgreSQL enum `principal_role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Enum", enum_name = "principal_role")]
pub enum Role {
    #[sea_orm(string_value = "user")]
    User,
    #[sea_orm(string_value = "worker")]
    Worker,
    #[sea_orm(string_value = "admin")]
    Admin,
}

impl From<Role> for WireRole {
    fn from(role: Role) -> Self {
        match role {
            Role::User => Self::User,
            Role::Worker => Self::Worker,
            Role::Admin => Self::Admin,
        }
    }
}

impl From<WireRole> for Role {
    fn from(role: WireRole) -> Self {
        match role {
            WireRole::User => Self::User,
            WireRole::Worker => Self::Worker,
            WireRole::Admin => Self::Admin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ActiveEnum, Iterable};

    #[test]
    fn wire_names_match_database_names() {
        for role in Role::iter() {
            assert_eq!(role.to_value(), WireRole::from(role).as_str());
            assert_eq!(Role::from(WireRole::from(role)), role);
        }
        assert!(Role::try_from_value(&"root".to_owned()).is_err());
    }
}
