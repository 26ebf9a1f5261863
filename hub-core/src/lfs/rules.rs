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

/// Blobs of this size or more are never LFS pointers (the spec requires a
/// pointer to be smaller than 1024 bytes), so callers can skip reading them.
pub const MAX_POINTER_SIZE: usize = 1024;

/// The attributes `git lfs track` writes; a line needs only `filter=lfs` to
/// count, the others keep diffs and merges of pointers sane on clients.
const LFS_ATTRIBUTES: &str = "filter=lfs diff=lfs merge=lfs -text";

/// Files git or git-lfs read from the working tree themselves: as pointers
/// they would break every checkout, so they always stay plain blobs.
const GIT_CONTROL_FILES: [&str; 4] = [".gitattributes", ".gitignore", ".gitmodules", ".lfsconfig"];

/// Whitespace as git's attribute parser splits on it.
const BLANKS: [char; 4] = [' ', '\t', '\r', '\n'];

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
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
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

/// A compiled gitattributes pattern.
#[derive(Debug, Clone)]
struct Pattern {
    tokens: Vec<Token>,
    /// Patterns without a `/` are matched against the file name only.
    basename_only: bool,
    /// Number of tokens that consume exactly one byte: a cheap lower bound
    /// on the length of any match, which also bounds the matching work.
    min_len: usize,
}

#[derive(Debug, Clone)]
enum Token {
    Byte(u8),
    /// `?`: any byte but `/`.
    AnyByte,
    Class(Class),
    /// `*`: any run of bytes without `/`.
    Star,
    /// `**` at the end (or the whole pattern): anything.
    AnyString,
    /// `**/` at the start or `/**/` in the middle (the `**/` part): nothing,
    /// or anything that ends in `/`, i.e. zero or more directories.
    AnyDirs,
}

impl Token {
    fn consumes_one_byte(&self) -> bool {
        matches!(self, Token::Byte(_) | Token::AnyByte | Token::Class(_))
    }

    fn accepts(&self, byte: u8) -> bool {
        match self {
            Token::Byte(b) => *b == byte,
            Token::AnyByte => byte != b'/',
            Token::Class(class) => byte != b'/' && class.contains(byte),
            Token::Star | Token::AnyString | Token::AnyDirs => false,
        }
    }
}

/// A bracket expression such as `[a-z]`, `[!0-9]` or `[[:space:]]`.
#[derive(Debug, Clone)]
struct Class {
    negated: bool,
    items: Vec<ClassItem>,
}

#[derive(Debug, Clone)]
enum ClassItem {
    Range(u8, u8),
    Named(ByteTest),
}

/// A POSIX class such as `[:digit:]`, as a predicate on one byte.
type ByteTest = fn(&u8) -> bool;

impl Class {
    fn contains(&self, byte: u8) -> bool {
        let listed = self.items.iter().any(|item| match item {
            ClassItem::Range(low, high) => (*low..=*high).contains(&byte),
            ClassItem::Named(test) => test(&byte),
        });
        listed != self.negated
    }
}

impl Pattern {
    /// Compiles one pattern with git's rules (`parse_path_pattern` + wildmatch
    /// syntax). None for patterns that can never match a file.
    fn compile(raw: &[u8]) -> Option<Pattern> {
        // Negative patterns are refused by git; a trailing `/` only matches
        // directories, and attributes only apply to files.
        if raw.is_empty() || raw.starts_with(b"!") || raw.ends_with(b"/") {
            return None;
        }
        let basename_only = !raw.contains(&b'/');
        let body = raw.strip_prefix(b"/").unwrap_or(raw);
        let tokens = if basename_only {
            tokenize(body)?
        } else {
            tokenize_anchored(body)?
        };
        let min_len = tokens.iter().filter(|t| t.consumes_one_byte()).count();
        Some(Pattern {
            tokens,
            basename_only,
            min_len,
        })
    }

    fn matches(&self, path: &[u8]) -> bool {
        let text = if self.basename_only {
            path.rsplit(|&b| b == b'/').next().unwrap_or(path)
        } else {
            path
        };
        text.len() >= self.min_len && run_tokens(&self.tokens, text)
    }
}

fn tokenize(pattern: &[u8]) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&byte) = pattern.get(i) {
        let (token, next) = match byte {
            // A trailing lone backslash makes git's wildmatch fail.
            b'\\' => (Token::Byte(*pattern.get(i + 1)?), i + 2),
            b'?' => (Token::AnyByte, i + 1),
            b'[' => {
                let (class, next) = parse_class(pattern, i + 1)?;
                (Token::Class(class), next)
            }
            b'*' => star_token(pattern, i),
            _ => (Token::Byte(byte), i + 1),
        };
        push_token(&mut tokens, token);
        i = next;
    }
    Some(tokens)
}

/// Git (`match_pathname`) compares an anchored pattern's literal prefix,
/// up to the first wildcard, on its own and wildmatches the rest as a
/// separate pattern. That matters: in `a/x**/b` the `**` then starts the
/// pattern and spans directories, so the tokens are built the same way.
fn tokenize_anchored(pattern: &[u8]) -> Option<Vec<Token>> {
    let literal_len = pattern
        .iter()
        .position(|b| b"*?[\\".contains(b))
        .unwrap_or(pattern.len());
    let (literal, rest) = pattern.split_at(literal_len);
    let mut tokens: Vec<Token> = literal.iter().map(|&b| Token::Byte(b)).collect();
    tokens.extend(tokenize(rest)?);
    Some(tokens)
}

/// Reads the run of `*` at `pattern[start]`. As in git, `**` spans
/// directories only when it is a whole path component; anywhere else it is
/// a plain `*`.
fn star_token(pattern: &[u8], start: usize) -> (Token, usize) {
    let end = start + pattern[start..].iter().take_while(|&&b| b == b'*').count();
    let whole_component = end - start >= 2 && (start == 0 || pattern[start - 1] == b'/');
    match &pattern[end..] {
        [] if whole_component => (Token::AnyString, end),
        [b'/', ..] if whole_component => (Token::AnyDirs, end + 1),
        // `**\/`: git matches the `**` as "anything" and the `/` literally.
        [b'\\', b'/', ..] if whole_component => (Token::AnyString, end),
        _ => (Token::Star, end),
    }
}

/// Appends `token`, folding adjacent wildcards that consume nothing by
/// themselves into one. Same language, and it keeps the number of such
/// tokens proportional to the bytes a match must consume, which bounds the
/// matching work.
fn push_token(tokens: &mut Vec<Token>, token: Token) {
    use Token::{AnyDirs, AnyString, Star};
    let merged = match (tokens.last(), &token) {
        (Some(Star), Star) => Some(Star),
        (Some(AnyDirs), AnyDirs) => Some(AnyDirs),
        (Some(AnyString), Star | AnyString | AnyDirs) | (Some(Star | AnyDirs), AnyString) => {
            Some(AnyString)
        }
        _ => None,
    };
    match merged {
        Some(merged) => {
            tokens.pop();
            tokens.push(merged);
        }
        None => tokens.push(token),
    }
}

/// Parses a bracket expression whose body starts at `pattern[i]` (after the
/// `[`), following git's wildmatch: `!` or `^` negates, a `]` right at the
/// start is literal, `\` escapes, `a-z` is a byte range and `[:name:]` a
/// POSIX class. None when git would abort the match (unclosed bracket,
/// unknown class name).
fn parse_class(pattern: &[u8], mut i: usize) -> Option<(Class, usize)> {
    let negated = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    // The previous single byte, which a following `-x` turns into a range.
    let mut previous: Option<u8> = None;
    let mut first = true;
    loop {
        let byte = *pattern.get(i)?;
        if byte == b']' && !first {
            return Some((Class { negated, items }, i + 1));
        }
        first = false;
        let is_range = byte == b'-' && pattern.get(i + 1).is_some_and(|&b| b != b']');
        (previous, i) = match (byte, previous) {
            (b'\\', _) => {
                let escaped = *pattern.get(i + 1)?;
                items.push(ClassItem::Range(escaped, escaped));
                (Some(escaped), i + 2)
            }
            (b'-', Some(low)) if is_range => {
                let (high, next) = class_range_end(pattern, i + 1)?;
                items.push(ClassItem::Range(low, high));
                (None, next)
            }
            (b'[', _) if pattern.get(i + 1) == Some(&b':') => match posix_class(pattern, i + 2)? {
                PosixClass::Named(test, next) => {
                    items.push(ClassItem::Named(test));
                    (None, next)
                }
                PosixClass::NotAClass => {
                    items.push(ClassItem::Range(b'[', b'['));
                    (Some(b'['), i + 1)
                }
            },
            _ => {
                items.push(ClassItem::Range(byte, byte));
                (Some(byte), i + 1)
            }
        };
    }
}

/// The upper end of a range, which may itself be escaped.
fn class_range_end(pattern: &[u8], i: usize) -> Option<(u8, usize)> {
    match *pattern.get(i)? {
        b'\\' => Some((*pattern.get(i + 1)?, i + 2)),
        byte => Some((byte, i + 1)),
    }
}

enum PosixClass {
    /// The class's test and the index just past its closing `]`.
    Named(ByteTest, usize),
    /// No `:]` before the next `]`: the `[` was a literal byte.
    NotAClass,
}

/// A `[:name:]` whose name starts at `pattern[i]`. Like git, None (abort)
/// when no `]` follows at all or the name is unknown.
fn posix_class(pattern: &[u8], i: usize) -> Option<PosixClass> {
    let close = i + pattern[i..].iter().position(|&b| b == b']')?;
    let Some(name) = pattern[i..close].strip_suffix(b":") else {
        return Some(PosixClass::NotAClass);
    };
    let test: ByteTest = match name {
        b"alnum" => u8::is_ascii_alphanumeric,
        b"alpha" => u8::is_ascii_alphabetic,
        b"blank" => |b| matches!(b, b' ' | b'\t'),
        b"cntrl" => u8::is_ascii_control,
        b"digit" => u8::is_ascii_digit,
        b"graph" => u8::is_ascii_graphic,
        b"lower" => u8::is_ascii_lowercase,
        b"print" => |b| b.is_ascii_graphic() || *b == b' ',
        b"punct" => u8::is_ascii_punctuation,
        // Git's own ctype: no \v or \f.
        b"space" => |b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'),
        b"upper" => u8::is_ascii_uppercase,
        b"xdigit" => u8::is_ascii_hexdigit,
        _ => return None,
    };
    Some(PosixClass::Named(test, close + 1))
}

/// Runs the pattern over `text` as a set of reachable positions, one token at
/// a time: O(tokens * text) with no backtracking, so no pattern can make
/// matching explode.
fn run_tokens(tokens: &[Token], text: &[u8]) -> bool {
    // reach[j]: the tokens so far can match exactly text[..j].
    let mut reach = vec![false; text.len() + 1];
    let mut next = vec![false; text.len() + 1];
    reach[0] = true;
    for token in tokens {
        advance(token, text, &reach, &mut next);
        std::mem::swap(&mut reach, &mut next);
        if !reach.contains(&true) {
            return false;
        }
    }
    reach[text.len()]
}

fn advance(token: &Token, text: &[u8], reach: &[bool], next: &mut [bool]) {
    match token {
        Token::Star => {
            for j in 0..next.len() {
                next[j] = reach[j] || (j > 0 && next[j - 1] && text[j - 1] != b'/');
            }
        }
        Token::AnyString => {
            for j in 0..next.len() {
                next[j] = reach[j] || (j > 0 && next[j - 1]);
            }
        }
        Token::AnyDirs => {
            // Either nothing, or anything from a reachable start up to a `/`.
            let mut started = false;
            for j in 0..next.len() {
                next[j] = reach[j] || (started && text[j - 1] == b'/');
                started |= reach[j];
            }
        }
        Token::Byte(_) | Token::AnyByte | Token::Class(_) => {
            next[0] = false;
            for j in 0..text.len() {
                next[j + 1] = reach[j] && token.accepts(text[j]);
            }
        }
    }
}

/// A Git LFS pointer file
/// (spec: <https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LfsPointer {
    /// SHA-256 of the object, 64 lowercase hex digits.
    pub oid: String,
    pub size: u64,
}

const SPEC_V1: &str = "https://git-lfs.github.com/spec/v1";
/// The pre-release URL; old pointers still carry it and git-lfs accepts it.
const LEGACY_SPEC_V1: &str = "https://hawser.github.com/spec/v1";

impl LfsPointer {
    /// Strict parse of the exact form git-lfs writes: `version <spec url>`,
    /// `oid sha256:<64 lowercase hex>`, `size <decimal>`, in that order, each
    /// line ending in `\n`, nothing else, smaller than [`MAX_POINTER_SIZE`].
    /// The legacy `https://hawser.github.com/spec/v1` version is accepted.
    /// Anything else is not a pointer (None), including pointers with
    /// extension keys (`ext-0-...`, whose objects only a client-side
    /// extension program can restore) and sizes with a sign or leading
    /// zeros, so a parsed pointer re-serializes to the same bytes apart from
    /// a legacy version URL.
    #[must_use]
    pub fn parse(bytes: &[u8]) -> Option<LfsPointer> {
        if bytes.len() >= MAX_POINTER_SIZE {
            return None;
        }
        let text = std::str::from_utf8(bytes).ok()?.strip_suffix('\n')?;
        let mut lines = text.split('\n');
        let version = lines.next()?.strip_prefix("version ")?;
        let oid = lines.next()?.strip_prefix("oid sha256:")?;
        let size = lines.next()?.strip_prefix("size ")?;
        if lines.next().is_some() || !matches!(version, SPEC_V1 | LEGACY_SPEC_V1) {
            return None;
        }
        if !is_sha256_hex(oid) {
            return None;
        }
        Some(LfsPointer {
            oid: oid.to_owned(),
            size: parse_size(size)?,
        })
    }

    /// Canonical text: `version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n`.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!(
            "version {SPEC_V1}\noid sha256:{}\nsize {}\n",
            self.oid, self.size
        )
    }
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Canonical decimal only. git-lfs reads sizes as a signed 64-bit number, so
/// anything larger is not a pointer a client could use.
fn parse_size(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return None;
    }
    text.parse::<i64>()
        .ok()
        .and_then(|size| u64::try_from(size).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OID: &str = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393";

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

    #[test]
    fn parses_a_real_git_lfs_pointer() {
        let text =
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 12345\n");
        let pointer = LfsPointer::parse(text.as_bytes()).expect("pointer");
        assert_eq!(
            pointer,
            LfsPointer {
                oid: OID.to_owned(),
                size: 12345
            }
        );
        assert_eq!(pointer.to_text(), text);
    }

    #[test]
    fn accepts_the_legacy_version_url() {
        let text = format!("version https://hawser.github.com/spec/v1\noid sha256:{OID}\nsize 0\n");
        let pointer = LfsPointer::parse(text.as_bytes()).expect("pointer");
        assert_eq!(pointer.size, 0);
        assert!(
            pointer
                .to_text()
                .starts_with("version https://git-lfs.github.com/spec/v1\n")
        );
    }

    #[test]
    fn rejects_anything_but_the_strict_form() {
        let upper = OID.to_uppercase();
        let short = &OID[..63];
        let long = format!("{OID}0");
        let ok = |oid: &str, size: &str| {
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n")
        };
        let bad = [
            ok(OID, "12").replace("spec/v1", "spec/v2"),
            ok(OID, "12").replace("https://", "http://"),
            ok(short, "12"),
            ok(&long, "12"),
            ok(&upper, "12"),
            ok(&OID.replace('a', "g"), "12"),
            ok(OID, "12").replace("sha256", "sha1"),
            ok(OID, "-1"),
            ok(OID, "+1"),
            ok(OID, "012"),
            ok(OID, ""),
            ok(OID, "1 "),
            ok(OID, "99999999999999999999"),
            ok(OID, "9223372036854775808"),
            ok(OID, "12").trim_end().to_owned(),
            ok(OID, "12").replace('\n', "\r\n"),
            ok(OID, "12") + "\n",
            ok(OID, "12") + "zzz x\n",
            format!("oid sha256:{OID}\nversion https://git-lfs.github.com/spec/v1\nsize 12\n"),
            format!("version https://git-lfs.github.com/spec/v1\nsize 12\noid sha256:{OID}\n"),
            format!(
                "version https://git-lfs.github.com/spec/v1\next-0-foo sha256:{OID}\noid sha256:{OID}\nsize 12\n"
            ),
            format!("version https://git-lfs.github.com/spec/v1\noid  sha256:{OID}\nsize 12\n"),
            format!("\nversion https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 12\n"),
            String::new(),
            "version https://git-lfs.github.com/spec/v1\n".to_owned(),
        ];
        for text in &bad {
            assert_eq!(LfsPointer::parse(text.as_bytes()), None, "{text:?}");
        }
        assert_eq!(LfsPointer::parse(&[0xff, 0xfe, b'\n']), None);
        assert!(LfsPointer::parse(ok(OID, "9223372036854775807").as_bytes()).is_some());
    }

    #[test]
    fn rejects_oversize_pointers() {
        let mut text =
            format!("version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 1\n")
                .into_bytes();
        text.resize(MAX_POINTER_SIZE, b' ');
        assert_eq!(LfsPointer::parse(&text), None);
    }

    #[test]
    fn to_text_round_trips() {
        for size in [0, 1, 12345, LFS_SIZE_THRESHOLD, i64::MAX as u64] {
            let pointer = LfsPointer {
                oid: OID.to_owned(),
                size,
            };
            let text = pointer.to_text();
            assert!(text.len() < MAX_POINTER_SIZE);
            assert_eq!(LfsPointer::parse(text.as_bytes()), Some(pointer));
        }
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
}
