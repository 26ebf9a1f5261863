//! Git's path patterns, the one glob engine of the hub: `.gitattributes`
//! (which files go to LFS) and `.gitignore` (what a client is told to skip)
//! both compile here, because git reads those files with one matcher
//! (`wildmatch` with `WM_PATHNAME`, after `parse_path_pattern`) and the hub
//! must agree with git on every path. A general glob crate differs from git
//! in corners that matter here (`[!...]`, backslash escapes, `**` only as a
//! whole segment, the basename rule), so this is written to git's rules.
//!
//! Patterns compile to tokens and run as a set of reachable positions, so
//! matching is linear in the path times the pattern, never exponential.

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
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
    /// syntax): without a `/` it matches a name at any depth, with one it is
    /// anchored at the repo root. The caller has taken off what its file
    /// format gives a meaning (a leading `!`, a trailing `/`). None for a
    /// pattern that can never match.
    pub fn compile(raw: &[u8]) -> Option<Pattern> {
        if raw.is_empty() {
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

    /// Whether `path` (repo-relative, `/`-separated) matches.
    pub fn matches(&self, path: &[u8]) -> bool {
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
