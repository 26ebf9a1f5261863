//! What a finished fine-tune publishes besides its weights: the model card
//! (`README.md`, bilingual, with the front matter the model tree reads) and
//! the loss curve (`loss_curve.svg`, also drawn live on the job page).
//!
//! Values users chose (dataset names, module names, the license copied
//! from the base's card) are quoted for YAML and escaped for Markdown: the
//! card must say what the job did, never what a name makes it say.

use std::fmt::Write as _;

use worker_protocol::TrainHyperparameters;

/// The card's file name and the curve's.
pub const README: &str = "README.md";
pub const LOSS_CURVE: &str = "loss_curve.svg";

/// The curve's size in the repo.
const CURVE_WIDTH: u32 = 640;
const CURVE_HEIGHT: u32 = 360;

const TRAIN_COLOUR: &str = "#2563eb";
const VALID_COLOUR: &str = "#ea580c";

/// What the card says.
#[derive(Debug, Clone, PartialEq)]
pub struct CardInfo {
    /// The repo the card is for (`ns/name`).
    pub repo_id: String,
    /// The base model (`ns/name`).
    pub base_model: String,
    /// The base model's license, as its card gives it.
    pub license: Option<String>,
    /// Dataset repos (`ns/name`) the examples came from; empty for
    /// uploaded files.
    pub datasets: Vec<String>,
    pub hyperparameters: TrainHyperparameters,
    /// Examples were cut at this many tokens.
    pub max_length: u32,
    /// The last losses logged.
    pub train_loss: Option<f64>,
    pub valid_loss: Option<f64>,
    pub trained_tokens: u64,
    pub job_id: String,
    /// The merged full checkpoint, not the adapter.
    pub merged: bool,
    /// The hub's address, for the usage examples (`https://…`, no slash at
    /// the end).
    pub hub_url: String,
    /// (step, loss) of the curve.
    pub train_points: Vec<(u64, f64)>,
    pub valid_points: Vec<(u64, f64)>,
}

/// The files to commit with the weights: the card and the curve.
pub fn card_files(info: &CardInfo) -> Vec<(&'static str, String)> {
    vec![
        (README, model_card(info)),
        (
            LOSS_CURVE,
            loss_curve_svg(
                &info.train_points,
                &info.valid_points,
                CURVE_WIDTH,
                CURVE_HEIGHT,
            ),
        ),
    ]
}

/// The repo's README.md: front matter, then the English and Chinese text.
pub fn model_card(info: &CardInfo) -> String {
    let mut out = String::from("---\n");
    let relation = if info.merged { "finetune" } else { "adapter" };
    let _ = writeln!(out, "base_model: {}", yaml_string(&info.base_model));
    let _ = writeln!(out, "base_model_relation: {relation}");
    let library = if info.merged { "transformers" } else { "peft" };
    let _ = writeln!(out, "library_name: {library}");
    if let Some(license) = &info.license {
        let _ = writeln!(out, "license: {}", yaml_string(license));
    }
    if !info.datasets.is_empty() {
        out.push_str("datasets:\n");
        for d in &info.datasets {
            let _ = writeln!(out, "- {}", yaml_string(d));
        }
    }
    out.push_str("pipeline_tag: text-generation\ntags:\n");
    let fixed: &[&str] = if info.merged {
        &["transformers", "kaiyuan-fine-tune"]
    } else {
        &["lora", "peft", "kaiyuan-fine-tune"]
    };
    for tag in fixed {
        let _ = writeln!(out, "- {tag}");
    }
    let lineage = format!("base_model:{relation}:{}", info.base_model);
    let _ = writeln!(out, "- {}", yaml_string(&lineage));
    out.push_str("---\n\n");

    let _ = writeln!(out, "# {}\n", md(&info.repo_id));
    section(&mut out, info, false);
    out.push('\n');
    section(&mut out, info, true);
    out
}

/// The card's text in English, or in Chinese (`zh`).
fn section(out: &mut String, info: &CardInfo, zh: bool) {
    let base = md(&info.base_model);
    let job = md(&info.job_id);
    let datasets = (!info.datasets.is_empty()).then(|| {
        info.datasets
            .iter()
            .map(|d| md(d))
            .collect::<Vec<_>>()
            .join(", ")
    });
    let (train_loss, valid_loss) = (loss(info.train_loss), loss(info.valid_loss));
    let tokens = info.trained_tokens;
    let what = match (zh, info.merged) {
        (false, true) => format!(
            "{base} fine-tuned with LoRA by Kaiyuan Hub (job {job}), the adapter merged into the base weights: a full checkpoint."
        ),
        (false, false) => format!(
            "A LoRA adapter of {base}, trained by Kaiyuan Hub's fine-tuning (job {job}). It holds only the low-rank weights; load it on the base model."
        ),
        (true, true) => format!(
            "由开源模型库（Kaiyuan Hub）用 LoRA 微调 {base}（任务 {job}），并把适配器合并进基础模型权重：这是一个完整的模型。"
        ),
        (true, false) => format!(
            "{base} 的 LoRA 适配器，由开源模型库（Kaiyuan Hub）的微调服务训练（任务 {job}）。仓库只含低秩权重，需加载在基础模型上使用。"
        ),
    };
    let data = datasets.map(|d| {
        if zh {
            format!("训练数据：{d}。\n\n")
        } else {
            format!("Training data: {d}.\n\n")
        }
    });
    let losses = if zh {
        format!(
            "最终训练损失：{train_loss}。最终验证损失：{valid_loss}。训练的 token 数（全部轮次）：{tokens}。"
        )
    } else {
        format!(
            "Final training loss: {train_loss}. Final validation loss: {valid_loss}. Tokens trained (all epochs): {tokens}."
        )
    };
    let [heading, training, table, image, usage_title] = if zh {
        ["简体中文", "训练", "| 超参数 | 取值 |", "损失曲线", "使用"]
    } else {
        [
            "English",
            "Training",
            "| hyperparameter | value |",
            "loss",
            "Use",
        ]
    };
    let _ = write!(
        out,
        "## {heading}\n\n{what}\n\n{}### {training}\n\n{table}\n|---|---|\n",
        data.unwrap_or_default()
    );
    hyperparameter_rows(out, info);
    let _ = write!(
        out,
        "\n{losses}\n\n![{image}]({LOSS_CURVE})\n\n### {usage_title}\n\n"
    );
    usage(out, info);
}

fn hyperparameter_rows(out: &mut String, info: &CardInfo) {
    let h = &info.hyperparameters;
    let rows = [
        ("n_epochs", h.n_epochs.to_string()),
        ("batch_size", h.batch_size.to_string()),
        ("learning_rate", format!("{:e}", h.learning_rate)),
        ("lora_r", h.lora_r.to_string()),
        ("lora_alpha", h.lora_alpha.to_string()),
        ("lora_dropout", h.lora_dropout.to_string()),
        ("target_modules", md(&h.target_modules.join(", "))),
        ("max_length", info.max_length.to_string()),
        ("seed", h.seed.to_string()),
    ];
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {value} |");
    }
}

/// The code blocks: transformers (with PEFT for an adapter), and the hub's
/// OpenAI-compatible API.
fn usage(out: &mut String, info: &CardInfo) {
    // JSON string literals are Python string literals for these values.
    let repo = serde_json::to_string(&info.repo_id).unwrap_or_default();
    let base = serde_json::to_string(&info.base_model).unwrap_or_default();
    let endpoint = serde_json::to_string(&info.hub_url).unwrap_or_default();
    let api = serde_json::to_string(&format!("{}/v1", info.hub_url)).unwrap_or_default();
    out.push_str("```python\nimport os\n");
    let _ = writeln!(out, "os.environ[\"HF_ENDPOINT\"] = {endpoint}");
    out.push_str("from transformers import AutoModelForCausalLM, AutoTokenizer\n");
    if info.merged {
        let _ = writeln!(out, "model = AutoModelForCausalLM.from_pretrained({repo})");
        let _ = writeln!(out, "tokenizer = AutoTokenizer.from_pretrained({repo})");
    } else {
        out.push_str("from peft import PeftModel\n\n");
        let _ = writeln!(out, "base = AutoModelForCausalLM.from_pretrained({base})");
        let _ = writeln!(out, "model = PeftModel.from_pretrained(base, {repo})");
        let _ = writeln!(out, "tokenizer = AutoTokenizer.from_pretrained({repo})");
    }
    out.push_str(
        "messages = [{\"role\": \"user\", \"content\": \"你好\"}]\n\
         inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors=\"pt\")\n\
         output = model.generate(inputs, max_new_tokens=128)\n\
         print(tokenizer.decode(output[0][inputs.shape[-1]:], skip_special_tokens=True))\n```\n\n",
    );
    out.push_str("```python\nimport os\nfrom openai import OpenAI\n\n");
    let _ = writeln!(
        out,
        "client = OpenAI(base_url={api}, api_key=os.environ[\"HF_TOKEN\"])"
    );
    let _ = writeln!(
        out,
        "reply = client.chat.completions.create(model={repo}, messages=[{{\"role\": \"user\", \"content\": \"你好\"}}])"
    );
    out.push_str("print(reply.choices[0].message.content)\n```\n");
}

fn loss(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        _ => "—".to_owned(),
    }
}

/// A YAML double-quoted scalar holding exactly `s`: quotes, backslashes and
/// every line break or control character escaped, so a value cannot end
/// the scalar, the line or the front matter.
fn yaml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `s` as literal Markdown text on one line: line breaks become spaces,
/// punctuation that Markdown or HTML could read is backslash-escaped.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => out.push(' '),
            c if c.is_control() => {}
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '<' | '>' | '#' | '|' | '!' | '&'
            | '~' | '{' | '}' | '"' | '\'' | '+' | '=' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The loss curve as a self-contained SVG: step on x, loss on y, the
/// training loss and the validation loss in two colours, a legend. Points
/// that are not finite are left out; a series of one point is a dot. It
/// takes only numbers, so nothing in it comes from a user.
pub fn loss_curve_svg(
    train: &[(u64, f64)],
    valid: &[(u64, f64)],
    width: u32,
    height: u32,
) -> String {
    let width = f64::from(width.clamp(200, 4000));
    let height = f64::from(height.clamp(120, 4000));
    let (left, right, top, bottom) = (56.0, 16.0, 16.0, 36.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let finite = |series: &[(u64, f64)]| -> Vec<(u64, f64)> {
        series
            .iter()
            .copied()
            .filter(|(_, l)| l.is_finite())
            .collect()
    };
    let (train, valid) = (finite(train), finite(valid));

    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\" role=\"img\"><title>loss</title>\
         <rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    let all = || train.iter().chain(&valid);
    let (Some(x_min), Some(x_max)) = (all().map(|p| p.0).min(), all().map(|p| p.0).max()) else {
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#6b7280\">no data yet</text></svg>",
            width / 2.0,
            height / 2.0
        );
        return svg;
    };
    let (y_lo, y_hi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let (x_ticks, x_from, x_to) = ticks(x_min as f64, x_max as f64, 6, true);
    let (y_ticks, y_from, y_to) = ticks(y_lo, y_hi, 5, false);
    let x = |step: f64| left + (step - x_from) / (x_to - x_from) * plot_w;
    let y = |value: f64| top + (y_to - value) / (y_to - y_from) * plot_h;

    // Grid, ticks and their labels.
    let y_decimals = decimals(y_ticks.get(1).zip(y_ticks.first()).map(|(b, a)| b - a));
    for &t in &y_ticks {
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{py:.1}\" y2=\"{py:.1}\" stroke=\"#e5e7eb\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#374151\">{t:.y_decimals$}</text>",
            left + plot_w,
            left - 6.0,
            y(t) + 4.0,
            py = y(t),
        );
    }
    for &t in &x_ticks {
        let _ = write!(
            svg,
            "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#9ca3af\"/>\
             <text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#374151\">{t}</text>",
            top + plot_h,
            top + plot_h + 4.0,
            top + plot_h + 16.0,
            px = x(t),
        );
    }
    let _ = write!(
        svg,
        "<path d=\"M{left} {top}V{}H{}\" fill=\"none\" stroke=\"#6b7280\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#374151\">step</text>",
        top + plot_h,
        left + plot_w,
        left + plot_w / 2.0,
        height - 4.0,
    );

    // The series: at most one point per pixel column.
    let mut legend = Vec::new();
    for (points, colour, name) in [
        (&train, TRAIN_COLOUR, "training loss"),
        (&valid, VALID_COLOUR, "validation loss"),
    ] {
        if points.is_empty() {
            continue;
        }
        legend.push((colour, name));
        let stride = points.len().div_ceil(plot_w as usize).max(1);
        let mut kept: Vec<(u64, f64)> = points.iter().copied().step_by(stride).collect();
        if kept.last() != points.last() {
            kept.extend(points.last());
        }
        if kept.len() == 1 {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>",
                x(kept[0].0 as f64),
                y(kept[0].1)
            );
            continue;
        }
        svg.push_str("<polyline fill=\"none\" stroke-width=\"1.5\" stroke=\"");
        svg.push_str(colour);
        svg.push_str("\" points=\"");
        for (i, (s, l)) in kept.iter().enumerate() {
            if i > 0 {
                svg.push(' ');
            }
            let _ = write!(svg, "{:.1},{:.1}", x(*s as f64), y(*l));
        }
        svg.push_str("\"/>");
    }
    for (i, (colour, name)) in legend.iter().enumerate() {
        let ly = top + 8.0 + 16.0 * i as f64;
        let lx = left + plot_w - 120.0;
        let _ = write!(
            svg,
            "<line x1=\"{lx}\" x2=\"{}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"2\"/>\
             <text x=\"{}\" y=\"{}\" fill=\"#374151\">{name}</text>",
            lx + 18.0,
            lx + 24.0,
            ly + 4.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// About `count` round tick values covering `lo..=hi`, and the range they
/// span (a single value gets a range around it). `integer`: steps of at
/// least 1.
fn ticks(lo: f64, hi: f64, count: usize, integer: bool) -> (Vec<f64>, f64, f64) {
    let (mut lo, mut hi) = (lo, hi);
    if hi - lo < f64::EPSILON * lo.abs().max(1.0) {
        let pad = if integer {
            1.0
        } else {
            (lo.abs() * 0.1).max(0.1)
        };
        lo -= pad;
        hi += pad;
        if integer && lo < 0.0 {
            (lo, hi) = (0.0, hi - lo);
        }
    }
    let raw = (hi - lo) / count as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    if integer {
        step = step.max(1.0).round();
    }
    let from = (lo / step).floor() * step;
    let to = (hi / step).ceil() * step;
    let n = ((to - from) / step).round() as usize;
    let ticks = (0..=n).map(|i| from + step * i as f64).collect();
    (ticks, from, to)
}

/// Decimals that show a tick step.
fn decimals(step: Option<f64>) -> usize {
    match step {
        Some(s) if s > 0.0 && s < 1.0 => (-s.log10().floor()) as usize,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cards::parse_card;

    fn info() -> CardInfo {
        CardInfo {
            repo_id: "alice/Qwen2.5-0.5B-ft".into(),
            base_model: "Qwen/Qwen2.5-0.5B".into(),
            license: Some("apache-2.0".into()),
            datasets: vec!["alice/chat-zh".into()],
            hyperparameters: TrainHyperparameters {
                n_epochs: 3,
                batch_size: 4,
                learning_rate: 2e-4,
                seed: 42,
                lora_r: 8,
                lora_alpha: 16.0,
                lora_dropout: 0.05,
                target_modules: vec!["q_proj".into(), "v_proj".into()],
            },
            max_length: 2048,
            train_loss: Some(0.51234),
            valid_loss: None,
            trained_tokens: 123_456,
            job_id: "ftjob-abc".into(),
            merged: false,
            hub_url: "https://hub.example".into(),
            train_points: vec![(1, 2.0), (2, 1.5), (3, 1.0)],
            valid_points: vec![(3, 1.2)],
        }
    }

    #[test]
    fn adapter_card_front_matter_is_what_the_model_tree_reads() {
        let card = model_card(&info());
        let parsed = parse_card(&card);
        assert_eq!(parsed.error, None);
        let m = &parsed.metadata;
        assert_eq!(m.base_model, ["Qwen/Qwen2.5-0.5B"]);
        assert_eq!(m.library_name.as_deref(), Some("peft"));
        assert_eq!(m.license.as_deref(), Some("apache-2.0"));
        assert_eq!(m.datasets, ["alice/chat-zh"]);
        assert_eq!(m.pipeline_tag.as_deref(), Some("text-generation"));
        assert_eq!(
            m.tags,
            [
                "lora",
                "peft",
                "kaiyuan-fine-tune",
                "base_model:adapter:Qwen/Qwen2.5-0.5B"
            ]
        );
        let data = m.card_data.as_ref().unwrap();
        assert_eq!(data["base_model_relation"], "adapter");
        assert!(
            crate::cards::check_card(&card, crate::repos::RepoType::Model)
                .errors
                .is_empty()
        );

        let body = parsed.body;
        for text in [
            "## English",
            "## 简体中文",
            "| lora_r | 8 |",
            "| learning_rate | 2e-4 |",
            "| target_modules | q\\_proj, v\\_proj |",
            "Final training loss: 0.5123. Final validation loss: —. Tokens trained (all epochs): 123456.",
            "![loss](loss_curve.svg)",
            "PeftModel.from_pretrained(base, \"alice/Qwen2.5-0.5B-ft\")",
            "OpenAI(base_url=\"https://hub.example/v1\"",
            "model=\"alice/Qwen2.5-0.5B-ft\"",
        ] {
            assert!(body.contains(text), "{text:?} missing from\n{body}");
        }
    }

    #[test]
    fn merged_card_is_a_finetune_of_the_base() {
        let card = model_card(&CardInfo {
            merged: true,
            license: None,
            datasets: vec![],
            ..info()
        });
        let parsed = parse_card(&card);
        let m = &parsed.metadata;
        assert_eq!(m.library_name.as_deref(), Some("transformers"));
        assert_eq!(m.license, None);
        assert!(m.datasets.is_empty());
        assert_eq!(
            m.tags,
            [
                "transformers",
                "kaiyuan-fine-tune",
                "base_model:finetune:Qwen/Qwen2.5-0.5B"
            ]
        );
        assert_eq!(
            m.card_data.as_ref().unwrap()["base_model_relation"],
            "finetune"
        );
        assert!(!parsed.body.contains("PeftModel"));
        assert!(
            parsed
                .body
                .contains("AutoModelForCausalLM.from_pretrained(\"alice/Qwen2.5-0.5B-ft\")")
        );
    }

    #[test]
    fn hostile_values_stay_values() {
        let hostile =
            "x\"\n---\nlicense: evil\n\u{2028}<script>a</script> \\ `[link](javascript:1)`";
        let card = model_card(&CardInfo {
            license: Some(hostile.into()),
            datasets: vec![hostile.into(), "ok/data".into()],
            hyperparameters: TrainHyperparameters {
                target_modules: vec![format!("q|{hostile}")],
                ..info().hyperparameters
            },
            ..info()
        });
        let parsed = parse_card(&card);
        assert_eq!(parsed.error, None);
        assert_eq!(parsed.metadata.license.as_deref(), Some(hostile));
        assert_eq!(parsed.metadata.datasets, [hostile, "ok/data"]);
        assert_eq!(parsed.metadata.base_model, ["Qwen/Qwen2.5-0.5B"]);
        // The front matter is exactly the fields written: nothing injected.
        let mut keys: Vec<&String> = parsed
            .metadata
            .card_data
            .as_ref()
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "base_model",
                "base_model_relation",
                "datasets",
                "library_name",
                "license",
                "pipeline_tag",
                "tags"
            ]
        );
        let body = parsed.body;
        assert!(!body.contains("<script>"), "{body}");
        assert!(!body.contains("](javascript"), "{body}");
        assert!(!body.contains("\n---\n"), "{body}");
        // The table keeps its two columns: the `|` is escaped.
        let row = body
            .lines()
            .find(|l| l.starts_with("| target_modules"))
            .unwrap();
        assert_eq!(
            row.matches('|').count() - row.matches("\\|").count(),
            3,
            "{row}"
        );
    }

    #[test]
    fn yaml_strings_round_trip() {
        for s in [
            "plain",
            "a\"b\\c",
            "line\nbreak\r\t",
            "\u{7}\u{85}\u{2028}\u{feff}",
            "中文: #x",
        ] {
            let card = format!("---\nlicense: {}\n---\nbody\n", yaml_string(s));
            let parsed = parse_card(&card);
            assert_eq!(parsed.metadata.license.as_deref(), Some(s), "{card}");
            assert_eq!(parsed.body, "body\n");
        }
    }

    #[test]
    fn curve_draws_both_series_and_a_legend() {
        let train: Vec<(u64, f64)> = (1..=50).map(|s| (s, 3.0 / s as f64)).collect();
        let valid = [(10, 0.9), (20, 0.5), (30, f64::NAN), (40, 0.3)];
        let svg = loss_curve_svg(&train, &valid, 640, 360);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains(TRAIN_COLOUR) && svg.contains(VALID_COLOUR));
        assert!(svg.contains("training loss") && svg.contains("validation loss"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        // The validation line has its three finite points.
        let valid_line = svg
            .split("<polyline")
            .find(|p| p.contains(VALID_COLOUR))
            .unwrap();
        let points = valid_line
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(points.split(' ').count(), 3);
        // Every coordinate lies inside the picture.
        for pair in points.split(' ') {
            let (x, y) = pair.split_once(',').unwrap();
            let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
            assert!(
                (0.0..=640.0).contains(&x) && (0.0..=360.0).contains(&y),
                "{pair}"
            );
        }
    }

    #[test]
    fn curve_with_few_or_no_points() {
        let empty = loss_curve_svg(&[], &[(1, f64::INFINITY)], 300, 200);
        assert!(empty.contains("no data yet") && empty.ends_with("</svg>"));
        let one = loss_curve_svg(&[(5, 1.25)], &[], 300, 200);
        assert!(one.contains("<circle") && !one.contains("<polyline"));
        assert!(!one.contains("NaN"));
        assert!(one.contains("training loss") && !one.contains("validation loss"));
    }

    #[test]
    fn a_long_run_is_thinned_to_the_width() {
        let train: Vec<(u64, f64)> = (0..100_000).map(|s| (s, 1.0 + (s % 7) as f64)).collect();
        let svg = loss_curve_svg(&train, &[], 640, 360);
        let points = svg
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(
            points.split(' ').count() <= 640,
            "{}",
            points.split(' ').count()
        );
        assert!(svg.len() < 64 << 10);
    }

    #[test]
    fn round_ticks() {
        let (t, from, to) = ticks(0.37, 2.91, 5, false);
        assert_eq!((from, to), (0.0, 3.0));
        assert_eq!(t, [0.0, 1.0, 2.0, 3.0]);
        let (t, ..) = ticks(1.0, 1.0, 6, true);
        assert!(t.iter().all(|v| v.fract() == 0.0 && *v >= 0.0), "{t:?}");
        assert_eq!(decimals(Some(0.05)), 2);
    }

    #[test]
    fn files_are_the_card_and_the_curve() {
        let files = card_files(&info());
        assert_eq!(
            files.iter().map(|f| f.0).collect::<Vec<_>>(),
            [README, LOSS_CURVE]
        );
        assert!(files[1].1.contains("<polyline"));
    }
}
