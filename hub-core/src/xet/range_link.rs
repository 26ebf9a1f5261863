//! Signed, expiring links to one byte range of one stored xorb: the `url`
//! of each fetch in a reconstruction answer. hf_xet sends no credentials
//! with these requests, so the link authorises itself: an HMAC with the
//! hub's secret over `xet-range:{xorb}:{first}:{last}:{expires}`, carried
//! in the query string as `range`, `exp` and `sig`.
//!
//! A link names a range, not a whole xorb: a xorb can hold chunks of
//! files its reader may not read (a user's uploads to a private repo,
//! deduplicated with their public one), and the reconstruction that made
//! the link granted only the chunks of a readable file. The xorb route
//! serves a `Range` inside the signed one only.
//!
//! Where the store can presign (S3, with `HUB_LFS_PRESIGNED_DOWNLOADS`), the
//! link is a presigned URL of the xorb object with the `Range` header
//! signed in, so S3 itself refuses any other range.

use std::ops::Range;
use std::time::Duration;

use object_store::signer::{HeaderValue, Method, SignedUrlOptions};
use serde::Deserialize;

use super::hash::XetHash;
use super::records::xorb_path;
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::lfs::signing::now_unix;
use crate::secret::Secret;

/// How long a link stays valid: hf_xet asks for a new reconstruction (so
/// new links) when a fetch answers 403.
pub const LINK_LIFETIME_SECS: i64 = 3600;

/// A signed grant to read stored bytes `bytes` (end exclusive) of `xorb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeGrant {
    pub xorb: XetHash,
    pub bytes: Range<u64>,
    pub expires: i64,
}

/// The query parameters of a link, as the xorb route receives them.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct LinkParams {
    pub range: Option<String>,
    pub exp: Option<i64>,
    pub sig: Option<String>,
}

impl RangeGrant {
    fn message(&self) -> String {
        format!(
            "xet-range:{}:{}:{}:{}",
            self.xorb.to_hex(),
            self.bytes.start,
            self.bytes.end,
            self.expires
        )
    }

    /// The link's query string: `range={first}-{last}&exp=..&sig=..` (the
    /// range inclusive, as in HTTP).
    pub fn query(&self, secret: &Secret) -> String {
        format!(
            "range={}-{}&exp={}&sig={}",
            self.bytes.start,
            self.bytes.end - 1,
            self.expires,
            secret.sign(self.message().as_bytes())
        )
    }

    /// The grant `params` carry for `xorb`, if its signature holds and it
    /// has not expired at `now`; `Forbidden` otherwise (the one refusal the
    /// client answers by asking for a new reconstruction).
    pub fn verify(
        secret: &Secret,
        xorb: &XetHash,
        params: &LinkParams,
        now: i64,
    ) -> Result<RangeGrant> {
        let invalid = || Error::forbidden("invalid or expired Xet fetch link");
        let (Some(range), Some(expires), Some(sig)) = (&params.range, params.exp, &params.sig)
        else {
            return Err(invalid());
        };
        let (first, last) = range.split_once('-').ok_or_else(invalid)?;
        let first: u64 = first.parse().map_err(|_| invalid())?;
        let last: u64 = last.parse().map_err(|_| invalid())?;
        if last < first || last == u64::MAX {
            return Err(invalid());
        }
        let grant = RangeGrant {
            xorb: *xorb,
            bytes: first..last + 1,
            expires,
        };
        if !secret.verify(grant.message().as_bytes(), sig) || expires <= now {
            return Err(invalid());
        }
        Ok(grant)
    }
}

/// The URL a client fetches stored bytes `bytes` of `xorb` from: presigned
/// in the store where it can (see the module doc), else a signed link to
/// the hub's CAS at `cas_url`.
pub async fn url_for(
    hub: &Hub,
    cas_url: &str,
    xorb: &XetHash,
    bytes: Range<u64>,
) -> Result<String> {
    let now = now_unix();
    if let (Some(signer), true) = (&hub.storage.signer, hub.config.lfs_presigned_downloads) {
        let range = format!("bytes={}-{}", bytes.start, bytes.end - 1);
        let value = HeaderValue::from_str(&range).map_err(|e| Error::Internal(e.into()))?;
        let options = SignedUrlOptions::new().with_signed_header(
            object_store::signer::HeaderName::from_static("range"),
            value,
        );
        let url = signer
            .signed_url_opts(
                Method::GET,
                &xorb_path(xorb),
                Duration::from_secs(LINK_LIFETIME_SECS as u64),
                &options,
            )
            .await?;
        return Ok(url.to_string());
    }
    let grant = RangeGrant {
        xorb: *xorb,
        bytes,
        expires: now + LINK_LIFETIME_SECS,
    };
    Ok(format!(
        "{cas_url}/v1/xorb-ranges/default/{}?{}",
        xorb.to_hex(),
        grant.query(&hub.secret)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn secret(s: &str) -> Secret {
        Secret::load(Some(s), std::path::Path::new("/nonexistent")).unwrap()
    }

    fn params(query: &str) -> LinkParams {
        let mut p = LinkParams::default();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap();
            match k {
                "range" => p.range = Some(v.to_owned()),
                "exp" => p.exp = v.parse().ok(),
                "sig" => p.sig = Some(v.to_owned()),
                _ => panic!("{k}"),
            }
        }
        p
    }

    #[test]
    fn a_link_grants_its_range_of_its_xorb_until_it_expires() {
        let s = secret("k");
        let xorb = XetHash([3; 32]);
        let grant = RangeGrant {
            xorb,
            bytes: 100..200,
            expires: NOW + 60,
        };
        let query = grant.query(&s);
        assert!(query.starts_with("range=100-199&"), "{query}");
        let p = params(&query);
        assert_eq!(RangeGrant::verify(&s, &xorb, &p, NOW).unwrap(), grant);
        let refused = |p: &LinkParams, xorb: &XetHash, now| {
            matches!(
                RangeGrant::verify(&s, xorb, p, now),
                Err(Error::Forbidden(_))
            )
        };
        assert!(refused(&p, &xorb, NOW + 60), "expired");
        assert!(refused(&p, &XetHash([4; 32]), NOW), "another xorb");
        let mut wider = p.clone();
        wider.range = Some("0-199".into());
        assert!(refused(&wider, &xorb, NOW), "a wider range");
        let mut later = p.clone();
        later.exp = Some(NOW + 9999);
        assert!(refused(&later, &xorb, NOW), "extended");
        assert!(
            RangeGrant::verify(&secret("other"), &xorb, &p, NOW).is_err(),
            "another hub"
        );
        for junk in ["", "5", "9-3", "a-b", "-3", "0-18446744073709551615"] {
            let mut bad = p.clone();
            bad.range = Some(junk.into());
            assert!(refused(&bad, &xorb, NOW), "{junk:?}");
        }
        assert!(refused(&LinkParams::default(), &xorb, NOW));
    }
}
