//! What a Space's card says about the Space itself (Hugging Face's Spaces
//! configuration reference): its title, emoji, colours, SDK and short
//! description, read from the stored front matter for the Space's page.
//! Only the values a page can show safely are kept: colours from Hugging
//! Face's fixed palette, short texts.

use serde_json::Value;

/// The colours a Space's thumbnail may take (`colorFrom`, `colorTo`).
pub const COLORS: &[&str] = &[
    "red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray",
];

/// Longest title and description kept (Hugging Face's limit is 60).
const MAX_TEXT_CHARS: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpaceConfig {
    pub title: Option<String>,
    pub emoji: Option<String>,
    pub color_from: Option<&'static str>,
    pub color_to: Option<&'static str>,
    /// `gradio`, `streamlit`, `docker` or `static`, as written.
    pub sdk: Option<String>,
    pub sdk_version: Option<String>,
    pub short_description: Option<String>,
}

impl SpaceConfig {
    /// The configuration in `card_data` (the card's front matter as JSON).
    pub fn from_card_data(card_data: Option<&Value>) -> SpaceConfig {
        let text = |key: &str| {
            let value = card_data?.get(key)?;
            let text = match value {
                Value::String(s) => s.trim().to_owned(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            let text: String = text.chars().take(MAX_TEXT_CHARS).collect();
            (!text.is_empty()).then_some(text)
        };
        let color = |key: &str| {
            let wanted = text(key)?;
            COLORS.iter().copied().find(|c| *c == wanted)
        };
        SpaceConfig {
            title: text("title"),
            // One emoji is a few code points (flags, skin tones, ZWJ).
            emoji: text("emoji").map(|e| e.chars().take(8).collect()),
            color_from: color("colorFrom"),
            color_to: color("colorTo"),
            sdk: text("sdk"),
            sdk_version: text("sdk_version"),
            short_description: text("short_description"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_and_keeps_only_known_colours() {
        let data = serde_json::json!({
            "title": "  聊天演示 ", "emoji": "💬", "colorFrom": "blue", "colorTo": "red;x",
            "sdk": "gradio", "sdk_version": 4.44, "short_description": "一个演示",
        });
        let c = SpaceConfig::from_card_data(Some(&data));
        assert_eq!(c.title.as_deref(), Some("聊天演示"));
        assert_eq!(c.emoji.as_deref(), Some("💬"));
        assert_eq!((c.color_from, c.color_to), (Some("blue"), None));
        assert_eq!(c.sdk_version.as_deref(), Some("4.44"));
        assert_eq!(SpaceConfig::from_card_data(None), SpaceConfig::default());
    }
}
