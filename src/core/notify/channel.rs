//! The one interface every notification channel implements.

use super::{Delivery, Message, NotifyError};
use futures_util::future::BoxFuture;
use std::fmt;

/// A notification channel (Discord, Slack, Telegram, webhook, e-mail, file): one service
/// that delivers a [`Message`]. The outbox holds them as [`Channel`]s and never needs to
/// know which service it talks to.
pub trait Notifier: fmt::Debug + Send + Sync {
    /// `discord`, `slack`, `telegram`, `webhook`, `email` or `file`: the key of the
    /// per-channel delivery status.
    fn name(&self) -> &'static str;

    /// Where the channel delivers, safe to print (see [`super::redact`]).
    fn target(&self) -> String;

    /// Delivers the message's parts from `first_part` on: after a failure with
    /// `parts_sent() == k`, `send_from(.., k)` finishes the message without repeating the
    /// parts already accepted. Splitting is deterministic for a given message. `client` is
    /// unused by e-mail and the file channel.
    fn send_from<'a>(
        &'a self,
        client: &'a reqwest::Client,
        msg: &'a Message,
        first_part: usize,
    ) -> BoxFuture<'a, Result<Delivery, NotifyError>>;

    /// Delivers the whole message.
    fn send<'a>(
        &'a self,
        client: &'a reqwest::Client,
        msg: &'a Message,
    ) -> BoxFuture<'a, Result<Delivery, NotifyError>> {
        self.send_from(client, msg, 0)
    }
}

/// One configured delivery target.
pub type Channel = Box<dyn Notifier>;

impl<T: Notifier + ?Sized> Notifier for Box<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn target(&self) -> String {
        (**self).target()
    }

    fn send_from<'a>(
        &'a self,
        client: &'a reqwest::Client,
        msg: &'a Message,
        first_part: usize,
    ) -> BoxFuture<'a, Result<Delivery, NotifyError>> {
        (**self).send_from(client, msg, first_part)
    }
}
