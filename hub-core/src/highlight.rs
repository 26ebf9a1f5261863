//! Syntax highlighting for code in model cards and the file viewer, with
//! syntect. The output carries CSS classes (`hl-...`), never inline styles:
//! the pages' Content-Security-Policy allows only the hub's own stylesheet,
//! and [`stylesheet`] is that stylesheet's colours.

use std::sync::OnceLock;

use syntect::highlighting::ThemeSet;
use syntect::html::{ClassStyle, ClassedHTMLGenerator, css_for_theme_with_class_style};
use syntect::parsing::{SyntaxReference, SyntaxSet};
use syntect::util::LinesWithEndings;

/// Class names are prefixed so they never meet the page's own classes.
const CLASS_STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };

/// Larger inputs are shown plain: highlighting is regex work per line, and
/// a page must stay fast whatever a repo holds.
pub const MAX_HIGHLIGHT_BYTES: usize = 256 * 1024;
/// Longest line highlighted (minified files have megabyte lines).
const MAX_LINE_BYTES: usize = 4096;

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

/// `code` as highlighted HTML (escaped text in `<span class="hl-...">`),
/// for the language named by `token`; `None` when the language is unknown
/// or the code too large, and the caller shows it escaped and plain.
pub fn highlight(code: &str, token: &str) -> Option<String> {
    if code.len() > MAX_HIGHLIGHT_BYTES {
        return None;
    }
    let syntax = syntax_for(token)?;
    if code.lines().any(|l| l.len() > MAX_LINE_BYTES) {
        return None;
    }
    let mut generator = ClassedHTMLGenerator::new_with_class_style(syntax, syntaxes(), CLASS_STYLE);
    for line in LinesWithEndings::from(code) {
        generator
            .parse_html_for_line_which_includes_newline(line)
            .ok()?;
    }
    Some(generator.finalize())
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

/// The colours of the `hl-` classes (a light theme), served as a stylesheet.
pub fn stylesheet() -> &'static str {
    static CSS: OnceLock<String> = OnceLock::new();
    CSS.get_or_init(|| {
        let themes = ThemeSet::load_defaults();
        themes
            .themes
            .get("InspiredGitHub")
            .and_then(|t| css_for_theme_with_class_style(t, CLASS_STYLE).ok())
            .unwrap_or_default()
    })
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
    fn stylesheet_has_the_classes() {
        let css = stylesheet();
        assert!(css.contains(".hl-"), "{}", &css[..css.len().min(200)]);
    }
}
