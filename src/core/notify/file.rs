//! A local file channel: every message appended as one JSON line.

use super::{Delivery, DeliveryStatus, Message, Notifier, NotifyError};
use futures_util::future::BoxFuture;
use std::io::Write;

pub const NAME: &str = "file";

#[derive(Debug, Clone)]
pub struct FileChannel {
    pub path: std::path::PathBuf,
}

impl FileChannel {
    fn write(&self, msg: &Message) -> Result<Delivery, NotifyError> {
        let line = serde_json::json!({
            "kind": msg.kind.as_str(),
            "title": msg.title,
            "body": msg.body,
            "urgent": msg.urgent,
            "fields": msg.fields,
            "attachment": msg.attachment.as_ref().map(|a| a.filename.clone()),
            "created_at_ms": msg.created_at_ms,
        });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| NotifyError::Retryable {
                channel: NAME.into(),
                reason: format!("open {}: {e}", self.path.display()),
                parts_sent: 0,
            })?;
        writeln!(f, "{line}").map_err(|e| NotifyError::Retryable {
            channel: NAME.into(),
            reason: format!("write {}: {e}", self.path.display()),
            parts_sent: 0,
        })?;
        Ok(Delivery {
            channel: NAME.into(),
            status: DeliveryStatus::Delivered,
            remote_id: None,
            parts: 1,
        })
    }
}

impl Notifier for FileChannel {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The file's path.
    fn target(&self) -> String {
        self.path.display().to_string()
    }

    /// One line per message: `first_part` is ignored, a message is one part.
    fn send_from<'a>(
        &'a self,
        _client: &'a reqwest::Client,
        msg: &'a Message,
        _first_part: usize,
    ) -> BoxFuture<'a, Result<Delivery, NotifyError>> {
        Box::pin(std::future::ready(self.write(msg)))
    }
}
