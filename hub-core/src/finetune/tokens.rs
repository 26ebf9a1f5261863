//! Tokens of a training example, counted as the trainer will see them: the
//! base model's chat template renders the whole conversation (every turn,
//! no generation prompt after the last), and the base model's tokenizer
//! encodes that text without adding special tokens (the template already
//! wrote the ones the model expects). What a fine-tune is estimated and
//! billed by.
//!
//! A model without a chat template cannot be fine-tuned on conversations,
//! unless it is a base (pretrained, not instruction-tuned) model: its
//! examples are then plain text, one `role: content` line per message,
//! joined by `\n` (no special tokens, no trailing newline), which the
//! trainer must render the same way.

use chat_template::ChatTemplate;
use serde_json::Value;
use tokenizers::Tokenizer;
use worker_protocol::ChatMessage;

/// Fuel for one render of a chat template (minijinja counts about one unit
/// per instruction): real templates spend a few hundred per message, so a
/// conversation filling a [`super::dataset::MAX_LINE_BYTES`] line stays far
/// below it, and a template that loops without end stops here.
pub const TEMPLATE_FUEL: u64 = 5_000_000;

/// Why a base model's files cannot count tokens.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    #[error("the model's tokenizer.json cannot be loaded: {0}")]
    Tokenizer(String),
    #[error("the model's tokenizer_config.json is not valid JSON: {0}")]
    Config(String),
    #[error(
        "the model has no chat template (tokenizer_config.json has no `chat_template`), so it cannot be fine-tuned on conversations"
    )]
    NoChatTemplate,
    #[error("the model's chat template cannot be used: {0}")]
    Template(String),
}

/// Counts the tokens of conversations for one base model.
pub struct TokenCounter {
    tokenizer: Tokenizer,
    /// `None`: a base model, whose examples are plain text (module doc).
    template: Option<ChatTemplate>,
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCounter")
            .field("template", &self.template.is_some())
            .finish_non_exhaustive()
    }
}

impl TokenCounter {
    /// From the base model's `tokenizer.json` and `tokenizer_config.json`
    /// (its `chat_template`, `bos_token`, `eos_token`), as the caller read
    /// them (bounded). `base_model`: the model is a pretrained one that may
    /// be trained on plain text when it has no chat template.
    pub fn new(
        tokenizer_json: &[u8],
        tokenizer_config_json: Option<&[u8]>,
        base_model: bool,
    ) -> Result<TokenCounter, CounterError> {
        let mut tokenizer = Tokenizer::from_bytes(tokenizer_json)
            .map_err(|e| CounterError::Tokenizer(e.to_string()))?;
        // A tokenizer.json may carry the truncation and padding its author
        // used; the trainer counts whole examples and cuts them itself.
        tokenizer
            .with_truncation(None)
            .map_err(|e| CounterError::Tokenizer(e.to_string()))?;
        tokenizer.with_padding(None);
        let config: Option<Value> = tokenizer_config_json
            .map(serde_json::from_slice)
            .transpose()
            .map_err(|e| CounterError::Config(e.to_string()))?;
        let template = match &config {
            Some(config) => ChatTemplate::from_tokenizer_config(config)
                .map_err(|e| CounterError::Template(format!("{e:#}")))?,
            None => None,
        };
        let template = match template {
            Some(mut t) => {
                t.set_fuel(Some(TEMPLATE_FUEL));
                Some(t)
            }
            None if base_model => None,
            None => return Err(CounterError::NoChatTemplate),
        };
        Ok(TokenCounter {
            tokenizer,
            template,
        })
    }

    /// Whether examples are rendered by a chat template (else plain text).
    pub fn has_chat_template(&self) -> bool {
        self.template.is_some()
    }

    /// The text the trainer tokenizes for `messages`. An error is the
    /// template refusing the conversation (`raise_exception`, e.g. roles
    /// that do not alternate) or running out of fuel.
    pub fn render(&self, messages: &[ChatMessage]) -> anyhow::Result<String> {
        match &self.template {
            Some(template) => template.render_conversation(messages),
            None => Ok(plain_text(messages)),
        }
    }

    /// The number of tokens of `messages` (see [`TokenCounter::render`]).
    pub fn count(&self, messages: &[ChatMessage]) -> anyhow::Result<u64> {
        let text = self.render(messages)?;
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| anyhow::anyhow!("tokenizer: {e}"))?;
        Ok(encoding.len() as u64)
    }
}

/// A base model's example (module doc).
fn plain_text(messages: &[ChatMessage]) -> String {
    messages
        .iter()
        .map(|m| format!("{}: {}", m.role, m.content))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    /// A word-level tokenizer: `<|im_start|>` and `<|im_end|>` are special
    /// tokens, every whitespace-separated word one token (unknown words
    /// too). It carries truncation at 4 tokens and a post-processor that
    /// adds `<s>`, which counting must ignore.
    pub(crate) fn tokenizer_json() -> Vec<u8> {
        let words = [
            "<unk>",
            "<s>",
            "<|im_start|>",
            "<|im_end|>",
            "system",
            "user",
            "assistant",
            "hello",
        ];
        let vocab: serde_json::Map<String, Value> = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.to_string(), json!(i)))
            .collect();
        let special = |id: usize, content: &str| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        };
        serde_json::to_vec(&json!({
            "version": "1.0",
            "truncation": {"direction": "Right", "max_length": 4, "strategy": "LongestFirst", "stride": 0},
            "padding": null,
            "added_tokens": [special(1, "<s>"), special(2, "<|im_start|>"), special(3, "<|im_end|>")],
            "normalizer": null,
            "pre_tokenizer": {"type": "WhitespaceSplit"},
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}
            },
            "decoder": null,
            "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
        }))
        .unwrap()
    }

    /// ChatML, as Qwen2 writes it (the system turn only when given here).
    pub(crate) const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    pub(crate) fn chatml_counter() -> TokenCounter {
        let config =
            serde_json::to_vec(&json!({"chat_template": CHATML, "eos_token": "<|im_end|>"}))
                .unwrap();
        TokenCounter::new(&tokenizer_json(), Some(&config), false).unwrap()
    }

    fn message(role: &str, content: &str) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }

    #[test]
    fn counts_the_rendered_conversation_without_added_tokens_or_truncation() {
        let counter = chatml_counter();
        assert!(counter.has_chat_template());
        let conversation = [
            message("user", "hello hello"),
            message("assistant", "hi there you"),
        ];
        assert_eq!(
            counter.render(&conversation).unwrap(),
            "<|im_start|>user\nhello hello<|im_end|>\n<|im_start|>assistant\nhi there you<|im_end|>\n"
        );
        // im_start user hello hello im_end · im_start assistant hi there you im_end
        assert_eq!(counter.count(&conversation).unwrap(), 11);
    }

    #[test]
    fn no_template_is_an_error_unless_a_base_model() {
        let config = br#"{"eos_token": "</s>"}"#;
        let err = TokenCounter::new(&tokenizer_json(), Some(config), false).unwrap_err();
        assert!(matches!(err, CounterError::NoChatTemplate), "{err}");
        assert!(matches!(
            TokenCounter::new(&tokenizer_json(), None, false),
            Err(CounterError::NoChatTemplate)
        ));
        let counter = TokenCounter::new(&tokenizer_json(), Some(config), true).unwrap();
        assert!(!counter.has_chat_template());
        let conversation = [message("user", "hello"), message("assistant", "a b")];
        assert_eq!(
            counter.render(&conversation).unwrap(),
            "user: hello\nassistant: a b"
        );
        assert_eq!(counter.count(&conversation).unwrap(), 5);
    }

    #[test]
    fn broken_files_are_named() {
        assert!(matches!(
            TokenCounter::new(b"{}", None, true),
            Err(CounterError::Tokenizer(_))
        ));
        assert!(matches!(
            TokenCounter::new(&tokenizer_json(), Some(b"{nope"), true),
            Err(CounterError::Config(_))
        ));
        let unparsable = br#"{"chat_template": "{% for %}"}"#;
        assert!(matches!(
            TokenCounter::new(&tokenizer_json(), Some(unparsable), true),
            Err(CounterError::Template(_))
        ));
    }

    #[test]
    fn a_template_that_refuses_or_runs_away_is_an_error_per_example() {
        let refusing = serde_json::to_vec(&json!({
            "chat_template": "{% if messages[0]['role'] != 'user' %}{{ raise_exception('Conversations must start with user') }}{% endif %}{{ messages[0]['content'] }}"
        }))
        .unwrap();
        let counter = TokenCounter::new(&tokenizer_json(), Some(&refusing), false).unwrap();
        let err = counter.count(&[message("assistant", "x")]).unwrap_err();
        assert!(err.to_string().contains("must start with user"), "{err}");
        assert_eq!(counter.count(&[message("user", "x")]).unwrap(), 1);

        let looping = serde_json::to_vec(&json!({
            "chat_template": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
        }))
        .unwrap();
        let counter = TokenCounter::new(&tokenizer_json(), Some(&looping), false).unwrap();
        let err = counter.count(&[message("user", "x")]).unwrap_err();
        assert!(err.to_string().contains("fuel"), "{err}");
    }
}
