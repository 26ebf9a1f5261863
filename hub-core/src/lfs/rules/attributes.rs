//! The LFS part of `.gitattributes`: which lines send paths to LFS.

use crate::wildmatch::Pattern;

/// Whitespace as git's attribute parser splits on it.
const BLANKS: [char; 4] = [' ', '\t', '\r', '\n'];

/// The LFS-relevant part of a `.gitattributes` file: every line that sets or
/// clears the `filter` attribute, in file order.
///
/// Follows git: the last matching line that mentions `filter` decides, and
/// only `filter=lfs` means LFS (`-filter`, `!filter`, bare `filter` or another
/// driver mean not). Patterns use git's wildmatch rules: without a `/` they
/// match the file name at any depth, with one they are anchored at the repo
/// root, `*` and `?` stop at `/`, and `**` spans directories. Matching is
/// case-sensitive, as git is on a server.
///
/// Ignored, as git ignores them: blank lines, comments, negative patterns,
/// directory patterns ending in `/` (never applied to files) and lines with
/// an invalid attribute name. Also ignored, unlike git: `[attr]` macros are
/// not expanded (so `*.bin lfs` after `[attr]lfs filter=lfs` is not LFS
/// here), and only the root `.gitattributes` is modelled.
#[derive(Debug, Clone, Default)]
pub struct LfsPatterns {
    pub(super) rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
pub(super) struct Rule {
    pattern: Pattern,
    lfs: bool,
}

impl LfsPatterns {
    /// Compiles a `.gitattributes` text. Lines that git would ignore, or
    /// whose pattern can never match (git aborts matching on an unclosed `[`,
    /// a trailing `\` or an unknown `[:class:]`), are dropped.
    #[must_use]
    pub fn parse(gitattributes: &str) -> LfsPatterns {
        LfsPatterns {
            rules: gitattributes.lines().filter_map(parse_rule).collect(),
        }
    }

    /// Whether `path` (repo-relative, `/` separated) is tracked by LFS.
    #[must_use]
    pub fn matches(&self, path: &str) -> bool {
        let path = path.trim_start_matches('/').as_bytes();
        self.rules
            .iter()
            .rev()
            .find(|rule| rule.pattern.matches(path))
            .is_some_and(|rule| rule.lfs)
    }
}

fn parse_rule(line: &str) -> Option<Rule> {
    let line = line.trim_start_matches(BLANKS);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (pattern, attributes) = split_pattern(line);
    if is_macro_definition(&pattern) {
        return None;
    }
    let lfs = filter_setting(attributes)?;
    // Negative patterns are refused by git; a trailing `/` only matches
    // directories, and attributes only apply to files.
    if pattern.starts_with(b"!") || pattern.ends_with(b"/") {
        return None;
    }
    Some(Rule {
        pattern: Pattern::compile(&pattern)?,
        lfs,
    })
}

/// Splits off the pattern, which is either C-quoted (git supports this so
/// patterns can contain spaces) or runs to the first blank.
fn split_pattern(line: &str) -> (Vec<u8>, &str) {
    if let Some(quoted) = unquote_c_style(line) {
        return quoted;
    }
    let end = line.find(BLANKS).unwrap_or(line.len());
    (line.as_bytes()[..end].to_vec(), &line[end..])
}

fn is_macro_definition(pattern: &[u8]) -> bool {
    const PREFIX: &[u8] = b"[attr]";
    pattern.len() > PREFIX.len() && pattern.starts_with(PREFIX)
}

/// What this line says about `filter`: Some(true) for `filter=lfs`,
/// Some(false) for any other mention, None when it does not mention it (or
/// git would reject the line). Within a line the last mention wins, as in git.
fn filter_setting(attributes: &str) -> Option<bool> {
    let mut setting = None;
    for token in attributes.split(BLANKS).filter(|t| !t.is_empty()) {
        let name = attribute_name(token);
        if !is_valid_attribute_name(name) {
            return None;
        }
        if name == "filter" {
            setting = Some(token == "filter=lfs");
        }
    }
    setting
}

/// `-name`, `!name`, `name` and `name=value` all name `name`.
fn attribute_name(token: &str) -> &str {
    let token = token.strip_prefix(['-', '!']).unwrap_or(token);
    token.split_once('=').map_or(token, |(name, _)| name)
}

/// Git's rule; a line with any invalid name is ignored as a whole.
fn is_valid_attribute_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// Git's `unquote_c_style`: a leading `"..."` with `\\`, `\"`, `\a` `\b` `\f`
/// `\n` `\r` `\t` `\v` and 3-digit octal escapes. Returns the unquoted bytes
/// and the text after the closing quote; None when `line` is not a valid
/// quoted string, in which case git (and we) read the pattern unquoted.
fn unquote_c_style(line: &str) -> Option<(Vec<u8>, &str)> {
    let bytes = line.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 1;
    loop {
        match *bytes.get(i)? {
            b'"' => return Some((out, &line[i + 1..])),
            b'\\' => {
                let (byte, next) = unescape_c(bytes, i + 1)?;
                out.push(byte);
                i = next;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
}

/// Decodes the escape that starts at `bytes[i]` (just after a `\`).
fn unescape_c(bytes: &[u8], i: usize) -> Option<(u8, usize)> {
    let simple = match *bytes.get(i)? {
        b'a' => 0x07,
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'v' => 0x0b,
        b'\\' => b'\\',
        b'"' => b'"',
        // Git only accepts a first octal digit up to 3, so the value fits a byte.
        first @ b'0'..=b'3' => {
            let octal = |b: Option<&u8>| b.filter(|b| (b'0'..=b'7').contains(b)).map(|b| b - b'0');
            let (mid, last) = (octal(bytes.get(i + 1))?, octal(bytes.get(i + 2))?);
            return Some((((first - b'0') << 6) | (mid << 3) | last, i + 3));
        }
        _ => return None,
    };
    Some((simple, i + 1))
}
