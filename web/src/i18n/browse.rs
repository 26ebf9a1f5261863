//! UI strings of the browsing pages: discovery, repo pages, files,
//! history and the dataset viewer. (key, zh-CN, en)

use hub_core::error::fill;
use hub_core::lfs::rules::LfsPointer;
use hub_core::repos::content::DiffSummary;

use super::Lang;

impl Lang {
    /// Why a file of a commit shows no patch, in words.
    pub fn diff_summary(self, summary: &DiffSummary) -> String {
        let lfs = |p: &LfsPointer| {
            let oid = p.oid.get(..12).unwrap_or(&p.oid);
            let size = self.number(&i64::try_from(p.size).unwrap_or(i64::MAX));
            fill(
                self.t("diff.lfs"),
                &[("oid", oid.to_owned()), ("size", size)],
            )
        };
        let with = |key: &str, name: &str, value: String| fill(self.t(key), &[(name, value)]);
        match summary {
            DiffSummary::Lfs {
                old: Some(a),
                new: Some(b),
            } => format!("{} → {}", lfs(a), lfs(b)),
            DiffSummary::Lfs {
                old: None,
                new: Some(b),
            } => with("diff.lfs_added", "file", lfs(b)),
            DiffSummary::Lfs { old: Some(a), .. } => with("diff.lfs_removed", "file", lfs(a)),
            DiffSummary::Lfs { .. } => String::new(),
            DiffSummary::Large { bytes } => with(
                "diff.large",
                "size",
                self.number(&i64::try_from(*bytes).unwrap_or(i64::MAX)),
            ),
            DiffSummary::Binary => self.t("diff.binary").to_owned(),
        }
    }
}

pub(super) const MESSAGES: &[(&str, &str, &str)] = &[
    ("nav.skip", "跳到正文", "Skip to content"),
    ("home.trending_models", "热门模型", "Trending models"),
    ("home.trending_datasets", "热门数据集", "Trending datasets"),
    ("home.trending_spaces", "热门应用空间", "Trending spaces"),
    ("home.more", "更多", "More"),
    ("tab.label", "仓库页面", "Repository pages"),
    ("tab.model_card", "模型卡片", "Model card"),
    ("tab.dataset_card", "数据集卡片", "Dataset card"),
    ("tab.space_card", "应用空间卡片", "Space card"),
    ("tab.files", "文件和版本", "Files and versions"),
    ("tab.viewer", "数据预览", "Dataset viewer"),
    ("tab.settings", "设置", "Settings"),
    ("repo.tags", "标签", "Tags"),
    ("space.sdk", "运行框架", "SDK"),
    ("space.logs", "日志", "Logs"),
    ("space.settings", "应用空间运行设置", "Space runtime"),
    ("space.restart", "重启", "Restart"),
    ("space.factory", "从头重新构建", "Factory rebuild"),
    ("space.pause", "暂停", "Pause"),
    (
        "space.sleep_time",
        "无人访问多少秒后休眠（-1 表示从不）",
        "Sleep after this many idle seconds (-1: never)",
    ),
    ("space.hardware", "硬件", "Hardware"),
    ("space.variables", "变量", "Variables"),
    ("space.secrets", "密钥（只写）", "Secrets (write-only)"),
    ("space.key", "名称", "Name"),
    ("space.value", "值", "Value"),
    ("space.description", "说明", "Description"),
    ("space.add", "添加", "Add"),
    ("space.remove", "删除", "Remove"),
    ("space.used_by", "使用它的应用空间", "Spaces using this"),
    ("space.logs_build", "构建日志", "Build logs"),
    ("space.logs_run", "运行日志", "Container logs"),
    (
        "space.stage.no_app_file",
        "缺少应用文件",
        "No application file",
    ),
    (
        "space.stage.config_error",
        "配置错误",
        "Configuration error",
    ),
    ("space.stage.building", "构建中", "Building"),
    ("space.stage.build_error", "构建失败", "Build error"),
    ("space.stage.app_starting", "启动中", "Starting"),
    ("space.stage.running", "运行中", "Running"),
    ("space.stage.runtime_error", "运行出错", "Runtime error"),
    ("space.stage.paused", "已暂停", "Paused"),
    ("space.stage.sleeping", "休眠中", "Sleeping"),
    ("repo.base_model", "基础模型", "Base model"),
    ("repo.dataset", "数据集", "Dataset"),
    ("repo.file_count", "个文件", "files"),
    ("facet.task", "任务", "Task"),
    ("facet.library", "框架", "Library"),
    ("facet.language", "语言", "Languages"),
    ("facet.license", "许可证", "License"),
    ("facet.quantization", "量化", "Quantization"),
    ("use.title", "使用方法", "Use this repository"),
    ("use.huggingface_hub", "huggingface_hub", "huggingface_hub"),
    ("use.transformers", "Transformers", "Transformers"),
    ("use.datasets", "Datasets", "Datasets"),
    ("use.modelscope", "ModelScope", "ModelScope"),
    ("use.git", "Git 克隆", "Git clone"),
    ("use.llamacpp", "llama.cpp", "llama.cpp"),
    ("use.ollama", "Ollama", "Ollama"),
    ("use.lmstudio", "LM Studio", "LM Studio"),
    ("files.revision", "版本", "Revision"),
    ("files.branch", "分支", "branch"),
    ("files.tag", "标签", "tag"),
    (
        "files.any_revision",
        "分支、标签或提交",
        "Branch, tag or commit",
    ),
    ("files.go", "前往", "Go"),
    ("files.path", "路径", "Path"),
    ("files.history", "提交历史", "History"),
    ("files.name", "名称", "Name"),
    ("files.last_commit", "最近提交", "Last commit"),
    ("files.empty", "这个文件夹是空的。", "This folder is empty."),
    (
        "files.lfs_title",
        "用 Git LFS 存储的大文件",
        "Large file stored with Git LFS",
    ),
    ("files.raw", "原始文件", "Raw"),
    ("files.rendered", "预览", "Preview"),
    ("files.source", "源码", "Source"),
    ("files.upload", "上传文件", "Upload files"),
    ("files.new_file", "新建文件", "Create a file"),
    ("files.edit", "编辑", "Edit"),
    ("files.delete", "删除", "Delete"),
    ("files.download", "下载", "Download"),
    (
        "files.lfs_stored",
        "这个文件用 Git LFS 存储，太大了不在页面里显示。",
        "This file is stored with Git LFS; it is too large to show here.",
    ),
    (
        "files.binary",
        "这是一个二进制文件，无法作为文本显示，请下载查看。",
        "This is a binary file; it cannot be shown as text. Download it to view it.",
    ),
    (
        "files.binary_viewer",
        "数据文件可以在数据预览中查看。",
        "Data files can be read in the dataset viewer.",
    ),
    (
        "files.too_large_to_show",
        "这个文件超过 1 MB，不在页面中显示，请下载查看。",
        "This file is larger than 1 MB, too large to show here. Download it to view it.",
    ),
    (
        "viewer.open",
        "在数据预览中打开",
        "Open in the dataset viewer",
    ),
    ("viewer.files", "可预览的文件", "Files to preview"),
    ("viewer.splits", "数据划分", "Splits"),
    ("viewer.split_train", "训练集", "train"),
    ("viewer.split_validation", "验证集", "validation"),
    ("viewer.split_test", "测试集", "test"),
    (
        "viewer.no_files",
        "这个版本里没有 CSV、TSV、JSONL 或 Parquet 文件。",
        "No CSV, TSV, JSONL or Parquet files at this revision.",
    ),
    ("viewer.rows", "行", "rows"),
    ("viewer.rows_range", "第 {}–{} 行", "rows {}–{}"),
    ("viewer.of_total", "，共 {} 行", " of {}"),
    (
        "viewer.of_at_least",
        "，至少 {} 行（超过 {} MiB 的文件不数到结尾）",
        " of at least {} (files over {} MiB are not counted to the end)",
    ),
    (
        "viewer.no_rows_here",
        "这一页没有数据行。",
        "There are no rows on this page.",
    ),
    (
        "viewer.beyond_scan",
        "这一页的行在文件的前 {} MiB 之后，超出了预览读取的范围；请下载文件查看。",
        "This page's rows lie beyond the first {} MiB of the file, further than the viewer reads; download the file to see them.",
    ),
    (
        "viewer.rows_cut",
        "这一页有些行超出了预览的读取限制，没有显示。",
        "Some rows of this page are not shown: reading them would take more than the limit.",
    ),
    (
        "viewer.unknown_format",
        "无法预览这个文件：只支持 CSV、TSV、JSONL 和 Parquet 文件。",
        "This file cannot be previewed: only CSV, TSV, JSONL and Parquet files can.",
    ),
    (
        "viewer.too_large",
        "无法预览这个文件：读取前几行需要的数据超过了限制。",
        "This file cannot be previewed: reading its first rows would take more than the limit.",
    ),
    (
        "viewer.malformed",
        "无法预览这个文件：它的内容与格式不符。",
        "This file cannot be previewed: its content does not match its format.",
    ),
    ("list.filters", "筛选", "Filters"),
    ("list.no_values", "暂无", "None yet"),
    ("list.clear", "清除", "Clear"),
    ("list.search", "搜索", "Search"),
    (
        "list.search_placeholder",
        "按名称、描述或卡片内容搜索（中英文均可）",
        "Search names, descriptions and cards (Chinese or English)",
    ),
    ("list.sort", "排序", "Sort"),
    (
        "list.none",
        "没有符合条件的仓库。",
        "No repositories match.",
    ),
    ("list.page", "第 {n} 页", "Page {n}"),
    ("list.pages", "翻页", "Pages"),
    ("list.prev", "上一页", "Previous"),
    ("list.next", "下一页", "Next"),
    ("sort.trending", "热门", "Trending"),
    ("sort.likes", "最多喜欢", "Most likes"),
    ("sort.downloads", "最多下载", "Most downloads"),
    ("sort.modified", "最近更新", "Recently updated"),
    ("commit.count", "个提交", "commits"),
    ("commit.browse", "浏览文件", "Browse files"),
    ("commit.id", "提交", "Commit"),
    ("commit.parent", "父提交", "parent"),
    ("commit.files_changed", "个文件有改动", "files changed"),
    ("commit.added", "新增", "added"),
    (
        "diff.lfs",
        "LFS 文件 {oid}（{size} 字节）",
        "LFS {oid} ({size} bytes)",
    ),
    ("diff.lfs_added", "新增 {file}", "added {file}"),
    ("diff.lfs_removed", "删除 {file}", "removed {file}"),
    (
        "diff.large",
        "大文件（{size} 字节），不显示差异",
        "large file ({size} bytes): diff not shown",
    ),
    ("diff.binary", "二进制文件", "binary file"),
    ("commit.deleted", "删除", "deleted"),
    ("commit.renamed", "重命名", "renamed"),
    ("commit.modified", "修改", "modified"),
    (
        "commit.history_cut",
        "只查看了最近的一万个提交，更早的改动没有列出。",
        "Only the latest 10,000 commits were examined; older changes are not listed.",
    ),
    (
        "commit.diff_cut",
        "差异太长，只显示了开头部分。",
        "The diff is long; only its beginning is shown.",
    ),
];

#[cfg(test)]
mod tests {
    use crate::i18n::Lang;

    /// Keys chosen in Rust code (not visible to the template scan).
    #[test]
    fn keys_used_from_code_exist() {
        for key in [
            "type.model",
            "type.dataset",
            "type.space",
            "tab.model_card",
            "tab.dataset_card",
            "tab.space_card",
            "facet.task",
            "facet.library",
            "facet.language",
            "facet.license",
            "facet.quantization",
            "sort.trending",
            "sort.likes",
            "sort.downloads",
            "sort.modified",
            "use.huggingface_hub",
            "use.transformers",
            "use.datasets",
            "use.modelscope",
            "use.llamacpp",
            "use.ollama",
            "use.lmstudio",
            "use.git",
            "commit.added",
            "commit.deleted",
            "commit.renamed",
            "commit.modified",
            "viewer.unknown_format",
            "viewer.too_large",
            "viewer.malformed",
            "home.trending_models",
            "home.trending_datasets",
            "home.trending_spaces",
            "home.recent_models",
            "home.recent_datasets",
            "home.recent_spaces",
            "nav.models",
            "nav.datasets",
            "nav.spaces",
        ] {
            assert_ne!(Lang::Zh.t(key), "??", "{key}");
            assert_ne!(Lang::En.t(key), "??", "{key}");
        }
    }
}
