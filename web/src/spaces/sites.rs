//! The Space behind each subdomain, remembered for a moment: every request
//! to a Space's origin needs it, and a page of an app makes dozens of
//! requests at once (assets, the queue's SSE, uploads). A change of a
//! Space (a new run, a stop, its visibility) shows within [`FRESH`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hub_core::Hub;
use hub_core::spaces::origin::{self, Site};

/// How long an answer of `origin::resolve` is used again.
const FRESH: Duration = Duration::from_secs(1);
/// Bounds the memory: past this many subdomains, start again.
const MAX_ENTRIES: usize = 10_000;

/// When each subdomain was resolved, and to what.
type Known = HashMap<String, (Instant, Option<Site>)>;

#[derive(Clone, Default)]
pub struct Sites {
    known: Arc<Mutex<Known>>,
}

impl Sites {
    /// `origin::resolve`, or its answer of less than [`FRESH`] ago.
    pub async fn resolve(
        &self,
        hub: &Hub,
        subdomain: &str,
    ) -> hub_core::error::Result<Option<Site>> {
        if let Some((at, site)) = self.known.lock().expect("sites lock").get(subdomain)
            && at.elapsed() < FRESH
        {
            return Ok(site.clone());
        }
        let site = origin::resolve(hub, subdomain).await?;
        let mut known = self.known.lock().expect("sites lock");
        if known.len() >= MAX_ENTRIES {
            known.clear();
        }
        known.insert(subdomain.to_owned(), (Instant::now(), site.clone()));
        Ok(site)
    }
}
