//! One configured delivery target.

use super::*;

/// One configured delivery target.
#[derive(Debug)]
pub enum Channel {
    Discord(Discord),
    Slack(Slack),
    Telegram(Telegram),
    Webhook(Webhook),
    /// Boxed: the SMTP transport is much larger than the HTTP channels.
    Email(Box<Email>),
    File(file::FileChannel),
}

impl Channel {
    /// `discord`, `slack`, `telegram`, `webhook` or `email`: the key of the per-channel
    /// delivery status.
    pub fn name(&self) -> &'static str {
        match self {
            Channel::Discord(_) => discord::NAME,
            Channel::Slack(_) => slack::NAME,
            Channel::Telegram(_) => telegram::NAME,
            Channel::Webhook(_) => webhook::NAME,
            Channel::Email(_) => email::NAME,
            Channel::File(_) => file::NAME,
        }
    }

    /// Where the channel delivers, safe to print (see [`redact`]).
    pub fn target(&self) -> String {
        match self {
            Channel::Discord(c) => c.target(),
            Channel::Slack(c) => c.target(),
            Channel::Telegram(c) => c.target(),
            Channel::Webhook(c) => c.target(),
            Channel::Email(c) => c.target(),
            Channel::File(c) => c.path.display().to_string(),
        }
    }

    /// Delivers the whole message. `client` is unused by e-mail.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        msg: &Message,
    ) -> Result<Delivery, NotifyError> {
        self.send_from(client, msg, 0).await
    }

    /// Delivers the message's parts from `first_part` on: after a failure with
    /// `parts_sent() == k`, `send_from(.., k)` finishes the message without repeating the
    /// parts already accepted. Splitting is deterministic for a given message.
    pub async fn send_from(
        &self,
        client: &reqwest::Client,
        msg: &Message,
        first_part: usize,
    ) -> Result<Delivery, NotifyError> {
        match self {
            Channel::Discord(c) => c.send_from(client, msg, first_part).await,
            Channel::Slack(c) => c.send_from(client, msg, first_part).await,
            Channel::Telegram(c) => c.send_from(client, msg, first_part).await,
            Channel::Webhook(c) => c.send_from(client, msg, first_part).await,
            Channel::Email(c) => c.send_from(msg, first_part).await,
            Channel::File(c) => c.send(msg),
        }
    }
}
