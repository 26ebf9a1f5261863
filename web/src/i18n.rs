//! UI languages: every string in zh-CN and en. A page picks the language
//! from the `lang` cookie (set by the switcher), else `Accept-Language`,
//! else Chinese.

use axum::http::HeaderMap;

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
        match MESSAGES.iter().find(|(k, _, _)| *k == key) {
            Some((_, zh, en)) => match self {
                Lang::Zh => zh,
                Lang::En => en,
            },
            None => "??",
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
    ("nav.new", "新建仓库", "New repo"),
    ("nav.login", "登录", "Log in"),
    ("nav.signup", "注册", "Sign up"),
    ("nav.logout", "退出", "Log out"),
    ("nav.tokens", "访问令牌", "Access tokens"),
    ("nav.switch", "English", "中文"),
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
    (
        "repo.no_card",
        "这个仓库还没有 README.md。",
        "This repository has no README.md yet.",
    ),
    (
        "repo.card_error",
        "说明卡片的元数据有误：",
        "The card's metadata has an error:",
    ),
    ("repo.downloads", "下载量", "Downloads"),
    ("repo.likes", "喜欢", "Likes"),
    ("repo.license", "许可证", "License"),
    ("repo.updated", "更新于", "Updated"),
    ("repo.clone", "克隆", "Clone"),
    ("repo.size", "大小", "Size"),
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
    ("account.wrong_password", "当前密码不正确。", "The current password is wrong."),
    ("account.saved", "已保存。", "Saved."),
    ("account.password_changed", "密码已修改，其他设备上的登录已退出。", "Password changed; other sessions were signed out."),
    ("commit.summary", "提交说明", "Commit message"),
    ("commit.summary_hint", "（可选）", "(optional)"),
    ("commit.description", "详细描述（可选）", "Extended description (optional)"),
    ("form.cancel", "取消", "Cancel"),
    ("upload.title", "上传文件", "Upload files"),
    ("upload.branch", "分支", "Branch"),
    ("upload.drop", "把文件拖到这里，或者", "Drag files here, or"),
    ("upload.choose", "选择文件", "Choose files"),
    ("upload.chosen", "已选择的文件", "Chosen files"),
    ("upload.remove", "移除", "Remove"),
    ("upload.folder", "上传到文件夹", "Upload into folder"),
    ("upload.folder_hint", "（可选，例如 data/）", "(optional, e.g. data/)"),
    ("upload.default_summary", "上传文件", "Upload files"),
    ("upload.progress", "上传进度", "Upload progress"),
    ("upload.submit", "提交到仓库", "Commit to the repository"),
    ("upload.uploading", "正在上传…", "Uploading…"),
    ("upload.committing", "正在提交…", "Committing…"),
    ("upload.done", "完成。", "Done."),
    ("upload.failed", "上传失败：", "Upload failed:"),
    ("upload.none_chosen", "请先选择至少一个文件。", "Choose at least one file first."),
    ("edit.title", "编辑文件", "Edit file"),
    ("edit.new_title", "新建文件", "Create a new file"),
    ("edit.path", "文件路径", "File path"),
    ("edit.content", "内容", "Content"),
    ("edit.commit", "提交更改", "Commit changes"),
    ("delete.title", "删除文件", "Delete file"),
    ("delete.confirm", "确定要删除这个文件吗？", "Do you really want to delete this file?"),
    ("delete.submit", "删除并提交", "Delete and commit"),
    ("settings.title", "仓库设置", "Repository settings"),
    ("settings.visibility", "可见性", "Visibility"),
    ("settings.now_public", "当前为公开仓库。", "This repository is public."),
    ("settings.now_private", "当前为私有仓库。", "This repository is private."),
    ("settings.public", "公开：所有人可见", "Public: anyone can see it"),
    ("settings.private", "私有：只有你和组织成员可见", "Private: only you and organization members can see it"),
    ("settings.save", "保存", "Save"),
    ("settings.rename", "重命名或转移", "Rename or move"),
    ("settings.rename_submit", "重命名", "Rename"),
    ("settings.delete", "删除仓库", "Delete this repository"),
    ("settings.delete_warning", "删除后无法恢复：所有文件、历史和设置都会被删除。", "This cannot be undone: all files, history and settings are deleted."),
    ("settings.type_name", "请输入仓库全名以确认：", "Type the repository's full name to confirm:"),
    ("settings.delete_submit", "我明白后果，删除仓库", "I understand, delete this repository"),
    ("settings.confirm_mismatch", "输入的名称与仓库全名不一致，仓库没有被删除。", "The name you typed does not match the repository's full name; nothing was deleted."),
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
    ("repo.upload", "上传文件", "Upload files"),
    ("repo.new_file", "新建文件", "Create file"),
    ("repo.settings", "设置", "Settings"),
    ("repo.edit", "编辑", "Edit"),
    ("repo.delete_file", "删除", "Delete"),
    ("nav.account", "账号设置", "Account settings"),
    // --- end ui-manage ---
    ("error.title", "出错了", "Something went wrong"),
    (
        "error.not_found",
        "找不到这个页面或仓库。",
        "This page or repository does not exist.",
    ),
    ("error.back_home", "返回首页", "Back to the home page"),
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

    /// Every key used in a template exists in both languages.
    #[test]
    fn every_template_key_is_translated() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for piece in text.split(".t(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                assert!(
                    MESSAGES.iter().any(|(k, _, _)| *k == key),
                    "missing translation for {key}"
                );
            }
        }
        let mut keys: Vec<_> = MESSAGES.iter().map(|(k, _, _)| k).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), MESSAGES.len(), "duplicate keys");
    }
}
