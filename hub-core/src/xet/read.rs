//! The Xet read path: what the read-token endpoint and the CAS read routes
//! do, so `hf_xet` downloads files in parallel ranged fetches with its own
//! chunk cache.
//!
//! A reader gets a [`Scope::Read`] token for one repo ([`issue_read_token`],
//! by the same visibility rule as every read), asks for the reconstruction
//! of a file by its Xet hash ([`reconstruction`]: answered only when the
//! file is readable through the token's repo, see
//! [`files::readable_in`]), and fetches the xorb byte ranges it names from
//! signed links ([`xorb_range`], [`range_link`]).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use super::hash::XetHash;
use super::range_link::{self, LinkParams, RangeGrant};
use super::reconstruction::{self, AnswerTerm, Fetch};
use super::records::{self, xorb_path};
use super::token::{CasToken, Via};
use super::{cas, files};
use crate::accounts::{Actor, Credential, Principal, users};
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::lfs::signing::now_unix;
use crate::lfs::store;
use crate::repos::access::{self, Authorized, level::Read};
use crate::repos::content::ByteStream;
use crate::repos::{self, Repo};

pub use super::cas::IssuedToken;

/// Issues a read token for `repo`, which the caller may read (the proof
/// says so): for a signed-in caller, bound to the API token or session
/// they used; for an anonymous one (a public repo), to nobody.
pub fn issue_read_token(hub: &Hub, repo: &Authorized) -> Result<IssuedToken> {
    let (user_id, via) = match repo.actor().principal() {
        None => (0, Via::Anonymous),
        Some(p) => {
            let via = Via::of(&p.credential).ok_or_else(|| {
                Error::forbidden("Xet tokens are issued to API tokens and sessions")
            })?;
            (p.user.id, via)
        }
    };
    let token = CasToken::read(user_id, repo.id, via, now_unix());
    Ok(IssuedToken {
        access_token: token.encode(&hub.secret),
        expires: token.expires,
    })
}

/// Who reads through a CAS request: the repo its token may read.
#[derive(Debug, Clone)]
pub struct CasReader {
    pub repo: Repo,
}

/// The reader a CAS token in `text` stands for: any valid token whose
/// credential is still live (`InvalidCredentials` otherwise), whose holder
/// may still read its repo (a write token reads too; `InvalidCredentials`
/// when the repo is gone or no longer readable, so hf_xet asks for a new
/// token, which is then refused by the one visibility rule).
pub async fn reader(hub: &Hub, text: &str) -> Result<CasReader> {
    let token = CasToken::verify(&hub.secret, text, now_unix())?;
    let actor = match &token.via {
        Via::Anonymous if token.user_id == 0 => Actor::Anonymous,
        Via::Anonymous => return Err(Error::InvalidCredentials),
        _ => {
            if !cas::credential_is_live(hub, &token).await? {
                return Err(Error::InvalidCredentials);
            }
            let user = users::find_by_id(&hub.db, token.user_id)
                .await?
                .ok_or(Error::InvalidCredentials)?;
            Actor::User(Principal {
                user,
                credential: Credential::Internal,
            })
        }
    };
    let repo = repos::find_by_id(&hub.db, token.repo_id)
        .await?
        .ok_or(Error::InvalidCredentials)?;
    match access::authorize_repo::<Read>(&hub.db, &actor, repo).await {
        Ok(proof) => Ok(CasReader {
            repo: proof.into_repo(),
        }),
        Err(e @ Error::Internal(_)) => Err(e),
        Err(_) => Err(Error::InvalidCredentials),
    }
}

/// A reconstruction as the routes render it: the terms, and per xorb its
/// fetches with the URL of each.
#[derive(Debug, Clone)]
pub struct ReadAnswer {
    pub offset_into_first_range: u64,
    pub terms: Vec<AnswerTerm>,
    pub fetches: BTreeMap<XetHash, Vec<(Fetch, String)>>,
}

/// What a reconstruction query gets.
#[derive(Debug, Clone)]
pub enum Reconstruction {
    Found(ReadAnswer),
    /// The range starts at or past the end of the file (`size` bytes): 416.
    Unsatisfiable {
        size: u64,
    },
}

/// Bytes asked for with `Range: bytes=first-[last]` (last inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requested {
    pub first: u64,
    pub last: Option<u64>,
}

/// The reconstruction of file `file_hash` (a Xet hash string), or of the
/// `requested` bytes of it, for `reader`; fetch links point at `cas_url`.
///
/// `NotFound` for a malformed hash, an unknown file and a file that is not
/// readable through the reader's repo alike: the answer never tells whether
/// another repo holds a file.
pub async fn reconstruction(
    hub: &Hub,
    reader: &CasReader,
    file_hash: &str,
    requested: Option<Requested>,
    cas_url: &str,
) -> Result<Reconstruction> {
    let not_found = || Error::not_found(format!("no Xet file {file_hash:.64} in this repo"));
    let hash = XetHash::from_hex(file_hash).ok_or_else(not_found)?;
    let file = files::readable_in(&hub.db, reader.repo.id, &hash)
        .await?
        .ok_or_else(not_found)?;
    let range = match requested {
        None if file.size == 0 => return Ok(Reconstruction::Unsatisfiable { size: 0 }),
        None => 0..file.size,
        Some(r) if r.first >= file.size => {
            return Ok(Reconstruction::Unsatisfiable { size: file.size });
        }
        Some(r) => {
            let end = r
                .last
                .map_or(file.size, |l| l.saturating_add(1).min(file.size));
            if end <= r.first {
                return Err(Error::invalid("the range ends before it starts"));
            }
            r.first..end
        }
    };
    let terms = files::terms_within(&hub.db, reader.repo.id, &hash, range.clone()).await?;
    let mut used: Vec<XetHash> = terms.iter().map(|t| t.term.xorb).collect();
    used.sort_unstable();
    used.dedup();
    let layouts = records::layouts(&hub.db, &used).await?;
    let answer = reconstruction::answer(range, &terms, &layouts)?;
    let mut fetches = BTreeMap::new();
    for (xorb, list) in answer.fetches {
        let mut linked = Vec::with_capacity(list.len());
        for fetch in list {
            let url = range_link::url_for(hub, cas_url, &xorb, fetch.bytes.clone()).await?;
            linked.push((fetch, url));
        }
        fetches.insert(xorb, linked);
    }
    Ok(Reconstruction::Found(ReadAnswer {
        offset_into_first_range: answer.offset_into_first_range,
        terms: answer.terms,
        fetches,
    }))
}

/// Stored bytes of xorb `xorb` (a Xet hash string) as a signed link in
/// `params` grants them: the `requested` range, which must lie inside the
/// granted one, or all of the granted range. Returns the range served and
/// the bytes, streamed from the store. A bad or expired link, or a range
/// outside it, is `Forbidden`: hf_xet then asks for a new reconstruction.
pub async fn xorb_range(
    hub: &Hub,
    xorb: &str,
    params: &LinkParams,
    requested: Option<Requested>,
) -> Result<(Range<u64>, ByteStream)> {
    let hash = XetHash::from_hex(xorb).ok_or_else(|| Error::not_found("no such xorb"))?;
    let grant = RangeGrant::verify(&hub.secret, &hash, params, now_unix())?;
    let range = match requested {
        None => grant.bytes.clone(),
        Some(r) => {
            let end = r.last.map_or(grant.bytes.end, |l| l.saturating_add(1));
            r.first..end
        }
    };
    if range.start < grant.bytes.start || range.end > grant.bytes.end || range.is_empty() {
        return Err(Error::forbidden(format!(
            "this link grants bytes {}-{} of the xorb only",
            grant.bytes.start,
            grant.bytes.end - 1
        )));
    }
    let bytes = store::read_stored(hub, &xorb_path(&hash), Some(range.clone())).await?;
    Ok((range, bytes))
}

/// The Xet hash of each of `sha256s` (LFS oids of `repo`, which the caller
/// may read) that has one in the repo: what tree listings and resolve
/// advertise as `xetHash` / `X-Xet-Hash`.
pub async fn advertised(
    hub: &Hub,
    repo: &Authorized,
    sha256s: &[String],
) -> Result<HashMap<String, XetHash>> {
    files::hashes_of(&hub.db, repo.id, sha256s).await
}
