//! A local file channel: every message appended as one JSON line.

use super::{Delivery, DeliveryStatus, Message, NotifyError};
use std::io::Write;

pub const NAME: &str = "file";

#[derive(Debug, Clone)]
pub struct FileChannel {
    pub path: std::path::PathBuf,
}

impl FileChannel {
    pub fn send(&self, msg: &Message) -> Result<Delivery, NotifyError> {
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
