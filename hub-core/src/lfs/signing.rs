//! Signed, expiring transfer links. The batch API answers with hrefs that
//! authorise one transfer by themselves (`huggingface_hub` sends no
//! credentials with a basic-transfer PUT): an HMAC with the hub's secret over
//! `lfs:{op}:{repo_id}:{oid}:{size}:{expires}`, carried in the query string
//! as `op`, `size`, `exp` and `sig`. A link names one operation on one object
//! of one repo, so it can neither be replayed for another object or repo nor
//! turned from a download into an upload.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// How long a transfer link stays valid, in seconds (git-lfs asks for a
/// fresh one on its own once `expires_in` has passed).
pub const LINK_LIFETIME_SECS: i64 = 3600;

/// The transfer a link allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferOp {
    Upload,
    Download,
}

impl TransferOp {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferOp::Upload => "upload",
            TransferOp::Download => "download",
        }
    }
}

/// One signed permission: `op` on object `oid` (of `size` bytes) of repo
/// `repo_id`, until `expires` (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferGrant {
    pub op: TransferOp,
    pub repo_id: i64,
    pub oid: String,
    pub size: u64,
    pub expires: i64,
}

/// The query parameters of a signed link, as a route receives them.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct SignedParams {
    pub op: Option<String>,
    pub size: Option<u64>,
    pub exp: Option<i64>,
    pub sig: Option<String>,
}

impl SignedParams {
    /// Whether the request carries a signature at all (else the caller may
    /// authenticate the ordinary way, where the route allows it).
    pub fn is_signed(&self) -> bool {
        self.sig.is_some()
    }
}

impl TransferGrant {
    /// A grant that expires [`LINK_LIFETIME_SECS`] after `now` (unix seconds).
    pub fn new(op: TransferOp, repo_id: i64, oid: &str, size: u64, now: i64) -> TransferGrant {
        TransferGrant {
            op,
            repo_id,
            oid: oid.to_owned(),
            size,
            expires: now + LINK_LIFETIME_SECS,
        }
    }

    fn message(&self) -> String {
        format!(
            "lfs:{}:{}:{}:{}:{}",
            self.op.as_str(),
            self.repo_id,
            self.oid,
            self.size,
            self.expires
        )
    }

    /// The query string that carries this grant: `op=..&size=..&exp=..&sig=..`.
    pub fn query(&self, secret: &Secret) -> String {
        format!(
            "op={}&size={}&exp={}&sig={}",
            self.op.as_str(),
            self.size,
            self.expires,
            secret.sign(self.message().as_bytes())
        )
    }

    /// The grant `params` carry for `op` on `oid` of repo `repo_id`, if its
    /// signature holds and it has not expired at `now` (unix seconds).
    pub fn verify(
        secret: &Secret,
        params: &SignedParams,
        op: TransferOp,
        repo_id: i64,
        oid: &str,
        now: i64,
    ) -> Result<TransferGrant> {
        let invalid = invalid_link;
        let (Some(sent_op), Some(size), Some(expires), Some(sig)) =
            (&params.op, params.size, params.exp, &params.sig)
        else {
            return Err(invalid());
        };
        if sent_op != op.as_str() {
            return Err(invalid());
        }
        let grant = TransferGrant {
            op,
            repo_id,
            oid: oid.to_owned(),
            size,
            expires,
        };
        if !secret.verify(grant.message().as_bytes(), sig) {
            return Err(invalid());
        }
        if expires <= now {
            return Err(Error::forbidden(
                "this transfer link has expired; ask the batch API for a new one",
            ));
        }
        Ok(grant)
    }
}

/// The refusal of a link that does not hold (also of a link to a repo that
/// does not exist, which no valid link can name).
pub fn invalid_link() -> Error {
    Error::forbidden("invalid transfer link; ask the batch API for a new one")
}

/// The current time in unix seconds.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OID: &str = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";
    const NOW: i64 = 1_700_000_000;

    fn secret() -> Secret {
        Secret::load(Some("test-secret"), std::path::Path::new("/nonexistent")).unwrap()
    }

    fn params(query: &str) -> SignedParams {
        let mut p = SignedParams::default();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap();
            match k {
                "op" => p.op = Some(v.to_owned()),
                "size" => p.size = v.parse().ok(),
                "exp" => p.exp = v.parse().ok(),
                "sig" => p.sig = Some(v.to_owned()),
                _ => panic!("unexpected {k}"),
            }
        }
        p
    }

    #[test]
    fn a_link_authorises_exactly_what_it_names() {
        let s = secret();
        let grant = TransferGrant::new(TransferOp::Upload, 7, OID, 12, NOW);
        let p = params(&grant.query(&s));
        let ok = TransferGrant::verify(&s, &p, TransferOp::Upload, 7, OID, NOW + 10).unwrap();
        assert_eq!(ok, grant);
        assert_eq!(ok.expires, NOW + LINK_LIFETIME_SECS);
        // Another repo, another object, another operation: refused.
        assert!(TransferGrant::verify(&s, &p, TransferOp::Upload, 8, OID, NOW).is_err());
        let other = OID.replace('4', "5");
        assert!(TransferGrant::verify(&s, &p, TransferOp::Upload, 7, &other, NOW).is_err());
        assert!(TransferGrant::verify(&s, &p, TransferOp::Download, 7, OID, NOW).is_err());
    }

    #[test]
    fn tampered_expired_or_foreign_links_are_refused() {
        let s = secret();
        let grant = TransferGrant::new(TransferOp::Download, 7, OID, 12, NOW);
        let good = params(&grant.query(&s));
        let check = |p: &SignedParams, now| {
            TransferGrant::verify(&s, p, TransferOp::Download, 7, OID, now).is_ok()
        };
        assert!(check(&good, NOW));
        assert!(!check(&good, NOW + LINK_LIFETIME_SECS), "expired");
        let mut bigger = good.clone();
        bigger.size = Some(13);
        assert!(!check(&bigger, NOW));
        let mut later = good.clone();
        later.exp = Some(NOW + 10 * LINK_LIFETIME_SECS);
        assert!(!check(&later, NOW));
        let mut flipped = good.clone();
        let sig = flipped.sig.take().unwrap();
        let last = if sig.ends_with('0') { "1" } else { "0" };
        flipped.sig = Some(format!("{}{last}", &sig[..sig.len() - 1]));
        assert!(!check(&flipped, NOW));
        let mut unsigned = good.clone();
        unsigned.sig = None;
        assert!(!check(&unsigned, NOW) && !unsigned.is_signed());
        let foreign = Secret::load(Some("other"), std::path::Path::new("/nonexistent")).unwrap();
        assert!(TransferGrant::verify(&foreign, &good, TransferOp::Download, 7, OID, NOW).is_err());
    }
}
