//! Token secrets: making them, recognising their shape, hashing them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// What every issued token starts with.
const PREFIX: &str = "sy_";

/// Random bytes in a token: 256 bits, 43 base64url characters.
const SECRET_BYTES: usize = 32;

/// The SHA-256 of a token: how it is stored and cached.
pub type TokenHash = [u8; 32];

/// A fresh secret: `sy_` and 43 characters (256 random bits).
pub fn generate() -> Result<String, ApiError> {
    Ok(format!("{PREFIX}{}", random()?))
}

/// 256 random bits as 43 base64url characters (session secrets and form
/// tokens, which need no prefix).
pub fn random() -> Result<String, ApiError> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("no randomness for a secret: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `token` has the shape of an issued token: `sy_` and exactly the
/// base64url encoding of 32 bytes (which also fixes the last character's
/// unused bits). Anything else cannot be in the database, so it is refused
/// without asking it.
pub fn well_formed(token: &str) -> bool {
    token.strip_prefix(PREFIX).is_some_and(well_formed_random)
}

/// Whether `text` has the shape of [`random`]'s output: exactly the
/// base64url encoding of 32 bytes.
pub fn well_formed_random(text: &str) -> bool {
    // One spare byte: the decoder may want room for its estimate.
    let mut decoded = [0u8; SECRET_BYTES + 1];
    text.len() == 43
        && URL_SAFE_NO_PAD
            .decode_slice(text, &mut decoded)
            .is_ok_and(|n| n == SECRET_BYTES)
}

/// The hash a token is stored and cached under.
pub fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether two token hashes are the same, compared in constant time.
/// (Comparing hashes rather than the secrets also hides their lengths.)
pub fn same(a: &TokenHash, b: &TokenHash) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_well_formed_and_hashed() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("sy_") && a.len() == 46, "{a}");
        assert!(well_formed(&a) && well_formed(&b));
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn only_the_shape_of_an_issued_token_is_well_formed() {
        let good = generate().unwrap();
        assert!(!well_formed(""));
        assert!(!well_formed(&good[3..]), "no prefix");
        assert!(!well_formed(&format!("xy_{}", &good[3..])), "wrong prefix");
        assert!(!well_formed(&good[..45]), "too short");
        assert!(!well_formed(&format!("{good}A")), "too long");
        assert!(!well_formed(&format!("{}+", &good[..45])), "not base64url");
        assert!(!well_formed(&format!("{}=", &good[..45])), "padding");
        // 43 characters carry 258 bits: the last two must be zero.
        assert!(well_formed(&format!("sy_{}A", "A".repeat(42))));
        assert!(!well_formed(&format!("sy_{}B", "A".repeat(42))));
        assert!(!well_formed("sy_not-a-real-token-not-a-real-token-00000"));
        let session = random().unwrap();
        assert!(well_formed_random(&session) && !well_formed(&session));
        assert!(!well_formed_random(&good));
    }

    #[test]
    fn hashes_are_the_same_only_for_the_same_token() {
        assert!(same(&hash("secret-token"), &hash("secret-token")));
        assert!(!same(&hash("secret-token"), &hash("secret-tokem")));
        assert!(!same(&hash("secret"), &hash("secret-token")));
    }
}
