//! Markdown to safe HTML for model cards and other user text: rendered with
//! pulldown-cmark (GitHub flavour: tables, strikethrough, task lists), then
//! sanitized with ammonia so no script, event handler or `javascript:` link
//! survives, whatever the author wrote. Fenced code is highlighted with
//! [`crate::highlight`] (CSS classes only) before sanitizing.

use crate::highlight::escape;
use pulldown_cmark::{CodeBlockKind, CowStr, Event, Options, Parser, Tag, TagEnd, html};

/// Most code highlighted in one document; later blocks are shown plain.
const MAX_HIGHLIGHTED_CODE: usize = 512 * 1024;

pub fn render(markdown: &str) -> String {
    render_with_links(markdown, None)
}

/// Where a repo file's relative links point: `{blob}/{path}` for links,
/// `{raw}/{path}` for images (e.g. `/alice/m/blob/main`, `/alice/m/raw/main`).
#[derive(Debug, Clone)]
pub struct RepoLinks {
    pub blob: String,
    pub raw: String,
}

/// [`render`] for a file of a repo (its README): relative links and images
/// point at the repo's files, as the author meant them.
pub fn render_in_repo(markdown: &str, links: &RepoLinks) -> String {
    render_with_links(markdown, Some(links))
}

fn render_with_links(markdown: &str, links: Option<&RepoLinks>) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        // `$…$` and `$$…$$` are read as math, so `$a*b*c$` keeps its
        // stars instead of turning into emphasis (see `math`).
        | Options::ENABLE_MATH;
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    let events = Parser::new_ext(markdown, options).map(|event| match (event, links) {
        (
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }),
            Some(l),
        ) => Event::Start(Tag::Link {
            link_type,
            dest_url: in_repo(dest_url, &l.blob),
            title,
            id,
        }),
        (
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }),
            Some(l),
        ) => Event::Start(Tag::Image {
            link_type,
            dest_url: in_repo(dest_url, &l.raw),
            title,
            id,
        }),
        (Event::InlineMath(tex), _) => math(&tex, false),
        (Event::DisplayMath(tex), _) => math(&tex, true),
        (other, _) => other,
    });
    html::push_html(&mut unsafe_html, highlight_code(events));
    ammonia::Builder::default()
        .add_generic_attributes(["align"])
        .add_tag_attributes("code", ["class"])
        .add_tag_attributes("span", ["class"])
        .add_tag_attributes("input", ["type", "checked", "disabled"])
        .add_tags(["input"])
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&unsafe_html)
        .to_string()
}

/// LaTeX left readable: its source with its delimiters, set apart (a
/// display formula on a line of its own), never read as markdown.
fn math<'a>(tex: &str, display: bool) -> Event<'a> {
    let (class, fence) = if display {
        ("math math-display", "$$")
    } else {
        ("math math-inline", "$")
    };
    Event::InlineHtml(CowStr::from(format!(
        "<span class=\"{class}\">{fence}{}{fence}</span>",
        escape(tex)
    )))
}

/// A relative URL (`docs/a.md`, `./fig.png`) under `base`; anything else
/// (absolute, with a scheme, an anchor, going up with `..`) as it is.
fn in_repo<'a>(url: CowStr<'a>, base: &str) -> CowStr<'a> {
    let relative = !url.is_empty()
        && !url.starts_with(['/', '#', '?'])
        && !url.starts_with("..")
        && !url
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("")
            .contains(':');
    if !relative {
        return url;
    }
    let path = url.trim_start_matches("./");
    CowStr::from(format!("{base}/{path}"))
}

/// Replaces each fenced code block by its highlighted HTML (the code's text
/// escaped inside `hl-` spans); unknown languages stay plain.
fn highlight_code<'a>(events: impl Iterator<Item = Event<'a>>) -> impl Iterator<Item = Event<'a>> {
    let mut code: Option<(String, String)> = None;
    let mut budget = MAX_HIGHLIGHTED_CODE;
    events.filter_map(move |event| match event {
        Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
            let lang = info.split([',', ' ', '{']).next().unwrap_or("").to_owned();
            code = Some((lang, String::new()));
            None
        }
        Event::Text(text) if code.is_some() => {
            if let Some((_, buf)) = code.as_mut() {
                buf.push_str(&text);
            }
            None
        }
        Event::End(TagEnd::CodeBlock) if code.is_some() => {
            let (lang, text) = code.take().unwrap_or_default();
            let highlighted = (text.len() <= budget)
                .then(|| crate::highlight::highlight(&text, &lang))
                .flatten();
            budget = budget.saturating_sub(text.len());
            let inner = highlighted.unwrap_or_else(|| escape(&text));
            let class = if lang.is_empty() {
                String::new()
            } else {
                format!(" class=\"language-{}\"", escape(&lang))
            };
            Some(Event::Html(CowStr::from(format!(
                "<pre><code{class}>{inner}</code></pre>\n"
            ))))
        }
        other => Some(other),
    })
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn relative_links_and_images_point_into_the_repo() {
        let links = super::RepoLinks {
            blob: "/alice/m/blob/main".into(),
            raw: "/alice/m/raw/main".into(),
        };
        let html = super::render_in_repo(
            "[cfg](config.json) [doc](./docs/a.md#x) [abs](https://x.org/a) [top](#usage) \
             [root](/bob/n) [up](../x) [js](javascript:alert(1))\n\n![fig](assets/fig.png)",
            &links,
        );
        for part in [
            "href=\"/alice/m/blob/main/config.json\"",
            "href=\"/alice/m/blob/main/docs/a.md#x\"",
            "href=\"https://x.org/a\"",
            "href=\"#usage\"",
            "href=\"/bob/n\"",
            "href=\"../x\"",
            "src=\"/alice/m/raw/main/assets/fig.png\"",
        ] {
            assert!(html.contains(part), "{part} in {html}");
        }
        assert!(!html.contains("javascript:"), "{html}");
    }

    #[test]
    fn code_is_highlighted_with_classes() {
        let html = render("```python\nimport torch  # <b>\n```\n\n```\n<i>plain</i>\n```\n");
        assert!(html.contains("<span class=\"hl-"), "{html}");
        assert!(
            html.contains("&lt;b&gt;") && html.contains("&lt;i&gt;plain"),
            "{html}"
        );
        assert!(!html.contains("style="), "{html}");
    }

    #[test]
    fn renders_tables_and_code() {
        let html = render("| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint(1)\n```\n");
        assert!(html.contains("<table>"), "{html}");
        assert!(html.contains("<code class=\"language-python\">"), "{html}");
    }

    #[test]
    fn latex_is_left_readable() {
        let html = render("Energy $a*b*c$ and $x_1 + y_1$.\n\n$$\\sum_i x_i * y_i * z$$\n");
        assert!(!html.contains("<em>"), "{html}");
        assert!(
            html.contains("<span class=\"math math-inline\">$a*b*c$</span>"),
            "{html}"
        );
        assert!(html.contains("$x_1 + y_1$"), "{html}");
        assert!(
            html.contains("<span class=\"math math-display\">$$\\sum_i x_i * y_i * z$$</span>"),
            "{html}"
        );
        // Hostile TeX is text.
        let html = render("$<script>alert(1)</script>$");
        assert!(!html.contains("<script"), "{html}");
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
