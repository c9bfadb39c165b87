//! The message model: one notification, independent of the channel it goes to.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Embed colour for a gain (Discord green).
pub const COLOR_GREEN: u32 = 0x2E_CC_71;
/// Embed colour for a loss or an urgent alert (Discord red).
pub const COLOR_RED: u32 = 0xE7_4C_3C;

/// What a message is about; channels show it (Discord footer, Slack context, subject tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Trade,
    Alert,
    Report,
    Signal,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Trade => "trade",
            MessageKind::Alert => "alert",
            MessageKind::Report => "report",
            MessageKind::Signal => "signal",
        }
    }

    /// Embed colour used when the message sets none.
    pub fn default_color(self) -> u32 {
        match self {
            MessageKind::Trade => 0x34_98_DB,
            MessageKind::Alert => 0xE6_7E_22,
            MessageKind::Report => 0x95_A5_A6,
            MessageKind::Signal => 0x9B_59_B6,
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A file sent with a message: the report chart PNG, a CSV.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Attachment {
    pub fn new(
        filename: impl Into<String>,
        content_type: impl Into<String>,
        bytes: Vec<u8>,
    ) -> Self {
        Attachment {
            filename: filename.into(),
            content_type: content_type.into(),
            bytes,
        }
    }

    pub fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("filename", &self.filename)
            .field("content_type", &self.content_type)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

/// One notification, independent of the channel it goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: MessageKind,
    pub title: String,
    /// Markdown-ish text: `**bold**` and line breaks survive on Discord and Slack; Telegram
    /// and e-mail show it as plain text.
    pub body: String,
    pub urgent: bool,
    /// Name/value pairs: an embed's fields on Discord, Slack section fields, lines elsewhere.
    pub fields: Vec<(String, String)>,
    /// Embed colour (`0xRRGGBB`), e.g. [`pnl_color`] of the day's PnL.
    pub color: Option<u32>,
    pub attachment: Option<Attachment>,
    /// When the message was created (the outbox row's time), Unix milliseconds UTC. Shown as
    /// the Discord embed timestamp; this module never reads the clock for it.
    pub created_at_ms: Option<i64>,
}

impl Message {
    pub fn new(kind: MessageKind, title: impl Into<String>, body: impl Into<String>) -> Self {
        Message {
            kind,
            title: title.into(),
            body: body.into(),
            urgent: false,
            fields: Vec::new(),
            color: None,
            attachment: None,
            created_at_ms: None,
        }
    }

    pub fn urgent(mut self, urgent: bool) -> Self {
        self.urgent = urgent;
        self
    }

    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }

    pub fn color(mut self, color: u32) -> Self {
        self.color = Some(color);
        self
    }

    pub fn attachment(mut self, attachment: Attachment) -> Self {
        self.attachment = Some(attachment);
        self
    }

    pub fn created_at_ms(mut self, ms: i64) -> Self {
        self.created_at_ms = Some(ms);
        self
    }

    /// Body followed by one `name: value` line per field: the text of channels without
    /// structured fields (Telegram, e-mail, the plain Discord form).
    pub fn text_with_fields(&self) -> String {
        let mut text = self.body.clone();
        if !self.fields.is_empty() {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            let lines: Vec<String> = self
                .fields
                .iter()
                .map(|(n, v)| format!("{n}: {v}"))
                .collect();
            text.push_str(&lines.join("\n"));
        }
        text
    }
}

/// Green for a gain or zero, red for a loss.
pub fn pnl_color(pnl: f64) -> u32 {
    if pnl < 0.0 { COLOR_RED } else { COLOR_GREEN }
}
