//! The LFS decision and `.gitattributes` semantics, checked against git's.

use super::*;

fn patterns(text: &str) -> LfsPatterns {
    LfsPatterns::parse(text)
}

fn lfs(pattern: &str) -> LfsPatterns {
    patterns(&format!("{pattern} filter=lfs\n"))
}

#[test]
fn default_gitattributes_is_hf_list_plus_gguf() {
    let lines: Vec<&str> = DEFAULT_GITATTRIBUTES.lines().collect();
    assert_eq!(lines.len(), 36);
    assert!(DEFAULT_GITATTRIBUTES.ends_with("-text\n"));
    assert_eq!(lines[0], "*.7z filter=lfs diff=lfs merge=lfs -text");
    assert_eq!(
        lines[25],
        "saved_model/**/* filter=lfs diff=lfs merge=lfs -text"
    );
    assert_eq!(lines[34], "*tfevents* filter=lfs diff=lfs merge=lfs -text");
    assert_eq!(lines[35], "*.gguf filter=lfs diff=lfs merge=lfs -text");
    for line in lines {
        assert!(line.ends_with(&format!(" {LFS_ATTRIBUTES}")), "{line}");
    }
    assert_eq!(LfsPatterns::parse(DEFAULT_GITATTRIBUTES).rules.len(), 36);
}

#[test]
fn default_patterns_match_model_files_only() {
    let p = patterns(DEFAULT_GITATTRIBUTES);
    for path in [
        "model.safetensors",
        "sub/dir/pytorch_model.bin",
        "data.tar.gz",
        "data.tar",
        "events.out.tfevents.123",
        "runs/x/events.out.tfevents.1.host",
        "saved_model/variables/x",
        "saved_model/x",
        "q4.gguf",
        "tokenizer.model",
        "a.lfs.json",
    ] {
        assert!(p.matches(path), "{path}");
    }
    for path in [
        "README.md",
        "config.json",
        "sub/config.json",
        "nested/saved_model/x",
        "saved_model",
        "model.safetensors.index.json",
        "MODEL.BIN",
        "",
    ] {
        assert!(!p.matches(path), "{path}");
    }
}

#[test]
fn basename_patterns_match_at_any_depth() {
    let p = lfs("*.bin");
    assert!(p.matches("a.bin") && p.matches("x/y/a.bin") && p.matches("/a.bin"));
    assert!(!p.matches("a.bin/readme.md"));
    let literal = lfs("weights.dat");
    assert!(literal.matches("weights.dat") && literal.matches("deep/weights.dat"));
    assert!(!literal.matches("weights.dat2"));
}

#[test]
fn patterns_with_a_slash_are_anchored() {
    let root_only = lfs("/top.bin");
    assert!(root_only.matches("top.bin"));
    assert!(!root_only.matches("sub/top.bin"));
    let dir = lfs("weights/*.bin");
    assert!(dir.matches("weights/a.bin"));
    assert!(!dir.matches("x/weights/a.bin"));
    assert!(!dir.matches("weights/sub/a.bin"), "* must not cross /");
    let question = lfs("w/?.bin");
    assert!(question.matches("w/a.bin") && !question.matches("w//.bin"));
}

#[test]
fn double_star_forms() {
    let leading = lfs("**/ckpt/*.pt");
    assert!(leading.matches("ckpt/a.pt") && leading.matches("a/b/ckpt/a.pt"));
    assert!(!leading.matches("a/ckpt/b/a.pt"));
    let trailing = lfs("data/**");
    assert!(trailing.matches("data/a") && trailing.matches("data/a/b/c"));
    assert!(!trailing.matches("data") && !trailing.matches("other/data/a"));
    let middle = lfs("a/**/b.bin");
    assert!(middle.matches("a/b.bin") && middle.matches("a/x/y/b.bin"));
    assert!(!middle.matches("a/xb.bin"));
    // Not a whole component: a plain `*`.
    let plain = lfs("a**b/c");
    assert!(plain.matches("axyb/c") && !plain.matches("ax/yb/c"));
    assert!(lfs("**").matches("any/thing"));
    assert!(lfs("***/x").matches("a/b/x"));
    // Git quirk: after an anchored pattern's literal prefix, `**` starts
    // the rest of the pattern, so it spans directories here.
    let quirk = lfs("a/x**/b");
    assert!(quirk.matches("a/xb") && quirk.matches("a/x/y/b") && quirk.matches("a/xy/b"));
    assert!(!lfs("a/*x**/b").matches("a/yx/z/b"));
}

#[test]
fn later_lines_override_earlier_ones() {
    let p = patterns(
        "*.bin filter=lfs diff=lfs merge=lfs -text\n\
         small/*.bin -filter\n\
         small/keep.bin filter=lfs\n\
         docs/*.bin !filter\n\
         other/*.bin filter=other\n\
         bare/*.bin filter\n\
         *.bin -diff\n",
    );
    assert!(p.matches("a.bin") && p.matches("x/small/a.bin"));
    assert!(!p.matches("small/a.bin"));
    assert!(p.matches("small/keep.bin"));
    assert!(!p.matches("docs/a.bin") && !p.matches("other/a.bin") && !p.matches("bare/a.bin"));
}

#[test]
fn last_filter_on_a_line_wins() {
    assert!(!patterns("*.bin filter=lfs -filter\n").matches("a.bin"));
    assert!(patterns("*.bin -filter filter=lfs\n").matches("a.bin"));
}

#[test]
fn ignored_lines() {
    let p = patterns(
        "# *.txt filter=lfs\n\
         \n\
         \t  \n\
         [attr]big filter=lfs diff=lfs merge=lfs -text\n\
         *.md big\n\
         !*.cfg filter=lfs\n\
         dir/ filter=lfs\n\
         *.csv filter=lfs bad@name\n\
         *.tsv\n",
    );
    for path in [
        "a.txt", "a.md", "a.cfg", "dir", "dir/a", "a.csv", "a.tsv", "# *.txt",
    ] {
        assert!(!p.matches(path), "{path}");
    }
    assert!(patterns("  *.bin\tfilter=lfs\r\n").matches("a.bin"));
}

#[test]
fn quoted_patterns() {
    let p = patterns("\"my model.bin\" filter=lfs\n\"tab\\there\\101.bin\" filter=lfs\n");
    assert!(p.matches("my model.bin") && p.matches("d/my model.bin"));
    assert!(p.matches("tab\there\u{41}.bin"));
    // Unbalanced quote: read unquoted, as git does.
    assert!(patterns("\"x filter=lfs\n").matches("\"x"));
}

#[test]
fn bracket_expressions() {
    let digits = lfs("shard-[0-9].bin");
    assert!(digits.matches("shard-3.bin") && !digits.matches("shard-x.bin"));
    let negated = lfs("[!a]*.bin");
    assert!(negated.matches("b.bin") && !negated.matches("a.bin"));
    assert!(lfs("[^a].bin").matches("b.bin"));
    let posix = lfs("a[[:space:]]b");
    assert!(posix.matches("a b") && posix.matches("a\tb") && !posix.matches("axb"));
    assert!(lfs("[[:digit:][:upper:]]").matches("Q"));
    let bracket = lfs("[]x].bin");
    assert!(bracket.matches("].bin") && bracket.matches("x.bin"));
    assert!(lfs("[\\]].bin").matches("].bin"));
    assert!(lfs("[a-].bin").matches("-.bin"));
    assert!(lfs("[[:x].bin").matches(":.bin"), "not a class: literal [");
    assert!(!lfs("a/[/]b").matches("a//b"), "classes never match /");
    for broken in ["[abc", "x[", "[[:nope:]]", "a\\"] {
        assert!(lfs(broken).rules.is_empty(), "{broken}");
    }
}

#[test]
fn escapes_and_case() {
    let p = lfs("a\\*b.bin");
    assert!(p.matches("a*b.bin") && !p.matches("axb.bin"));
    assert!(!lfs("*.BIN").matches("a.bin"));
}

#[test]
fn binary_sniff_and_size_threshold() {
    let none = LfsPatterns::default();
    assert!(!should_use_lfs(&none, "a.txt", LFS_SIZE_THRESHOLD, b"text"));
    assert!(should_use_lfs(
        &none,
        "a.txt",
        LFS_SIZE_THRESHOLD + 1,
        b"text"
    ));
    let mut head = vec![b'a'; 9000];
    assert!(!should_use_lfs(&none, "a.txt", 9000, &head));
    head[BINARY_SNIFF_LEN] = 0;
    assert!(
        !should_use_lfs(&none, "a.txt", 9000, &head),
        "NUL past the sniff window"
    );
    head[BINARY_SNIFF_LEN - 1] = 0;
    assert!(should_use_lfs(&none, "a.txt", 9000, &head));
    assert!(!should_use_lfs(&none, "empty", 0, b""));
    let defaults = patterns(DEFAULT_GITATTRIBUTES);
    assert!(should_use_lfs(&defaults, "m.safetensors", 10, b"{}"));
}

#[test]
fn git_control_files_stay_in_git() {
    let everything = lfs("*");
    for path in [
        ".gitattributes",
        "sub/.gitattributes",
        ".gitignore",
        ".lfsconfig",
    ] {
        assert!(
            !should_use_lfs(&everything, path, u64::MAX, b"\0"),
            "{path}"
        );
    }
    assert!(should_use_lfs(&everything, "x.gitattributes", 1, b""));
}

/// The line must match the one path it was made for, and nothing else.
fn assert_exact(path: &str, others: &[&str]) {
    let line = pattern_line_for(path);
    assert!(
        line.ends_with(" filter=lfs diff=lfs merge=lfs -text"),
        "{line}"
    );
    let p = patterns(&format!("{line}\n"));
    assert!(p.matches(path), "{line} should match {path:?}");
    for other in others {
        assert!(!p.matches(other), "{line} should not match {other:?}");
    }
}

#[test]
fn pattern_line_for_plain_paths() {
    assert_eq!(
        pattern_line_for("weights/model.bin"),
        "weights/model.bin filter=lfs diff=lfs merge=lfs -text"
    );
    assert_eq!(
        pattern_line_for("model.bin"),
        "/model.bin filter=lfs diff=lfs merge=lfs -text"
    );
    assert_exact("model.bin", &["sub/model.bin", "model.bin2", "xmodel.bin"]);
    assert_exact(
        "weights/model.bin",
        &["x/weights/model.bin", "weights/model.bin/x"],
    );
    assert_exact("模型/权重.bin", &["模型/权重.binx"]);
}

#[test]
fn pattern_line_for_escapes_special_characters() {
    assert_eq!(
        pattern_line_for("my dir/a b.bin"),
        "my[[:space:]]dir/a[[:space:]]b.bin filter=lfs diff=lfs merge=lfs -text"
    );
    assert_exact("my dir/a b.bin", &["my_dir/a_b.bin", "mydir/ab.bin"]);
    assert_exact("w/*.bin", &["w/a.bin", "w/.bin"]);
    assert_exact("w/[ab].bin", &["w/a.bin", "w/b.bin"]);
    assert_exact("w/?.bin", &["w/a.bin"]);
    assert_exact("w/back\\slash.bin", &["w/backslash.bin"]);
    assert_exact("w/{a,b}.bin", &["w/a.bin"]);
    assert_exact("#hash/x.bin", &["hash/x.bin"]);
    assert_exact("!bang/x.bin", &["bang/x.bin"]);
    assert_exact("\"q\"/x.bin", &["q/x.bin"]);
    assert_exact("#top [1]*.bin", &["x/#top [1]*.bin", "#top 1.bin"]);
    assert_exact("a\tb/c", &["ab/c"]);
}

/// Small deterministic generator so the no-panic sweep needs no crate.
struct Lcg(u64);
impl Lcg {
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        items[(self.0 >> 33) as usize % items.len()]
    }
}

#[test]
fn arbitrary_patterns_and_paths_do_not_panic() {
    let pieces = [
        "*",
        "**",
        "?",
        "[",
        "]",
        "!",
        "^",
        "-",
        "\\",
        "/",
        ":",
        "[:",
        ":]",
        "a",
        "b",
        " ",
        "\"",
        "#",
        "中",
        "[[:space:]]",
        "filter=lfs",
        "-filter",
        "\\0",
        "\\x",
    ];
    let mut rng = Lcg(7);
    for _ in 0..3000 {
        let pattern: String = (0..8).map(|_| rng.pick(&pieces)).collect();
        let path: String = (0..6).map(|_| rng.pick(&pieces)).collect();
        let p = patterns(&format!("{pattern} filter=lfs\n{pattern}\n"));
        let _ = p.matches(&path);
        let _ = patterns(&pattern_line_for(&path)).matches(&path);
        let _ = LfsPointer::parse(pattern.as_bytes());
    }
}

#[test]
fn pathological_patterns_stay_fast() {
    let pattern = "*a".repeat(2000) + "b";
    let path = "a".repeat(3000);
    let started = std::time::Instant::now();
    assert!(!lfs(&pattern).matches(&path));
    assert!(!lfs(&format!("x/{}y", "**/".repeat(5000))).matches(&format!("x/{path}")));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
