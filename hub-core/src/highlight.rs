//! Syntax highlighting for code in model cards and the file viewer, with
//! syntect's grammars. Each token gets at most one short class for its kind
//! (`hl-k` keyword, `hl-s` string, `hl-c` comment, `hl-n` number, `hl-o`
//! constant, `hl-f` function, `hl-t` type, `hl-v` parameter); the colours
//! are in the hub's stylesheet. Classes, never inline styles: the pages'
//! Content-Security-Policy allows only the hub's own stylesheet. One class
//! per token (not syntect's full scope names) keeps a page of code small.

use std::sync::OnceLock;

use syntect::parsing::{ParseState, Scope, ScopeStack, SyntaxReference, SyntaxSet};
use syntect::util::LinesWithEndings;

/// Larger inputs are shown plain: highlighting is regex work per line, and
/// a page must stay fast whatever a repo holds.
pub const MAX_HIGHLIGHT_BYTES: usize = 256 * 1024;
/// Longest line highlighted (minified files have megabyte lines).
const MAX_LINE_BYTES: usize = 4096;

/// Scope prefixes and the class of their tokens, most specific first.
const KINDS: [(&str, &str); 21] = [
    ("comment", "c"),
    ("string", "s"),
    ("constant.character.escape", "s"),
    ("constant.numeric", "n"),
    ("constant", "o"),
    ("support.constant", "o"),
    ("keyword.operator", ""),
    ("keyword", "k"),
    ("storage.type.function", "k"),
    ("storage.type.class", "k"),
    ("storage.type", "t"),
    ("storage", "k"),
    ("entity.name.function", "f"),
    ("support.function", "f"),
    ("variable.function", "f"),
    ("entity.other.attribute-name", "f"),
    ("entity.name.tag", "k"),
    ("entity.name", "t"),
    ("support.type", "t"),
    ("support.class", "t"),
    ("variable.parameter", "v"),
];

fn kinds() -> &'static [(Scope, &'static str)] {
    static KINDS_PARSED: OnceLock<Vec<(Scope, &'static str)>> = OnceLock::new();
    KINDS_PARSED.get_or_init(|| {
        KINDS
            .iter()
            .filter_map(|(prefix, class)| Scope::new(prefix).ok().map(|s| (s, *class)))
            .collect()
    })
}

/// The class of a token: from its innermost scope that has one.
fn class_of(stack: &ScopeStack) -> &'static str {
    for scope in stack.as_slice().iter().rev() {
        if let Some((_, class)) = kinds().iter().find(|(p, _)| p.is_prefix_of(*scope)) {
            return class;
        }
    }
    ""
}

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

/// The syntax for a fence token or file name (`python`, `rs`, `x/model.py`,
/// `Dockerfile`), if syntect knows it.
fn syntax_for(token: &str) -> Option<&'static SyntaxReference> {
    let set = syntaxes();
    let token = token.trim();
    if token.is_empty() {
        return None;
    }
    let name = token.rsplit('/').next().unwrap_or(token);
    let ext = name.rsplit_once('.').map_or(name, |(_, e)| e);
    set.find_syntax_by_token(&token.to_ascii_lowercase())
        .or_else(|| set.find_syntax_by_extension(ext))
        .or_else(|| set.find_syntax_by_extension(name))
        // A few names people write in fences that syntect spells otherwise.
        .or_else(|| match token.to_ascii_lowercase().as_str() {
            "shell" | "console" | "zsh" => set.find_syntax_by_extension("sh"),
            "jsonl" | "json5" => set.find_syntax_by_extension("json"),
            "toml" | "ini" | "cfg" => set.find_syntax_by_extension("ini"),
            _ => None,
        })
        .filter(|s| s.name != "Plain Text")
}

/// `code` as highlighted HTML (escaped text, tokens in `<span class="hl-…">`),
/// for the language named by `token`; `None` when the language is unknown
/// or the code too large, and the caller shows it escaped and plain.
pub fn highlight(code: &str, token: &str) -> Option<String> {
    if code.len() > MAX_HIGHLIGHT_BYTES || code.lines().any(|l| l.len() > MAX_LINE_BYTES) {
        return None;
    }
    let syntax = syntax_for(token)?;
    let mut state = ParseState::new(syntax);
    let mut stack = ScopeStack::new();
    let mut out = Spans::default();
    for line in LinesWithEndings::from(code) {
        let ops = state.parse_line(line, syntaxes()).ok()?;
        let mut at = 0;
        for (pos, op) in ops {
            out.push(&line[at..pos], class_of(&stack));
            at = pos;
            stack.apply(&op).ok()?;
        }
        out.push(&line[at..], class_of(&stack));
    }
    Some(out.finish())
}

/// Highlighted HTML being built: text of one class is gathered, then
/// written as one span.
#[derive(Default)]
struct Spans {
    html: String,
    text: String,
    class: &'static str,
}

impl Spans {
    fn push(&mut self, text: &str, class: &'static str) {
        if text.is_empty() {
            return;
        }
        // Whitespace takes any class: it looks the same in all of them.
        if class != self.class && !text.trim().is_empty() {
            self.flush();
            self.class = class;
        }
        self.text.push_str(text);
    }

    fn flush(&mut self) {
        if self.text.is_empty() {
            return;
        }
        if self.class.is_empty() {
            self.html.push_str(&escape(&self.text));
        } else {
            self.html.push_str("<span class=\"hl-");
            self.html.push_str(self.class);
            self.html.push_str("\">");
            self.html.push_str(&escape(&self.text));
            self.html.push_str("</span>");
        }
        self.text.clear();
    }

    fn finish(mut self) -> String {
        self.flush();
        self.html
    }
}

/// [`highlight`], or the code escaped and plain when it cannot be highlighted.
pub fn to_html(code: &str, token: &str) -> String {
    highlight(code, token).unwrap_or_else(|| escape(code))
}

/// Text made safe to place between HTML tags or in an attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_not_styles() {
        let html = highlight("def f(x):\n    return \"<b>\"\n", "python").unwrap();
        assert!(html.contains("class=\"hl-"), "{html}");
        assert!(!html.contains("style="), "{html}");
        assert!(html.contains("&lt;b&gt;"), "text is escaped: {html}");
        assert!(highlight("x", "no-such-language").is_none());
        assert!(highlight("x = 1\n", "src/model.py").is_some());
        assert!(highlight(&"a".repeat(MAX_HIGHLIGHT_BYTES + 1), "python").is_none());
    }

    #[test]
    fn one_short_class_per_token() {
        let code = "# note\nimport os\nx = \"s\" + 1\n";
        let html = highlight(code, "py").unwrap();
        for part in [
            "<span class=\"hl-c\"># note",
            "<span class=\"hl-k\">import",
            "<span class=\"hl-s\">&quot;s&quot;",
            "<span class=\"hl-n\">1",
        ] {
            assert!(html.contains(part), "{part} in {html}");
        }
        // Nothing but the text and the spans.
        let mut text = html.clone();
        for class in ["c", "k", "s", "n", "o", "f", "t", "v"] {
            text = text.replace(&format!("<span class=\"hl-{class}\">"), "");
        }
        assert_eq!(text.replace("</span>", ""), escape(code));
    }
}
