//! UI strings of the GGUF viewer (file page). (key, zh-CN, en)

pub(super) const MESSAGES: &[(&str, &str, &str)] = &[
    ("gguf.title", "GGUF 模型信息", "GGUF model"),
    ("gguf.architecture", "架构", "Architecture"),
    ("gguf.name", "名称", "Name"),
    ("gguf.parameters", "参数量", "Parameters"),
    ("gguf.context_length", "上下文长度", "Context length"),
    ("gguf.embedding_length", "嵌入维度", "Embedding length"),
    ("gguf.block_count", "层数", "Blocks"),
    ("gguf.quantization", "量化", "Quantization"),
    ("gguf.tokenizer", "分词器", "Tokenizer"),
    ("gguf.vocabulary", "词表大小", "Vocabulary size"),
    ("gguf.split", "分片", "Split"),
    ("gguf.split_of", "共", "of"),
    ("gguf.version", "GGUF 版本", "GGUF version"),
    ("gguf.tensor_types", "张量类型", "Tensor types"),
    ("gguf.type", "类型", "Type"),
    ("gguf.tensors", "张量数", "Tensors"),
    ("gguf.chat_template", "对话模板", "Chat template"),
    ("gguf.metadata", "元数据", "Metadata"),
    ("gguf.files", "GGUF 文件", "GGUF files"),
    (
        "gguf.cannot_read",
        "无法读取这个 GGUF 文件的头部：",
        // The reason follows: a space in English, none after the Chinese colon.
        "Cannot read this GGUF header: ",
    ),
    (
        "gguf.not_gguf",
        "文件不以 GGUF 标记开头。",
        "the file does not start with the GGUF magic.",
    ),
    (
        "gguf.unsupported_version",
        "不支持这个 GGUF 版本（只支持 2 和 3）。",
        "this GGUF version is not supported (only 2 and 3 are).",
    ),
    (
        "gguf.truncated",
        "文件在头部中间就结束了。",
        "the file ends inside its header.",
    ),
    (
        "gguf.header_too_large",
        "头部超过 32 MiB，不予读取。",
        "the header is longer than 32 MiB and is not read.",
    ),
    (
        "gguf.malformed",
        "头部含有格式之外的类型、维度或字符串。",
        "the header holds a type, dimension count or string the format does not have.",
    ),
];

#[cfg(test)]
mod tests {
    use crate::i18n::Lang;

    /// Keys chosen in Rust code (hub_core::gguf::Unreadable::key).
    #[test]
    fn reasons_are_translated() {
        for key in [
            "gguf.not_gguf",
            "gguf.unsupported_version",
            "gguf.truncated",
            "gguf.header_too_large",
            "gguf.malformed",
        ] {
            assert_ne!(Lang::Zh.t(key), "??", "{key}");
            assert_ne!(Lang::En.t(key), "??", "{key}");
        }
    }
}
