//! UI strings of the safetensors viewer (file page) and the parameter
//! count (model page). (key, zh-CN, en)

pub(super) const MESSAGES: &[(&str, &str, &str)] = &[
    ("tensors.title", "张量", "Tensors"),
    ("tensors.total", "参数总量", "Total parameters"),
    ("tensors.count", "个张量", "tensors"),
    ("tensors.listed_first", "列出前", "listing the first"),
    ("tensors.metadata", "元数据", "Metadata"),
    ("tensors.name", "名称", "Name"),
    ("tensors.dtype", "数据类型", "Dtype"),
    ("tensors.shape", "形状", "Shape"),
    ("tensors.parameters", "参数量", "Parameters"),
    ("tensors.tensor", "张量：", "Tensor:"),
    (
        "tensors.cannot_read",
        "无法读取这个 safetensors 文件的头部：",
        // The reason follows: a space in English, none after the Chinese colon.
        "Cannot read this safetensors header: ",
    ),
    (
        "tensors.too_short",
        "文件太短，放不下头部长度。",
        "the file is too short to hold a header length.",
    ),
    (
        "tensors.header_past_end",
        "头部长度超过了文件大小。",
        "the header length is larger than the file.",
    ),
    (
        "tensors.header_too_large",
        "头部超过 16 MB，不予读取。",
        "the header is larger than 16 MB.",
    ),
    (
        "tensors.not_json",
        "头部不是 JSON 对象。",
        "the header is not a JSON object.",
    ),
    (
        "tensors.bad_metadata",
        "__metadata__ 不是字符串到字符串的对象。",
        "__metadata__ is not an object of strings.",
    ),
    (
        "tensors.bad_entry",
        "有张量缺少有效的 dtype、shape 或 data_offsets。",
        "a tensor lacks a valid dtype, shape or data_offsets.",
    ),
    (
        "tensors.offsets_past_end",
        "有张量的数据偏移超出了文件范围。",
        "a tensor's data offsets lie outside the file.",
    ),
    (
        "tensors.size_mismatch",
        "有张量的数据长度与它的形状和数据类型不符。",
        "a tensor's byte range does not match its shape and dtype.",
    ),
    ("repo.parameters", "参数量", "Parameters"),
];

#[cfg(test)]
mod tests {
    use crate::i18n::Lang;

    /// Keys chosen in Rust code (hub_core::tensors::Unreadable::key).
    #[test]
    fn reasons_are_translated() {
        for key in [
            "tensors.too_short",
            "tensors.header_past_end",
            "tensors.header_too_large",
            "tensors.not_json",
            "tensors.bad_metadata",
            "tensors.bad_entry",
            "tensors.offsets_past_end",
            "tensors.size_mismatch",
        ] {
            assert_ne!(Lang::Zh.t(key), "??", "{key}");
            assert_ne!(Lang::En.t(key), "??", "{key}");
        }
    }
}
