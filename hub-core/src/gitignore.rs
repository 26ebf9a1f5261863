//! `.gitignore` rules (matched by [`crate::wildmatch`], as `.gitattributes`
//! patterns are), for the one place the hub applies them: telling an
//! uploading client which of its files git would ignore (`shouldIgnore` in
//! the preupload API). Pure functions, no I/O.
//!
//! Follows git: blank lines and `#` comments are skipped, `!` re-includes,
//! a trailing `/` matches folders only, a pattern with a `/` elsewhere is
//! anchored at the repo root and one without matches a name at any depth,
//! `*` and `?` stop at `/` while `**` spans folders, the last matching line
//! wins, and a file inside an ignored folder is ignored whatever later lines
//! say (git never looks inside an ignored folder). Only the root
//! `.gitignore` is modelled.

use crate::wildmatch::Pattern;

#[derive(Debug, Clone, Default)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    pattern: Pattern,
    negated: bool,
    folders_only: bool,
}

impl IgnoreRules {
    /// Compiles a `.gitignore` text; lines that cannot be compiled are
    /// skipped (git would never match them either).
    #[must_use]
    pub fn parse(text: &str) -> IgnoreRules {
        IgnoreRules {
            rules: text.lines().filter_map(parse_line).collect(),
        }
    }

    /// Whether git would ignore the file at `path` (repo-relative, `/`-separated).
    #[must_use]
    pub fn is_ignored(&self, path: &str) -> bool {
        let path = path.trim_matches('/');
        let folders = path.match_indices('/').map(|(i, _)| &path[..i]);
        for folder in folders {
            if self.decide(folder, true) == Some(true) {
                return true;
            }
        }
        self.decide(path, false) == Some(true)
    }

    /// What the last matching rule says: `Some(true)` ignore, `Some(false)`
    /// re-included, `None` no rule matches.
    fn decide(&self, path: &str, is_folder: bool) -> Option<bool> {
        self.rules
            .iter()
            .rev()
            .find(|r| (is_folder || !r.folders_only) && r.pattern.matches(path.as_bytes()))
            .map(|r| !r.negated)
    }
}

fn parse_line(line: &str) -> Option<Rule> {
    let line = trim_trailing_spaces(line.trim_end_matches('\r'));
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (negated, line) = match line.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (folders_only, line) = match line.strip_suffix('/') {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    if line.is_empty() {
        return None;
    }
    Some(Rule {
        pattern: Pattern::compile(line.as_bytes())?,
        negated,
        folders_only,
    })
}

/// Trailing spaces are dropped unless the last one is escaped (`\ `).
fn trim_trailing_spaces(line: &str) -> &str {
    let trimmed = line.trim_end_matches(' ');
    if trimmed.ends_with('\\') && trimmed.len() < line.len() {
        &line[..trimmed.len() + 1]
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignored(rules: &str, path: &str) -> bool {
        IgnoreRules::parse(rules).is_ignored(path)
    }

    #[test]
    fn names_match_at_any_depth() {
        let rules = "# comment\n\n*.log\n__pycache__\n";
        assert!(ignored(rules, "a.log"));
        assert!(ignored(rules, "deep/er/a.log"));
        assert!(ignored(rules, "src/__pycache__/x.pyc"));
        assert!(!ignored(rules, "a.log.txt"));
        assert!(!ignored(rules, "# comment"));
    }

    #[test]
    fn slashes_anchor_and_stars_stop_at_them() {
        let rules = "/build\ndocs/*.md\nlogs/**/debug.txt\n";
        assert!(ignored(rules, "build/out.bin"));
        assert!(!ignored(rules, "src/build/out.bin"));
        assert!(ignored(rules, "docs/a.md"));
        assert!(!ignored(rules, "docs/sub/a.md"));
        assert!(ignored(rules, "logs/debug.txt"));
        assert!(ignored(rules, "logs/a/b/debug.txt"));
    }

    #[test]
    fn folder_rules_and_negation() {
        let rules = "cache/\n*.tmp\n!keep.tmp\n";
        assert!(ignored(rules, "cache/x"));
        assert!(ignored(rules, "a/cache/x"));
        assert!(!ignored(rules, "cache"), "a file named like the folder");
        assert!(ignored(rules, "x.tmp"));
        assert!(!ignored(rules, "keep.tmp"));
        assert!(!ignored(rules, "a/keep.tmp"));
        // Nothing inside an ignored folder can be re-included.
        assert!(ignored("out/\n!out/keep.txt\n", "out/keep.txt"));
    }

    #[test]
    fn escapes_and_trailing_spaces() {
        assert!(ignored("\\#notes\n", "#notes"));
        assert!(ignored("\\!bang\n", "!bang"));
        assert!(ignored("trail   \n", "trail"));
        assert!(ignored("space\\ \n", "space "));
        assert!(!ignored("[\n", "["), "an uncompilable line is skipped");
        assert!(!ignored("", "anything"));
    }
}
