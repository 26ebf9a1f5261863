//! UI languages: every string in zh-CN and en. A page picks the language
//! from the `lang` cookie (set by the switcher), else `Accept-Language`,
//! else Chinese.

use axum::http::HeaderMap;
use hub_core::Error;
use hub_core::error::{Message, fill};

mod browse;
mod community;
mod errors;
mod finetune;
mod gguf;
mod statements;
mod tensors;
mod topup;
mod vocab;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

pub const LANG_COOKIE: &str = "lang";

impl Lang {
    pub fn from_request(headers: &HeaderMap) -> Lang {
        let cookie = crate::auth::cookie(headers, LANG_COOKIE).and_then(Lang::parse);
        cookie.unwrap_or_else(|| {
            let accept = headers
                .get(axum::http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            Lang::from_accept_language(accept)
        })
    }

    /// The first of zh / en in the client's preference order (q-values honoured).
    pub fn from_accept_language(accept: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for item in accept.split(',') {
            let mut parts = item.trim().split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            let lang = if tag.starts_with("zh") {
                Lang::Zh
            } else if tag.starts_with("en") {
                Lang::En
            } else {
                continue;
            };
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::Zh, |(_, l)| l)
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" | "zh-CN" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The `lang` attribute of `<html>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language, for the switcher.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The UI string for `key`. Unknown keys show as themselves, and a unit
    /// test checks that every key used by the templates exists.
    pub fn t(self, key: &str) -> &'static str {
        self.lookup(key).unwrap_or("??")
    }

    fn lookup(self, key: &str) -> Option<&'static str> {
        all_messages()
            .find(|(k, _, _)| *k == key)
            .map(|(_, zh, en)| match self {
                Lang::Zh => *zh,
                Lang::En => *en,
            })
    }

    /// A server message in this language: its entry `err.{code}` with the
    /// named values filled in; free text (no code) as written.
    pub fn message(self, message: &Message) -> String {
        let entry = message
            .code()
            .and_then(|code| self.lookup(&format!("err.{code}")));
        match entry {
            Some(text) => fill(text, message.params()),
            None => message.to_string(),
        }
    }

    /// What a page says of an error, in this language.
    pub fn error(self, e: &Error) -> String {
        let named =
            |key: &str, name: &str, value: &str| fill(self.t(key), &[(name, value.to_owned())]);
        match e {
            Error::RepoNotFound { .. } => self.t("error.not_found").to_owned(),
            Error::Unauthenticated => self.t("err.unauthenticated").to_owned(),
            Error::InvalidCredentials => self.t("err.invalid_credentials").to_owned(),
            Error::RevisionNotFound(rev) => named("err.revision_not_found", "rev", rev),
            Error::EntryNotFound(path) => named("err.entry_not_found", "path", path),
            Error::TooManyRequests { .. } => self.t("err.too_many_requests").to_owned(),
            Error::Internal(_) => {
                // Logs the details, which stay out of the page.
                crate::errors::public_message(e);
                self.t("err.internal").to_owned()
            }
            other => match other.message() {
                Some(m) => self.message(m),
                None => other.to_string(),
            },
        }
    }

    /// The UI string for `key` with each `{}` filled by the next of `args`
    /// in order (the languages put them in the same order).
    pub fn tf(self, key: &str, args: &[&str]) -> String {
        args.iter().fold(self.t(key).to_owned(), |text, arg| {
            text.replacen("{}", arg, 1)
        })
    }

    /// The colon after a label: full-width in Chinese.
    pub fn colon(self) -> &'static str {
        match self {
            Lang::Zh => "：",
            Lang::En => ": ",
        }
    }

    /// Brackets around an aside after a word: full-width in Chinese.
    pub fn open_paren(self) -> &'static str {
        match self {
            Lang::Zh => "（",
            Lang::En => " (",
        }
    }

    pub fn close_paren(self) -> &'static str {
        match self {
            Lang::Zh => "）",
            Lang::En => ")",
        }
    }

    /// "第 3 页" / "Page 3".
    pub fn page_number(self, n: impl std::fmt::Display) -> String {
        fill(self.t("list.page"), &[("n", n.to_string())])
    }

    /// The name of an organisation or token role (`read`, `write`, `admin`).
    pub fn role(self, role: &str) -> &'static str {
        match role {
            "read" => self.t("org.role_read"),
            "write" => self.t("org.role_write"),
            "admin" => self.t("org.role_admin"),
            _ => "?",
        }
    }

    /// Formats a count the way each language groups digits.
    pub fn number(self, n: &i64) -> String {
        let n = *n;
        let digits = n.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if n < 0 { format!("-{out}") } else { out }
    }

    pub fn date(self, d: &chrono::DateTime<chrono::Utc>) -> String {
        match self {
            Lang::Zh => d.format("%Y年%-m月%-d日").to_string(),
            Lang::En => d.format("%b %-d, %Y").to_string(),
        }
    }

    // Formatting helpers of the browsing pages.

    /// A count in the short form each language reads at a glance: Chinese
    /// groups by 万 (10⁴) and 亿 (10⁸), English by k, M and B.
    pub fn compact(self, n: &i64) -> String {
        let n = *n;
        let abs = n.unsigned_abs() as f64;
        let units: &[(f64, &str)] = match self {
            Lang::Zh => &[(1e8, "亿"), (1e4, "万")],
            Lang::En => &[(1e9, "B"), (1e6, "M"), (1e3, "k")],
        };
        for &(size, unit) in units {
            if abs >= size {
                let v = abs / size;
                // One decimal below 100 units (1.2万, 12.3k), none above.
                let text = if v < 100.0 {
                    let t = format!("{:.1}", (v * 10.0).floor() / 10.0);
                    t.strip_suffix(".0").map(str::to_owned).unwrap_or(t)
                } else {
                    format!("{}", v.floor())
                };
                let sign = if n < 0 { "-" } else { "" };
                return format!("{sign}{text}{unit}");
            }
        }
        n.to_string()
    }

    /// How long ago, in words: "3 天前" / "3 days ago"; a date past a year.
    pub fn ago(self, d: &chrono::DateTime<chrono::Utc>) -> String {
        self.ago_from(d, chrono::Utc::now())
    }

    fn ago_from(
        self,
        d: &chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> String {
        let secs = (now - *d).num_seconds().max(0);
        let (n, zh, en) = match secs {
            0..60 => {
                return match self {
                    Lang::Zh => "刚刚".into(),
                    Lang::En => "just now".into(),
                };
            }
            60..3600 => (secs / 60, "分钟", "minute"),
            3600..86_400 => (secs / 3600, "小时", "hour"),
            86_400..2_592_000 => (secs / 86_400, "天", "day"),
            2_592_000..31_536_000 => (secs / 2_592_000, "个月", "month"),
            _ => return self.date(d),
        };
        match self {
            Lang::Zh => format!("{n} {zh}前"),
            Lang::En if n == 1 => format!("1 {en} ago"),
            Lang::En => format!("{n} {en}s ago"),
        }
    }

    /// A size in bytes, in decimal units (as Hugging Face shows them).
    pub fn size(self, bytes: &u64) -> String {
        const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
        let mut size = *bytes as f64;
        let mut unit = 0;
        while size >= 1000.0 && unit < UNITS.len() - 1 {
            size /= 1000.0;
            unit += 1;
        }
        if unit == 0 {
            format!("{bytes} B")
        } else {
            format!("{size:.1} {}", UNITS[unit])
        }
    }
}

/// Every table of UI strings (one per part of the UI, to keep them apart).
fn all_messages() -> impl Iterator<Item = &'static (&'static str, &'static str, &'static str)> {
    MESSAGES
        .iter()
        .chain(browse::MESSAGES)
        .chain(community::MESSAGES)
        .chain(tensors::MESSAGES)
        .chain(gguf::MESSAGES)
        .chain(errors::MESSAGES)
        .chain(statements::MESSAGES)
        .chain(topup::MESSAGES)
        .chain(finetune::MESSAGES)
}

/// (key, zh-CN, en)
const MESSAGES: &[(&str, &str, &str)] = &[
    ("site.name", "开源 Hub", "Kaiyuan Hub"),
    (
        "site.tagline",
        "发布、发现、下载和试用开放模型与数据集",
        "Publish, discover, download and try open models and datasets",
    ),
    ("nav.models", "模型", "Models"),
    ("nav.datasets", "数据集", "Datasets"),
    ("nav.spaces", "应用空间", "Spaces"),
    ("nav.search_placeholder", "搜索模型", "Search models"),
    ("nav.new", "新建仓库", "New repo"),
    ("nav.login", "登录", "Log in"),
    ("nav.signup", "注册", "Sign up"),
    ("nav.logout", "退出", "Log out"),
    ("nav.tokens", "访问令牌", "Access tokens"),
    ("nav.switch", "English", "中文"),
    ("nav.menu", "菜单", "Menu"),
    (
        "home.recent_models",
        "最近更新的模型",
        "Recently updated models",
    ),
    (
        "home.recent_datasets",
        "最近更新的数据集",
        "Recently updated datasets",
    ),
    (
        "home.recent_spaces",
        "最近更新的应用空间",
        "Recently updated spaces",
    ),
    ("home.empty", "还没有内容。", "Nothing here yet."),
    ("form.username", "用户名", "Username"),
    (
        "form.username_or_email",
        "用户名或邮箱",
        "Username or email",
    ),
    ("form.email", "邮箱", "Email"),
    ("form.password", "密码", "Password"),
    (
        "form.password_hint",
        "至少 8 个字符",
        "At least 8 characters",
    ),
    ("form.submit_login", "登录", "Log in"),
    ("form.submit_signup", "创建账号", "Create account"),
    ("form.no_account", "还没有账号？", "No account yet?"),
    (
        "form.have_account",
        "已有账号？",
        "Already have an account?",
    ),
    ("new.title", "新建仓库", "Create a new repository"),
    ("new.owner", "所有者", "Owner"),
    ("new.name", "仓库名称", "Repository name"),
    ("new.type", "类型", "Type"),
    (
        "new.private",
        "私有（只有你和你的组织成员可见）",
        "Private (only you and your organization members can see it)",
    ),
    ("new.submit", "创建", "Create"),
    ("type.model", "模型", "Model"),
    ("type.dataset", "数据集", "Dataset"),
    ("type.space", "应用空间", "Space"),
    ("repo.files", "文件", "Files"),
    ("repo.card", "说明卡片", "Card"),
    ("repo.private", "私有", "Private"),
    ("repo.mirror_of", "镜像自", "Mirrored from"),
    (
        "repo.mirror_synced",
        "上次与上游同步：",
        "Synced with upstream",
    ),
    (
        "repo.mirror_stale",
        "上游暂时无法访问，显示的是缓存内容",
        "upstream unreachable, showing the cached copy",
    ),
    (
        "repo.no_card",
        "这个仓库还没有 README.md。",
        "This repository has no README.md yet.",
    ),
    (
        "repo.card_error",
        "说明卡片的元数据有误：",
        "The card's metadata has an error: ",
    ),
    ("repo.downloads", "下载量", "Downloads"),
    ("repo.likes", "喜欢", "Likes"),
    ("repo.license", "许可证", "License"),
    ("repo.updated", "更新于", "Updated"),
    ("repo.clone", "克隆", "Clone"),
    ("repo.size", "大小", "Size"),
    ("repo.storage", "存储", "Storage"),
    (
        "repo.storage_stored",
        "实际存储（去重后）",
        "stored (after deduplication)",
    ),
    (
        "repo.storage_logical",
        "全部版本的大文件",
        "of large files in all revisions",
    ),
    ("tokens.title", "访问令牌", "Access tokens"),
    ("tokens.name", "名称", "Name"),
    ("tokens.role", "权限", "Role"),
    ("tokens.read", "只读", "Read"),
    ("tokens.write", "读写", "Write"),
    ("tokens.create", "创建令牌", "Create token"),
    (
        "tokens.copy_now",
        "请立即复制这个令牌，它不会再次显示：",
        "Copy this token now; it will not be shown again:",
    ),
    ("tokens.revoke", "撤销", "Revoke"),
    ("tokens.last_used", "最近使用", "Last used"),
    ("tokens.never", "从未", "Never"),
    ("tokens.none", "还没有令牌。", "No tokens yet."),
    // --- ui-manage: upload and edit, settings, profiles, organisations, likes ---
    ("account.title", "账号设置", "Account settings"),
    ("account.profile", "个人资料", "Profile"),
    ("account.full_name", "全名", "Full name"),
    ("account.my_profile", "我的主页", "My profile"),
    ("account.password", "密码", "Password"),
    ("account.current_password", "当前密码", "Current password"),
    ("account.new_password", "新密码", "New password"),
    ("account.change_password", "修改密码", "Change password"),
    (
        "account.wrong_password",
        "当前密码不正确。",
        "The current password is wrong.",
    ),
    ("account.saved", "已保存。", "Saved."),
    (
        "account.wrong_login",
        "用户名或密码错误。",
        "Wrong username or password.",
    ),
    (
        "account.login_throttled",
        "登录失败次数过多，请稍后再试。",
        "Too many failed sign-ins; try again later.",
    ),
    (
        "account.signup_throttled",
        "此网络地址注册次数过多，请稍后再试。",
        "Too many sign-ups from this address; try again later.",
    ),
    (
        "account.cross_site",
        "这个表单来自其他网站，已拒绝。请在本站页面上重新提交。",
        "This form came from another site and was refused; submit it again from this site's page.",
    ),
    (
        "account.password_changed",
        "密码已修改，其他设备上的登录已退出。",
        "Password changed; other sessions were signed out.",
    ),
    ("commit.summary", "提交说明", "Commit message"),
    ("commit.summary_hint", "（可选）", "(optional)"),
    (
        "commit.description",
        "详细描述（可选）",
        "Extended description (optional)",
    ),
    ("form.cancel", "取消", "Cancel"),
    ("upload.title", "上传文件", "Upload files"),
    ("upload.branch", "分支", "Branch"),
    ("upload.drop", "把文件拖到这里，或者", "Drag files here, or"),
    ("upload.choose", "选择文件", "Choose files"),
    ("upload.chosen", "已选择的文件", "Chosen files"),
    ("upload.remove", "移除", "Remove"),
    ("upload.folder", "上传到文件夹", "Upload into folder"),
    (
        "upload.folder_hint",
        "（可选，例如 data/）",
        "(optional, e.g. data/)",
    ),
    ("upload.default_summary", "上传文件", "Upload files"),
    ("upload.progress", "上传进度", "Upload progress"),
    ("upload.submit", "提交到仓库", "Commit to the repository"),
    ("upload.uploading", "正在上传…", "Uploading…"),
    ("upload.committing", "正在提交…", "Committing…"),
    ("upload.done", "完成。", "Done."),
    ("upload.failed", "上传失败：", "Upload failed:"),
    (
        "upload.none_chosen",
        "请先选择至少一个文件。",
        "Choose at least one file first.",
    ),
    ("edit.title", "编辑文件", "Edit file"),
    ("edit.new_title", "新建文件", "Create a new file"),
    ("edit.path", "文件路径", "File path"),
    ("edit.content", "内容", "Content"),
    ("edit.commit", "提交更改", "Commit changes"),
    ("delete.title", "删除文件", "Delete file"),
    (
        "delete.confirm",
        "确定要删除这个文件吗？",
        "Do you really want to delete this file?",
    ),
    ("delete.submit", "删除并提交", "Delete and commit"),
    ("settings.title", "仓库设置", "Repository settings"),
    ("settings.visibility", "可见性", "Visibility"),
    (
        "settings.now_public",
        "当前为公开仓库。",
        "This repository is public.",
    ),
    (
        "settings.now_private",
        "当前为私有仓库。",
        "This repository is private.",
    ),
    (
        "settings.public",
        "公开：所有人可见",
        "Public: anyone can see it",
    ),
    (
        "settings.private",
        "私有：只有你和组织成员可见",
        "Private: only you and organization members can see it",
    ),
    ("settings.save", "保存", "Save"),
    ("settings.rename", "重命名或转移", "Rename or move"),
    ("settings.rename_submit", "重命名", "Rename"),
    ("settings.delete", "删除仓库", "Delete this repository"),
    (
        "settings.delete_warning",
        "删除后无法恢复：所有文件、历史和设置都会被删除。",
        "This cannot be undone: all files, history and settings are deleted.",
    ),
    (
        "settings.type_name",
        "请输入仓库全名以确认：",
        "Type the repository's full name to confirm:",
    ),
    (
        "settings.delete_submit",
        "我明白后果，删除仓库",
        "I understand, delete this repository",
    ),
    (
        "settings.confirm_mismatch",
        "输入的名称与仓库全名不一致，仓库没有被删除。",
        "The name you typed does not match the repository's full name; nothing was deleted.",
    ),
    ("like.like", "喜欢", "Like"),
    ("like.unlike", "已喜欢", "Liked"),
    ("profile.org", "组织", "Organization"),
    ("profile.orgs", "所属组织", "Organizations"),
    ("org.new", "新建组织", "New organization"),
    ("org.name", "组织名称", "Organization name"),
    ("org.full_name", "显示名称", "Display name"),
    ("org.create", "创建组织", "Create organization"),
    ("org.members", "成员", "Members"),
    ("org.your_role", "你的角色", "Your role"),
    ("org.role", "角色", "Role"),
    ("org.role_read", "只读", "Read"),
    ("org.role_write", "读写", "Write"),
    ("org.role_admin", "管理员", "Admin"),
    ("org.change_role", "修改角色", "Change role"),
    ("org.remove", "移除", "Remove"),
    ("org.add", "添加成员", "Add member"),
    ("tokens.copy", "复制", "Copy"),
    ("tokens.copied", "已复制", "Copied"),
    // --- end ui-manage ---
    ("error.title", "出错了", "Something went wrong"),
    (
        "error.not_found",
        "找不到这个页面或仓库。",
        "This page or repository does not exist.",
    ),
    ("error.back_home", "返回首页", "Back to the home page"),
    ("confirm.cancel", "取消", "Cancel"),
    (
        "tokens.revoke_question",
        "撤销令牌“{}”？使用它的程序将无法再访问。此操作无法撤回。",
        "Revoke the token “{}”? Programs using it will lose access. This cannot be undone.",
    ),
    (
        "org.remove_question",
        "将 {} 移出组织 {}？",
        "Remove {} from the organisation {}?",
    ),
    (
        "error.private_log_in",
        "如果这是一个私有仓库，登录后也许可以看到它：",
        "If this is a private repository, you may see it once signed in:",
    ),
    // --- inference tier: the workers admin page and the model-page widget ---
    ("workers.title", "推理节点", "Inference workers"),
    ("mirror.title", "镜像", "Mirror"),
    ("mirror.upstreams", "上游", "Upstreams"),
    (
        "mirror.no_upstreams",
        "还没有配置上游：",
        "No upstream yet:",
    ),
    ("mirror.name", "名称", "Name"),
    ("mirror.kind", "类型", "Kind"),
    ("mirror.endpoint", "地址", "Endpoint"),
    ("mirror.state", "状态", "State"),
    ("mirror.enabled", "启用", "On"),
    ("mirror.disabled", "停用", "Off"),
    ("mirror.token", "令牌", "Token"),
    ("mirror.token_kept", "已加密保存", "kept, sealed"),
    (
        "mirror.private_readers",
        "私有仓库读者",
        "Readers of private repos",
    ),
    ("mirror.policy", "策略", "Policy"),
    ("mirror.allow", "允许", "Allow"),
    ("mirror.allow_all", "全部", "every repo"),
    ("mirror.deny", "拒绝", "Deny"),
    (
        "mirror.offline",
        "离线（只提供已缓存内容）",
        "Offline (cached only)",
    ),
    (
        "mirror.anonymous_fetch",
        "匿名用户可触发拉取",
        "Anonymous fetches",
    ),
    ("mirror.yes", "是", "yes"),
    ("mirror.no", "否", "no"),
    ("mirror.freshness", "元数据新鲜期", "Freshness of refs"),
    (
        "mirror.caps",
        "缓存上限（每个仓库 / 总计）",
        "Cache caps (per repo / in all)",
    ),
    ("mirror.cache", "缓存", "Cache"),
    ("mirror.repos", "镜像仓库", "Mirrored repos"),
    (
        "mirror.no_repos",
        "还没有镜像任何仓库。",
        "Nothing mirrored yet.",
    ),
    ("mirror.repo", "仓库", "Repo"),
    ("mirror.upstream", "上游", "Upstream"),
    ("mirror.sync", "同步", "Sync"),
    ("mirror.refreshed", "上次获取引用", "Refs fetched"),
    ("mirror.pinned", "已固定", "pinned"),
    ("mirror.on_demand", "按需缓存", "cached on demand"),
    ("mirror.evictions", "最近的淘汰", "Recent evictions"),
    (
        "mirror.no_evictions",
        "没有淘汰过文件。",
        "Nothing evicted.",
    ),
    (
        "workers.none",
        "还没有推理节点。用 hub worker-token create 创建令牌后启动 inference-worker。",
        "No inference workers yet. Create a token with hub worker-token create, then start inference-worker.",
    ),
    ("workers.name", "名称", "Name"),
    ("workers.state", "状态", "State"),
    ("workers.device", "设备", "Device"),
    ("workers.current_job", "当前任务", "Current job"),
    ("workers.last_heartbeat", "最近心跳", "Last heartbeat"),
    ("workers.models", "已加载模型", "Models loaded"),
    ("workers.online", "在线", "Online"),
    ("workers.lost", "失联", "Lost"),
    ("workers.offline", "离线", "Offline"),
    ("workers.idle", "空闲", "Idle"),
    ("workers.spaces", "应用空间", "Spaces"),
    ("widget.title", "在线试用", "Try it"),
    (
        "widget.unavailable",
        "当前没有推理节点能运行这个模型。",
        "No inference worker can run this model right now.",
    ),
    ("widget.send", "发送", "Send"),
    ("widget.stop", "停止", "Stop"),
    ("widget.placeholder", "输入消息…", "Type a message…"),
    (
        "widget.queued",
        "排队中，前面还有 {n} 个请求",
        "In the queue: {n} requests ahead",
    ),
    ("widget.loading", "正在加载模型…", "Loading the model…"),
    ("widget.error", "出错了：", "Error: "),
    ("widget.source", "源句子", "Source sentence"),
    (
        "widget.compare",
        "要比较的句子（每行一句）",
        "Sentences to compare (one per line)",
    ),
    ("widget.compute", "计算相似度", "Compute similarity"),
    ("widget.similarity", "相似度", "Similarity"),
    ("widget.examples", "示例：", "Examples:"),
    // --- end of the inference block ---
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Lang::En);
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Lang::Zh
        );
        assert_eq!(
            Lang::from_accept_language("fr, en;q=0.5, zh;q=0.7"),
            Lang::Zh
        );
        assert_eq!(Lang::from_accept_language(""), Lang::Zh);
    }

    #[test]
    fn numbers() {
        assert_eq!(Lang::En.number(&1234567), "1,234,567");
        assert_eq!(Lang::Zh.number(&12), "12");
    }

    #[test]
    fn compact_numbers_and_relative_dates() {
        assert_eq!(Lang::Zh.compact(&12_345), "1.2万");
        assert_eq!(Lang::En.compact(&12_345), "12.3k");
        assert_eq!(Lang::Zh.compact(&9_999), "9999");
        assert_eq!(Lang::En.compact(&999), "999");
        assert_eq!(Lang::En.compact(&1_000), "1k");
        assert_eq!(Lang::En.compact(&2_500_000), "2.5M");
        assert_eq!(Lang::Zh.compact(&320_000_000), "3.2亿");
        assert_eq!(Lang::Zh.compact(&1_234_567), "123万");
        let now = chrono::Utc::now();
        let days = |n| now - chrono::Duration::days(n);
        assert_eq!(Lang::Zh.ago_from(&days(3), now), "3 天前");
        assert_eq!(Lang::En.ago_from(&days(3), now), "3 days ago");
        assert_eq!(Lang::En.ago_from(&days(1), now), "1 day ago");
        assert_eq!(Lang::En.ago_from(&now, now), "just now");
        assert_eq!(
            Lang::Zh.ago_from(&(now - chrono::Duration::minutes(5)), now),
            "5 分钟前"
        );
        assert_eq!(
            Lang::En.ago_from(&days(800), now),
            Lang::En.date(&days(800))
        );
        assert_eq!(Lang::En.size(&1_234_567), "1.2 MB");
    }

    /// Every message code hub-core uses has its entry here, and every entry
    /// names only values its messages give.
    #[test]
    fn every_coded_core_message_is_translated() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../hub-core/src");
        let mut files = vec![root];
        let mut codes = 0;
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split("Message::coded(").skip(1) {
                // Only literal codes (the helper's own test uses "x").
                let Some(literal) = piece.trim_start().strip_prefix('"') else {
                    continue;
                };
                let code = literal.split('"').next().unwrap();
                if code == "x" {
                    continue;
                }
                codes += 1;
                let key = format!("err.{code}");
                assert!(
                    all_messages().any(|(k, _, _)| *k == key),
                    "no translation for {key} ({})",
                    path.display()
                );
            }
        }
        assert!(codes > 50, "found only {codes} coded messages");
        let m = Message::coded("name.taken", "the name '{name}' is already taken")
            .with("name", "alice");
        assert_eq!(Lang::Zh.message(&m), "名称“alice”已被占用。");
        assert_eq!(
            Lang::En.error(&Error::conflict(m)),
            "The name “alice” is already taken."
        );
        assert_eq!(Lang::Zh.message(&Message::from("free text")), "free text");
    }

    /// Chinese text uses Chinese punctuation: no ASCII comma, semicolon,
    /// colon, question or exclamation mark, or brackets next to Chinese.
    #[test]
    fn chinese_text_has_chinese_punctuation() {
        let cjk = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c);
        for (key, zh, _) in all_messages() {
            if !zh.chars().any(cjk) {
                continue;
            }
            let chars: Vec<char> = zh.chars().collect();
            for (i, &c) in chars.iter().enumerate() {
                if !matches!(c, ',' | ';' | ':' | '?' | '!' | '(' | ')') {
                    continue;
                }
                // Allowed between Latin text (`key: value`, code, URLs).
                let before = i.checked_sub(1).map(|j| chars[j]);
                let after = chars.get(i + 1).copied();
                let next_to_cjk =
                    before.is_some_and(cjk) || after.is_some_and(cjk) || after.is_none();
                assert!(!next_to_cjk, "{key}: ASCII {c:?} in Chinese text {zh:?}");
            }
        }
    }

    /// Every key used in a template exists in both languages.
    #[test]
    fn every_template_key_is_translated() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for piece in text.split(".t(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                assert!(
                    all_messages().any(|(k, _, _)| *k == key),
                    "missing translation for {key}"
                );
            }
        }
        let mut keys: Vec<_> = all_messages().map(|(k, _, _)| k).collect();
        let count = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), count, "duplicate keys");
    }
}
