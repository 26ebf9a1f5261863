//! The README a new Space starts with. Hugging Face creates every Space
//! with one, its front matter naming the SDK (clients rely on it: e.g.
//! huggingface_hub's `metadata_update` refuses to invent a README for a
//! Space, because the hub always made one).

use crate::error::{Error, Result};

/// The SDKs a Space may declare, as Hugging Face lists them.
pub const SDKS: [&str; 4] = ["gradio", "streamlit", "docker", "static"];

/// The README.md of a new Space `name` running `sdk` (`static` when none is
/// given).
pub fn readme(name: &str, sdk: Option<&str>) -> Result<String> {
    let sdk = sdk.unwrap_or("static");
    if !SDKS.contains(&sdk) {
        return Err(Error::invalid(format!(
            "Invalid sdk '{sdk}': a Space's sdk is one of {}",
            SDKS.join(", ")
        )));
    }
    // A stable pick from a few emoji and colours, so Spaces are told apart
    // at a glance without any randomness in tests.
    const EMOJI: [&str; 8] = ["🚀", "🌏", "🐼", "🔥", "📚", "🎨", "🧪", "🏮"];
    const COLOURS: [&str; 8] = [
        "red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray",
    ];
    let seed = name
        .bytes()
        .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
    let app_file = match sdk {
        "gradio" | "streamlit" => "app_file: app.py\n",
        _ => "",
    };
    Ok(format!(
        "---\ntitle: {name}\nemoji: {}\ncolorFrom: {}\ncolorTo: {}\nsdk: {sdk}\n{app_file}pinned: false\n---\n\n\
         Check out the configuration reference at https://huggingface.co/docs/hub/spaces-config-reference\n",
        EMOJI[seed % EMOJI.len()],
        COLOURS[seed % COLOURS.len()],
        COLOURS[(seed / 8 + 3) % COLOURS.len()],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cards::parse_card;

    #[test]
    fn the_readme_is_a_card_naming_the_sdk() {
        let readme = readme("demo", Some("gradio")).unwrap();
        let card = parse_card(&readme);
        assert_eq!(card.error, None);
        let data = card.metadata.card_data.unwrap();
        assert_eq!(data["sdk"], "gradio");
        assert_eq!(data["title"], "demo");
        assert_eq!(data["app_file"], "app.py");
        assert_eq!(data["pinned"], false);
        let plain = parse_card(&super::readme("site", None).unwrap())
            .metadata
            .card_data
            .unwrap();
        assert_eq!(plain["sdk"], "static");
    }

    #[test]
    fn unknown_sdks_are_refused() {
        assert!(readme("demo", Some("flask")).is_err());
    }
}
