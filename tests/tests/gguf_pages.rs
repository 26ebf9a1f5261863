//! The GGUF viewer on the file page: a small GGUF written by candle's own
//! writer (an independent implementation of the format), uploaded as an
//! LFS file, shows its architecture, parameter count, quantisation,
//! context length, tensor types and chat template (escaped), in both
//! languages; a file named `.gguf` that is not one shows a reason.

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use tests::{TestHub, file_op, lfs_op, upload_lfs};

/// A tiny llama-shaped GGUF: two Q4_0 matrices, one Q8_0, one F16 norm;
/// 2048 + 2048 + 1024 + 32 = 5152 parameters.
fn tiny_gguf(vocabulary: usize) -> Vec<u8> {
    let dev = Device::Cpu;
    let matrix = |rows: usize, dtype: GgmlDType| {
        let t = Tensor::arange(0f32, (rows * 32) as f32, &dev)
            .unwrap()
            .reshape((rows, 32))
            .unwrap();
        QTensor::quantize(&t, dtype).unwrap()
    };
    let q = matrix(64, GgmlDType::Q4_0);
    let k = matrix(64, GgmlDType::Q4_0);
    let v = matrix(32, GgmlDType::Q8_0);
    let norm = QTensor::quantize(
        &Tensor::ones(32, candle_core::DType::F32, &dev).unwrap(),
        GgmlDType::F16,
    )
    .unwrap();
    let arch = Value::String("llama".into());
    let name = Value::String("Tiny Llama".into());
    let context = Value::U32(8192);
    let template = Value::String(
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>{% endfor %}"
            .into(),
    );
    let tokens = Value::Array(
        ["<s>", "</s>", "你", "好"]
            .iter()
            .map(|t| (*t).to_owned())
            .chain((4..vocabulary).map(|i| format!("token-{i}")))
            .map(Value::String)
            .collect(),
    );
    // llama.cpp's LLAMA_FTYPE_MOSTLY_Q4_0.
    let file_type = Value::U32(2);
    let mut out = std::io::Cursor::new(Vec::new());
    gguf_file::write(
        &mut out,
        &[
            ("general.architecture", &arch),
            ("general.name", &name),
            ("general.file_type", &file_type),
            ("llama.context_length", &context),
            ("tokenizer.chat_template", &template),
            ("tokenizer.ggml.tokens", &tokens),
        ],
        &[
            ("blk.0.attn_q.weight", &q),
            ("blk.0.attn_k.weight", &k),
            ("blk.0.attn_v.weight", &v),
            ("output_norm.weight", &norm),
        ],
    )
    .unwrap();
    out.into_inner()
}

async fn page(hub: &TestHub, path: &str, lang: &str) -> String {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", hub.url))
        .header("accept-language", lang)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    let html = r.text().await.unwrap();
    tests::assert_no_inline_script(&html, path);
    html
}

#[tokio::test]
async fn gguf_file_page_shows_the_model_facts() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("model", "alice", "tiny", false)
            .await
            .status,
        200
    );
    let data = tiny_gguf(4);
    let oid = upload_lfs(&hub, &token, "alice/tiny", &data).await;
    // A vocabulary of 200k tokens puts the tensor infos past the first
    // read (1 MiB): the reader must grow its read to reach them.
    let big = tiny_gguf(200_000);
    assert!(big.len() > 3 << 20);
    let big_oid = upload_lfs(&hub, &token, "alice/tiny", &big).await;
    let c = api
        .commit(
            "alice/tiny",
            "add gguf",
            &[
                lfs_op("tiny-Q4_0.gguf", &oid, data.len()),
                lfs_op("big/big-vocab.gguf", &big_oid, big.len()),
                // Named .gguf, holds something else: a reason, not an error page.
                file_op("fake.gguf", b"GGML not really"),
                file_op("short.gguf", b"GGUF\x03\0\0\0\x01"),
            ],
            None,
        )
        .await;
    assert_eq!(c.status, 200, "{:?}", c.body);

    let en = page(&hub, "/alice/tiny/blob/main/tiny-Q4_0.gguf", "en").await;
    assert!(en.contains("GGUF model"), "{en}");
    assert!(en.contains("Architecture"));
    assert!(en.contains("<code>llama</code>"), "{en}");
    assert!(en.contains("Tiny Llama"));
    assert!(en.contains("5.1k"), "{en}");
    assert!(en.contains("5,152"));
    assert!(en.contains("Quantization"));
    assert!(en.contains("<code>Q4_0</code>"));
    assert!(en.contains("<code>Q8_0</code>"));
    assert!(en.contains("<code>F16</code>"));
    assert!(en.contains("8,192"));
    assert!(en.contains("Chat template"));
    // The template is text, escaped: its tags never reach the page as HTML.
    assert!(!en.contains("<|im_start|>"));
    assert!(
        en.contains("&#60;|im_start|&#62;") || en.contains("&lt;|im_start|&gt;"),
        "{en}"
    );
    assert!(en.contains("{% for m in messages %}"));

    let zh = page(&hub, "/alice/tiny/blob/main/tiny-Q4_0.gguf", "zh-CN").await;
    assert!(zh.contains("GGUF 模型信息"), "{zh}");
    assert!(zh.contains("架构"));
    assert!(zh.contains("<code>llama</code>"));
    assert!(zh.contains("5152") || zh.contains("5,152"), "{zh}");
    assert!(zh.contains("量化"));
    assert!(zh.contains("<code>Q4_0</code>"));
    assert!(zh.contains("对话模板"));
    assert!(zh.contains("|im_start|"));

    let big = page(&hub, "/alice/tiny/blob/main/big/big-vocab.gguf", "en").await;
    assert!(big.contains("200,000"), "{big}");
    assert!(big.contains("5,152"));
    assert!(big.contains("<code>Q4_0</code>"));

    // The model page lists the GGUF files with their quantisations.
    for (lang, title) in [("en", "GGUF files"), ("zh-CN", "GGUF 文件")] {
        let model = page(&hub, "/alice/tiny", lang).await;
        assert!(model.contains(title), "{model}");
        assert!(model.contains("href=\"/alice/tiny/blob/main/tiny-Q4_0.gguf\""));
        assert!(
            model.contains("tiny-Q4_0.gguf</a> <span class=\"chip\">Q4_0</span>"),
            "{model}"
        );
        assert!(model.contains("fake.gguf</a> <span class=\"muted\">"));
    }

    let fake = page(&hub, "/alice/tiny/blob/main/fake.gguf", "en").await;
    assert!(fake.contains("Cannot read this GGUF header"), "{fake}");
    assert!(fake.contains("does not start with the GGUF magic"));
    let short = page(&hub, "/alice/tiny/blob/main/short.gguf", "zh-CN").await;
    assert!(short.contains("无法读取这个 GGUF 文件的头部"), "{short}");
    assert!(short.contains("文件在头部中间就结束了"));
}

#[tokio::test]
async fn gguf_repos_are_tagged_found_and_shown_with_local_runtimes() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    for name in ["quants", "plain"] {
        assert_eq!(
            api.create_repo("model", "alice", name, false).await.status,
            200
        );
    }
    let small = tiny_gguf(4);
    let large = tiny_gguf(64);
    let small_oid = upload_lfs(&hub, &token, "alice/quants", &small).await;
    let large_oid = upload_lfs(&hub, &token, "alice/quants", &large).await;
    let c = api
        .commit(
            "alice/quants",
            "add two quantisations",
            &[
                lfs_op("tiny-q4_0.gguf", &small_oid, small.len()),
                lfs_op("sub/tiny-Q8_0.gguf", &large_oid, large.len()),
            ],
            None,
        )
        .await;
    assert_eq!(c.status, 200, "{:?}", c.body);
    let c = api
        .commit(
            "alice/plain",
            "card",
            &[file_op("README.md", b"# plain\n")],
            None,
        )
        .await;
    assert_eq!(c.status, 200, "{:?}", c.body);

    // Tags and library as Hugging Face reports a GGUF repo.
    let info: serde_json::Value = reqwest::get(format!("{}/api/models/alice/quants", hub.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tags: Vec<&str> = info["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert_eq!(
        tags,
        ["gguf", "quantization:Q4_0", "quantization:Q8_0"],
        "{info}"
    );
    assert_eq!(info["library_name"], "gguf");

    // Search: the library filter, the quantisation facet.
    let listed = |query: &'static str| {
        let url = format!("{}/api/models?{query}", hub.url);
        async move {
            let list: Vec<serde_json::Value> =
                reqwest::get(url).await.unwrap().json().await.unwrap();
            list.iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("filter=gguf").await, ["alice/quants"]);
    assert_eq!(listed("filter=quantization:Q8_0").await, ["alice/quants"]);
    assert!(listed("filter=quantization:Q4_K_M").await.is_empty());
    for (lang, facet) in [("en", "Quantization"), ("zh-CN", "量化")] {
        let models = page(&hub, "/models", lang).await;
        assert!(models.contains(facet), "{models}");
        assert!(models.contains("quantization=Q8_0"), "{models}");
        let filtered = page(&hub, "/models?quantization=Q4_0", lang).await;
        assert!(filtered.contains("alice/quants"), "{filtered}");
        assert!(!filtered.contains("alice/plain"), "{filtered}");
    }

    // The model page offers the local runtimes, with the smallest file (no
    // Q4_K_M here) and transformers told which GGUF file to read.
    let model = page(&hub, "/alice/quants", "en").await;
    for wanted in [
        "llama.cpp",
        "llama-server --hf-repo alice/quants --hf-file tiny-q4_0.gguf",
        "Ollama",
        "ollama create quants -f Modelfile",
        "LM Studio",
        "lms import ./tiny-q4_0.gguf",
        "hf download alice/quants tiny-q4_0.gguf --local-dir .",
        "gguf_file=",
    ] {
        assert!(model.contains(wanted), "{wanted} missing: {model}");
    }
    assert!(
        model.contains("llama-server -hf alice/quants:Q4_0"),
        "{model}"
    );
    let plain = page(&hub, "/alice/plain", "en").await;
    assert!(!plain.contains("llama-server"));
    assert!(!plain.contains("gguf_file="));

    // The manifest llama.cpp's `-hf alice/quants[:TAG]` asks for, with its
    // headers (llama.cpp common: `User-Agent: llama-cpp`, JSON).
    let manifest = |path: String, accept: &'static str| {
        let url = format!("{}{path}", hub.url);
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .header("user-agent", "llama-cpp")
                .header("accept", accept)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let json = "application/json";
    let (status, latest) = manifest("/v2/alice/quants/manifests/latest".into(), json).await;
    assert_eq!(status, 200, "{latest}");
    assert_eq!(latest["ggufFile"]["rfilename"], "tiny-q4_0.gguf");
    assert_eq!(latest["ggufFile"]["size"], small.len());
    assert_eq!(latest["ggufFile"]["lfs"]["sha256"], small_oid.as_str());
    let (status, q8) = manifest("/v2/alice/quants/manifests/q8_0".into(), json).await;
    assert_eq!(status, 200, "{q8}");
    assert_eq!(q8["ggufFile"]["rfilename"], "sub/tiny-Q8_0.gguf");
    let (status, unknown) = manifest("/v2/alice/quants/manifests/Q5_K_M".into(), json).await;
    assert_eq!(status, 400, "{unknown}");
    assert!(
        unknown["error"].as_str().unwrap().contains("Q4_0, Q8_0"),
        "{unknown}"
    );
    let (status, none) = manifest("/v2/alice/plain/manifests/latest".into(), json).await;
    assert_eq!(status, 400, "{none}");
    // Ollama's pull asks the same path for a registry manifest: refused plainly.
    let (status, ollama) = manifest(
        "/v2/alice/quants/manifests/latest".into(),
        "application/vnd.docker.distribution.manifest.v2+json",
    )
    .await;
    assert_eq!(status, 404);
    assert!(ollama["error"].as_str().unwrap().contains("ollama create"));
    // A private repo is as invisible here as anywhere.
    let v = reqwest::Client::new()
        .put(format!("{}/api/models/alice/quants/settings", hub.url))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "private": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), 200);
    let (status, _) = manifest("/v2/alice/quants/manifests/latest".into(), json).await;
    assert_eq!(status, 401);
    let (status, _) = manifest("/v2/alice/missing/manifests/latest".into(), json).await;
    assert_eq!(status, 401);
}
