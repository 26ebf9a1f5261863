//! Chat templates from tokenizer_config.json, rendered with minijinja the
//! way transformers' `apply_chat_template` renders them with Jinja2: Python
//! string methods (pycompat), `raise_exception`, `bos_token`/`eos_token`,
//! `add_generation_prompt`.

use anyhow::{Context, Result, anyhow};
use minijinja::{Environment, ErrorKind, context};
use serde_json::Value;
use worker_protocol::ChatMessage;

/// The template and the special tokens it may refer to.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").finish_non_exhaustive()
    }
}

const NAME: &str = "chat";

impl ChatTemplate {
    /// From the parsed tokenizer_config.json; `None` when it has no template.
    pub fn from_tokenizer_config(config: &Value) -> Result<Option<ChatTemplate>> {
        let source = match config.get("chat_template") {
            Some(Value::String(s)) => s.clone(),
            // The list form: [{"name": "default", "template": "..."}, ...]
            Some(Value::Array(list)) => {
                let named = |name: &str| {
                    list.iter()
                        .find(|t| t.get("name").and_then(Value::as_str) == Some(name))
                        .and_then(|t| t.get("template"))
                        .and_then(Value::as_str)
                };
                match named("default").or_else(|| {
                    list.first()
                        .and_then(|t| t.get("template"))
                        .and_then(Value::as_str)
                }) {
                    Some(s) => s.to_string(),
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        let token = |key: &str| match config.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => o
                .get("content")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        };
        Ok(Some(ChatTemplate::new(
            source,
            token("bos_token"),
            token("eos_token"),
        )?))
    }

    pub fn new(source: String, bos_token: String, eos_token: String) -> Result<ChatTemplate> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        // Jinja2 as transformers configures it: trim_blocks and lstrip_blocks.
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .map_err(|e| anyhow!("template syntax: {e}"))?,
        );
        env.add_function("raise_exception", |message: String| -> Result<(), _> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_function("strftime_now", |_format: String| -> String {
            // Templates use it for "Today Date"; a fixed date keeps
            // generations reproducible.
            "26 Jul 2024".to_string()
        });
        env.add_template_owned(NAME, source)
            .map_err(|e| anyhow!("the chat template does not parse: {e}"))?;
        Ok(ChatTemplate {
            env,
            bos_token,
            eos_token,
        })
    }

    /// Bounds the work of one render (minijinja's fuel: about one unit per
    /// instruction); `None` (the default) leaves it unbounded. A template
    /// from someone's repo rendered in the hub gets a bound, so that a loop
    /// of a billion turns fails instead of holding a core.
    pub fn set_fuel(&mut self, fuel: Option<u64>) {
        self.env.set_fuel(fuel);
    }

    /// The prompt text for `messages`, ending with the assistant's turn.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String> {
        self.render_with(messages, true)
    }

    /// The whole conversation as a trainer tokenizes it: every turn,
    /// without the generation prompt after the last one.
    pub fn render_conversation(&self, messages: &[ChatMessage]) -> Result<String> {
        self.render_with(messages, false)
    }

    fn render_with(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let template = self.env.get_template(NAME).context("chat template")?;
        template
            .render(context! {
                messages => messages.iter().map(|m| context! { role => m.role.clone(), content => m.content.clone() }).collect::<Vec<_>>(),
                add_generation_prompt => add_generation_prompt,
                bos_token => self.bos_token.clone(),
                eos_token => self.eos_token.clone(),
            })
            .map_err(|e| {
                let mut message = e.to_string();
                if let Some(detail) = e.detail() {
                    message = detail.to_string();
                }
                anyhow!("chat template: {message}")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Qwen2's template, shortened: a default system turn, `<|im_start|>`
    /// blocks, the generation prompt only when asked.
    const CHATML: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are helpful.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn messages() -> Vec<ChatMessage> {
        vec![
            ChatMessage {
                role: "user".into(),
                content: "你好".into(),
            },
            ChatMessage {
                role: "assistant".into(),
                content: "Hi".into(),
            },
        ]
    }

    #[test]
    fn prompt_and_conversation_differ_by_the_generation_prompt() {
        let config = serde_json::json!({"chat_template": CHATML, "eos_token": "<|im_end|>"});
        let template = ChatTemplate::from_tokenizer_config(&config)
            .unwrap()
            .unwrap();
        let whole = "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\nHi<|im_end|>\n";
        assert_eq!(template.render_conversation(&messages()).unwrap(), whole);
        assert_eq!(
            template.render(&messages()).unwrap(),
            format!("{whole}<|im_start|>assistant\n")
        );
    }

    #[test]
    fn list_form_special_tokens_and_raise_exception() {
        let config = serde_json::json!({
            "chat_template": [
                {"name": "tool_use", "template": "tools"},
                {"name": "default", "template": "{% if messages[0]['role'] != 'user' %}{{ raise_exception('user first') }}{% endif %}{{ bos_token }}{{ messages[0]['content'].strip() }}{{ eos_token }}"},
            ],
            "bos_token": {"content": "<s>", "lstrip": false},
            "eos_token": "</s>",
        });
        let template = ChatTemplate::from_tokenizer_config(&config)
            .unwrap()
            .unwrap();
        let mut m = messages();
        m[0].content = "  x ".into();
        assert_eq!(template.render_conversation(&m).unwrap(), "<s>x</s>");
        m.swap(0, 1);
        let err = template.render_conversation(&m).unwrap_err().to_string();
        assert!(err.contains("user first"), "{err}");
        assert!(
            ChatTemplate::from_tokenizer_config(&serde_json::json!({}))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn fuel_bounds_a_runaway_template() {
        let source =
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
        let mut template = ChatTemplate::new(source.into(), String::new(), String::new()).unwrap();
        template.set_fuel(Some(100_000));
        let err = template.render_conversation(&messages()).unwrap_err();
        assert!(err.to_string().contains("fuel"), "{err}");
    }
}
