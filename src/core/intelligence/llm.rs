//! A minimal OpenAI-compatible chat client (Ollama, llama.cpp server, hosted APIs).
//!
//! `POST {base}/v1/chat/completions` with `{"model", "messages": [system, user],
//! "temperature": 0, "stream": false}`; the answer is `choices[0].message.content`.
//! A base that already ends in `/v1` is not doubled. A base ending in `/api` selects
//! Ollama's native `POST {base}/chat` (`{"model", "messages", "stream": false,
//! "options": {"temperature": 0}}` → `message.content`).
//!
//! Every failure (connection, timeout, non-2xx, unexpected body, empty text) is an
//! [`LlmError`]; the caller falls back to the template and says so. The API key is sent as
//! `Authorization: Bearer …` when set and never appears in `Debug`, errors or logs.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Default request timeout (connect + send + read).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, PartialEq)]
pub struct LlmConfig {
    /// `[intelligence] llm_url`, e.g. `http://127.0.0.1:11434` or `https://api.openai.com/v1`.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
}

impl LlmConfig {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        LlmConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "****"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Which wire format the endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApiFlavor {
    OpenAi,
    Ollama,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("language model client could not be built: {0}")]
    Build(String),
    #[error("language model did not answer within {0:?}")]
    Timeout(Duration),
    #[error("language model endpoint {endpoint} answered {status}: {body}")]
    Status {
        endpoint: String,
        status: u16,
        body: String,
    },
    #[error("could not reach the language model at {endpoint}: {message}")]
    Transport { endpoint: String, message: String },
    #[error("language model answer is not a chat completion: {0}")]
    Malformed(String),
    #[error("language model answered with empty text")]
    Empty,
}

impl LlmError {
    /// Worth retrying later (the model may come back); `Malformed` is not.
    pub fn is_transient(&self) -> bool {
        match self {
            LlmError::Timeout(_) | LlmError::Transport { .. } => true,
            LlmError::Status { status, .. } => *status == 429 || *status >= 500,
            LlmError::Build(_) | LlmError::Malformed(_) | LlmError::Empty => false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Debug, Serialize)]
struct OpenAiRequest<'a> {
    model: &'a str,
    messages: [Message<'a>; 2],
    temperature: f32,
    stream: bool,
}

#[derive(Debug, Serialize)]
struct OllamaOptions {
    temperature: f32,
}

#[derive(Debug, Serialize)]
struct OllamaRequest<'a> {
    model: &'a str,
    messages: [Message<'a>; 2],
    stream: bool,
    options: OllamaOptions,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OpenAiChoice {
    message: WireMessage,
}

#[derive(Debug, Deserialize)]
struct OpenAiResponse {
    choices: Vec<OpenAiChoice>,
}

#[derive(Debug, Deserialize)]
struct OllamaResponse {
    message: WireMessage,
}

/// A chat client bound to one endpoint and model.
#[derive(Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    endpoint: String,
    flavor: ApiFlavor,
    model: String,
    api_key: Option<String>,
    timeout: Duration,
}

impl fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmClient")
            .field("endpoint", &self.endpoint)
            .field("flavor", &self.flavor)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "****"))
            .finish()
    }
}

/// The endpoint URL and wire flavor for a configured base URL.
pub fn endpoint_for(base_url: &str) -> (String, ApiFlavor) {
    let base = base_url.trim().trim_end_matches('/');
    if base.ends_with("/api") {
        (format!("{base}/chat"), ApiFlavor::Ollama)
    } else if base.ends_with("/chat/completions") {
        (base.to_string(), ApiFlavor::OpenAi)
    } else if base.ends_with("/v1") {
        (format!("{base}/chat/completions"), ApiFlavor::OpenAi)
    } else {
        (format!("{base}/v1/chat/completions"), ApiFlavor::OpenAi)
    }
}

/// At most `max` characters of `s`, for error messages.
fn snippet(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

impl LlmClient {
    /// Needs a rustls crypto provider installed (the binary installs ring at start-up).
    pub fn new(cfg: &LlmConfig) -> Result<Self, LlmError> {
        let (endpoint, flavor) = endpoint_for(&cfg.base_url);
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .build()
            .map_err(|e| LlmError::Build(e.to_string()))?;
        Ok(LlmClient {
            http,
            endpoint,
            flavor,
            model: cfg.model.clone(),
            api_key: cfg.api_key.clone().filter(|k| !k.is_empty()),
            timeout: cfg.timeout,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn flavor(&self) -> ApiFlavor {
        self.flavor
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// One non-streaming chat turn at temperature 0; the assistant's text, trimmed.
    pub async fn complete(&self, system: &str, user: &str) -> Result<String, LlmError> {
        let messages = [
            Message {
                role: "system",
                content: system,
            },
            Message {
                role: "user",
                content: user,
            },
        ];
        let req = self.http.post(&self.endpoint);
        let req = match self.flavor {
            ApiFlavor::OpenAi => req.json(&OpenAiRequest {
                model: &self.model,
                messages,
                temperature: 0.0,
                stream: false,
            }),
            ApiFlavor::Ollama => req.json(&OllamaRequest {
                model: &self.model,
                messages,
                stream: false,
                options: OllamaOptions { temperature: 0.0 },
            }),
        };
        let req = match &self.api_key {
            Some(k) => req.bearer_auth(k),
            None => req,
        };
        tracing::debug!(endpoint = %self.endpoint, model = %self.model, "language model request");
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                LlmError::Timeout(self.timeout)
            } else {
                LlmError::Transport {
                    endpoint: self.endpoint.clone(),
                    message: e.without_url().to_string(),
                }
            }
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let body = resp.text().await.map_err(transport)?;
        if !status.is_success() {
            return Err(LlmError::Status {
                endpoint: self.endpoint.clone(),
                status: status.as_u16(),
                body: snippet(&body, 200),
            });
        }
        let content = match self.flavor {
            ApiFlavor::OpenAi => {
                serde_json::from_str::<OpenAiResponse>(&body)
                    .map_err(|e| {
                        LlmError::Malformed(format!("{e}; body: {}", snippet(&body, 200)))
                    })?
                    .choices
                    .into_iter()
                    .next()
                    .ok_or_else(|| LlmError::Malformed("no choices".into()))?
                    .message
                    .content
            }
            ApiFlavor::Ollama => {
                serde_json::from_str::<OllamaResponse>(&body)
                    .map_err(|e| {
                        LlmError::Malformed(format!("{e}; body: {}", snippet(&body, 200)))
                    })?
                    .message
                    .content
            }
        };
        let text = content.unwrap_or_default().trim().to_string();
        if text.is_empty() {
            return Err(LlmError::Empty);
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_partial_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn install_provider() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }

    /// The shape of Ollama's real OpenAI-compatible answer, with our text.
    fn openai_body(content: &str) -> serde_json::Value {
        serde_json::json!({
            "id": "chatcmpl-174", "object": "chat.completion", "created": 1764405566,
            "model": "qwen2.5:7b", "system_fingerprint": "fp_ollama",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 16, "completion_tokens": 24, "total_tokens": 40}
        })
    }

    #[test]
    fn endpoints_follow_the_base_url() {
        assert_eq!(
            endpoint_for("http://127.0.0.1:11434/"),
            (
                "http://127.0.0.1:11434/v1/chat/completions".into(),
                ApiFlavor::OpenAi
            )
        );
        assert_eq!(
            endpoint_for("https://api.openai.com/v1"),
            (
                "https://api.openai.com/v1/chat/completions".into(),
                ApiFlavor::OpenAi
            )
        );
        assert_eq!(
            endpoint_for("http://localhost:11434/api"),
            ("http://localhost:11434/api/chat".into(), ApiFlavor::Ollama)
        );
    }

    #[test]
    fn the_key_never_shows_in_debug() {
        let mut cfg = LlmConfig::new("http://x", "m");
        cfg.api_key = Some("sk-secret".into());
        assert!(!format!("{cfg:?}").contains("sk-secret"));
        install_provider();
        let c = LlmClient::new(&cfg).unwrap();
        assert!(!format!("{c:?}").contains("sk-secret"));
    }

    #[tokio::test]
    async fn openai_request_shape_and_answer() {
        install_provider();
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(header("authorization", "Bearer sk-test"))
            .and(body_partial_json(serde_json::json!({
                "model": "qwen2.5:7b", "temperature": 0.0, "stream": false,
                "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hello"}]
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(openai_body("  Hi there.  ")))
            .expect(1)
            .mount(&server)
            .await;
        let mut cfg = LlmConfig::new(server.uri(), "qwen2.5:7b");
        cfg.api_key = Some("sk-test".into());
        let text = LlmClient::new(&cfg)
            .unwrap()
            .complete("sys", "hello")
            .await
            .unwrap();
        assert_eq!(text, "Hi there.");
    }

    #[tokio::test]
    async fn ollama_native_chat() {
        install_provider();
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/api/chat"))
            .and(body_partial_json(
                serde_json::json!({"stream": false, "options": {"temperature": 0.0}}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "model": "llama3.2", "created_at": "2023-12-12T14:13:43.416799Z",
                "message": {"role": "assistant", "content": "Native answer."},
                "done": true, "total_duration": 5191566416u64, "eval_count": 298
            })))
            .mount(&server)
            .await;
        let cfg = LlmConfig::new(format!("{}/api", server.uri()), "llama3.2");
        let c = LlmClient::new(&cfg).unwrap();
        assert_eq!(c.flavor(), ApiFlavor::Ollama);
        assert_eq!(c.complete("s", "u").await.unwrap(), "Native answer.");
    }

    #[tokio::test]
    async fn failures_are_errors() {
        install_provider();
        let server = MockServer::start().await;
        Mock::given(path("/500/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(500).set_body_string("model crashed"))
            .mount(&server)
            .await;
        Mock::given(path("/slow/v1/chat/completions"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(openai_body("late"))
                    .set_delay(Duration::from_secs(3)),
            )
            .mount(&server)
            .await;
        Mock::given(path("/junk/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_string("{\"choices\": ["))
            .mount(&server)
            .await;
        Mock::given(path("/empty/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(openai_body("")))
            .mount(&server)
            .await;
        let client = |p: &str| {
            let mut cfg = LlmConfig::new(format!("{}/{p}", server.uri()), "m");
            cfg.timeout = Duration::from_millis(300);
            LlmClient::new(&cfg).unwrap()
        };
        let e = client("500").complete("s", "u").await.unwrap_err();
        assert!(matches!(e, LlmError::Status { status: 500, .. }), "{e}");
        assert!(e.is_transient() && e.to_string().contains("model crashed"));
        let e = client("slow").complete("s", "u").await.unwrap_err();
        assert!(matches!(e, LlmError::Timeout(_)), "{e}");
        let e = client("junk").complete("s", "u").await.unwrap_err();
        assert!(matches!(e, LlmError::Malformed(_)), "{e}");
        let e = client("empty").complete("s", "u").await.unwrap_err();
        assert!(matches!(e, LlmError::Empty), "{e}");
        // nothing listening
        let mut cfg = LlmConfig::new("http://127.0.0.1:9", "m");
        cfg.timeout = Duration::from_millis(300);
        let e = LlmClient::new(&cfg)
            .unwrap()
            .complete("s", "u")
            .await
            .unwrap_err();
        assert!(
            matches!(e, LlmError::Transport { .. } | LlmError::Timeout(_)),
            "{e}"
        );
    }
}
