//! Token kinds as stored.

use sea_orm::{DeriveActiveEnum, EnumIter};
use switchyard_protocol::TokenKind as WireTokenKind;

/// What a token is for, stored as text in `api_tokens.kind` (a CHECK
/// constraint holds it to these). A row with any other kind fails to read:
/// it is never taken for one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum TokenKind {
    #[sea_orm(string_value = "api")]
    Api,
    #[sea_orm(string_value = "registration")]
    Registration,
    #[sea_orm(string_value = "worker")]
    Worker,
}

impl From<TokenKind> for WireTokenKind {
    fn from(kind: TokenKind) -> Self {
        match kind {
            TokenKind::Api => Self::Api,
            TokenKind::Registration => Self::Registration,
            TokenKind::Worker => Self::Worker,
        }
    }
}

impl From<WireTokenKind> for TokenKind {
    fn from(kind: WireTokenKind) -> Self {
        match kind {
            WireTokenKind::Api => Self::Api,
            WireTokenKind::Registration => Self::Registration,
            WireTokenKind::Worker => Self::Worker,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ActiveEnum, Iterable};

    #[test]
    fn wire_names_match_database_names() {
        for kind in TokenKind::iter() {
            assert_eq!(kind.to_value(), WireTokenKind::from(kind).as_str());
            assert_eq!(TokenKind::from(WireTokenKind::from(kind)), kind);
        }
    }

    #[test]
    fn an_unknown_kind_is_an_error() {
        assert!(TokenKind::try_from_value(&"session".to_owned()).is_err());
        assert!(TokenKind::try_from_value(&String::new()).is_err());
    }
}
