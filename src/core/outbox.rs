//! The notification outbox: every message is written here first, then delivered to each
//! configured channel. A channel that is down leaves the message pending with its error and
//! the next run delivers it; parts already accepted are never sent twice. Alerts with the same
//! dedup key inside the cool-down are recorded (`suppressed`) but not re-sent.

use crate::core::notify::{Attachment, Channel, Message, MessageKind, NotifyConfig, NotifyError};
use crate::core::store::{Row, Store};
use crate::vals;
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub kind: MessageKind,
    pub title: String,
    pub body: String,
    pub urgent: bool,
    pub dedup_key: Option<String>,
    pub fields: Vec<(String, String)>,
    pub color: Option<u32>,
    pub attachment_path: Option<String>,
    /// Overrides the configured cool-down for this dedup key (e.g. "once ever").
    pub cooldown_ms: Option<i64>,
}

impl NewMessage {
    pub fn new(kind: MessageKind, title: impl Into<String>, body: impl Into<String>) -> Self {
        NewMessage {
            kind,
            title: title.into(),
            body: body.into(),
            urgent: false,
            dedup_key: None,
            fields: Vec::new(),
            color: None,
            attachment_path: None,
            cooldown_ms: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Enqueued {
    pub id: i64,
    /// `pending`, or `suppressed` (same dedup key within the cool-down).
    pub status: &'static str,
}

/// Write a message to the outbox (one transaction).
pub async fn enqueue(
    store: &Store,
    cfg: &NotifyConfig,
    m: &NewMessage,
    now_ms: i64,
) -> Result<Enqueued> {
    let tx = store.begin().await?;
    let mut status = "pending";
    if let Some(key) = &m.dedup_key {
        let recent = tx
            .query_opt(
                "SELECT id FROM notifications WHERE dedup_key = ? AND status <> 'suppressed' AND created_ms > ? AND created_ms <= ? LIMIT 1",
                vals![key.as_str(), now_ms.saturating_sub(m.cooldown_ms.unwrap_or_else(|| cfg.cooldown_ms())), now_ms],
            )
            .await?;
        if recent.is_some() {
            status = "suppressed";
        }
    }
    let fields = serde_json::to_string(&m.fields)?;
    let id = tx
        .query_one(
            "INSERT INTO notifications (kind, title, body, fields, color, urgent, dedup_key, attachment_path, status, created_ms, updated_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            vals![m.kind.as_str(), m.title.as_str(), m.body.as_str(), fields, m.color.map(|c| c as i64), m.urgent, m.dedup_key.clone(), m.attachment_path.clone(), status, now_ms, now_ms],
        )
        .await?
        .int(0)?;
    tx.commit().await?;
    Ok(Enqueued { id, status })
}

/// Per channel, what one delivery pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChannelReport {
    pub target: String,
    pub delivered: u64,
    pub failed: u64,
    pub pending: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

fn kind_of(s: &str) -> MessageKind {
    match s {
        "trade" => MessageKind::Trade,
        "report" => MessageKind::Report,
        "signal" => MessageKind::Signal,
        _ => MessageKind::Alert,
    }
}

fn to_message(r: &Row) -> Result<Message> {
    let mut m = Message::new(kind_of(&r.text(1)?), r.text(2)?, r.text(3)?);
    m.urgent = r.bool(6)?;
    m.fields = serde_json::from_str(&r.text(4)?).unwrap_or_default();
    m.color = r.opt_int(5)?.map(|c| c as u32);
    m.created_at_ms = Some(r.int(8)?);
    if let Some(p) = r.opt_text(7)? {
        let bytes = std::fs::read(&p).with_context(|| format!("read attachment {p}"))?;
        let name = std::path::Path::new(&p)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "attachment".into());
        let ct = if name.ends_with(".png") {
            "image/png"
        } else {
            "application/octet-stream"
        };
        m.attachment = Some(Attachment::new(name, ct, bytes));
    }
    Ok(m)
}

/// Deliver every pending message to every configured channel.
pub async fn deliver_pending(
    store: &Store,
    cfg: &NotifyConfig,
    client: &reqwest::Client,
    now_ms: i64,
) -> Result<BTreeMap<String, ChannelReport>> {
    let channels: Vec<Channel> = cfg
        .channels()
        .map_err(|e| crate::core::config::ConfigError(format!("notifications: {e}")))?;
    let mut report: BTreeMap<String, ChannelReport> = channels
        .iter()
        .map(|c| {
            (
                c.name().to_string(),
                ChannelReport {
                    target: c.target(),
                    ..Default::default()
                },
            )
        })
        .collect();
    if channels.is_empty() {
        return Ok(report);
    }
    let pending = store
        .query(
            "SELECT id, kind, title, body, fields, color, urgent, attachment_path, created_ms FROM notifications WHERE status = 'pending' ORDER BY id",
            &[],
        )
        .await?;
    for row in &pending {
        let id = row.int(0)?;
        let msg = match to_message(row) {
            Ok(m) => m,
            Err(e) => {
                store
                    .exec(
                        "UPDATE notifications SET status = 'failed', updated_ms = ? WHERE id = ?",
                        vals![now_ms, id],
                    )
                    .await?;
                for c in &channels {
                    let r = report.get_mut(c.name()).expect("channel in report");
                    r.failed += 1;
                    r.errors.push(format!("message {id}: {e:#}"));
                }
                continue;
            }
        };
        let mut all_done = true;
        for ch in &channels {
            let name = ch.name();
            let state = store
                .query_opt(
                    "SELECT status, attempts, parts_sent FROM notification_deliveries WHERE notification_id = ? AND channel = ?",
                    vals![id, name],
                )
                .await?;
            let (status, attempts, parts) = match &state {
                Some(r) => (r.text(0)?, r.int(1)?, r.int(2)?),
                None => {
                    store
                        .exec(
                            "INSERT INTO notification_deliveries (notification_id, channel, status, attempts, parts_sent, updated_ms) VALUES (?, ?, 'pending', 0, 0, ?)",
                            vals![id, name, now_ms],
                        )
                        .await?;
                    ("pending".to_string(), 0, 0)
                }
            };
            if status != "pending" {
                continue;
            }
            let rep = report.get_mut(name).expect("channel in report");
            match ch.send_from(client, &msg, parts as usize).await {
                Ok(d) => {
                    store
                        .exec(
                            "UPDATE notification_deliveries SET status = 'delivered', attempts = ?, parts_sent = ?, remote_id = ?, last_error = NULL, updated_ms = ? \
                             WHERE notification_id = ? AND channel = ?",
                            vals![attempts + 1, parts + d.parts as i64, d.remote_id, now_ms, id, name],
                        )
                        .await?;
                    rep.delivered += 1;
                }
                Err(e) => {
                    let permanent = matches!(
                        e,
                        NotifyError::Permanent { .. } | NotifyError::Config { .. }
                    );
                    let st = if permanent { "failed" } else { "pending" };
                    store
                        .exec(
                            "UPDATE notification_deliveries SET status = ?, attempts = ?, parts_sent = ?, last_error = ?, updated_ms = ? \
                             WHERE notification_id = ? AND channel = ?",
                            vals![st, attempts + 1, parts + e.parts_sent() as i64, e.to_string(), now_ms, id, name],
                        )
                        .await?;
                    if permanent {
                        rep.failed += 1;
                    } else {
                        rep.pending += 1;
                        all_done = false;
                    }
                    rep.errors.push(format!("message {id}: {e}"));
                }
            }
        }
        if all_done {
            let delivered = store
                .query_one(
                    "SELECT COUNT(*) FROM notification_deliveries WHERE notification_id = ? AND status = 'delivered'",
                    vals![id],
                )
                .await?
                .int(0)?;
            let st = if delivered > 0 { "delivered" } else { "failed" };
            store
                .exec(
                    "UPDATE notifications SET status = ?, updated_ms = ? WHERE id = ?",
                    vals![st, now_ms, id],
                )
                .await?;
        }
    }
    Ok(report)
}

/// Counts per outbox status.
pub async fn summary(store: &Store) -> Result<BTreeMap<String, i64>> {
    store
        .query(
            "SELECT status, COUNT(*) FROM notifications GROUP BY status",
            &[],
        )
        .await?
        .iter()
        .map(|r| Ok((r.text(0)?, r.int(1)?)))
        .collect()
}
