//! The origin's own small pages, for when there is no app to show: each
//! self-contained (no hub asset can load on a Space's origin), in zh-CN or
//! en by `Accept-Language`. A stage that passes by itself (building,
//! starting, waking) reloads the page every few seconds.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use hub_core::highlight::escape;

use crate::i18n::Lang;

/// Seconds between reloads of a page about a passing stage.
const REFRESH_SECS: u32 = 3;

/// The page for a Space in `stage` (`BUILDING`, `RUNTIME_ERROR`, …) with
/// the runtime's `message`: 503 and a reload for a stage that passes by
/// itself, 502 for a broken app, 503 for a stopped one.
pub fn waiting(stage: &str, message: Option<&str>, headers: &HeaderMap) -> Response {
    let lang = lang(headers);
    let zh = lang == Lang::Zh;
    let (title, passing, status) = match stage {
        "BUILDING" | "RUNNING_BUILDING" => (if zh { "正在构建…" } else { "Building…" }, true, 503),
        "APP_STARTING" | "RUNNING_APP_STARTING" | "RUNNING" => {
            (if zh { "正在启动…" } else { "Starting…" }, true, 503)
        }
        "SLEEPING" => (
            if zh {
                "正在唤醒…"
            } else {
                "Waking up…"
            },
            true,
            503,
        ),
        "BUILD_ERROR" => (if zh { "构建失败" } else { "Build error" }, false, 502),
        "RUNTIME_ERROR" => (if zh { "运行错误" } else { "Runtime error" }, false, 502),
        "CONFIG_ERROR" | "NO_APP_FILE" => (
            if zh {
                "配置错误"
            } else {
                "Configuration error"
            },
            false,
            502,
        ),
        "PAUSED" => (if zh { "已暂停" } else { "Paused" }, false, 503),
        _ => (if zh { "未在运行" } else { "Not running" }, false, 503),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let detail = message.unwrap_or(stage);
    let mut response = page(lang, status, title, detail, passing);
    if passing {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(REFRESH_SECS));
    }
    response
}

/// No such Space, or a private one the visitor may not see (the same page).
pub fn not_found(headers: &HeaderMap) -> Response {
    let lang = lang(headers);
    let (title, detail) = match lang {
        Lang::Zh => ("找不到此空间", "此地址上没有空间。"),
        Lang::En => ("No such Space", "There is no Space at this address."),
    };
    page(lang, StatusCode::NOT_FOUND, title, detail, false)
}

/// The app cannot be reached (its runner's tunnel is down, or it did not
/// answer): worth a reload in a moment.
pub fn unreachable(headers: &HeaderMap, status: StatusCode) -> Response {
    let lang = lang(headers);
    let (title, detail) = match lang {
        Lang::Zh => (
            "暂时无法连接应用",
            "应用所在的运行器暂时无法连接，请稍后重试。",
        ),
        Lang::En => (
            "The app cannot be reached",
            "The runner of this app cannot be reached right now; this page reloads by itself.",
        ),
    };
    page(lang, status, title, detail, true)
}

/// Something went wrong in the hub itself.
pub fn failed(headers: &HeaderMap) -> Response {
    let lang = lang(headers);
    let (title, detail) = match lang {
        Lang::Zh => ("出错了", "服务器内部错误。"),
        Lang::En => ("Something went wrong", "An internal error occurred."),
    };
    page(
        lang,
        StatusCode::INTERNAL_SERVER_ERROR,
        title,
        detail,
        false,
    )
}

fn lang(headers: &HeaderMap) -> Lang {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Lang::from_accept_language(accept)
}

fn page(lang: Lang, status: StatusCode, title: &str, detail: &str, refresh: bool) -> Response {
    let refresh = if refresh {
        format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">")
    } else {
        String::new()
    };
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">{refresh}\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;display:flex;\
         align-items:center;justify-content:center;min-height:90vh;margin:0;color:#333}}\
         main{{max-width:36em;padding:1em;text-align:center}}pre{{white-space:pre-wrap;\
         text-align:left;background:#f4f4f5;padding:.75em;border-radius:6px}}</style></head>\
         <body><main><h1>{title}</h1><pre>{detail}</pre></main></body></html>",
        lang = lang.code(),
        title = escape(title),
        detail = escape(detail),
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        html,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passing_stages_reload_and_broken_ones_do_not() {
        let headers = HeaderMap::new();
        let building = waiting("BUILDING", None, &headers);
        assert_eq!(building.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(building.headers().contains_key(header::RETRY_AFTER));
        let broken = waiting("RUNTIME_ERROR", Some("<oops>"), &headers);
        assert_eq!(broken.status(), StatusCode::BAD_GATEWAY);
        assert!(!broken.headers().contains_key(header::RETRY_AFTER));
    }
}
