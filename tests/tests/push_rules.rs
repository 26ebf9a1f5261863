//! A `git push` is held to the rules of the commit API (issue 11): ref
//! names, paths, commit messages, LFS pointers. Each refused push changes
//! nothing. The pushes are crafted with git's plumbing (`mktree`,
//! `commit-tree`), as an attacker would, since porcelain cannot make most
//! of these trees.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tests::{Api, TestHub, failed, file_op, git, ok, upload_lfs};

/// A tree entry to craft: a name (raw bytes) and the blob's content.
type Entry<'a> = (&'a [u8], &'a [u8]);

/// A hub with alice's public repo `alice/m` and a clone of it that pushes
/// with her token.
struct Pushing {
    hub: TestHub,
    token: String,
    api: Api,
    _home: tempfile::TempDir,
    home: PathBuf,
    _work: tempfile::TempDir,
    clone: PathBuf,
}

impl Pushing {
    async fn start() -> Pushing {
        let hub = TestHub::start().await;
        let token = hub.user_with_token("alice");
        let api = hub.api(Some(&token));
        let created = api.create_repo("model", "alice", "m", false).await;
        assert_eq!(created.status, 200, "{:?}", created.body);
        let home = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let url = format!("{}/alice/m.git", hub.url).replacen(
            "http://",
            &format!("http://alice:{token}@"),
            1,
        );
        ok(git(home.path(), work.path(), &["clone", &url, "m"]));
        Pushing {
            clone: work.path().join("m"),
            home: home.path().to_owned(),
            _home: home,
            _work: work,
            hub,
            token,
            api,
        }
    }

    fn git(&self, args: &[&str]) -> Output {
        git(&self.home, &self.clone, args)
    }

    /// Runs git with `input` on stdin; its trimmed stdout.
    fn git_with_input(&self, args: &[&str], input: &[u8]) -> String {
        let mut child = Command::new("git")
            .args(args)
            .current_dir(&self.clone)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        ok(out).trim().to_owned()
    }

    /// A tree of `entries` (name, blob content; a name with `/` makes a
    /// folder holding the rest), written with `mktree`, which takes any name.
    fn tree(&self, entries: &[(&[u8], &[u8])]) -> String {
        let mut listing = Vec::new();
        let mut folders: Vec<(&[u8], Vec<Entry>)> = Vec::new();
        for (name, content) in entries {
            if let Some(slash) = name.iter().position(|&b| b == b'/') {
                let (folder, rest) = (&name[..slash], &name[slash + 1..]);
                match folders.iter_mut().find(|(f, _)| *f == folder) {
                    Some((_, inner)) => inner.push((rest, content)),
                    None => folders.push((folder, vec![(rest, content)])),
                }
                continue;
            }
            let blob = self.git_with_input(&["hash-object", "-w", "--stdin"], content);
            listing.extend_from_slice(format!("100644 blob {blob}\t").as_bytes());
            listing.extend_from_slice(name);
            listing.push(0);
        }
        for (folder, inner) in folders {
            let tree = self.tree(&inner);
            listing.extend_from_slice(format!("040000 tree {tree}\t").as_bytes());
            listing.extend_from_slice(folder);
            listing.push(0);
        }
        self.git_with_input(&["mktree", "-z"], &listing)
    }

    /// A commit on top of HEAD whose tree is HEAD's files plus `entries`.
    fn commit_adding(&self, entries: &[(&[u8], &[u8])], message: &str) -> String {
        let mut all: Vec<(&[u8], &[u8])> = vec![(
            b".gitattributes",
            b"*.bin filter=lfs diff=lfs merge=lfs -text\n",
        )];
        all.extend_from_slice(entries);
        let tree = self.tree(&all);
        let commit = self.git(&["commit-tree", &tree, "-p", "HEAD", "-m", message]);
        ok(commit).trim().to_owned()
    }

    /// Pushes `refspec`; the push's output.
    fn push(&self, refspec: &str) -> Output {
        self.git(&["push", "origin", refspec])
    }

    /// The head of `main` as the hub records it.
    async fn head(&self) -> serde_json::Value {
        self.api.get("/api/models/alice/m").await.body["sha"].clone()
    }

    async fn git_dir(&self) -> PathBuf {
        let info = self.api.get("/api/models/alice/m").await;
        self.hub
            .git_dir(info.body["_id"].as_str().unwrap().parse().unwrap())
    }

    /// Pushes a commit adding `entries` to main and asserts it is refused
    /// with a message containing `needle`, and that nothing moved.
    async fn refused(&self, entries: &[(&[u8], &[u8])], needle: &str) -> String {
        let before = self.head().await;
        let commit = self.commit_adding(entries, "crafted");
        let stderr = failed(self.push(&format!("{commit}:refs/heads/main")));
        assert!(stderr.contains(needle), "{stderr}");
        assert!(!stderr.contains("internal error"), "{stderr}");
        assert_eq!(self.head().await, before, "the refused push moved main");
        let dir = self.git_dir().await;
        let on_hub = Command::new("git")
            .arg("--git-dir")
            .arg(&dir)
            .args(["cat-file", "-e", &commit])
            .status()
            .unwrap();
        assert!(!on_hub.success(), "the refused commit is in the repo");
        stderr
    }
}

fn hub_git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .arg("--git-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_branch_or_tag_named_like_a_commit_id_is_refused() {
    let p = Pushing::start().await;
    let target = p
        .api
        .commit("alice/m", "a", &[file_op("a.txt", b"the real a")], None)
        .await;
    assert_eq!(target.status, 200);
    let sha = target.body["commitOid"].as_str().unwrap().to_owned();
    ok(p.git(&["pull", "--ff-only", "origin", "main"]));
    let other = p.commit_adding(&[(b"a.txt", b"a redirected a")], "other");
    for name in [
        format!("refs/heads/{sha}"),
        format!("refs/tags/{sha}"),
        format!("refs/heads/{}", "ab".repeat(32)),
    ] {
        let stderr = failed(p.push(&format!("{other}:{name}")));
        assert!(stderr.contains("looks like a commit id"), "{stderr}");
    }
    let refs = String::from_utf8(hub_git(&p.git_dir().await, &["for-each-ref"]).stdout).unwrap();
    assert!(!refs.contains(&format!("/{sha}")), "{refs}");
    // Ordinary names still push.
    ok(p.push(&format!("{other}:refs/heads/feature/x")));
}

#[tokio::test]
async fn a_full_sha_resolves_to_its_commit_even_if_a_branch_takes_its_name() {
    let p = Pushing::start().await;
    let target = p
        .api
        .commit("alice/m", "a", &[file_op("a.txt", b"the real a")], None)
        .await;
    let sha = target.body["commitOid"].as_str().unwrap().to_owned();
    let other = p
        .api
        .commit("alice/m", "b", &[file_op("a.txt", b"a redirected a")], None)
        .await;
    let other_sha = other.body["commitOid"].as_str().unwrap();
    // A branch named after the first commit, as the rule let through before
    // (made behind the hub's back, as an old repo may still have one).
    let dir = p.git_dir().await;
    let made = hub_git(
        &dir,
        &["update-ref", &format!("refs/heads/{sha}"), other_sha],
    );
    assert!(made.status.success());
    let served = reqwest::get(format!("{}/alice/m/resolve/{sha}/a.txt", p.hub.url))
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(
        served.headers()["x-repo-commit"].to_str().unwrap(),
        sha.as_str()
    );
    assert_eq!(served.text().await.unwrap(), "the real a");
}

#[tokio::test]
async fn pushed_paths_with_backslashes_are_refused() {
    let p = Pushing::start().await;
    let stderr = p.refused(&[(br"a\..\..\x", b"x")], "backslash").await;
    assert!(stderr.contains(r"a\\..\\..\\x"), "names the path: {stderr}");
}

#[tokio::test]
async fn pushed_paths_with_newlines_are_refused() {
    let p = Pushing::start().await;
    p.refused(&[(b"dir/evil\nname.txt", b"x")], "control character")
        .await;
}

#[tokio::test]
async fn pushed_overlong_names_are_refused() {
    let p = Pushing::start().await;
    let long = vec![b'n'; 4000];
    p.refused(&[(&long, b"x")], "longer than").await;
    // Components under the limit that add up to a path over it, too.
    let deep = [vec![b'd'; 200].as_slice(); 6].join(&b'/');
    p.refused(&[(&deep, b"x")], "path longer than 1024 bytes")
        .await;
}

#[tokio::test]
async fn pushed_non_utf8_names_are_refused_with_a_clear_message() {
    let p = Pushing::start().await;
    p.refused(&[(b"caf\xe9.txt", b"x")], "not valid UTF-8")
        .await;
}

#[tokio::test]
async fn pushed_dot_git_aliases_are_refused() {
    let p = Pushing::start().await;
    // git's own fsck (receive.fsckObjects) or the hub's rule refuses each;
    // either way the push fails and nothing moves.
    for alias in [
        ".git\u{200c}/config",
        "GIT~1/config",
        ".git./config",
        ".git /config",
        "sub/.GIT/config",
    ] {
        p.refused(&[(alias.as_bytes(), b"[core]\n")], "").await;
    }
}

#[tokio::test]
async fn pushed_commit_messages_over_the_cap_are_refused() {
    let p = Pushing::start().await;
    let before = p.head().await;
    let huge = "m".repeat(70 * 1024);
    let commit = p.commit_adding(&[(b"ok.txt", b"fine")], &huge);
    let stderr = failed(p.push(&format!("{commit}:refs/heads/main")));
    assert!(
        stderr.contains(&commit) && stderr.contains("64 KiB"),
        "{stderr}"
    );
    assert_eq!(p.head().await, before);
    // The cap holds for every new commit, not only the tip.
    let child = ok(p.git(&[
        "commit-tree",
        &format!("{commit}^{{tree}}"),
        "-p",
        &commit,
        "-m",
        "short",
    ]));
    let stderr = failed(p.push(&format!("{}:refs/heads/main", child.trim())));
    assert!(stderr.contains("64 KiB"), "{stderr}");
}

#[tokio::test]
async fn pushed_lfs_pointers_must_match_a_linked_object_and_its_size() {
    let p = Pushing::start().await;
    let data = b"some weights, uploaded for real".to_vec();
    let oid = upload_lfs(&p.hub, &p.token, "alice/m", &data).await;
    let pointer = |size: usize| {
        format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n")
    };
    let wrong = pointer(data.len() + 1);
    let stderr = p
        .refused(&[(b"w.bin", wrong.as_bytes())], "w.bin (its object has")
        .await;
    assert!(stderr.contains("without their content"), "{stderr}");
    let right = pointer(data.len());
    let commit = p.commit_adding(&[(b"w.bin", right.as_bytes())], "weights");
    ok(p.push(&format!("{commit}:refs/heads/main")));
    assert_eq!(p.head().await, commit.as_str());
}

#[tokio::test]
async fn clean_pushes_pass_and_clone_with_fsck() {
    let p = Pushing::start().await;
    let entries: [(&[u8], &[u8]); 4] = [
        (b"README.md", b"# m\n"),
        (b"src/model.py", b"print(1)\n"),
        (b".github/workflows/ci.yml", b"on: push\n"),
        ("模型/说明.md".as_bytes(), b"ok\n"),
    ];
    let commit = p.commit_adding(&entries, "clean");
    ok(p.push(&format!("{commit}:refs/heads/main")));
    assert_eq!(p.head().await, commit.as_str());
    let fsck = hub_git(&p.git_dir().await, &["fsck", "--strict"]);
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
    let work = tempfile::tempdir().unwrap();
    ok(git(
        &p.home,
        work.path(),
        &[
            "-c",
            "transfer.fsckObjects=true",
            "clone",
            &format!("{}/alice/m.git", p.hub.url),
            "again",
        ],
    ));
}
