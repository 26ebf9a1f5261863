//! Content-addressed blob storage over object_store: the local filesystem
//! under the data dir by default, or an S3-compatible store by URL.

use std::sync::Arc;

use anyhow::{Context, bail};
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;

use crate::config::Config;

#[derive(Clone)]
pub struct Storage {
    pub store: Arc<dyn ObjectStore>,
    /// Whether the store is S3 (and so can hand out presigned URLs).
    pub is_s3: bool,
    /// The same store as a URL signer, where it can presign (S3).
    pub signer: Option<Arc<dyn Signer>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Storage({})", self.store)
    }
}

impl Storage {
    pub fn open(config: &Config) -> anyhow::Result<Storage> {
        match config.object_store.as_deref() {
            None => {
                let dir = config.objects_dir();
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                let store = LocalFileSystem::new_with_prefix(&dir)?
                    .with_automatic_cleanup(true)
                    .with_fsync(true);
                Ok(Storage {
                    store: Arc::new(store),
                    is_s3: false,
                    signer: None,
                })
            }
            Some(url) if url.starts_with("s3://") => {
                // Endpoint, region, keys and AWS_ALLOW_HTTP come from the usual AWS_* variables.
                let store = AmazonS3Builder::from_env()
                    .with_url(url)
                    .build()
                    .with_context(|| format!("cannot configure object store {url}"))?;
                let store = Arc::new(store);
                Ok(Storage {
                    store: store.clone(),
                    is_s3: true,
                    signer: Some(store),
                })
            }
            Some(other) => bail!("unsupported HUB_OBJECT_STORE '{other}' (expected s3://bucket)"),
        }
    }
}

/// Where the LFS object with sha256 `oid` lives in the store; sharded by
/// its first bytes like git's own object directories.
pub fn lfs_object_path(oid: &str) -> ObjectPath {
    ObjectPath::from(format!("lfs/{}/{}/{}", &oid[0..2], &oid[2..4], oid))
}

impl Storage {
    /// Deletes the files under `prefix`, older than `grace`, whose name
    /// `unrecorded` says no row records (what an upload that died between
    /// storing and recording left); returns how many and their bytes. A
    /// name `unrecorded` answers `None` for is not the hub's and is kept.
    pub async fn sweep_unrecorded(
        &self,
        prefix: &str,
        grace: std::time::Duration,
        unrecorded: impl AsyncFn(&str) -> crate::error::Result<Option<bool>>,
    ) -> crate::error::Result<(u64, u64)> {
        use futures::TryStreamExt;
        use object_store::ObjectStoreExt;
        let cutoff = chrono::Utc::now() - chrono::Duration::from_std(grace).unwrap_or_default();
        let prefix = ObjectPath::from(prefix);
        let mut listing = self.store.list(Some(&prefix));
        let mut old = Vec::new();
        while let Some(meta) = listing.try_next().await? {
            if meta.last_modified <= cutoff {
                old.push(meta);
            }
        }
        let (mut files, mut bytes) = (0, 0);
        for meta in old {
            let Some(name) = meta.location.filename() else {
                continue;
            };
            if unrecorded(name).await? != Some(true) {
                continue;
            }
            match self.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            files += 1;
            bytes += meta.size;
        }
        Ok((files, bytes))
    }
}
