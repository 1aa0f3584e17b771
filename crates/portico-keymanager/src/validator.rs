//! Access token validation shared by the OAuth2 token service and the [`crate::Authenticator`]:
//! signature and times, then the revocation list.

use crate::jwt::{AccessClaims, JwtError, TokenSigner};
use crate::revocation::RevocationList;

/// Validates access tokens: signature and times, then revocation. Shared by the token service
/// and the [`Authenticator`].
pub struct TokenValidator {
    pub signer: TokenSigner,
    pub revocations: RevocationList,
}

impl TokenValidator {
    pub fn new(signer: TokenSigner) -> TokenValidator {
        TokenValidator {
            signer,
            revocations: RevocationList::new(),
        }
    }

    pub fn validate(&self, token: &str) -> Result<AccessClaims, JwtError> {
        let claims = self.signer.verify(token)?;
        if self.revocations.is_revoked(&claims) {
            return Err(JwtError::Invalid("the token has been revoked".into()));
        }
        Ok(claims)
    }
}
