//! Markdown to safe HTML for model cards and other user text: rendered with
//! pulldown-cmark (GitHub flavour: tables, strikethrough, task lists), then
//! sanitized with ammonia so no script, event handler or `javascript:` link
//! survives, whatever the author wrote.

use pulldown_cmark::{Options, Parser, html};

pub fn render(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, Parser::new_ext(markdown, options));
    ammonia::Builder::default()
        .add_generic_attributes(["align"])
        .add_tag_attributes("code", ["class"])
        .add_tag_attributes("input", ["type", "checked", "disabled"])
        .add_tags(["input"])
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&unsafe_html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn renders_tables_and_code() {
        let html = render("| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint(1)\n```\n");
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("<code class=\"language-python\">"), "{html}");
    }

    #[test]
    fn hostile_markdown_is_defused() {
        let html = render(
            "<script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n<img src=x onerror=alert(1)>\n\n<a href=\"#\" onclick=\"alert(1)\">y</a>\n\n<iframe src=\"https://evil\"></iframe>",
        );
        for bad in ["<script", "javascript:", "onerror", "onclick", "<iframe"] {
            assert!(!html.contains(bad), "{bad} survived in {html}");
        }
    }
}
