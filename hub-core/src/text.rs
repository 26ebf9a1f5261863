//! Small rules about text shared by several modules.

/// At most `max` bytes of `text`, cut at a character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn cuts_at_a_character_boundary() {
        assert_eq!(truncate("开源hub", 4), "开");
        assert_eq!(truncate("开源hub", 100), "开源hub");
        assert_eq!(truncate("", 3), "");
    }
}
