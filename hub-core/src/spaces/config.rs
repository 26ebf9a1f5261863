//! How a Space runs, read as Hugging Face reads it: the README's front
//! matter (`sdk`, `sdk_version`, `python_version`, `app_file`, `app_port`,
//! `app_build_command`, `startup_duration_timeout`, `suggested_hardware`,
//! `models`, `datasets`), with ModelScope's `ms_deploy.json` (`sdk_type`,
//! `sdk_version`, `port`, `environment_variables`) and front matter
//! `deployspec.entry_file` for what the README leaves out. A configuration
//! that cannot run ends in a [`Problem`] with the reason, never in a run.

use std::time::Duration;

use serde_json::Value;
use worker_protocol::SpaceSdk;

/// What the README (or `ms_deploy.json`) says, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    pub sdk: Sdk,
    pub sdk_version: Option<String>,
    pub python_version: Option<String>,
    pub app_file: String,
    pub app_port: u16,
    pub app_build_command: Option<String>,
    pub startup_timeout: Duration,
    pub suggested_hardware: Option<String>,
    /// From `ms_deploy.json`'s `environment_variables`: defaults that the
    /// Space's own variables override.
    pub variables: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sdk {
    /// Served by the hub from the repo itself (no build command).
    Static,
    /// Run by a runner: Gradio, Streamlit, plain Python, or a static Space
    /// whose build command a runner runs.
    App(SpaceSdk),
}

impl RunConfig {
    /// The `sdk` as stored and shown.
    pub fn sdk_name(&self) -> &'static str {
        match self.sdk {
            Sdk::Static | Sdk::App(SpaceSdk::Static) => "static",
            Sdk::App(SpaceSdk::Gradio) => "gradio",
            Sdk::App(SpaceSdk::Streamlit) => "streamlit",
            Sdk::App(SpaceSdk::Python) => "python",
        }
    }
}

/// Why a Space cannot run, as its stage says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NoAppFile(String),
    ConfigError(String),
}

impl Problem {
    pub fn stage(&self) -> &'static str {
        match self {
            Problem::NoAppFile(_) => "NO_APP_FILE",
            Problem::ConfigError(_) => "CONFIG_ERROR",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Problem::NoAppFile(m) | Problem::ConfigError(m) => m,
        }
    }
}

/// Hugging Face's default `startup_duration_timeout`.
const DEFAULT_STARTUP: Duration = Duration::from_secs(30 * 60);
/// The longest startup timeout a card may ask for.
const MAX_STARTUP: Duration = Duration::from_secs(24 * 3600);

/// Reads the configuration from the card's front matter (as JSON), the
/// paths of the commit's files, and `ms_deploy.json` when the commit has one.
pub fn read(
    card: Option<&Value>,
    files: &[String],
    ms_deploy: Option<&[u8]>,
) -> Result<RunConfig, Problem> {
    let ms: Option<Value> =
        match ms_deploy {
            Some(bytes) => Some(serde_json::from_slice(bytes).map_err(|e| {
                Problem::ConfigError(format!("ms_deploy.json is not valid JSON: {e}"))
            })?),
            None => None,
        };
    let card_text = |key: &str| text(card.and_then(|c| c.get(key)));
    let ms_text = |key: &str| text(ms.as_ref().and_then(|m| m.get(key)));

    let sdk_name = card_text("sdk")
        .or_else(|| ms_text("sdk_type"))
        .ok_or_else(|| {
            Problem::ConfigError(
            "the README's front matter names no `sdk` (gradio, streamlit, static, docker or python)"
                .into(),
        )
        })?;
    let build_command = card_text("app_build_command");
    let sdk = match sdk_name.to_ascii_lowercase().as_str() {
        "gradio" => Sdk::App(SpaceSdk::Gradio),
        "streamlit" => Sdk::App(SpaceSdk::Streamlit),
        "python" => Sdk::App(SpaceSdk::Python),
        "static" if build_command.is_some() => Sdk::App(SpaceSdk::Static),
        "static" => Sdk::Static,
        "docker" => {
            return Err(Problem::ConfigError(
                "sdk: docker — this hub's runners cannot build container images".into(),
            ));
        }
        other => {
            return Err(Problem::ConfigError(format!(
                "unknown sdk `{other}` (gradio, streamlit, static, docker or python)"
            )));
        }
    };
    if build_command.is_some() && !matches!(sdk, Sdk::App(SpaceSdk::Static)) {
        return Err(Problem::ConfigError(
            "app_build_command is for static Spaces only".into(),
        ));
    }

    let sdk_version = card_text("sdk_version").or_else(|| ms_text("sdk_version"));
    if let Some(v) = &sdk_version {
        // It becomes `gradio==<v>` on pip's command line.
        let ok = v.len() <= 32
            && v.chars().next().is_some_and(|c| c.is_ascii_digit())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'));
        if !ok {
            return Err(Problem::ConfigError(format!(
                "sdk_version `{v}` is not a version number"
            )));
        }
    }
    let python_version = card_text("python_version");
    if let Some(v) = &python_version {
        let parts: Vec<&str> = v.split('.').collect();
        let ok = (2..=3).contains(&parts.len())
            && parts[0] == "3"
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(Problem::ConfigError(format!(
                "python_version `{v}` is not a Python 3 version"
            )));
        }
    }

    let entry_file = card
        .and_then(|c| c.get("deployspec"))
        .and_then(|d| text(d.get("entry_file")));
    let default_app = match sdk {
        Sdk::Static | Sdk::App(SpaceSdk::Static) => "index.html",
        Sdk::App(_) => "app.py",
    };
    let app_file = card_text("app_file")
        .or(entry_file)
        .unwrap_or_else(|| default_app.to_string());
    let app_file = app_file.trim_start_matches("./").to_string();
    if app_file.starts_with('/') || app_file.split('/').any(|p| p == ".." || p.is_empty()) {
        return Err(Problem::ConfigError(format!(
            "app_file `{app_file}` must be a path inside the repo"
        )));
    }
    // A static Space's build makes its app file; every other needs it now.
    if !matches!(sdk, Sdk::App(SpaceSdk::Static)) && !files.contains(&app_file) {
        return Err(Problem::NoAppFile(format!(
            "no `{app_file}` in the repo: add it, or name the app's file in the README's `app_file`"
        )));
    }

    let default_port = match sdk {
        Sdk::App(SpaceSdk::Streamlit) => 8501,
        _ => 7860,
    };
    let port_value = card
        .and_then(|c| c.get("app_port"))
        .or_else(|| ms.as_ref().and_then(|m| m.get("port")));
    let app_port = match port_value {
        None => default_port,
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p >= 1024)
            .ok_or_else(|| {
                Problem::ConfigError(format!("app_port {v} is not a port from 1024 to 65535"))
            })?,
    };

    let startup_timeout = match card_text("startup_duration_timeout") {
        None => DEFAULT_STARTUP,
        Some(t) => parse_duration(&t)
            .filter(|d| !d.is_zero() && *d <= MAX_STARTUP)
            .ok_or_else(|| {
                Problem::ConfigError(format!(
                    "startup_duration_timeout `{t}` is not a duration such as 30m or 1h (at most 24h)"
                ))
            })?,
    };

    let mut variables = Vec::new();
    if let Some(list) = ms
        .as_ref()
        .and_then(|m| m.get("environment_variables"))
        .and_then(Value::as_array)
    {
        for item in list {
            let (Some(name), Some(value)) = (text(item.get("name")), text(item.get("value")))
            else {
                continue;
            };
            if super::env::valid_key(&name) {
                variables.push((name, value));
            }
        }
    }

    Ok(RunConfig {
        sdk,
        sdk_version,
        python_version,
        app_file,
        app_port,
        app_build_command: build_command,
        startup_timeout,
        suggested_hardware: card_text("suggested_hardware"),
        variables,
    })
}

fn text(value: Option<&Value>) -> Option<String> {
    let s = match value? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// `90s`, `30m`, `1h`, `1h30m` (Hugging Face writes durations so).
fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return None,
        };
    }
    if !number.is_empty() {
        return None;
    }
    Some(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn files(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_gradio_card_gives_its_defaults() {
        let card = json!({"sdk": "gradio", "sdk_version": "5.9.1"});
        let c = read(Some(&card), &files(&["app.py", "README.md"]), None).unwrap();
        assert_eq!(c.sdk, Sdk::App(SpaceSdk::Gradio));
        assert_eq!((c.app_file.as_str(), c.app_port), ("app.py", 7860));
        assert_eq!(c.startup_timeout, DEFAULT_STARTUP);
        let card = json!({"sdk": "streamlit", "app_file": "src/main.py", "startup_duration_timeout": "1h"});
        let c = read(Some(&card), &files(&["src/main.py"]), None).unwrap();
        assert_eq!(
            (c.app_port, c.startup_timeout),
            (8501, Duration::from_secs(3600))
        );
    }

    #[test]
    fn problems_say_why() {
        let ok_files = files(&["app.py"]);
        let cases = [
            (json!({}), "names no `sdk`"),
            (json!({"sdk": "docker"}), "cannot build container images"),
            (json!({"sdk": "flask"}), "unknown sdk"),
            (
                json!({"sdk": "gradio", "sdk_version": "5; rm -rf /"}),
                "not a version",
            ),
            (
                json!({"sdk": "gradio", "python_version": "2.7"}),
                "not a Python 3",
            ),
            (
                json!({"sdk": "gradio", "app_file": "../etc/passwd"}),
                "inside the repo",
            ),
            (json!({"sdk": "python", "app_port": 80}), "not a port"),
            (
                json!({"sdk": "gradio", "startup_duration_timeout": "soon"}),
                "not a duration",
            ),
            (
                json!({"sdk": "gradio", "app_build_command": "make"}),
                "static Spaces only",
            ),
        ];
        for (card, why) in cases {
            let err = read(Some(&card), &ok_files, None).unwrap_err();
            assert_eq!(err.stage(), "CONFIG_ERROR", "{card}");
            assert!(err.message().contains(why), "{card}: {}", err.message());
        }
        let err = read(Some(&json!({"sdk": "gradio"})), &files(&["main.py"]), None).unwrap_err();
        assert_eq!(err.stage(), "NO_APP_FILE");
    }

    #[test]
    fn static_spaces_are_the_hubs_unless_they_build() {
        let c = read(
            Some(&json!({"sdk": "static"})),
            &files(&["index.html"]),
            None,
        )
        .unwrap();
        assert_eq!((c.sdk, c.app_file.as_str()), (Sdk::Static, "index.html"));
        let card = json!({"sdk": "static", "app_build_command": "npm run build", "app_file": "dist/index.html"});
        let c = read(Some(&card), &files(&["package.json"]), None).unwrap();
        assert_eq!(c.sdk, Sdk::App(SpaceSdk::Static));
    }

    #[test]
    fn modelscope_deploy_files_fill_in() {
        let ms = br#"{"sdk_type": "streamlit", "sdk_version": "1.40.0", "port": 8502,
                      "environment_variables": [{"name": "MODE", "value": "demo"}, {"name": "bad key", "value": "x"}]}"#;
        let card = json!({"deployspec": {"entry_file": "main.py"}});
        let c = read(Some(&card), &files(&["main.py"]), Some(ms)).unwrap();
        assert_eq!(c.sdk, Sdk::App(SpaceSdk::Streamlit));
        assert_eq!((c.app_file.as_str(), c.app_port), ("main.py", 8502));
        assert_eq!(c.variables, vec![("MODE".to_string(), "demo".to_string())]);
        assert_eq!(
            read(None, &files(&["app.py"]), Some(b"{"))
                .unwrap_err()
                .stage(),
            "CONFIG_ERROR"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("30"), None);
        assert_eq!(parse_duration("1x"), None);
    }
}
