//! The rules that decide whether a file is stored in Git LFS or as a plain git blob.
//!
//! This module owns every piece of that decision so the upload API, the git
//! receive path and the web editor cannot disagree:
//!
//! * [`DEFAULT_GITATTRIBUTES`]: the `.gitattributes` every new repo starts with.
//! * [`LfsPatterns`]: which paths a repo's `.gitattributes` sends to LFS, with
//!   git's own semantics (last matching line wins, wildmatch globs), because
//!   git and git-lfs on the client read the same file and must agree with us.
//! * [`should_use_lfs`]: the server-side rule (patterns, size, binary content).
//! * [`pattern_line_for`]: the line to add when a client stored a file in LFS
//!   that the patterns do not cover, so clones check it out correctly.
//! * [`LfsPointer`]: the small text file git stores in place of an LFS object.
//!
//! Everything here parses user data (repo files, pushed blobs), so nothing
//! panics and nothing is worse than linear-times-pattern-length in its input.
//! Pure functions only: no I/O.

mod attributes;
mod pointer;

pub use attributes::LfsPatterns;
pub use pointer::{LfsPointer, MAX_POINTER_SIZE};

/// The `.gitattributes` Hugging Face puts in every new repo, in HF's order,
/// with `*.gguf` appended (HF now adds it too). Keeping HF's list as an exact
/// prefix makes it easy to compare with theirs.
pub const DEFAULT_GITATTRIBUTES: &str = "\
*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.bz2 filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.ftz filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.joblib filter=lfs diff=lfs merge=lfs -text
*.lfs.* filter=lfs diff=lfs merge=lfs -text
*.mlmodel filter=lfs diff=lfs merge=lfs -text
*.model filter=lfs diff=lfs merge=lfs -text
*.msgpack filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.npz filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.ot filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pb filter=lfs diff=lfs merge=lfs -text
*.pickle filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.rar filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
saved_model/**/* filter=lfs diff=lfs merge=lfs -text
*.tar.* filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.tflite filter=lfs diff=lfs merge=lfs -text
*.tgz filter=lfs diff=lfs merge=lfs -text
*.wasm filter=lfs diff=lfs merge=lfs -text
*.xz filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
*tfevents* filter=lfs diff=lfs merge=lfs -text
*.gguf filter=lfs diff=lfs merge=lfs -text
";

/// Files larger than this go to LFS whatever their name: 10 MiB
/// (10 * 1024 * 1024 bytes), the limit Hugging Face enforces on plain git
/// blobs. A file of exactly this size stays in git.
pub const LFS_SIZE_THRESHOLD: u64 = 10 * 1024 * 1024;

/// How many leading bytes [`should_use_lfs`] inspects for a NUL, as git does
/// (`buffer_is_binary`) to decide that content is binary.
pub const BINARY_SNIFF_LEN: usize = 8000;

/// The attributes `git lfs track` writes; a line needs only `filter=lfs` to
/// count, the others keep diffs and merges of pointers sane on clients.
const LFS_ATTRIBUTES: &str = "filter=lfs diff=lfs merge=lfs -text";

/// Files git or git-lfs read from the working tree themselves: as pointers
/// they would break every checkout, so they always stay plain blobs.
const GIT_CONTROL_FILES: [&str; 4] = [".gitattributes", ".gitignore", ".gitmodules", ".lfsconfig"];

/// The one rule for "LFS or plain git blob" where the server decides: LFS
/// when the path matches the repo's LFS patterns, or the file is larger than
/// [`LFS_SIZE_THRESHOLD`], or its first [`BINARY_SNIFF_LEN`] bytes contain a
/// NUL (binary, as git judges it). `head` is the start of the file; bytes
/// past [`BINARY_SNIFF_LEN`] are ignored. Git's control files
/// (`.gitattributes`, `.gitignore`, `.gitmodules`, `.lfsconfig`) are never LFS.
#[must_use]
pub fn should_use_lfs(patterns: &LfsPatterns, path: &str, size: u64, head: &[u8]) -> bool {
    if is_git_control_file(path) {
        return false;
    }
    size > LFS_SIZE_THRESHOLD || looks_binary(head) || patterns.matches(path)
}

fn is_git_control_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    GIT_CONTROL_FILES.contains(&name)
}

fn looks_binary(head: &[u8]) -> bool {
    head.iter().take(BINARY_SNIFF_LEN).any(|&b| b == 0)
}

/// The `.gitattributes` line that sends exactly `path` (repo-relative, `/`
/// separated) to LFS, e.g. `weights/model.bin filter=lfs diff=lfs merge=lfs -text`.
///
/// Glob characters (`*`, `?`, `[`, `\`) are backslash-escaped. Whitespace
/// cannot be escaped in a gitattributes pattern, so it becomes
/// `[[:space:]]`, as `git lfs track` writes it (that class also admits the
/// other whitespace bytes at that position; git offers nothing narrower that
/// every client understands). A leading `#`, `!` or `"` is escaped so the line
/// is not read as a comment, a negative pattern or a quoted pattern. A path
/// without `/` gets a leading `/`: otherwise it would match that file name in
/// every directory. Append the line at the end of `.gitattributes`, where it
/// overrides any earlier line that unsets `filter` for the path.
#[must_use]
pub fn pattern_line_for(path: &str) -> String {
    let path = path.trim_start_matches('/');
    let mut pattern = String::with_capacity(path.len() + 1);
    if !path.contains('/') {
        pattern.push('/');
    }
    for c in path.chars() {
        match c {
            '\\' | '*' | '?' | '[' => {
                pattern.push('\\');
                pattern.push(c);
            }
            ' ' | '\t' | '\r' | '\n' => pattern.push_str("[[:space:]]"),
            '#' | '!' | '"' if pattern.is_empty() => {
                pattern.push('\\');
                pattern.push(c);
            }
            _ => pattern.push(c),
        }
    }
    format!("{pattern} {LFS_ATTRIBUTES}")
}

#[cfg(test)]
mod tests;
