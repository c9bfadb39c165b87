//! E-mail over SMTP with lettre (tokio, rustls on ring).
//!
//! `security = "starttls"` (default, port 587) upgrades a plain connection and refuses to
//! go on without TLS; `"tls"` (port 465) speaks TLS from the first byte; `"none"` (port 25)
//! sends in clear text and is meant for a relay on localhost. The subject is the title
//! (`[URGENT] ` in front when urgent), the body plain UTF-8 text (body, then one
//! `name: value` line per field), and an attachment goes as a second MIME part.
//! SMTP 5xx answers are permanent, 4xx answers, timeouts and connection failures retryable.

use super::Notifier;
use super::{Delivery, DeliveryStatus, Message, NotifyError, Policy, Scrubber, Secret};
use futures_util::future::BoxFuture;
use lettre::message::header::ContentType;
use lettre::message::{Attachment as MimeAttachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;
use std::fmt;

pub const NAME: &str = "email";

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    #[default]
    Starttls,
    /// TLS from the start, "SMTPS" (port 465).
    Tls,
    /// No encryption at all (port 25); only for a local relay.
    None,
}

impl SmtpSecurity {
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        }
    }
}

/// `[notifications.email]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub host: String,
    /// Default from `security`: 587, 465 or 25.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub security: SmtpSecurity,
    /// `fks <fks@example.com>` or a bare address.
    pub from: String,
    pub to: Vec<String>,
}

impl EmailConfig {
    pub fn new(host: impl Into<String>, from: impl Into<String>, to: Vec<String>) -> Self {
        EmailConfig {
            host: host.into(),
            port: None,
            username: None,
            password: None,
            security: SmtpSecurity::default(),
            from: from.into(),
            to,
        }
    }
}

pub struct Email {
    config: EmailConfig,
    from: Mailbox,
    to: Vec<Mailbox>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    scrubber: Scrubber,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The transport's Debug would show its credentials: leave it out.
        f.debug_struct("Email")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Email {
    pub fn new(config: EmailConfig, policy: Policy) -> Result<Self, NotifyError> {
        let host = config.host.trim();
        if host.is_empty() {
            return Err(NotifyError::config(NAME, "host is empty"));
        }
        let from: Mailbox = config
            .from
            .trim()
            .parse()
            .map_err(|e| NotifyError::config(NAME, format!("from {:?}: {e}", config.from)))?;
        if config.to.is_empty() {
            return Err(NotifyError::config(NAME, "to lists no recipient"));
        }
        let to = config
            .to
            .iter()
            .map(|t| {
                t.trim()
                    .parse::<Mailbox>()
                    .map_err(|e| NotifyError::config(NAME, format!("to {t:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tls = match config.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::Starttls | SmtpSecurity::Tls => {
                let params = TlsParameters::new(host.to_string())
                    .map_err(|e| NotifyError::config(NAME, format!("TLS setup for {host}: {e}")))?;
                if config.security == SmtpSecurity::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(config.port.unwrap_or(config.security.default_port()))
            .tls(tls)
            .timeout(Some(policy.timeout));
        let password = config.password.as_ref().map(|p| p.expose().to_string());
        match (&config.username, &password) {
            (Some(user), Some(pw)) => {
                builder = builder.credentials(Credentials::new(user.clone(), pw.clone()));
            }
            (None, None) => {}
            _ => {
                return Err(NotifyError::config(
                    NAME,
                    "set both username and password, or neither",
                ));
            }
        }
        let scrubber = Scrubber::new(&[password.as_deref().unwrap_or_default()]);
        Ok(Email {
            transport: builder.build(),
            config,
            from,
            to,
            scrubber,
        })
    }

    /// An e-mail is one part: `first_part >= 1` sends nothing.
    async fn deliver(&self, msg: &Message, first_part: usize) -> Result<Delivery, NotifyError> {
        if first_part >= 1 {
            return Ok(Delivery {
                channel: NAME.to_string(),
                status: DeliveryStatus::Delivered,
                remote_id: None,
                parts: 1,
            });
        }
        let email = self.build(msg)?;
        match self.transport.send(email).await {
            Ok(response) => {
                let answer = response.message().collect::<Vec<_>>().join(" ");
                tracing::debug!(channel = NAME, code = %response.code(), "e-mail accepted");
                Ok(Delivery {
                    channel: NAME.to_string(),
                    status: DeliveryStatus::Delivered,
                    remote_id: (!answer.trim().is_empty()).then(|| answer.trim().to_string()),
                    parts: 1,
                })
            }
            Err(e) => Err(self.map_error(&e)),
        }
    }

    /// The MIME message for `msg`.
    pub fn build(&self, msg: &Message) -> Result<lettre::Message, NotifyError> {
        let title = msg.title.trim();
        let title = if title.is_empty() {
            format!("fks {}", msg.kind)
        } else {
            title.to_string()
        };
        let subject = if msg.urgent {
            format!("[URGENT] {title}")
        } else {
            title
        };
        let mut builder = lettre::Message::builder()
            .from(self.from.clone())
            .subject(subject);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let text = msg.text_with_fields();
        let built = match &msg.attachment {
            None => builder.header(ContentType::TEXT_PLAIN).body(text),
            Some(a) => {
                let content_type = ContentType::parse(&a.content_type).unwrap_or_else(|_| {
                    ContentType::parse("application/octet-stream").expect("valid")
                });
                builder.multipart(
                    MultiPart::mixed()
                        .singlepart(SinglePart::plain(text))
                        .singlepart(
                            MimeAttachment::new(a.filename.clone())
                                .body(a.bytes.clone(), content_type),
                        ),
                )
            }
        };
        built.map_err(|e| NotifyError::Permanent {
            channel: NAME.to_string(),
            status: None,
            code: None,
            reason: format!("cannot build the e-mail: {e}"),
            parts_sent: 0,
        })
    }

    fn map_error(&self, e: &lettre::transport::smtp::Error) -> NotifyError {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            let t = s.to_string();
            if !reason.contains(&t) {
                reason.push_str(": ");
                reason.push_str(&t);
            }
            source = s.source();
        }
        let reason = self.scrubber.scrub(&reason);
        let code = e.status().map(|c| i64::from(u16::from(c)));
        if e.is_permanent() || e.is_tls() || e.is_client() {
            NotifyError::Permanent {
                channel: NAME.to_string(),
                status: None,
                code,
                reason,
                parts_sent: 0,
            }
        } else {
            NotifyError::Retryable {
                channel: NAME.to_string(),
                reason,
                parts_sent: 0,
            }
        }
    }
}

impl Notifier for Email {
    fn name(&self) -> &'static str {
        NAME
    }

    /// `smtp+starttls://host:587 → a@x, b@y`.
    fn target(&self) -> String {
        let scheme = match self.config.security {
            SmtpSecurity::Starttls => "smtp+starttls",
            SmtpSecurity::Tls => "smtps",
            SmtpSecurity::None => "smtp",
        };
        let port = self
            .config
            .port
            .unwrap_or(self.config.security.default_port());
        let to: Vec<String> = self.to.iter().map(|m| m.email.to_string()).collect();
        format!(
            "{scheme}://{}:{port} → {}",
            self.config.host.trim(),
            to.join(", ")
        )
    }

    fn send_from<'a>(
        &'a self,
        _client: &'a reqwest::Client,
        msg: &'a Message,
        first_part: usize,
    ) -> BoxFuture<'a, Result<Delivery, NotifyError>> {
        Box::pin(self.deliver(msg, first_part))
    }
}
