//! Where the providers' keys come from: environment variables, or
//! `<data-dir>/billing-providers.toml`, which must be readable by its owner
//! only (mode 0600). Never the database. A provider is configured from the
//! environment when its first variable is set there, else from the file.
//!
//! ```toml
//! [stripe]                      # HUB_STRIPE_*
//! secret_key = "sk_live_…"      # HUB_STRIPE_SECRET_KEY
//! webhook_secrets = ["whsec_…"] # HUB_STRIPE_WEBHOOK_SECRET (comma-separated)
//! api_base = "https://api.stripe.com"            # HUB_STRIPE_API_BASE
//!
//! [alipay]                      # HUB_ALIPAY_*
//! app_id = "2021…"              # HUB_ALIPAY_APP_ID
//! app_private_key = "…"         # HUB_ALIPAY_PRIVATE_KEY (PEM or base64 DER)
//! alipay_public_key = "…"       # HUB_ALIPAY_PUBLIC_KEY (PEM or base64 DER)
//! seller_id = "2088…"           # HUB_ALIPAY_SELLER_ID (optional)
//! gateway = "https://openapi.alipay.com/gateway.do"  # HUB_ALIPAY_GATEWAY
//!
//! [wechat]                      # HUB_WECHAT_*
//! mchid = "190…"                # HUB_WECHAT_MCHID
//! appid = "wx…"                 # HUB_WECHAT_APPID
//! merchant_serial = "…"         # HUB_WECHAT_MERCHANT_SERIAL
//! merchant_private_key = "…"    # HUB_WECHAT_MERCHANT_KEY (PEM)
//! apiv3_key = "…32 bytes…"      # HUB_WECHAT_APIV3_KEY
//! api_base = "https://api.mch.weixin.qq.com"     # HUB_WECHAT_API_BASE
//! [[wechat.platform_keys]]      # HUB_WECHAT_PLATFORM_SERIAL + HUB_WECHAT_PLATFORM_KEY
//! serial = "PUB_KEY_ID_…"
//! public_key = "-----BEGIN PUBLIC KEY-----…"
//! ```

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

use super::{Alipay, Providers, Stripe, Wechat, parse_private_key, parse_public_key};

/// The file's name in the data dir.
pub const FILE_NAME: &str = "billing-providers.toml";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    stripe: Option<StripeKeys>,
    alipay: Option<AlipayKeys>,
    wechat: Option<WechatKeys>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StripeKeys {
    secret_key: String,
    webhook_secrets: Vec<String>,
    api_base: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlipayKeys {
    app_id: String,
    app_private_key: String,
    alipay_public_key: String,
    seller_id: Option<String>,
    gateway: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WechatKeys {
    mchid: String,
    appid: String,
    merchant_serial: String,
    merchant_private_key: String,
    apiv3_key: String,
    platform_keys: Vec<PlatformKey>,
    api_base: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlatformKey {
    serial: String,
    public_key: String,
}

impl Providers {
    /// Reads the providers' keys from the process's environment and the data dir.
    pub fn load(data_dir: &Path) -> anyhow::Result<Providers> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Providers::load_with(data_dir, &var)
    }

    /// [`Providers::load`] with the environment given as a function.
    pub fn load_with(
        data_dir: &Path,
        var: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Providers> {
        let file = read_file(&data_dir.join(FILE_NAME))?;
        let need = |name: &str| var(name).with_context(|| format!("{name} is not set"));
        let stripe = match var("HUB_STRIPE_SECRET_KEY") {
            Some(secret_key) => Some(StripeKeys {
                secret_key,
                webhook_secrets: need("HUB_STRIPE_WEBHOOK_SECRET")?
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect(),
                api_base: var("HUB_STRIPE_API_BASE"),
            }),
            None => file.stripe,
        };
        let alipay = match var("HUB_ALIPAY_APP_ID") {
            Some(app_id) => Some(AlipayKeys {
                app_id,
                app_private_key: need("HUB_ALIPAY_PRIVATE_KEY")?,
                alipay_public_key: need("HUB_ALIPAY_PUBLIC_KEY")?,
                seller_id: var("HUB_ALIPAY_SELLER_ID"),
                gateway: var("HUB_ALIPAY_GATEWAY"),
            }),
            None => file.alipay,
        };
        let wechat = match var("HUB_WECHAT_MCHID") {
            Some(mchid) => Some(WechatKeys {
                mchid,
                appid: need("HUB_WECHAT_APPID")?,
                merchant_serial: need("HUB_WECHAT_MERCHANT_SERIAL")?,
                merchant_private_key: need("HUB_WECHAT_MERCHANT_KEY")?,
                apiv3_key: need("HUB_WECHAT_APIV3_KEY")?,
                platform_keys: vec![PlatformKey {
                    serial: need("HUB_WECHAT_PLATFORM_SERIAL")?,
                    public_key: need("HUB_WECHAT_PLATFORM_KEY")?,
                }],
                api_base: var("HUB_WECHAT_API_BASE"),
            }),
            None => file.wechat,
        };
        Ok(Providers::new(
            stripe.map(stripe_from).transpose().context("stripe")?,
            alipay.map(alipay_from).transpose().context("alipay")?,
            wechat.map(wechat_from).transpose().context("wechat")?,
        ))
    }
}

/// The file's settings; none when it does not exist. A file that others
/// may read is refused: it holds private keys.
fn read_file(path: &Path) -> anyhow::Result<File> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(File::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} holds payment keys and must be readable by its owner only, but its mode is {mode:04o}: run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    basic_toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
}

fn url_or(given: Option<String>, default: &str) -> anyhow::Result<String> {
    let url = given.unwrap_or_else(|| default.to_owned());
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        bail!("{url:?} is not an http(s) URL");
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn stripe_from(k: StripeKeys) -> anyhow::Result<Stripe> {
    if k.webhook_secrets.is_empty() {
        bail!("at least one webhook secret is needed");
    }
    Ok(Stripe {
        secret_key: k.secret_key,
        webhook_secrets: k.webhook_secrets,
        api_base: url_or(k.api_base, "https://api.stripe.com")?,
    })
}

fn alipay_from(k: AlipayKeys) -> anyhow::Result<Alipay> {
    Ok(Alipay {
        app_id: k.app_id,
        app_private_key: parse_private_key(&k.app_private_key).context("app_private_key")?,
        alipay_public_key: parse_public_key(&k.alipay_public_key).context("alipay_public_key")?,
        seller_id: k.seller_id,
        gateway: url_or(k.gateway, "https://openapi.alipay.com/gateway.do")?,
    })
}

fn wechat_from(k: WechatKeys) -> anyhow::Result<Wechat> {
    let apiv3_key: [u8; 32] = k
        .apiv3_key
        .as_bytes()
        .try_into()
        .map_err(|_| anyhow::anyhow!("the APIv3 key must be 32 bytes"))?;
    if k.platform_keys.is_empty() {
        bail!("at least one platform key is needed");
    }
    Ok(Wechat {
        mchid: k.mchid,
        appid: k.appid,
        merchant_serial: k.merchant_serial,
        merchant_key: parse_private_key(&k.merchant_private_key).context("merchant_private_key")?,
        apiv3_key,
        platform_keys: k
            .platform_keys
            .into_iter()
            .map(|p| {
                let key = parse_public_key(&p.public_key)
                    .with_context(|| format!("platform key {}", p.serial))?;
                Ok((p.serial, key))
            })
            .collect::<anyhow::Result<_>>()?,
        api_base: url_or(k.api_base, "https://api.mch.weixin.qq.com")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn nothing_configured_is_no_provider() {
        let dir = tempfile::tempdir().unwrap();
        let providers = Providers::load_with(dir.path(), &no_env).unwrap();
        assert!(providers.names().is_empty());
    }

    #[test]
    fn a_file_others_may_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(
            &path,
            "[stripe]\nsecret_key = \"sk_test\"\nwebhook_secrets = [\"whsec_x\"]\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Providers::load_with(dir.path(), &no_env).unwrap_err();
        assert!(format!("{err:#}").contains("chmod 600"), "{err:#}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let providers = Providers::load_with(dir.path(), &no_env).unwrap();
        assert_eq!(providers.names(), ["stripe"]);
        assert_eq!(providers.stripe.unwrap().api_base, "https://api.stripe.com");
    }

    #[test]
    fn the_environment_configures_a_provider() {
        let dir = tempfile::tempdir().unwrap();
        let env = |name: &str| match name {
            "HUB_STRIPE_SECRET_KEY" => Some("sk_test".to_owned()),
            "HUB_STRIPE_WEBHOOK_SECRET" => Some("whsec_a, whsec_b".to_owned()),
            "HUB_STRIPE_API_BASE" => Some("http://127.0.0.1:1234/".to_owned()),
            _ => None,
        };
        let providers = Providers::load_with(dir.path(), &env).unwrap();
        let stripe = providers.stripe.unwrap();
        assert_eq!(stripe.webhook_secrets, ["whsec_a", "whsec_b"]);
        assert_eq!(stripe.api_base, "http://127.0.0.1:1234");
        // Half a configuration is an error, not a silent "none".
        let half = |name: &str| (name == "HUB_ALIPAY_APP_ID").then(|| "2021".to_owned());
        assert!(Providers::load_with(dir.path(), &half).is_err());
    }
}
