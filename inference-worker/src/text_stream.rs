//! Incremental detokenisation that never splits a UTF-8 character.
//!
//! Under byte-level BPE a Chinese character is often two or three tokens;
//! decoding them one at a time gives U+FFFD. Like TGI (and candle's
//! `TokenOutputStream`) we re-decode a small window of tokens and emit only
//! the text that grew and does not end in an incomplete character, holding
//! the rest back until the next token completes it. A model can also emit
//! bytes that never form a character (a random or broken model); after
//! [`MAX_HELD_TOKENS`] tokens the replacement character is emitted as is,
//! so text is never held forever.

use anyhow::{Result, anyhow};
use tokenizers::Tokenizer;

/// A UTF-8 character is at most four bytes, so at most four byte tokens.
pub const MAX_HELD_TOKENS: usize = 4;

pub struct TextStream<'a> {
    tokenizer: &'a Tokenizer,
    ids: Vec<u32>,
    /// Start of the window re-decoded for context (decoders such as
    /// Metaspace need the previous token to place spaces).
    prefix_offset: usize,
    /// Tokens before this one have had their text emitted.
    read_offset: usize,
}

impl<'a> TextStream<'a> {
    pub fn new(tokenizer: &'a Tokenizer) -> TextStream<'a> {
        TextStream {
            tokenizer,
            ids: Vec::new(),
            prefix_offset: 0,
            read_offset: 0,
        }
    }

    fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| anyhow!("cannot decode tokens: {e}"))
    }

    /// Adds a token; returns the text it completes (possibly empty).
    pub fn push(&mut self, id: u32) -> Result<String> {
        self.ids.push(id);
        let prefix = self.decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let text = self.decode(&self.ids[self.prefix_offset..])?;
        let held = self.ids.len() - self.read_offset;
        let incomplete = text.ends_with('\u{FFFD}') && held < MAX_HELD_TOKENS;
        if text.len() > prefix.len() && !incomplete && text.is_char_boundary(prefix.len()) {
            let new = text[prefix.len()..].to_string();
            self.prefix_offset = self.read_offset;
            self.read_offset = self.ids.len();
            Ok(new)
        } else if held >= MAX_HELD_TOKENS {
            // Nothing decodable came of these tokens: give up on them.
            self.prefix_offset = self.read_offset;
            self.read_offset = self.ids.len();
            Ok(String::new())
        } else {
            Ok(String::new())
        }
    }

    /// Text still held back (at the end of generation), replacement
    /// characters included.
    pub fn flush(&mut self) -> Result<String> {
        let prefix = self.decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let text = self.decode(&self.ids[self.prefix_offset..])?;
        self.prefix_offset = self.read_offset;
        self.read_offset = self.ids.len();
        if text.len() > prefix.len() && text.is_char_boundary(prefix.len()) {
            Ok(text[prefix.len()..].to_string())
        } else {
            Ok(String::new())
        }
    }
}
