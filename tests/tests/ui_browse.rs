//! The browsing pages as a browser gets them: discovery (home, /models,
//! /datasets with search, filters and sorts, Chinese search included), the
//! repo page (rendered card, side panel, snippets), files (tree at a branch,
//! tag or commit; file view; raw), history and commit diffs, the dataset
//! viewer (CSV, TSV, JSONL, Parquet), the safetensors viewer (tensors,
//! parameter counts, hostile headers), private repos hidden from outsiders,
//! and hostile model cards rendered harmlessly.

use std::sync::Arc;

use serde_json::{Value, json};
use tests::{Api, TestHub, file_op, lfs_op, upload_lfs};

// A browser: cookies kept, redirects not followed (the tests check them).
use tests::browser::client as browser;

/// A browser signed in as `user` (created with password `password-123`).
async fn signed_in(hub: &TestHub, user: &str) -> reqwest::Client {
    let b = browser();
    let r = b
        .post(format!("{}/login", hub.url))
        .form(&[("login", user), ("password", "password-123")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "log-in as {user}");
    b
}

/// GETs a page; returns its status and body.
async fn get(b: &reqwest::Client, hub: &TestHub, path: &str, lang: &str) -> (u16, String) {
    let r = b
        .get(format!("{}{path}", hub.url))
        .header("accept-language", lang)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A page that must answer 200; returns its HTML.
async fn page(b: &reqwest::Client, hub: &TestHub, path: &str, lang: &str) -> String {
    let (status, html) = get(b, hub, path, lang).await;
    assert_eq!(status, 200, "GET {path}: {html}");
    tests::assert_no_inline_script(&html, path);
    html
}

/// HTML with entities spelled one way (askama writes `&#60;` and `&#34;`,
/// ammonia and syntect `&lt;` and `&quot;`): quotes back to quotes, `<`
/// and `>` as `&lt;` and `&gt;`.
fn unquote(html: &str) -> String {
    html.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "&lt;")
        .replace("&#62;", "&gt;")
}

async fn commit(api: &Api, plural: &str, repo: &str, summary: &str, ops: &[Value]) -> String {
    let c = api.commit_to(plural, repo, summary, ops, None).await;
    assert_eq!(c.status, 200, "{:?}", c.body);
    c.body["commitOid"].as_str().unwrap().to_owned()
}

const CHAT_CARD: &str = "---\nlicense: apache-2.0\nlanguage: [zh, en]\npipeline_tag: text-generation\n\
library_name: transformers\ntags: [chat, 对话]\nbase_model: Qwen/Qwen2-0.5B\n---\n\
# 中文对话模型\n\n这是一个中文对话模型，适合客服场景。\n\n| 指标 | 分数 |\n|---|---|\n| C-Eval | 61.2 |\n\n\
```python\nfrom transformers import AutoModel\nmodel = AutoModel.from_pretrained(\"alice/chat-zh\")\n```\n";

/// alice (token) with public models `chat-zh` (Chinese card) and `vision`,
/// a private `secret` model whose card also says 中文, and bob.
async fn discovery_fixture() -> (TestHub, Api) {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    hub.user_with_token("bob");
    let api = hub.api(Some(&token));
    for (name, private) in [("chat-zh", false), ("vision", false), ("secret", true)] {
        assert_eq!(
            api.create_repo("model", "alice", name, private)
                .await
                .status,
            200
        );
    }
    commit(
        &api,
        "models",
        "alice/chat-zh",
        "card",
        &[file_op("README.md", CHAT_CARD.as_bytes())],
    )
    .await;
    commit(
        &api,
        "models",
        "alice/vision",
        "card",
        &[file_op(
            "README.md",
            b"---\nlicense: mit\npipeline_tag: image-classification\nlibrary_name: timm\n---\n# Vision\nAn image classifier for cats.\n",
        )],
    )
    .await;
    commit(
        &api,
        "models",
        "alice/secret",
        "card",
        &[file_op("README.md", "# 秘密\n中文内部模型\n".as_bytes())],
    )
    .await;
    assert_eq!(
        api.create_repo("dataset", "alice", "corpus", false)
            .await
            .status,
        200
    );
    commit(
        &api,
        "datasets",
        "alice/corpus",
        "card",
        &[file_op(
            "README.md",
            b"---\nlicense: cc-by-4.0\nlanguage: zh\ntask_categories: [text-classification]\n---\n# Corpus\n",
        )],
    )
    .await;
    (hub, api)
}

#[tokio::test]
async fn discovery_search_filters_sorts_in_both_languages() {
    let (hub, _api) = discovery_fixture().await;
    let anon = browser();

    // Home: trending and recent lists, in the visitor's language.
    let zh = page(&anon, &hub, "/", "zh-CN").await;
    assert!(
        zh.contains("热门模型") && zh.contains("最近更新的数据集"),
        "{zh}"
    );
    assert!(zh.contains("alice/chat-zh") && zh.contains("alice/corpus"));
    assert!(
        !zh.contains("alice/secret"),
        "private repos stay off the home page"
    );
    let en = page(&anon, &hub, "/", "en-US").await;
    assert!(en.contains("Trending models") && en.contains("Recently updated datasets"));

    // Chinese search: a substring of the card text, with no word boundaries.
    let html = page(&anon, &hub, "/models?search=%E4%B8%AD%E6%96%87", "zh-CN").await;
    assert!(html.contains("alice/chat-zh"), "{html}");
    assert!(!html.contains("alice/vision") && !html.contains("alice/secret"));
    let html = page(&anon, &hub, "/models?search=%E5%AE%A2%E6%9C%8D", "zh-CN").await;
    assert!(
        html.contains("alice/chat-zh"),
        "客服 is inside 适合客服场景"
    );
    // English search, case-insensitive, in names and cards; tags too.
    let html = page(&anon, &hub, "/models?search=CLASSIFIER", "en").await;
    assert!(html.contains("alice/vision") && !html.contains("alice/chat-zh"));
    let html = page(&anon, &hub, "/models?search=%E5%AF%B9%E8%AF%9D+chat", "en").await;
    assert!(html.contains("alice/chat-zh"), "two terms, both must match");
    let html = page(&anon, &hub, "/models?search=nothing-matches-this", "en").await;
    assert!(html.contains("No repositories match."));

    // The owner finds her private model; bob does not.
    let alice = signed_in(&hub, "alice").await;
    let html = page(&alice, &hub, "/models?search=%E4%B8%AD%E6%96%87", "zh-CN").await;
    assert!(html.contains("alice/secret"), "{html}");
    let bob = signed_in(&hub, "bob").await;
    let html = page(&bob, &hub, "/models?search=%E4%B8%AD%E6%96%87", "zh-CN").await;
    assert!(!html.contains("alice/secret"));

    // Facets from card metadata, each a filter.
    let html = page(&anon, &hub, "/models", "en").await;
    for facet in [
        "text-generation",
        "image-classification",
        "transformers",
        "timm",
        "apache-2.0",
        "mit",
    ] {
        assert!(html.contains(facet), "facet value {facet} offered");
    }
    for (query, shown, hidden) in [
        ("task=text-generation", "alice/chat-zh", "alice/vision"),
        ("library=timm", "alice/vision", "alice/chat-zh"),
        ("license=mit", "alice/vision", "alice/chat-zh"),
        ("language=zh", "alice/chat-zh", "alice/vision"),
    ] {
        let html = page(&anon, &hub, &format!("/models?{query}"), "en").await;
        assert!(
            html.contains(shown) && !html.contains(hidden),
            "{query}: {html}"
        );
    }
    let html = page(
        &anon,
        &hub,
        "/datasets?task=text-classification&language=zh",
        "zh-CN",
    )
    .await;
    assert!(html.contains("alice/corpus"), "{html}");
    assert!(html.contains("数据集"));
    let html = page(&anon, &hub, "/datasets?license=mit", "en").await;
    assert!(!html.contains("alice/corpus"));

    // Sorts, each offered and accepted; an unknown sort falls back to trending.
    for sort in ["trending", "likes", "downloads", "modified", "bogus"] {
        let html = page(&anon, &hub, &format!("/models?sort={sort}"), "en").await;
        assert!(html.contains("Most downloads") && html.contains("alice/chat-zh"));
    }
    // Pages: a page past the end is empty, not an error.
    let html = page(&anon, &hub, "/models?p=5", "en").await;
    assert!(html.contains("No repositories match.") && html.contains("rel=\"prev\""));
    // A hand-edited page number is the first page, not an error.
    let html = page(&anon, &hub, "/models?p=abc", "en").await;
    assert!(html.contains("alice/chat-zh"));
    let html = page(&anon, &hub, "/spaces", "zh-CN").await;
    assert!(html.contains("应用空间"));
}

#[tokio::test]
async fn repo_page_renders_the_card_side_panel_and_snippets() {
    let (hub, api) = discovery_fixture().await;
    let anon = browser();
    let r = anon
        .get(format!("{}/alice/chat-zh", hub.url))
        .header("accept-language", "zh-CN")
        .header("host", "hub.example.cn:8443")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let text = unquote(&html);
    // The card: heading, table, highlighted code (classes, no inline style).
    assert!(html.contains("<h1>中文对话模型</h1>"), "{html}");
    assert!(html.contains("<table>") && html.contains("C-Eval"));
    assert!(html.contains("<span class=\"hl-"), "code is highlighted");
    assert!(!html.contains("style=\""), "no inline styles (CSP)");
    assert!(
        !html.contains("license: apache-2.0"),
        "front matter is not shown as text"
    );
    // Front matter as chips; the side panel.
    for chip in [
        "对话",
        "Qwen/Qwen2-0.5B",
        "apache-2.0",
        "text-generation",
        "transformers",
    ] {
        assert!(html.contains(chip), "chip {chip}");
    }
    assert!(html.contains("下载量") && html.contains("许可证") && html.contains("大小"));
    assert!(html.contains("模型卡片") && html.contains("文件和版本"));
    // Snippets with this hub's own address (from the request's Host).
    for snippet in [
        "export HF_ENDPOINT=http://hub.example.cn:8443",
        // The card's pipeline tag (text-generation) picks the class.
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "model = AutoModelForCausalLM.from_pretrained(\"alice/chat-zh\")",
        "MODELSCOPE_ENDPOINT=http://hub.example.cn:8443",
        "git clone http://hub.example.cn:8443/alice/chat-zh",
    ] {
        assert!(text.contains(snippet), "snippet {snippet}: {html}");
    }
    // The inference widget's slot, for models.
    assert!(html.contains(
        "<div id=\"inference-widget\" data-repo=\"alice/chat-zh\" data-repo-type=\"model\"></div>"
    ));
    println!("repo page size (short card): {} bytes", html.len());
    let css = anon
        .get(format!("{}/static/style.css", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(
        css.text().await.unwrap().contains(".hl-k"),
        "the colours of highlighted code"
    );

    // The page stays small with a long card: under 150 KB before the README's
    // own images, for a card of about 40 KB with tables and highlighted code.
    let mut long = String::from(CHAT_CARD);
    for i in 0..60 {
        long.push_str(&format!(
            "\n## 第 {i} 节 Section {i}\n\n本模型在中文和英文的多项评测中表现良好，支持长上下文与工具调用。\
             The model handles long contexts and tool calls in Chinese and English.\n\n\
             | 评测 Benchmark | 分数 Score | 说明 Notes |\n|---|---|---|\n| MMLU | 6{i}.1 | 5-shot |\n\
             | CMMLU | 7{i}.4 | 5-shot |\n| GSM8K | 5{i}.0 | 4-shot |\n\n\
             ```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\
             tok = AutoTokenizer.from_pretrained(\"alice/chat-zh\")\n\
             model = AutoModelForCausalLM.from_pretrained(\"alice/chat-zh\", torch_dtype=\"auto\")\n\
             inputs = tok(\"你好\", return_tensors=\"pt\")\nprint(tok.decode(model.generate(**inputs)[0]))\n```\n"
        ));
    }
    long.push_str("\n[配置](config.json) ![示意图](./assets/fig.png)\n");
    assert!(long.len() > 35_000, "{}", long.len());
    commit(
        &api,
        "models",
        "alice/chat-zh",
        "long card",
        &[file_op("README.md", long.as_bytes())],
    )
    .await;
    let html = page(&anon, &hub, "/alice/chat-zh", "en").await;
    println!(
        "repo page size: {} bytes for a {}-byte README",
        html.len(),
        long.len()
    );
    assert!(html.len() < 150_000, "{} bytes", html.len());
    assert!(html.contains("第 59 节 Section 59"));
    // Relative links and images in the card point at the repo's files.
    assert!(
        html.contains("href=\"/alice/chat-zh/blob/main/config.json\""),
        "{html}"
    );
    assert!(html.contains("src=\"/alice/chat-zh/raw/main/assets/fig.png\""));

    // English labels.
    assert!(html.contains("Model card") && html.contains("Files and versions"));
    assert!(html.contains("Downloads") && html.contains("License"));

    // Settings only for those who administer the repo.
    assert!(!html.contains("/alice/chat-zh/settings"));
    let bob = signed_in(&hub, "bob").await;
    let html = page(&bob, &hub, "/alice/chat-zh", "en").await;
    assert!(!html.contains("/alice/chat-zh/settings"));
    let alice = signed_in(&hub, "alice").await;
    let html = page(&alice, &hub, "/alice/chat-zh", "en").await;
    assert!(html.contains("href=\"/alice/chat-zh/settings\""));

    // A dataset's page: dataset snippets and the viewer tab, no widget.
    let html = page(&anon, &hub, "/datasets/alice/corpus", "en").await;
    assert!(
        html.contains("Dataset card") && html.contains("href=\"/datasets/alice/corpus/viewer\"")
    );
    assert!(unquote(&html).contains("load_dataset(\"alice/corpus\")"));
    assert!(unquote(&html).contains("dataset_snapshot_download(\"alice/corpus\")"));
    assert!(!html.contains("inference-widget"));
}

/// alice/m: a README, code, an image, folders, an LFS file, two commits and a tag.
async fn files_fixture() -> (TestHub, Api, String, String, String) {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    hub.user_with_token("bob");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("model", "alice", "m", false).await.status,
        200
    );
    let weights: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let weights_oid = upload_lfs(&hub, &token, "alice/m", &weights).await;
    // A 1x1 PNG.
    let png: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R', 0,
        0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0a, b'I', b'D',
        b'A', b'T', 0x78, 0x9c, 0x63, 0, 1, 0, 0, 5, 0, 1, 0x0d, 0x0a, 0x2d, 0xb4, 0, 0, 0, 0,
        b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82,
    ];
    let first = commit(
        &api,
        "models",
        "alice/m",
        "first files",
        &[
            file_op("README.md", b"# m\n"),
            file_op(
                "src/model.py",
                b"def forward(x):\n    return x * 2  # <double>\n",
            ),
            file_op("docs/图.png", png),
            file_op("blob.bin", &[0, 1, 2, 3, 255]),
            lfs_op("model.safetensors", &weights_oid, weights.len()),
        ],
    )
    .await;
    let r = api
        .post("/api/models/alice/m/tag/main", json!({ "tag": "v1.0" }))
        .await;
    assert!(r.status == 200 || r.status == 201, "{:?}", r.body);
    let second = commit(
        &api,
        "models",
        "alice/m",
        "double to triple",
        &[
            file_op(
                "src/model.py",
                b"def forward(x):\n    return x * 3  # <triple>\n",
            ),
            file_op("notes.txt", "第二个提交\n".as_bytes()),
        ],
    )
    .await;
    (hub, api, first, second, weights_oid)
}

#[tokio::test]
async fn files_tree_blob_and_raw_at_any_revision() {
    let (hub, _api, first, second, weights_oid) = files_fixture().await;
    let anon = browser();

    // The tree at the branch: folders first, sizes, LFS marked, last commits.
    let html = page(&anon, &hub, "/alice/m/tree/main", "en").await;
    assert!(html.contains("href=\"/alice/m/tree/main/docs\""), "{html}");
    assert!(html.contains("href=\"/alice/m/blob/main/model.safetensors\""));
    assert!(html.contains(">LFS<"));
    assert!(
        html.contains("5.0 KB"),
        "the LFS object's size, not the pointer's"
    );
    assert!(html.contains("double to triple") && html.contains("first files"));
    assert!(
        html.contains("History (3)"),
        "two commits and the initial one: {html}"
    );
    assert!(
        html.contains("branch: main") && html.contains("tag: v1.0"),
        "revision selector"
    );
    // A subfolder, with breadcrumbs; Chinese names are encoded in links.
    let html = page(&anon, &hub, "/alice/m/tree/main/docs", "zh-CN").await;
    assert!(
        html.contains("/alice/m/blob/main/docs/%E5%9B%BE.png"),
        "{html}"
    );
    assert!(html.contains("文件和版本"));
    // At the tag and at the first commit: the old content, no notes.txt.
    for rev in ["v1.0", first.as_str(), &first[..7]] {
        let html = page(&anon, &hub, &format!("/alice/m/tree/{rev}"), "en").await;
        assert!(!html.contains("notes.txt"), "{rev}");
        assert!(html.contains("model.safetensors"));
    }
    let html = page(&anon, &hub, &format!("/alice/m/tree/{second}"), "en").await;
    assert!(html.contains("notes.txt"));
    // The selector's free-form revision goes to its tree.
    let (status, _) = get(&anon, &hub, "/alice/m/tree?rev=v1.0", "en").await;
    assert_eq!(status, 303);
    // Missing revisions and folders are 404 pages.
    assert_eq!(get(&anon, &hub, "/alice/m/tree/nope", "en").await.0, 404);
    assert_eq!(
        get(&anon, &hub, "/alice/m/tree/main/no/such", "en").await.0,
        404
    );

    // Code: highlighted with classes, escaped, with line numbers.
    let html = page(&anon, &hub, "/alice/m/blob/main/src/model.py", "en").await;
    assert!(html.contains("class=\"hl-"), "{html}");
    assert!(html.contains("&lt;triple&gt;") && !html.contains("<triple>"));
    assert!(html.contains("<pre class=\"gutter\" aria-hidden=\"true\">1\n2</pre>"));
    assert!(html.contains("href=\"/alice/m/raw/main/src/model.py\""));
    assert!(html.contains("href=\"/alice/m/resolve/main/src/model.py?download=true\""));
    let html = page(&anon, &hub, "/alice/m/blob/v1.0/src/model.py", "en").await;
    assert!(html.contains("&lt;double&gt;"));
    // An image is previewed from its raw link, with alt text.
    let html = page(&anon, &hub, "/alice/m/blob/main/docs/%E5%9B%BE.png", "en").await;
    assert!(
        html.contains("<img src=\"/alice/m/raw/main/docs/%E5%9B%BE.png\" alt=\"docs/图.png\">"),
        "{html}"
    );
    // An LFS file: size, sha256, download button.
    let html = page(&anon, &hub, "/alice/m/blob/main/model.safetensors", "zh-CN").await;
    assert!(
        html.contains(&weights_oid) && html.contains("5,000 B"),
        "{html}"
    );
    assert!(html.contains("Git LFS") && html.contains("下载"));
    // A binary git file is not shown as text.
    let html = page(&anon, &hub, "/alice/m/blob/main/blob.bin", "en").await;
    assert!(html.contains("This is a binary file") && !html.contains("too large"));
    assert_eq!(
        get(&anon, &hub, "/alice/m/blob/main/missing.txt", "en")
            .await
            .0,
        404
    );

    // Writers get upload, new-file, edit and delete links (to a branch, also
    // when a tag is shown); anonymous readers none, signed-in readers an
    // upload that opens a pull request (tests/tests/ui_community.rs).
    assert!(!html.contains("/alice/m/upload/") && !html.contains("/alice/m/delete/"));
    let bob = signed_in(&hub, "bob").await;
    let html = page(&bob, &hub, "/alice/m/tree/main", "en").await;
    assert!(html.contains("Upload as a pull request") && !html.contains("/alice/m/new/"));
    let alice = signed_in(&hub, "alice").await;
    let html = page(&alice, &hub, "/alice/m/tree/v1.0", "en").await;
    assert!(
        html.contains("href=\"/alice/m/upload/main\"")
            && html.contains("href=\"/alice/m/new/main\"")
    );
    let html = page(&alice, &hub, "/alice/m/blob/main/src/model.py", "zh-CN").await;
    assert!(
        html.contains("href=\"/alice/m/edit/main/src/model.py\""),
        "{html}"
    );
    assert!(html.contains("href=\"/alice/m/delete/main/src/model.py\""));
    let html = page(&alice, &hub, "/alice/m/blob/main/model.safetensors", "en").await;
    assert!(
        !html.contains("/alice/m/edit/")
            && html.contains("href=\"/alice/m/delete/main/model.safetensors\"")
    );

    // Raw: text as text/plain, images as images, never as a page that runs script.
    let raw = anon
        .get(format!("{}/alice/m/raw/main/src/model.py", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    assert_eq!(raw.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(
        raw.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert!(raw.text().await.unwrap().contains("x * 3"));
    let raw = anon
        .get(format!("{}/alice/m/raw/main/docs/%E5%9B%BE.png", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["content-type"], "image/png");
    let raw = anon
        .get(format!("{}/alice/m/raw/main/model.safetensors", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["content-type"], "application/octet-stream");
    assert_eq!(
        raw.bytes().await.unwrap().len(),
        5000,
        "the LFS object's bytes"
    );
}

#[tokio::test]
async fn history_pages_and_commit_diffs() {
    let (hub, api, first, second, _) = files_fixture().await;
    let anon = browser();
    let html = page(&anon, &hub, "/alice/m/commits/main", "en").await;
    assert!(html.contains("double to triple") && html.contains("first files"));
    assert!(html.contains(&format!("href=\"/alice/m/commit/{second}\"")));
    assert!(
        html.contains(&format!("href=\"/alice/m/tree/{first}\"")),
        "browse files at a commit"
    );
    let html = page(&anon, &hub, "/alice/m/commits/v1.0", "zh-CN").await;
    assert!(!html.contains("double to triple") && html.contains("first files"));
    assert!(html.contains("提交历史"));
    assert_eq!(get(&anon, &hub, "/alice/m/commits/nope", "en").await.0, 404);

    // Paging: 35 more commits make two pages of 30.
    for i in 0..35 {
        commit(
            &api,
            "models",
            "alice/m",
            &format!("step {i}"),
            &[file_op("step.txt", format!("{i}").as_bytes())],
        )
        .await;
    }
    let html = page(&anon, &hub, "/alice/m/commits/main", "en").await;
    assert!(html.contains("step 34") && !html.contains("first files"));
    assert!(html.contains("href=\"?p=1\""));
    let html = page(&anon, &hub, "/alice/m/commits/main?p=1", "en").await;
    assert!(html.contains("first files") && !html.contains("step 34"));
    let html = page(&anon, &hub, "/alice/m/commits/main?p=x", "en").await;
    assert!(html.contains("step 34"));

    // A commit's page: text diffs line by line, the new file, escaped.
    let html = unquote(&page(&anon, &hub, &format!("/alice/m/commit/{second}"), "en").await);
    assert!(
        html.contains("<span class=\"del\">-    return x * 2  # &lt;double&gt;</span>"),
        "{html}"
    );
    assert!(html.contains("<span class=\"add\">+    return x * 3  # &lt;triple&gt;</span>"));
    assert!(html.contains("+第二个提交"));
    assert!(html.contains("2 files changed"));
    assert!(
        html.contains(&format!("href=\"/alice/m/commit/{first}\"")),
        "parent link"
    );
    // The first commit: LFS and binary files are summarised, not diffed.
    let html = page(
        &anon,
        &hub,
        &format!("/alice/m/commit/{}", &first[..8]),
        "zh-CN",
    )
    .await;
    // Worded in the page's language, sizes included (issue 13).
    assert!(html.contains("新增 LFS 文件"), "{html}");
    assert!(html.contains("二进制文件"));
    assert!(!html.contains("added LFS") && !html.contains("binary file"));
    assert!(html.contains("新增"));
    let en = page(
        &anon,
        &hub,
        &format!("/alice/m/commit/{}", &first[..8]),
        "en",
    )
    .await;
    assert!(en.contains("added LFS"), "{en}");
    assert!(en.contains("binary file"));
    assert_eq!(
        get(&anon, &hub, "/alice/m/commit/0123456789abcdef", "en")
            .await
            .0,
        404
    );
}

/// A Parquet file of `groups` row groups of 50 rows: id (int64), text (string), score (double).
fn parquet_file(groups: i64) -> Vec<u8> {
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    let schema = Arc::new(
        parquet::schema::parser::parse_message_type(
            "message schema { REQUIRED INT64 id; REQUIRED BYTE_ARRAY text (UTF8); OPTIONAL DOUBLE score; }",
        )
        .unwrap(),
    );
    let props = Arc::new(WriterProperties::builder().build());
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut out, schema, props).unwrap();
    for g in 0..groups {
        let ids: Vec<i64> = (g * 50..g * 50 + 50).collect();
        let texts: Vec<ByteArray> = ids
            .iter()
            .map(|i| ByteArray::from(format!("第{i}行").as_str()))
            .collect();
        let scores: Vec<f64> = ids
            .iter()
            .filter(|i| *i % 2 == 0)
            .map(|i| *i as f64 / 2.0)
            .collect();
        let defs: Vec<i16> = ids.iter().map(|i| i16::from(*i % 2 == 0)).collect();
        let mut group = writer.next_row_group().unwrap();
        let mut col = group.next_column().unwrap().unwrap();
        col.typed::<Int64Type>()
            .write_batch(&ids, None, None)
            .unwrap();
        col.close().unwrap();
        let mut col = group.next_column().unwrap().unwrap();
        col.typed::<ByteArrayType>()
            .write_batch(&texts, None, None)
            .unwrap();
        col.close().unwrap();
        let mut col = group.next_column().unwrap().unwrap();
        col.typed::<DoubleType>()
            .write_batch(&scores, Some(&defs), None)
            .unwrap();
        col.close().unwrap();
        group.close().unwrap();
    }
    writer.close().unwrap();
    out
}

/// A Parquet file of one row: a single string of `len` zero bytes in one
/// zstd page. 1000 MiB of zeros compress to about 32 KB.
fn parquet_bomb(len: usize) -> Vec<u8> {
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::data_type::{ByteArray, ByteArrayType};
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    use parquet::file::writer::SerializedFileWriter;
    let schema = Arc::new(
        parquet::schema::parser::parse_message_type(
            "message schema { REQUIRED BYTE_ARRAY s (UTF8); }",
        )
        .unwrap(),
    );
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()))
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .build();
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut out, schema, Arc::new(props)).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let mut col = group.next_column().unwrap().unwrap();
    col.typed::<ByteArrayType>()
        .write_batch(&[ByteArray::from(vec![0u8; len])], None, None)
        .unwrap();
    col.close().unwrap();
    group.close().unwrap();
    writer.close().unwrap();
    out
}

/// Issue 11, defect 2: a 32 KB Parquet file holding one 1000 MiB zstd
/// string took the hub to 2 GB per anonymous preview. The viewer now sees
/// the expanded size before decoding and says the file is too large, and
/// four previews at once leave the hub's memory where it was.
#[tokio::test]
async fn dataset_viewer_refuses_a_decompression_bomb_with_bounded_memory() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("dataset", "alice", "bomb", false)
            .await
            .status,
        200
    );
    let bomb = parquet_bomb(1000 << 20);
    assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
    let oid = upload_lfs(&hub, &token, "datasets/alice/bomb", &bomb).await;
    commit(
        &api,
        "datasets",
        "alice/bomb",
        "bomb",
        &[lfs_op("data/bomb.parquet", &oid, bomb.len())],
    )
    .await;
    let before = hub.memory_mib("VmRSS");
    let previews = (0..4).map(|_| async {
        let anon = browser();
        page(
            &anon,
            &hub,
            "/datasets/alice/bomb/viewer/main/data/bomb.parquet",
            "en",
        )
        .await
    });
    for html in futures::future::join_all(previews).await {
        assert!(html.contains("would take more than the limit"), "{html}");
    }
    let peak = hub.memory_mib("VmHWM");
    println!(
        "parquet bomb: {} bytes on disk; hub RSS {before} MiB before, peak {peak} MiB after 4 previews",
        bomb.len()
    );
    assert!(peak < 300, "the hub's peak RSS reached {peak} MiB");
}

#[tokio::test]
async fn dataset_viewer_previews_csv_tsv_jsonl_and_parquet() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("dataset", "alice", "d", false).await.status,
        200
    );
    let parquet = parquet_file(3);
    let parquet_oid = upload_lfs(&hub, &token, "datasets/alice/d", &parquet).await;
    // A 2 MB CSV in LFS: only its first MiB is read, 100 rows shown.
    let mut big = String::from("n,word\n");
    let mut i = 0;
    while big.len() < 2_000_000 {
        big.push_str(&format!("{i},词{i}\n"));
        i += 1;
    }
    let big_oid = upload_lfs(&hub, &token, "datasets/alice/d", big.as_bytes()).await;
    let jsonl = "{\"question\":\"什么是开源？\",\"answer\":\"open source\",\"n\":1}\n{\"question\":\"<b>x</b>\",\"n\":2.5,\"tags\":[\"a\"]}\n";
    let jsonl_oid = upload_lfs(&hub, &token, "datasets/alice/d", jsonl.as_bytes()).await;
    let junk = b"not a parquet file at all, no magic".to_vec();
    let junk_oid = upload_lfs(&hub, &token, "datasets/alice/d", &junk).await;
    commit(
        &api,
        "datasets",
        "alice/d",
        "data",
        &[
            file_op("README.md", b"# d\n"),
            file_op(
                "data/train.csv",
                "id,text,score,ok\n1,你好,0.5,true\n2,\"a, b\",1.5,false\n".as_bytes(),
            ),
            file_op("data/test.tsv", b"id\tlabel\n1\tpos\n2\tneg\n"),
            lfs_op("data/qa.jsonl", &jsonl_oid, jsonl.len()),
            lfs_op("data/train.parquet", &parquet_oid, parquet.len()),
            lfs_op("data/big.csv", &big_oid, big.len()),
            lfs_op("data/bad.parquet", &junk_oid, junk.len()),
            file_op("data/notes.txt", b"not previewable"),
        ],
    )
    .await;
    let anon = browser();

    // The viewer's front page opens the first previewable file and lists them all.
    let html = page(&anon, &hub, "/datasets/alice/d/viewer", "en").await;
    for f in [
        "data/train.csv",
        "data/test.tsv",
        "data/qa.jsonl",
        "data/train.parquet",
    ] {
        assert!(
            html.contains(&format!("/datasets/alice/d/viewer/main/{f}\"")),
            "{f} listed: {html}"
        );
    }
    assert!(!html.contains("viewer/main/data/notes.txt"));
    assert!(html.contains("<table class=\"data\">"));
    // Each file's split, from its name, in the visitor's language.
    let zh = page(&anon, &hub, "/datasets/alice/d/viewer", "zh-CN").await;
    assert!(
        zh.contains("data/train.csv</a> <span class=\"chip\">训练集</span>"),
        "{zh}"
    );
    assert!(zh.contains("data/test.tsv</a> <span class=\"chip\">测试集</span>"));
    assert!(zh.contains("data/qa.jsonl</a></li>"), "no split: {zh}");

    let html = page(
        &anon,
        &hub,
        "/datasets/alice/d/viewer/main/data/train.csv",
        "zh-CN",
    )
    .await;
    assert!(html.contains("数据预览"));
    for cell in [
        "id<br><span class=\"type\">int64</span>",
        "text<br><span class=\"type\">string</span>",
        "score<br><span class=\"type\">float64</span>",
        "ok<br><span class=\"type\">bool</span>",
        "<td>你好</td>",
        "<td>a, b</td>",
    ] {
        assert!(html.contains(cell), "{cell}: {html}");
    }
    let html = page(
        &anon,
        &hub,
        "/datasets/alice/d/viewer/main/data/test.tsv",
        "en",
    )
    .await;
    assert!(html.contains("<td>neg</td>") && html.contains("label<br>"));
    let html = page(
        &anon,
        &hub,
        "/datasets/alice/d/viewer/main/data/qa.jsonl",
        "en",
    )
    .await;
    assert!(html.contains("<td>什么是开源？</td>"), "{html}");
    assert!(
        unquote(&html).contains("&lt;b&gt;x&lt;/b&gt;"),
        "cells are escaped"
    );
    assert!(html.contains("n<br><span class=\"type\">float64</span>"));
    assert!(html.contains("tags<br><span class=\"type\">list</span>"));
    assert!(html.contains("<span class=\"null\">null</span>"));

    // Parquet: schema types, the first 100 of 150 rows across row groups.
    let html = page(
        &anon,
        &hub,
        "/datasets/alice/d/viewer/main/data/train.parquet",
        "en",
    )
    .await;
    assert!(
        html.contains("id<br><span class=\"type\">int64</span>"),
        "{html}"
    );
    assert!(html.contains("text<br><span class=\"type\">string</span>"));
    assert!(html.contains("score<br><span class=\"type\">double</span>"));
    assert!(html.contains("rows 1–100 of 150"), "{html}");
    assert!(html.contains("<td>第0行</td>") && html.contains("<td>第99行</td>"));
    assert!(!html.contains("<td>第100行</td>"));
    assert_eq!(
        html.matches("<tr>").count(),
        101,
        "a header row and 100 rows"
    );

    // A large CSV: 100 rows from its first MiB.
    let html = page(
        &anon,
        &hub,
        "/datasets/alice/d/viewer/main/data/big.csv",
        "en",
    )
    .await;
    assert!(html.contains("<td>词99</td>") && !html.contains("<td>词100</td>"));

    // Files that cannot be previewed say why, in the visitor's language.
    let html = page(
        &anon,
        &hub,
        "/datasets/alice/d/viewer/main/data/bad.parquet",
        "zh-CN",
    )
    .await;
    assert!(html.contains("无法预览这个文件"), "{html}");
    let html = page(
        &anon,
        &hub,
        "/datasets/alice/d/viewer/main/data/notes.txt",
        "en",
    )
    .await;
    assert!(html.contains("only CSV, TSV, JSONL and Parquet files can"));
    assert_eq!(
        get(
            &anon,
            &hub,
            "/datasets/alice/d/viewer/main/data/missing.csv",
            "en"
        )
        .await
        .0,
        404
    );

    // The blob page of a previewable file links to the viewer.
    let html = page(
        &anon,
        &hub,
        "/datasets/alice/d/blob/main/data/train.csv",
        "en",
    )
    .await;
    assert!(html.contains("href=\"/datasets/alice/d/viewer/main/data/train.csv\""));
    // The dataset's tree uses the /datasets prefix.
    let html = page(&anon, &hub, "/datasets/alice/d/tree/main/data", "en").await;
    assert!(html.contains("href=\"/datasets/alice/d/blob/main/data/train.parquet\""));
    // Models have no viewer.
    assert_eq!(get(&anon, &hub, "/alice/d/viewer", "en").await.0, 404);
}

/// `bytes` with the column chunks of its row group `group` overwritten, so
/// that reading them fails.
fn parquet_with_broken_group(mut bytes: Vec<u8>, group: usize) -> Vec<u8> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes.clone())).unwrap();
    for column in reader.metadata().row_group(group).columns() {
        let (start, len) = column.byte_range();
        bytes[start as usize..(start + len) as usize].fill(0xff);
    }
    bytes
}

/// Issue 13: the viewer pages through all rows. Parquet reads only the row
/// groups of the page (a page that does not need a broken group shows), a
/// JSONL file is streamed to the page's rows; prev/next links in both
/// languages, a page past the end says so.
#[tokio::test]
async fn dataset_viewer_pages_through_parquet_and_jsonl() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("dataset", "alice", "pages", false)
            .await
            .status,
        200
    );
    // Five row groups of 50 rows; the first one unreadable.
    let parquet = parquet_with_broken_group(parquet_file(5), 0);
    let parquet_oid = upload_lfs(&hub, &token, "datasets/alice/pages", &parquet).await;
    let jsonl: String = (0..250)
        .map(|i| format!("{{\"n\":{i},\"text\":\"行{i}\"}}\n"))
        .collect();
    let jsonl_oid = upload_lfs(&hub, &token, "datasets/alice/pages", jsonl.as_bytes()).await;
    commit(
        &api,
        "datasets",
        "alice/pages",
        "data",
        &[
            lfs_op("train.parquet", &parquet_oid, parquet.len()),
            lfs_op("train.jsonl", &jsonl_oid, jsonl.len()),
        ],
    )
    .await;
    let anon = browser();
    let at = |file: &str, p: u32| format!("/datasets/alice/pages/viewer/main/{file}?p={p}");

    // Page 0 needs the broken group; pages 2 and 4 do not.
    let html = page(&anon, &hub, &at("train.parquet", 0), "en").await;
    assert!(html.contains("cannot be previewed"), "{html}");
    let html = page(&anon, &hub, &at("train.parquet", 1), "en").await;
    assert!(html.contains("<td>第100行</td>") && html.contains("<td>第199行</td>"));
    assert!(!html.contains("<td>第99行</td>") && !html.contains("<td>第200行</td>"));
    assert!(html.contains("rows 101–200 of 250"), "{html}");
    assert!(html.contains("<a rel=\"prev\" href=\"?p=0\">← Previous</a>"));
    assert!(html.contains("<a rel=\"next\" href=\"?p=2\">Next →</a>"));
    let zh = page(&anon, &hub, &at("train.parquet", 2), "zh-CN").await;
    assert!(zh.contains("<td>第200行</td>") && zh.contains("<td>第249行</td>"));
    assert!(zh.contains("第 201–250 行，共 250 行"), "{zh}");
    assert!(zh.contains("上一页") && !zh.contains("rel=\"next\""));
    assert!(zh.contains("第 3 页"));
    let html = page(&anon, &hub, &at("train.parquet", 7), "en").await;
    assert!(html.contains("There are no rows on this page."), "{html}");
    assert!(!html.contains("<td>"));

    // JSONL: the second page, and the last.
    let html = page(&anon, &hub, &at("train.jsonl", 1), "en").await;
    assert!(html.contains("<td>行100</td>") && html.contains("<td>行199</td>"));
    assert!(!html.contains("<td>行99</td>") && !html.contains("<td>行200</td>"));
    assert!(html.contains("rows 101–200 of 250"), "{html}");
    assert!(html.contains("href=\"?p=2\">Next →</a>"));
    let zh = page(&anon, &hub, &at("train.jsonl", 2), "zh-CN").await;
    assert!(zh.contains("<td>行249</td>") && zh.contains("第 201–250 行，共 250 行"));
    assert!(zh.contains("href=\"?p=1\">← 上一页</a>") && !zh.contains("rel=\"next\""));
    // The viewer's own page (no file named) pages its default file too.
    let html = page(&anon, &hub, "/datasets/alice/pages/viewer?p=1", "en").await;
    assert!(html.contains("rows 101–200 of 250"), "{html}");
}

/// Issue 13: CSV and JSONL files up to 16 MiB are counted to the end;
/// larger ones show "at least" what was read, and a page beyond the first
/// 16 MiB says so instead of reading on.
#[tokio::test]
async fn dataset_viewer_counts_text_rows_within_a_bound() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("dataset", "alice", "counts", false)
            .await
            .status,
        200
    );
    let small: String = std::iter::once("id,text\n".to_owned())
        .chain((0..1234).map(|i| format!("{i},\"多\n行 {i}\"\n")))
        .collect();
    let mut big = String::from("id,word\n");
    let mut rows = 0;
    while big.len() < 17 << 20 {
        big.push_str(&format!("{rows},词{rows}\n"));
        rows += 1;
    }
    let small_oid = upload_lfs(&hub, &token, "datasets/alice/counts", small.as_bytes()).await;
    let big_oid = upload_lfs(&hub, &token, "datasets/alice/counts", big.as_bytes()).await;
    commit(
        &api,
        "datasets",
        "alice/counts",
        "data",
        &[
            lfs_op("small.csv", &small_oid, small.len()),
            lfs_op("big.csv", &big_oid, big.len()),
        ],
    )
    .await;
    let anon = browser();
    let html = page(
        &anon,
        &hub,
        "/datasets/alice/counts/viewer/main/small.csv",
        "en",
    )
    .await;
    assert!(html.contains("rows 1–100 of 1,234"), "{html}");
    let zh = page(
        &anon,
        &hub,
        "/datasets/alice/counts/viewer/main/small.csv?p=12",
        "zh-CN",
    )
    .await;
    assert!(zh.contains("第 1,201–1,234 行，共 1,234 行"), "{zh}");
    assert!(
        zh.contains("<td>多\n行 1233</td>"),
        "quoted newlines stay in their row"
    );

    let html = page(
        &anon,
        &hub,
        "/datasets/alice/counts/viewer/main/big.csv",
        "en",
    )
    .await;
    assert!(html.contains("rows 1–100 of at least "), "{html}");
    assert!(html.contains("(files over 16 MiB are not counted to the end)"));
    assert!(html.contains("href=\"?p=1\">Next →</a>"));
    let html = page(
        &anon,
        &hub,
        "/datasets/alice/counts/viewer/main/big.csv?p=3000",
        "en",
    )
    .await;
    assert!(html.contains("<td>词300000</td>"), "{html}");
    let far = format!(
        "/datasets/alice/counts/viewer/main/big.csv?p={}",
        rows / 100
    );
    let html = page(&anon, &hub, &far, "en").await;
    assert!(
        html.contains("lie beyond the first 16 MiB of the file"),
        "{html}"
    );
    assert!(!html.contains("<td>") && !html.contains("rel=\"next\""));
    let zh = page(&anon, &hub, &far, "zh-CN").await;
    assert!(zh.contains("超出了预览读取的范围"), "{zh}");
}

/// Issue 13: the splits come from the dataset card's `configs:` when it
/// has them (else from file names), with a split picker.
#[tokio::test]
async fn dataset_viewer_takes_splits_from_the_cards_configs() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("dataset", "alice", "cfg", false)
            .await
            .status,
        200
    );
    let card = "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    \
                path: \"corpus/a-*.jsonl\"\n  - split: validation\n    path: corpus/held-out.csv\n\
                ---\n# cfg\n";
    commit(
        &api,
        "datasets",
        "alice/cfg",
        "data",
        &[
            file_op("README.md", card.as_bytes()),
            file_op("corpus/a-1.jsonl", "{\"q\":\"第一\"}\n".as_bytes()),
            file_op("corpus/a-2.jsonl", b"{\"q\":\"two\"}\n"),
            file_op("corpus/held-out.csv", b"q\nheld\n"),
            file_op("corpus/test.csv", b"q\nnot a split of the card\n"),
        ],
    )
    .await;
    let anon = browser();
    let base = "/datasets/alice/cfg/viewer/main";
    let html = page(&anon, &hub, "/datasets/alice/cfg/viewer", "en").await;
    assert!(html.contains("<h2>Splits</h2>"), "{html}");
    assert!(
        html.contains(&format!(
            "<li><a href=\"{base}/corpus/a-1.jsonl\" aria-current=\"true\">train</a></li>\
             <li><a href=\"{base}/corpus/held-out.csv\">validation</a></li>"
        )),
        "{html}"
    );
    // The first split's first file is shown; the card, not the name, decides.
    assert!(html.contains("<td>第一</td>"), "{html}");
    assert!(html.contains("corpus/a-2.jsonl</a> <span class=\"chip\">train</span>"));
    assert!(html.contains("corpus/held-out.csv</a> <span class=\"chip\">validation</span>"));
    assert!(html.contains("corpus/test.csv</a></li>"), "{html}");
    let zh = page(&anon, &hub, &format!("{base}/corpus/held-out.csv"), "zh-CN").await;
    assert!(zh.contains("<h2>数据划分</h2>"));
    assert!(
        zh.contains(&format!(
            "<a href=\"{base}/corpus/held-out.csv\" aria-current=\"true\">验证集</a>"
        )),
        "{zh}"
    );
    assert!(zh.contains("<td>held</td>"));
}

#[tokio::test]
async fn private_repos_are_invisible_to_outsiders() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    hub.user_with_token("bob");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("model", "alice", "hidden", true)
            .await
            .status,
        200
    );
    assert_eq!(
        api.create_repo("dataset", "alice", "hidden-data", true)
            .await
            .status,
        200
    );
    let sha = commit(
        &api,
        "models",
        "alice/hidden",
        "add",
        &[file_op("a.txt", b"private text")],
    )
    .await;
    commit(
        &api,
        "datasets",
        "alice/hidden-data",
        "add",
        &[file_op("x.csv", b"a\n1\n")],
    )
    .await;
    let pages = [
        "/alice/hidden".to_owned(),
        "/alice/hidden/tree/main".to_owned(),
        "/alice/hidden/blob/main/a.txt".to_owned(),
        "/alice/hidden/commits/main".to_owned(),
        format!("/alice/hidden/commit/{sha}"),
        "/datasets/alice/hidden-data".to_owned(),
        "/datasets/alice/hidden-data/viewer".to_owned(),
        "/datasets/alice/hidden-data/viewer/main/x.csv".to_owned(),
    ];
    let anon = browser();
    let bob = signed_in(&hub, "bob").await;
    let alice = signed_in(&hub, "alice").await;
    for path in &pages {
        let (status, html) = get(&anon, &hub, path, "en").await;
        assert_eq!(status, 404, "anonymous {path}");
        assert!(!html.contains("private text") && html.contains("does not exist"));
        let (status, _) = get(&bob, &hub, path, "en").await;
        assert_eq!(status, 404, "bob {path}");
        let (status, _) = get(&alice, &hub, path, "en").await;
        assert_eq!(status, 200, "alice {path}");
    }
    // Raw follows the API rule: 401 anonymous, 404 for a signed-in outsider.
    assert_eq!(
        get(&anon, &hub, "/alice/hidden/raw/main/a.txt", "en")
            .await
            .0,
        401
    );
    assert_eq!(
        get(&bob, &hub, "/alice/hidden/raw/main/a.txt", "en")
            .await
            .0,
        404
    );
    let (status, body) = get(&alice, &hub, "/alice/hidden/raw/main/a.txt", "en").await;
    assert_eq!((status, body.as_str()), (200, "private text"));
    // Listings and facets leave it out for outsiders.
    let (_, html) = get(&bob, &hub, "/models", "en").await;
    assert!(!html.contains("alice/hidden"));
    let (_, html) = get(&alice, &hub, "/models", "en").await;
    assert!(html.contains("alice/hidden"));
}

#[tokio::test]
async fn hostile_model_cards_render_harmlessly() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    let corpus = [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        "[click2](JaVaScRiPt:alert(1))",
        "<a href=\"jav&#x09;ascript:alert(1)\">tab</a>",
        "<svg onload=alert(1)><circle r=1></svg>",
        "<iframe src=\"https://evil.example\"></iframe>",
        "<object data=\"x.swf\"></object><embed src=\"x.swf\">",
        "<div style=\"background:url(javascript:alert(1))\" onclick=\"alert(1)\">styled</div>",
        "<form action=\"https://evil.example\"><input name=a><button>go</button></form>",
        "<details open ontoggle=alert(1)>x</details>",
        "![img](javascript:alert(1))",
        "<base href=\"https://evil.example/\"><meta http-equiv=\"refresh\" content=\"0;url=https://evil.example\">",
        "```html\n<script>alert('in code')</script>\n```",
        "<p title=\"x\" onmouseover=\"alert(1)\">attr</p>",
        "<a href=\"data:text/html,<script>alert(1)</script>\">data</a>",
        "<a href=\"vbscript:msgbox(1)\">vb</a>",
        // Last: its <style> swallows the rest of the document.
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    ];
    let readme = format!(
        "---\ntags: [\"<script>x</script>\"]\n---\n# Hostile\n\n{}\n",
        corpus.join("\n\n")
    );
    assert_eq!(
        api.create_repo("model", "alice", "xss", false).await.status,
        200
    );
    commit(
        &api,
        "models",
        "alice/xss",
        "hostile card",
        &[file_op("README.md", readme.as_bytes())],
    )
    .await;
    let anon = browser();
    let html = page(&anon, &hub, "/alice/xss", "en").await;
    let start = html
        .find("<article class=\"markdown\"")
        .expect("the card is rendered");
    let end = html[start..].find("</article>").unwrap() + start;
    let card = html[start..end].to_ascii_lowercase();
    // Every literal `<` in sanitized output starts a real tag (text has its
    // `<` escaped): check each tag's name and attributes.
    let forbidden_tags = [
        "script", "iframe", "object", "embed", "form", "style", "base", "meta", "svg", "math",
        "link", "button", "frame", "applet",
    ];
    for tag in card
        .split('<')
        .skip(1)
        .map(|t| t.split('>').next().unwrap_or(""))
    {
        let name = tag
            .trim_start_matches('/')
            .split([' ', '\n', '\t'])
            .next()
            .unwrap_or("");
        assert!(!forbidden_tags.contains(&name), "<{tag}> survived");
        for bad in ["javascript:", "vbscript:", "data:", "style=", "srcdoc"] {
            assert!(!tag.contains(bad), "{bad} in <{tag}>");
        }
        let has_handler = tag
            .split_whitespace()
            .any(|attr| attr.starts_with("on") && attr.contains('='));
        assert!(!has_handler, "event handler in <{tag}>");
    }
    let text: String = {
        let mut out = String::new();
        let mut in_tag = false;
        for c in card.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out
    };
    assert!(
        text.contains("&lt;script&gt;alert(") && text.contains("in code"),
        "code blocks show the text, escaped: {card}"
    );
    assert!(
        card.contains("styled") && card.contains("attr"),
        "harmless text stays"
    );
    // The tag chip is escaped too, and the file view of the README (rendered
    // like the card) is as harmless.
    assert!(
        unquote(&html).contains("&lt;script&gt;x&lt;/script&gt;"),
        "{html}"
    );
    let html = page(&anon, &hub, "/alice/xss/blob/main/README.md", "en").await;
    assert!(!html.to_ascii_lowercase().contains("<iframe"));
}

/// Issue 11, defect 3 (the read side): commits with a 15 MB message made a
/// page of `GET /api/models/{id}/commits/main` 300 MB, and the page of a
/// commit adding 200 × 10 MB text files took 1.6 GB because every diff was
/// built before the display cut. Such commits are written straight into the
/// bare repo here (as an import or a hub without the write cap would have),
/// then listed and shown: messages are cut, large blobs are summarised
/// without being loaded, and the hub's memory stays small.
#[tokio::test]
async fn history_and_diffs_stay_small_whatever_the_commits_hold() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("model", "alice", "huge", false)
            .await
            .status,
        200
    );
    commit(
        &api,
        "models",
        "alice/huge",
        "start",
        &[file_op("README.md", b"# huge\n")],
    )
    .await;
    let info = api.get("/api/models/alice/huge").await;
    let dir = hub.git_dir(info.body["_id"].as_str().unwrap().parse().unwrap());
    let (heavy_commit, files) = tokio::task::spawn_blocking(move || {
        let repo = git2::Repository::open_bare(&dir).unwrap();
        repo.config()
            .unwrap()
            .set_i32("core.loosecompression", 1)
            .unwrap();
        let sig = git2::Signature::now("alice", "alice@example.com").unwrap();
        let mut parent = repo
            .find_reference("refs/heads/main")
            .unwrap()
            .peel_to_commit()
            .unwrap();
        // 40 text files of 10 MB in one commit.
        let mut tree = repo.treebuilder(Some(&parent.tree().unwrap())).unwrap();
        let mut text = String::new();
        let mut n = 0;
        while text.len() < 10 << 20 {
            text.push_str(&format!("line {n} of a large text file\n"));
            n += 1;
        }
        let files = 40;
        for i in 0..files {
            let blob = repo.blob(format!("{i}\n{text}").as_bytes()).unwrap();
            tree.insert(format!("big-{i}.txt"), blob, 0o100644).unwrap();
        }
        let tree = repo.find_tree(tree.write().unwrap()).unwrap();
        let id = repo
            .commit(
                None,
                &sig,
                &sig,
                "add 40 large text files",
                &tree,
                &[&parent],
            )
            .unwrap();
        parent = repo.find_commit(id).unwrap();
        let heavy = id;
        // Then 20 commits whose message is 15 MB.
        let message = format!(
            "summary\n\n{}",
            "a very long description. ".repeat((15 << 20) / 25)
        );
        for _ in 0..20 {
            let id = repo
                .commit(None, &sig, &sig, &message, &tree, &[&parent])
                .unwrap();
            parent = repo.find_commit(id).unwrap();
        }
        repo.reference("refs/heads/main", parent.id(), true, "test: heavy history")
            .unwrap();
        (heavy.to_string(), files)
    })
    .await
    .unwrap();

    let before = hub.memory_mib("VmRSS");
    let lists = (0..8).map(|_| async {
        let r = reqwest::get(format!("{}/api/models/alice/huge/commits/main", hub.url))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap().len()
    });
    let sizes = futures::future::join_all(lists).await;
    let listing = sizes[0];
    assert!(listing < 1 << 20, "a page of history is {listing} bytes");
    let commits: Value = serde_json::from_slice(
        &reqwest::get(format!("{}/api/models/alice/huge/commits/main", hub.url))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let message = commits[0]["message"].as_str().unwrap();
    assert!(message.starts_with("summary\n\na very long") && message.ends_with('…'));
    assert_eq!(commits[0]["title"], "summary");

    let anon = browser();
    let started = std::time::Instant::now();
    let html = page(
        &anon,
        &hub,
        &format!("/alice/huge/commit/{heavy_commit}"),
        "en",
    )
    .await;
    let took = started.elapsed();
    assert_eq!(
        html.matches("diff not shown").count(),
        files,
        "{}",
        &html[..2000.min(html.len())]
    );
    assert!(
        html.len() < 1 << 20,
        "the commit page is {} bytes",
        html.len()
    );
    // The commit page of one heavy-message commit is cut as well.
    let html = page(&anon, &hub, "/alice/huge/commit/main", "en").await;
    assert!(
        html.len() < 1 << 20,
        "the commit page is {} bytes",
        html.len()
    );
    let peak = hub.memory_mib("VmHWM");
    println!(
        "heavy history: listing {listing} bytes, commit page in {took:?}; hub RSS {before} MiB before, peak {peak} MiB"
    );
    assert!(peak < 300, "the hub's peak RSS reached {peak} MiB");
}

/// Issue 13's small things: every page has the search box in its header
/// and the site icon; the name inputs' `pattern`s compile in the `v` mode
/// browsers use for them (a `-` at the end of a class must be escaped).
#[tokio::test]
async fn every_page_has_header_search_and_icon_and_valid_name_patterns() {
    let (hub, _api) = discovery_fixture().await;
    let anon = browser();
    for path in [
        "/",
        "/models",
        "/alice/chat-zh",
        "/login",
        "/signup",
        "/no/such-repo",
    ] {
        let (_, html) = get(&anon, &hub, path, "zh-CN").await;
        assert!(
            html.contains("class=\"header-search\"")
                && html.contains("name=\"search\" placeholder=\"搜索模型\""),
            "{path}: {html}"
        );
        assert!(
            html.contains("<link rel=\"icon\" href=\"/static/favicon.svg\""),
            "{path}"
        );
    }
    let icon = reqwest::get(format!("{}/static/favicon.svg", hub.url))
        .await
        .unwrap();
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    assert!(icon.text().await.unwrap().starts_with("<svg"));
    let old = anon
        .get(format!("{}/favicon.ico", hub.url))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 308);
    assert_eq!(old.headers()["location"], "/static/favicon.svg");
    let (_, signup) = get(&anon, &hub, "/signup", "en").await;
    let patterns: Vec<&str> = signup
        .split("pattern=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert_eq!(patterns, ["[A-Za-z0-9\\-]+"]);
}

/// Issue 13 (no dead ends): a visitor who is not signed in and meets a
/// missing or private repo is offered to log in and come back; the two
/// answers stay identical, and a signed-in visitor is not offered it.
#[tokio::test]
async fn a_missing_or_private_repo_offers_anonymous_visitors_to_log_in() {
    let (hub, _api) = discovery_fixture().await;
    let anon = browser();
    let (status, private) = get(&anon, &hub, "/alice/secret", "zh-CN").await;
    assert_eq!(status, 404);
    assert!(
        private.contains("如果这是一个私有仓库")
            && private.contains("href=\"/login?next=/alice/secret\""),
        "{private}"
    );
    let (status, missing) = get(&anon, &hub, "/alice/nothing", "zh-CN").await;
    assert_eq!(status, 404);
    assert_eq!(
        private.replace("/alice/secret", "/alice/X"),
        missing.replace("/alice/nothing", "/alice/X"),
        "a private repo answers as a missing one"
    );
    let bob = signed_in(&hub, "bob").await;
    let (status, html) = get(&bob, &hub, "/alice/secret", "en").await;
    assert_eq!(status, 404);
    assert!(
        !html.contains("private repository, you may see it"),
        "{html}"
    );
}

#[tokio::test]
async fn per_file_history_lists_only_the_commits_that_changed_it() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    hub.user_with_token("bob");
    let api = hub.api(Some(&token));
    for (name, private) in [("m", false), ("hidden", true)] {
        assert_eq!(
            api.create_repo("model", "alice", name, private)
                .await
                .status,
            200
        );
    }
    // Four commits; src/a.py changes in the first and third only.
    let steps = [
        ("add a", vec![("src/a.py", "a = 1\n"), ("b.txt", "b1\n")]),
        ("touch b", vec![("b.txt", "b2\n")]),
        ("change a", vec![("src/a.py", "a = 2\n")]),
        ("touch b again", vec![("b.txt", "b3\n")]),
    ];
    let mut shas = Vec::new();
    for (summary, files) in steps {
        let ops: Vec<Value> = files
            .iter()
            .map(|(p, c)| file_op(p, c.as_bytes()))
            .collect();
        shas.push(commit(&api, "models", "alice/m", summary, &ops).await);
    }
    let anon = browser();
    let titles = |html: &str| {
        ["add a", "touch b", "change a", "touch b again"]
            .into_iter()
            .filter(|t| html.contains(&format!(">{t}</a>")))
            .collect::<Vec<_>>()
    };
    let html = page(&anon, &hub, "/alice/m/commits/main/src/a.py", "en").await;
    assert_eq!(titles(&html), ["add a", "change a"], "{html}");
    assert!(html.contains(&format!("href=\"/alice/m/commit/{}\"", shas[2])));
    assert!(html.contains("(2 commits)"), "{html}");
    // A folder's history is its files' changes; an older revision stops there.
    let html = page(&anon, &hub, "/alice/m/commits/main/src", "zh-CN").await;
    assert_eq!(titles(&html), ["add a", "change a"]);
    assert!(html.contains("提交历史"));
    let html = page(
        &anon,
        &hub,
        &format!("/alice/m/commits/{}/b.txt", shas[1]),
        "en",
    )
    .await;
    assert_eq!(titles(&html), ["add a", "touch b"]);
    // The file page links to its history.
    let html = page(&anon, &hub, "/alice/m/blob/main/src/a.py", "en").await;
    assert!(
        html.contains("href=\"/alice/m/commits/main/src/a.py\""),
        "{html}"
    );
    // Missing paths and revisions are 404 pages.
    for path in [
        "/alice/m/commits/main/nope.txt",
        "/alice/m/commits/nope/b.txt",
    ] {
        assert_eq!(get(&anon, &hub, path, "en").await.0, 404, "{path}");
    }
    // A private repo's file history is hidden from outsiders.
    commit(
        &api,
        "models",
        "alice/hidden",
        "secret add",
        &[file_op("s.txt", b"s")],
    )
    .await;
    let bob = signed_in(&hub, "bob").await;
    for b in [&anon, &bob] {
        let (status, html) = get(b, &hub, "/alice/hidden/commits/main/s.txt", "en").await;
        assert_eq!(status, 404);
        assert!(!html.contains("secret add"));
    }
    let alice = signed_in(&hub, "alice").await;
    let html = page(&alice, &hub, "/alice/hidden/commits/main/s.txt", "en").await;
    assert!(html.contains("secret add"));
}

#[tokio::test]
async fn file_view_offers_edit_and_delete_only_at_a_branch() {
    let (hub, _api, first, _second, _) = files_fixture().await;
    let alice = signed_in(&hub, "alice").await;
    // At the branch: edit and delete act on what is shown.
    let html = page(&alice, &hub, "/alice/m/blob/main/src/model.py", "en").await;
    assert!(html.contains("href=\"/alice/m/edit/main/src/model.py\""));
    assert!(html.contains("href=\"/alice/m/delete/main/src/model.py\""));
    // At a tag or an old commit they would change main, not what is shown.
    for rev in ["v1.0", first.as_str()] {
        let html = page(
            &alice,
            &hub,
            &format!("/alice/m/blob/{rev}/src/model.py"),
            "en",
        )
        .await;
        assert!(html.contains("&lt;double&gt;"), "{rev}");
        assert!(
            !html.contains("/alice/m/edit/") && !html.contains("/alice/m/delete/"),
            "{rev}: {html}"
        );
    }
}

#[tokio::test]
async fn markdown_files_are_rendered_on_their_page_with_the_source_a_click_away() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("model", "alice", "m", false).await.status,
        200
    );
    let guide = "# 使用指南\n\nSee [the notes](notes.md).\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n\
        <script>alert(1)</script><a href=\"javascript:alert(2)\">x</a>\n";
    commit(
        &api,
        "models",
        "alice/m",
        "docs",
        &[file_op("docs/guide.md", guide.as_bytes())],
    )
    .await;
    let anon = browser();
    let html = page(&anon, &hub, "/alice/m/blob/main/docs/guide.md", "zh-CN").await;
    assert!(html.contains("<h1>使用指南</h1>"), "{html}");
    assert!(html.contains("<table>") && html.contains("<td>2</td>"));
    assert!(
        html.contains("href=\"/alice/m/blob/main/docs/notes.md\""),
        "relative links point next to the file: {html}"
    );
    assert!(!html.contains("alert(") && !html.contains("javascript:"));
    assert!(
        html.contains("href=\"/alice/m/blob/main/docs/guide.md?code=true\"")
            && html.contains("源码"),
        "{html}"
    );
    // The source view: highlighted text with line numbers, a link back.
    let html = page(
        &anon,
        &hub,
        "/alice/m/blob/main/docs/guide.md?code=true",
        "en",
    )
    .await;
    assert!(html.contains("<pre class=\"gutter\""), "{html}");
    assert!(!html.contains("<h1>使用指南</h1>") && html.contains("使用指南"));
    assert!(
        html.contains("href=\"/alice/m/blob/main/docs/guide.md\"") && html.contains(">Preview<")
    );
}

/// A small model's weights written by the safetensors crate (the format's
/// reference), with `__metadata__`; and the sum of its tensors' sizes.
fn safetensors_weights() -> (Vec<u8>, u64) {
    use safetensors::Dtype;
    use safetensors::tensor::TensorView;
    let tensors: [(&str, Dtype, Vec<usize>); 4] = [
        ("embed.weight", Dtype::F32, vec![300, 64]),
        ("layers.0.attn.q.weight", Dtype::BF16, vec![64, 64]),
        ("layers.0.attn.q.bias", Dtype::F16, vec![64]),
        ("lm_head.scale", Dtype::F32, vec![]),
    ];
    let buffers: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, dtype, shape)| vec![0u8; shape.iter().product::<usize>() * dtype.bitsize() / 8])
        .collect();
    let views = tensors
        .iter()
        .zip(&buffers)
        .map(|((name, dtype, shape), data)| {
            (*name, TensorView::new(*dtype, shape.clone(), data).unwrap())
        });
    let metadata = std::collections::HashMap::from([("format".to_owned(), "pt".to_owned())]);
    let file = safetensors::tensor::serialize(views, Some(metadata)).unwrap();
    let total = tensors
        .iter()
        .map(|(_, _, shape)| shape.iter().product::<usize>() as u64)
        .sum();
    (file, total)
}

/// The numbers in a page's `<td class="num">` cells.
fn number_cells(html: &str) -> Vec<u64> {
    html.split("<td class=\"num\">")
        .skip(1)
        .map(|cell| {
            let text = cell.split('<').next().unwrap();
            text.replace(',', "").parse().unwrap()
        })
        .collect()
}

/// alice's public model `tiny` with the weights at the root and in `sub/`;
/// the weights and the sum of their tensors' sizes.
async fn tiny_model(hub: &TestHub, api: &Api, token: &str) -> (Vec<u8>, u64, String) {
    assert_eq!(
        api.create_repo("model", "alice", "tiny", false)
            .await
            .status,
        200
    );
    let (weights, total) = safetensors_weights();
    assert_eq!(total, 300 * 64 + 64 * 64 + 64 + 1);
    let oid = upload_lfs(hub, token, "alice/tiny", &weights).await;
    commit(
        api,
        "models",
        "alice/tiny",
        "weights",
        &[
            lfs_op("model.safetensors", &oid, weights.len()),
            lfs_op("sub/copy.safetensors", &oid, weights.len()),
        ],
    )
    .await;
    (weights, total, oid)
}

#[tokio::test]
async fn safetensors_viewer_lists_tensors_and_their_total() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    let (_, total, oid) = tiny_model(&hub, &api, &token).await;
    let anon = browser();

    // One row per tensor, by name; the total is their sum.
    let html = page(&anon, &hub, "/alice/tiny/blob/main/model.safetensors", "en").await;
    assert!(
        html.contains("Total parameters") && html.contains("4 tensors"),
        "{html}"
    );
    assert!(
        html.contains(
            "<td><code>embed.weight</code></td><td>F32</td><td>[300, 64]</td><td class=\"num\">19,200</td>"
        ),
        "{html}"
    );
    assert!(html.contains("<td>BF16</td><td>[64, 64]</td><td class=\"num\">4,096</td>"));
    assert!(html.contains(
        "<td><code>lm_head.scale</code></td><td>F32</td><td>[]</td><td class=\"num\">1</td>"
    ));
    assert!(
        html.contains("<dt>format</dt><dd><code>pt</code></dd>"),
        "{html}"
    );
    let cells = number_cells(&html);
    assert_eq!(cells, vec![19_200, 64, 4096, 1], "by name");
    assert_eq!(cells.iter().sum::<u64>(), total);
    assert!(
        html.contains("class=\"total-parameters\">23,361<"),
        "{html}"
    );
    // The LFS facts stay.
    assert!(html.contains(&oid));
    let html = page(
        &anon,
        &hub,
        "/alice/tiny/blob/main/sub/copy.safetensors",
        "zh-CN",
    )
    .await;
    assert!(
        html.contains("参数总量") && html.contains("形状") && html.contains("23,361"),
        "{html}"
    );
}

#[tokio::test]
async fn model_page_shows_the_parameter_count() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    tiny_model(&hub, &api, &token).await;
    for name in ["sharded", "plain"] {
        assert_eq!(
            api.create_repo("model", "alice", name, false).await.status,
            200
        );
    }
    let anon = browser();

    // A single file: its header's count.
    let html = page(&anon, &hub, "/alice/tiny", "en").await;
    assert!(
        html.contains("<dt>Parameters</dt><dd title=\"23,361\">23.3k</dd>"),
        "{html}"
    );
    let html = page(&anon, &hub, "/alice/tiny", "zh-CN").await;
    assert!(
        html.contains("<dt>参数量</dt><dd title=\"23,361\">2.3万</dd>"),
        "{html}"
    );

    // A sharded model: the index's total_parameters (its total_size is bytes).
    let index = json!({
        "metadata": { "total_parameters": 22_700_000u64, "total_size": 45_400_000u64 },
        "weight_map": { "embed.weight": "model-00001-of-00002.safetensors" }
    });
    commit(
        &api,
        "models",
        "alice/sharded",
        "index",
        &[file_op(
            "model.safetensors.index.json",
            index.to_string().as_bytes(),
        )],
    )
    .await;
    let html = page(&anon, &hub, "/alice/sharded", "en").await;
    assert!(
        html.contains("<dt>Parameters</dt><dd title=\"22,700,000\">22.7M</dd>"),
        "{html}"
    );
    let html = page(&anon, &hub, "/alice/sharded", "zh-CN").await;
    assert!(
        html.contains("<dd title=\"22,700,000\">2270万</dd>"),
        "{html}"
    );

    // No weights: no count.
    commit(
        &api,
        "models",
        "alice/plain",
        "card",
        &[file_op("README.md", b"# plain\n")],
    )
    .await;
    let html = page(&anon, &hub, "/alice/plain", "en").await;
    assert!(!html.contains("<dt>Parameters</dt>"), "{html}");
}

#[tokio::test]
async fn safetensors_viewer_says_why_it_cannot_read_a_hostile_header() {
    let hub = TestHub::start().await;
    let token = hub.user_with_token("alice");
    let api = hub.api(Some(&token));
    assert_eq!(
        api.create_repo("model", "alice", "bad", false).await.status,
        200
    );
    let with_header = |len: u64, header: &[u8], data: usize| {
        let mut file = len.to_le_bytes().to_vec();
        file.extend_from_slice(header);
        file.extend(std::iter::repeat_n(0u8, data));
        file
    };
    let offsets_past_end = br#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
    let wrong_size = br#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#;
    let files: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "past_end.safetensors",
            with_header(1 << 40, b"{}", 0),
            "the header length is larger than the file.",
            "头部长度超过了文件大小。",
        ),
        (
            "not_json.safetensors",
            with_header(10, b"not json!!", 4),
            "the header is not a JSON object.",
            "头部不是 JSON 对象。",
        ),
        (
            "offsets.safetensors",
            with_header(offsets_past_end.len() as u64, offsets_past_end, 8),
            "a tensor's data offsets lie outside the file.",
            "有张量的数据偏移超出了文件范围。",
        ),
        (
            "size.safetensors",
            with_header(wrong_size.len() as u64, wrong_size, 16),
            "a tensor's byte range does not match its shape and dtype.",
            "有张量的数据长度与它的形状和数据类型不符。",
        ),
        (
            "short.safetensors",
            b"abc".to_vec(),
            "the file is too short to hold a header length.",
            "文件太短，放不下头部长度。",
        ),
    ];
    let mut ops = Vec::new();
    for (path, data, _, _) in &files {
        let oid = upload_lfs(&hub, &token, "alice/bad", data).await;
        ops.push(lfs_op(path, &oid, data.len()));
    }
    // The model's weights too: their header's length is past the end.
    let oid = upload_lfs(&hub, &token, "alice/bad", &files[0].1).await;
    ops.push(lfs_op("model.safetensors", &oid, files[0].1.len()));
    commit(&api, "models", "alice/bad", "hostile headers", &ops).await;
    let anon = browser();
    for (path, _, en, zh) in &files {
        let (status, html) = get(&anon, &hub, &format!("/alice/bad/blob/main/{path}"), "en").await;
        assert_eq!(status, 200, "{path}: {html}");
        let html = unquote(&html);
        assert!(
            html.contains(&format!("Cannot read this safetensors header: {en}")),
            "{path}: {html}"
        );
        assert!(!html.contains("tensor-table"), "{path}");
        let (status, html) = get(
            &anon,
            &hub,
            &format!("/alice/bad/blob/main/{path}"),
            "zh-CN",
        )
        .await;
        assert_eq!(status, 200, "{path}");
        assert!(
            html.contains(&format!("无法读取这个 safetensors 文件的头部：{zh}")),
            "{path}: {html}"
        );
    }
    // The tensor concerned is named.
    let html = page(
        &anon,
        &hub,
        "/alice/bad/blob/main/offsets.safetensors",
        "en",
    )
    .await;
    assert!(html.contains("Tensor: <code>w</code>"), "{html}");
    // The model page still renders, without a count.
    let html = page(&anon, &hub, "/alice/bad", "en").await;
    assert!(!html.contains("<dt>Parameters</dt>"), "{html}");
}

/// The card's metadata on the repo page links somewhere useful: tags,
/// license and languages to the listing filtered by them (which lists the
/// repo), `base_model:` and `datasets:` to those repos on this hub.
#[tokio::test]
async fn card_metadata_links_to_filtered_listings_and_repos() {
    let (hub, api) = discovery_fixture().await;
    commit(
        &api,
        "models",
        "alice/vision",
        "card",
        &[file_op(
            "README.md",
            b"---\nlicense: mit\nlanguage: [fr]\ntags: [cats]\ndatasets: [alice/corpus, imagenet]\n\
              base_model: alice/chat-zh\npipeline_tag: image-classification\n---\n# Vision\n",
        )],
    )
    .await;
    let anon = browser();
    let html = page(&anon, &hub, "/alice/vision", "en").await;
    for href in [
        "href=\"/models?other=cats\"",
        "href=\"/models?license=mit\"",
        "href=\"/models?language=fr\"",
        "href=\"/alice/chat-zh\"",
        "href=\"/datasets/alice/corpus\"",
        "href=\"/models?other=dataset%3Aimagenet\"",
    ] {
        assert!(html.contains(href), "{href}: {html}");
    }
    // The language shows by name, the code stays in the link.
    assert!(html.contains(">French</"), "{html}");
    // Each filtered listing holds the repo, and not the others.
    for query in [
        "other=cats",
        "license=mit",
        "language=fr",
        "other=dataset%3Aimagenet",
        "other=base_model%3Aalice%2Fchat-zh",
    ] {
        let list = page(&anon, &hub, &format!("/models?{query}"), "en").await;
        assert!(list.contains("href=\"/alice/vision\""), "{query}: {list}");
        assert!(!list.contains("href=\"/alice/chat-zh\""), "{query}: {list}");
    }
    // The linked repos exist.
    assert_eq!(
        get(&anon, &hub, "/datasets/alice/corpus", "en").await.0,
        200
    );
    // A dataset shows its task_categories by name, linked to the filter.
    let html = page(&anon, &hub, "/datasets/alice/corpus", "zh-CN").await;
    assert!(
        html.contains(
            "href=\"/datasets?task=text-classification\" title=\"text-classification\">文本分类</a>"
        ),
        "{html}"
    );
    let list = page(&anon, &hub, "/datasets?task=text-classification", "en").await;
    assert!(list.contains("href=\"/datasets/alice/corpus\""), "{list}");
    // A tag filter can be cleared and is kept by the search form.
    let list = page(&anon, &hub, "/models?other=cats", "en").await;
    assert!(list.contains("name=\"other\" value=\"cats\""), "{list}");
}

/// A Space's page reads its card's front matter (title, emoji, colours,
/// SDK, short description), says why it is not running (a Gradio Space
/// without its app.py: `NO_APP_FILE`, with the reason), and shows no
/// download count.
#[tokio::test]
async fn a_space_page_shows_its_configuration_and_state() {
    let hub = TestHub::start().await;
    let api = hub.api(Some(&hub.user_with_token("alice")));
    assert_eq!(
        api.create_repo("space", "alice", "demo", false)
            .await
            .status,
        200
    );
    commit(
        &api,
        "spaces",
        "alice/demo",
        "card",
        &[file_op(
            "README.md",
            "---\ntitle: 聊天演示\nemoji: 💬\ncolorFrom: blue\ncolorTo: \"red; x\"\nsdk: gradio\n\
             sdk_version: 4.44.0\nshort_description: 一个对话演示\n---\n# Demo\n"
                .as_bytes(),
        )],
    )
    .await;
    let anon = browser();
    let html = page(&anon, &hub, "/spaces/alice/demo", "zh-CN").await;
    assert!(
        html.contains("<h2 class=\"space-title\">聊天演示</h2>"),
        "{html}"
    );
    assert!(html.contains("💬") && html.contains("一个对话演示"));
    assert!(
        html.contains("space-banner space-from-blue space-to-gray"),
        "an unknown colour falls back: {html}"
    );
    assert!(html.contains("gradio 4.44.0"));
    assert!(html.contains("缺少应用文件"), "{html}");
    assert!(html.contains("no `app.py` in the repo"), "{html}");
    assert!(!html.contains("<iframe"), "nothing to frame: {html}");
    assert!(!html.contains("下载量"), "no downloads for a Space");
    // Models keep their download count.
    assert_eq!(
        api.create_repo("model", "alice", "m", false).await.status,
        200
    );
    let html = page(&anon, &hub, "/alice/m", "zh-CN").await;
    assert!(html.contains("下载量") && !html.contains("space-banner"));
}

/// The model page's widget says why a model cannot run, in the visitor's
/// language: no config.json, no worker at all (this hub has none here).
#[tokio::test]
async fn the_inference_widget_says_why_a_model_cannot_run() {
    let hub = TestHub::start().await;
    let api = hub.api(Some(&hub.user_with_token("alice")));
    for name in ["bare", "llama"] {
        assert_eq!(
            api.create_repo("model", "alice", name, false).await.status,
            200
        );
    }
    commit(
        &api,
        "models",
        "alice/bare",
        "card",
        &[file_op("README.md", b"# Bare\n")],
    )
    .await;
    commit(
        &api,
        "models",
        "alice/llama",
        "config",
        &[
            file_op(
                "config.json",
                br#"{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}"#,
            ),
            file_op(
                "README.md",
                "---\npipeline_tag: text-generation\nwidget:\n- text: 你好，介绍一下你自己\n  example_title: 问候\n- {}\n---\n# Llama\n"
                    .as_bytes(),
            ),
        ],
    )
    .await;
    let anon = browser();
    let reason = |repo: &'static str, lang: &'static str| {
        let anon = anon.clone();
        let url = format!("{}/api/inference/{repo}", hub.url);
        async move {
            let r = anon
                .get(url)
                .header("accept-language", lang)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["available"], false, "{body}");
            body["reason"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(
        reason("alice/bare", "zh-CN").await,
        "这个模型没有 config.json，无法运行。"
    );
    assert_eq!(
        reason("alice/bare", "en").await,
        "This model has no config.json, so it cannot run."
    );
    assert_eq!(
        reason("alice/llama", "zh-CN").await,
        "本站目前没有连接任何推理节点。"
    );
    // The card's `widget:` examples come with the answer (empty ones skipped).
    let body: serde_json::Value = anon
        .get(format!("{}/api/inference/alice/llama", hub.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["examples"],
        serde_json::json!([{ "title": "问候", "text": "你好，介绍一下你自己",
                             "source_sentence": null, "sentences": [] }]),
        "{body}"
    );
}
