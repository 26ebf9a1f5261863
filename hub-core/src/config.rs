//! Configuration: a data dir plus a few optional environment variables.
//! Everything has an embedded default so `hub serve` needs no setup.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// `DATABASE_URL`: an existing server; unset runs a private cluster.
    pub database_url: Option<String>,
    /// `HUB_OBJECT_STORE`: e.g. `s3://bucket`; unset uses `<data-dir>/objects`.
    pub object_store: Option<String>,
    /// `HUB_SECRET`: shared by all nodes; unset generates one in the data dir.
    pub secret: Option<String>,
    /// `HUB_PUBLIC_URL`: for links made outside a request, and Secure cookies.
    pub public_url: Option<String>,
    /// `HUB_TRUSTED_PROXIES`: only these may set `X-Forwarded-*`.
    pub trusted_proxies: Vec<IpNet>,
    /// `HUB_LFS_PRESIGNED_DOWNLOADS=true`: LFS downloads redirect to
    /// presigned object-store URLs (S3 only); off by default.
    pub lfs_presigned_downloads: bool,
    /// `HUB_XET_INGEST=off` pauses the conversion of plain LFS objects into
    /// xorbs (`xet::ingest`): they stay queued, keep their plain copy (so
    /// presigned downloads keep working for them) and have no Xet hash until
    /// it is back on. On by default.
    pub xet_ingest: bool,
    /// `HUB_HEADER_TIMEOUT_SECS` [30]: a connection that has not sent a
    /// request's headers this long after it opened (or after its last
    /// answer) is closed.
    pub header_timeout: Duration,
    /// `HUB_BODY_TIMEOUT_SECS` [60]: a request body from which no data
    /// arrives this long, while it is being read, fails (and its connection
    /// closes).
    pub body_idle_timeout: Duration,
    /// `HUB_XET_DAILY_BYTES` [200 GiB]: bytes the Xet CAS rebuilds for one
    /// user over a rolling day (see `xet::limits`).
    pub xet_daily_bytes: u64,
    /// `HUB_BILLING_USD_PER_CNY` [0.14]: the rate at which English pages
    /// show an approximate dollar amount beside yuan ("≈"); display only.
    pub usd_per_cny: f64,
}

impl Config {
    /// Reads the environment for the given data dir (made absolute so that
    /// every process, hook and child agrees on it).
    pub fn from_env(data_dir: &Path) -> anyhow::Result<Config> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
        let data_dir = std::fs::canonicalize(data_dir)?;
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let trusted_proxies = match var("HUB_TRUSTED_PROXIES") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(IpNet::parse)
                .collect::<anyhow::Result<_>>()?,
            None => Vec::new(),
        };
        Ok(Config {
            data_dir,
            database_url: var("DATABASE_URL"),
            object_store: var("HUB_OBJECT_STORE"),
            secret: var("HUB_SECRET"),
            public_url: var("HUB_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_string()),
            trusted_proxies,
            lfs_presigned_downloads: var("HUB_LFS_PRESIGNED_DOWNLOADS")
                .is_some_and(|v| matches!(v.trim(), "true" | "1" | "yes")),
            xet_ingest: !var("HUB_XET_INGEST")
                .is_some_and(|v| matches!(v.trim(), "off" | "false" | "0" | "no")),
            header_timeout: Duration::from_secs(number(&var, "HUB_HEADER_TIMEOUT_SECS", 30)?),
            body_idle_timeout: Duration::from_secs(number(&var, "HUB_BODY_TIMEOUT_SECS", 60)?),
            xet_daily_bytes: number(&var, "HUB_XET_DAILY_BYTES", 200 << 30)?,
            usd_per_cny: rate(&var, "HUB_BILLING_USD_PER_CNY", 0.14)?,
        })
    }

    pub fn repos_dir(&self) -> PathBuf {
        self.data_dir.join("repos")
    }

    pub fn objects_dir(&self) -> PathBuf {
        self.data_dir.join("objects")
    }

    /// Whether cookies must be `Secure`: only when the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    pub fn is_trusted_proxy(&self, addr: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(addr))
    }
}

/// The positive whole number in variable `name`, or `default` when unset.
fn number(var: &dyn Fn(&str) -> Option<String>, name: &str, default: u64) -> anyhow::Result<u64> {
    match var(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => bail!("{name} must be a positive whole number, not {v:?}"),
        },
    }
}

/// The positive decimal number in variable `name`, or `default` when unset.
fn rate(var: &dyn Fn(&str) -> Option<String>, name: &str, default: f64) -> anyhow::Result<f64> {
    match var(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
            _ => bail!("{name} must be a positive number, not {v:?}"),
        },
    }
}

/// An address or a CIDR block, for `HUB_TRUSTED_PROXIES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(s: &str) -> anyhow::Result<IpNet> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .with_context(|| format!("bad address in {s:?}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .with_context(|| format!("bad prefix in {s:?}"))?,
            None => max,
        };
        if prefix > max {
            bail!("prefix too long in {s:?}");
        }
        Ok(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, bits) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n) as u128, u32::from(i) as u128, 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            (IpAddr::V6(n), IpAddr::V4(i)) => (u128::from(n), u128::from(i.to_ipv6_mapped()), 128),
            (IpAddr::V4(n), IpAddr::V6(i)) => match i.to_ipv4_mapped() {
                Some(i) => (u32::from(n) as u128, u32::from(i) as u128, 32),
                None => return false,
            },
        };
        let shift = bits - self.prefix as u32;
        shift >= bits || (net >> shift) == (ip >> shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr() {
        let net = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.1.2.3".parse().unwrap()));
        let one = IpNet::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(one.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(IpNet::parse("::1/129").is_err());
        assert!(
            IpNet::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }
}
