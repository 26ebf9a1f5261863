//! Names of the card vocabulary a visitor reads: tasks (`pipeline_tag`,
//! `task_categories`) and language codes (`language:`). Cards, links and
//! filters keep the codes; pages show the names. Unknown values show as
//! written.

use std::borrow::Cow;

use super::Lang;

/// (task, zh-CN name); English names are the words of the task.
const TASKS: &[(&str, &str)] = &[
    ("text-generation", "文本生成"),
    ("text2text-generation", "文本到文本生成"),
    ("text-classification", "文本分类"),
    ("token-classification", "词元分类"),
    ("fill-mask", "掩码填充"),
    ("question-answering", "问答"),
    ("table-question-answering", "表格问答"),
    ("summarization", "摘要"),
    ("translation", "翻译"),
    ("sentence-similarity", "句子相似度"),
    ("feature-extraction", "特征提取"),
    ("zero-shot-classification", "零样本分类"),
    ("text-ranking", "文本排序"),
    ("conversational", "对话"),
    ("image-classification", "图像分类"),
    ("object-detection", "目标检测"),
    ("image-segmentation", "图像分割"),
    ("text-to-image", "文生图"),
    ("image-to-text", "图生文"),
    ("image-to-image", "图像到图像"),
    ("image-text-to-text", "图文生文"),
    ("visual-question-answering", "视觉问答"),
    ("document-question-answering", "文档问答"),
    ("zero-shot-image-classification", "零样本图像分类"),
    ("depth-estimation", "深度估计"),
    ("mask-generation", "掩码生成"),
    ("unconditional-image-generation", "无条件图像生成"),
    ("video-classification", "视频分类"),
    ("text-to-video", "文生视频"),
    ("text-to-speech", "文本转语音"),
    ("text-to-audio", "文本转音频"),
    ("automatic-speech-recognition", "语音识别"),
    ("audio-classification", "音频分类"),
    ("audio-to-audio", "音频到音频"),
    ("voice-activity-detection", "语音活动检测"),
    ("tabular-classification", "表格分类"),
    ("tabular-regression", "表格回归"),
    ("time-series-forecasting", "时间序列预测"),
    ("reinforcement-learning", "强化学习"),
    ("robotics", "机器人"),
    ("graph-ml", "图机器学习"),
    ("any-to-any", "任意模态"),
];

/// (ISO 639 code, zh-CN, en)
const LANGUAGES: &[(&str, &str, &str)] = &[
    ("zh", "中文", "Chinese"),
    ("en", "英语", "English"),
    ("yue", "粤语", "Cantonese"),
    ("ja", "日语", "Japanese"),
    ("ko", "韩语", "Korean"),
    ("fr", "法语", "French"),
    ("de", "德语", "German"),
    ("es", "西班牙语", "Spanish"),
    ("pt", "葡萄牙语", "Portuguese"),
    ("it", "意大利语", "Italian"),
    ("ru", "俄语", "Russian"),
    ("ar", "阿拉伯语", "Arabic"),
    ("hi", "印地语", "Hindi"),
    ("vi", "越南语", "Vietnamese"),
    ("th", "泰语", "Thai"),
    ("id", "印尼语", "Indonesian"),
    ("ms", "马来语", "Malay"),
    ("tr", "土耳其语", "Turkish"),
    ("nl", "荷兰语", "Dutch"),
    ("pl", "波兰语", "Polish"),
    ("uk", "乌克兰语", "Ukrainian"),
    ("fa", "波斯语", "Persian"),
    ("he", "希伯来语", "Hebrew"),
    ("bo", "藏语", "Tibetan"),
    ("ug", "维吾尔语", "Uyghur"),
    ("mn", "蒙古语", "Mongolian"),
    ("kk", "哈萨克语", "Kazakh"),
    ("multilingual", "多语言", "Multilingual"),
    ("code", "代码", "Code"),
];

impl Lang {
    /// A task's name: "文本生成" / "Text Generation".
    pub fn task<'a>(self, task: &'a str) -> Cow<'a, str> {
        match self {
            Lang::Zh => match TASKS.iter().find(|(t, _)| *t == task) {
                Some((_, zh)) => Cow::Borrowed(zh),
                None => Cow::Borrowed(task),
            },
            Lang::En if TASKS.iter().any(|(t, _)| *t == task) => Cow::Owned(
                task.split('-')
                    .map(|word| {
                        let mut chars = word.chars();
                        chars.next().map_or(String::new(), |first| {
                            first.to_uppercase().chain(chars).collect()
                        })
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            Lang::En => Cow::Borrowed(task),
        }
    }

    /// A language code's name: "中文" / "Chinese" for `zh` (also `zh-CN`,
    /// `zho`-style codes are shown as written).
    pub fn language<'a>(self, code: &'a str) -> Cow<'a, str> {
        let base = code.split(['-', '_']).next().unwrap_or(code);
        match LANGUAGES
            .iter()
            .find(|(c, _, _)| c.eq_ignore_ascii_case(base))
        {
            Some((_, zh, en)) if base.len() == code.len() => {
                Cow::Borrowed(if self == Lang::Zh { zh } else { en })
            }
            // A regional variant: the language's name and the code.
            Some((_, zh, en)) => Cow::Owned(format!(
                "{}{}{code}{}",
                if self == Lang::Zh { zh } else { en },
                self.open_paren(),
                self.close_paren()
            )),
            None => Cow::Borrowed(code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_and_languages_have_names() {
        assert_eq!(Lang::Zh.task("text-generation"), "文本生成");
        assert_eq!(Lang::En.task("text-generation"), "Text Generation");
        assert_eq!(Lang::Zh.task("my-task"), "my-task");
        assert_eq!(Lang::Zh.language("zh"), "中文");
        assert_eq!(Lang::En.language("zh"), "Chinese");
        assert_eq!(Lang::Zh.language("zh-TW"), "中文（zh-TW）");
        assert_eq!(Lang::Zh.language("xx"), "xx");
    }
}
