//! `manifest.json`, the table of contents of a transfer bundle: what repo
//! it holds, its refs, and every file of the bundle with its sha256 and
//! size (and those of its parts, when it was split for removable media).
//! The manifest is the only thing read before the files are checked, so
//! everything in it is validated here: paths are ours (never `..` or
//! absolute), hashes are hashes, sizes add up.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::git::read::RefKind;
use crate::git::refs::validate_ref_name;
use crate::lfs::objects::is_valid_oid;
use crate::repos::RepoType;

/// What `format` says in every manifest this hub writes.
pub const FORMAT: &str = "kaiyuan-hub-transfer";
/// The version of the layout below; an importer refuses other versions.
pub const VERSION: u32 = 1;
/// The manifest's own name in the bundle directory.
pub const MANIFEST: &str = "manifest.json";
/// The git bundle's name in the bundle directory.
pub const GIT_BUNDLE: &str = "repo.bundle";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub repo: RepoInfo,
    /// The revision exported (`ns/name@rev`), or `None` for the whole repo.
    #[serde(default)]
    pub revision: Option<String>,
    /// Every ref of the bundle (`refs/heads/main`, `refs/tags/v1`) and the
    /// object it points at (an annotated tag's own object for such tags).
    pub refs: BTreeMap<String, String>,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RepoInfo {
    #[serde(rename = "type")]
    pub repo_type: String,
    /// `namespace/name` on the hub it was exported from.
    pub id: String,
    pub private: bool,
    pub default_branch: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    GitBundle,
    Lfs,
}

/// One file of the bundle. When `parts` is empty the file lies whole at
/// `path`; otherwise only its parts do, in order, and `size` and `sha256`
/// are those of their concatenation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    pub kind: FileKind,
    pub size: u64,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Part {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

impl FileEntry {
    /// The LFS object id of an `lfs/<oid>` entry.
    pub fn oid(&self) -> Option<&str> {
        match self.kind {
            FileKind::Lfs => self.path.strip_prefix("lfs/"),
            FileKind::GitBundle => None,
        }
    }

    /// Where the bytes lie, in order: the parts, or the whole file.
    pub fn pieces(&self) -> Vec<(&str, u64, &str)> {
        if self.parts.is_empty() {
            vec![(self.path.as_str(), self.size, self.sha256.as_str())]
        } else {
            self.parts
                .iter()
                .map(|p| (p.path.as_str(), p.size, p.sha256.as_str()))
                .collect()
        }
    }
}

/// The name of part `index` (from 1) of `path`, numbered with at least
/// four digits so that the parts sort in order.
pub fn part_path(path: &str, index: usize, count: usize) -> String {
    let width = count.to_string().len().max(4);
    format!("{path}.part-{index:0width$}")
}

impl Manifest {
    pub fn repo_type(&self) -> Result<RepoType> {
        RepoType::parse(&self.repo.repo_type).map_err(|e| bad(format!("repo.type: {e}")))
    }

    /// The git bundle's entry.
    pub fn git_bundle(&self) -> Result<&FileEntry> {
        self.files
            .iter()
            .find(|f| f.kind == FileKind::GitBundle)
            .ok_or_else(|| bad(format!("it lists no {GIT_BUNDLE}")))
    }

    pub fn lfs_objects(&self) -> impl Iterator<Item = &FileEntry> {
        self.files.iter().filter(|f| f.kind == FileKind::Lfs)
    }

    /// Reads and checks `DIR/manifest.json`.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::invalid(format!(
                    "{} is not a transfer bundle: it has no {MANIFEST}",
                    dir.display()
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let manifest: Manifest = serde_json::from_slice(&text)
            .map_err(|e| bad(format!("it is not valid JSON of this format: {e}")))?;
        manifest.check()?;
        Ok(manifest)
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let mut text = serde_json::to_vec_pretty(self).map_err(anyhow::Error::from)?;
        text.push(b'\n');
        std::fs::write(dir.join(MANIFEST), text)?;
        Ok(())
    }

    /// Everything that can be checked without reading the files.
    pub fn check(&self) -> Result<()> {
        if self.format != FORMAT {
            return Err(bad(format!(
                "its format is {:?}, not {FORMAT:?}",
                self.format
            )));
        }
        if self.version != VERSION {
            return Err(bad(format!(
                "it is version {} of the format; this hub reads version {VERSION}",
                self.version
            )));
        }
        self.repo_type()?;
        crate::names::split_repo_id(&self.repo.id)
            .map_err(|e| bad(format!("repo.id {:?}: {e}", self.repo.id)))?;
        validate_ref_name(RefKind::Branch, &self.repo.default_branch)
            .map_err(|e| bad(format!("repo.default_branch: {e}")))?;
        for (name, target) in &self.refs {
            check_ref(name, target)?;
        }
        let default = format!("refs/heads/{}", self.repo.default_branch);
        if !self.refs.contains_key(&default) {
            return Err(bad(format!("its refs lack the default branch {default}")));
        }
        let mut paths = std::collections::HashSet::new();
        let mut bundles = 0;
        for file in &self.files {
            file.check()?;
            bundles += usize::from(file.kind == FileKind::GitBundle);
            for (path, _, _) in file.pieces() {
                if !paths.insert(path) {
                    return Err(bad(format!("it lists {path} twice")));
                }
            }
        }
        if bundles != 1 {
            return Err(bad(format!(
                "it lists {bundles} git bundles; a transfer bundle has exactly one"
            )));
        }
        Ok(())
    }
}

impl FileEntry {
    fn check(&self) -> Result<()> {
        match self.kind {
            FileKind::GitBundle if self.path != GIT_BUNDLE => {
                return Err(bad(format!(
                    "the git bundle is listed as {:?}, not {GIT_BUNDLE}",
                    self.path
                )));
            }
            FileKind::Lfs => {
                let oid = self.oid().unwrap_or_default();
                if !is_valid_oid(oid) {
                    return Err(bad(format!(
                        "{:?} is not named lfs/<sha256> as LFS objects are",
                        self.path
                    )));
                }
                // An LFS object is named by its sha256: the two must agree.
                if self.sha256 != oid {
                    return Err(bad(format!(
                        "{} is listed with sha256 {}, which is not its own name",
                        self.path, self.sha256
                    )));
                }
            }
            FileKind::GitBundle => {}
        }
        if !is_valid_oid(&self.sha256) {
            return Err(bad(format!(
                "{}: {:?} is not a sha256",
                self.path, self.sha256
            )));
        }
        if self.parts.is_empty() {
            return Ok(());
        }
        let count = self.parts.len();
        let mut total = 0u64;
        for (i, part) in self.parts.iter().enumerate() {
            let expected = part_path(&self.path, i + 1, count);
            if part.path != expected {
                return Err(bad(format!(
                    "part {} of {} is listed as {:?}, not {expected:?}",
                    i + 1,
                    self.path,
                    part.path
                )));
            }
            if !is_valid_oid(&part.sha256) {
                return Err(bad(format!(
                    "{}: {:?} is not a sha256",
                    part.path, part.sha256
                )));
            }
            total = total.saturating_add(part.size);
        }
        if total != self.size {
            return Err(bad(format!(
                "the parts of {} add up to {total} bytes, not its {} bytes",
                self.path, self.size
            )));
        }
        Ok(())
    }
}

fn check_ref(name: &str, target: &str) -> Result<()> {
    let (kind, short) = if let Some(short) = name.strip_prefix("refs/heads/") {
        (RefKind::Branch, short)
    } else if let Some(short) = name.strip_prefix("refs/tags/") {
        (RefKind::Tag, short)
    } else {
        return Err(bad(format!(
            "its ref {name:?} is neither a branch nor a tag"
        )));
    };
    validate_ref_name(kind, short).map_err(|e| bad(format!("ref {name}: {e}")))?;
    let is_sha1 = target.len() == 40
        && target
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !is_sha1 {
        return Err(bad(format!(
            "ref {name} points at {target:?}, not a commit id"
        )));
    }
    Ok(())
}

/// A manifest that cannot be taken as it is.
fn bad(why: String) -> Error {
    Error::invalid(format!("the bundle's {MANIFEST} is refused: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(c: char) -> String {
        c.to_string().repeat(64)
    }

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: VERSION,
            repo: RepoInfo {
                repo_type: "model".into(),
                id: "alice/m".into(),
                private: false,
                default_branch: "main".into(),
            },
            revision: None,
            refs: [("refs/heads/main".to_owned(), "a".repeat(40))].into(),
            files: vec![
                FileEntry {
                    path: GIT_BUNDLE.into(),
                    kind: FileKind::GitBundle,
                    size: 10,
                    sha256: sha('b'),
                    parts: vec![],
                },
                FileEntry {
                    path: format!("lfs/{}", sha('c')),
                    kind: FileKind::Lfs,
                    size: 7,
                    sha256: sha('c'),
                    parts: vec![
                        Part {
                            path: part_path(&format!("lfs/{}", sha('c')), 1, 2),
                            size: 4,
                            sha256: sha('d'),
                        },
                        Part {
                            path: part_path(&format!("lfs/{}", sha('c')), 2, 2),
                            size: 3,
                            sha256: sha('e'),
                        },
                    ],
                },
            ],
        }
    }

    #[test]
    fn parts_are_numbered_to_sort() {
        assert_eq!(part_path("repo.bundle", 3, 12), "repo.bundle.part-0003");
        assert_eq!(part_path("x", 7, 12345), "x.part-00007");
    }

    #[test]
    fn a_sound_manifest_passes_and_round_trips() {
        let m = manifest();
        m.check().unwrap();
        let dir = tempfile::tempdir().unwrap();
        m.write(dir.path()).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), m);
    }

    #[test]
    fn hostile_or_inconsistent_manifests_are_refused() {
        type Change = Box<dyn Fn(&mut Manifest)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "format",
                Box::new(|m: &mut Manifest| m.format = "zip".into()),
            ),
            ("version", Box::new(|m: &mut Manifest| m.version = 2)),
            (
                "repo.type",
                Box::new(|m: &mut Manifest| m.repo.repo_type = "repo".into()),
            ),
            (
                "repo.id",
                Box::new(|m: &mut Manifest| m.repo.id = "../x".into()),
            ),
            (
                "default branch",
                Box::new(|m: &mut Manifest| m.repo.default_branch = "dev".into()),
            ),
            (
                "neither a branch",
                Box::new(|m: &mut Manifest| {
                    m.refs.insert("refs/pr/1".into(), "a".repeat(40));
                }),
            ),
            (
                "not a commit id",
                Box::new(|m: &mut Manifest| {
                    m.refs.insert("refs/tags/v1".into(), "HEAD".into());
                }),
            ),
            (
                "not repo.bundle",
                Box::new(|m: &mut Manifest| m.files[0].path = "../../etc/passwd".into()),
            ),
            (
                "lfs/<sha256>",
                Box::new(|m: &mut Manifest| m.files[1].path = "lfs/../x".into()),
            ),
            (
                "not its own name",
                Box::new(|m: &mut Manifest| m.files[1].sha256 = sha('f')),
            ),
            (
                "add up",
                Box::new(|m: &mut Manifest| m.files[1].parts[1].size = 4),
            ),
            (
                "not \"lfs/",
                Box::new(|m: &mut Manifest| m.files[1].parts[0].path = "/etc/passwd".into()),
            ),
            (
                "twice",
                Box::new(|m: &mut Manifest| {
                    let copy = m.files[1].clone();
                    m.files.push(copy);
                }),
            ),
            (
                "0 git bundles",
                Box::new(|m: &mut Manifest| {
                    m.files.remove(0);
                }),
            ),
        ];
        for (want, change) in cases {
            let mut m = manifest();
            change(&mut m);
            let err = m.check().unwrap_err().to_string();
            assert!(err.contains(want), "{want}: {err}");
        }
    }
}
