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

    /// The prompt text for `messages`, ending with the assistant's turn.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String> {
        let template = self.env.get_template(NAME).context("chat template")?;
        template
            .render(context! {
                messages => messages.iter().map(|m| context! { role => m.role.clone(), content => m.content.clone() }).collect::<Vec<_>>(),
                add_generation_prompt => true,
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
