//! Hearing what other instances commit: one connection per instance that
//! `LISTEN`s on the writer's channel (the bin it names) and on relayed
//! answers' (the request waiting for one). A notice carries ids, never bodies; listeners read the rows.
//! When the connection drops, notices sent meanwhile are lost, so after
//! reconnecting the listener says [`Notice::Missed`]: every watched bin
//! reads the store again.

use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};
use uuid::Uuid;

use super::relay::ANSWERS_CHANNEL;
use super::NOTIFY_CHANNEL;
use crate::store::Notice;

/// How long the listener waits before connecting again.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// A connection that lasted longer than this was up: its loss starts a
/// new run of failures (and a warning).
const STILL_DOWN: Duration = Duration::from_secs(10);
/// While reconnecting fails, one warning per this many attempts.
const WARN_EVERY_FAILURES: u64 = 60;

/// Starts listening; notices go to the returned receiver until it is
/// dropped. `own` is this instance's tag: its own notices are skipped (its
/// viewers heard of its captures already).
pub(super) fn spawn(config: tokio_postgres::Config, own: &str) -> mpsc::Receiver<Notice> {
    let (tx, rx) = mpsc::channel(1024);
    let own = own.to_owned();
    tokio::spawn(async move {
        let mut first = true;
        // Failed attempts in a row: while the database is down the
        // listener retries every second, and the log says so once a
        // minute, not every time.
        let mut failures = 0u64;
        while !tx.is_closed() {
            let started = std::time::Instant::now();
            match listen(&config, &own, &tx, first).await {
                Ok(()) => return,
                Err(e) => {
                    if started.elapsed() > STILL_DOWN {
                        failures = 0;
                    }
                    failures += 1;
                    if failures % WARN_EVERY_FAILURES == 1 {
                        tracing::warn!(error = %e, failures, "lost the database's notices; reconnecting");
                    } else {
                        tracing::debug!(error = %e, failures, "still no notices; reconnecting");
                    }
                }
            }
            first = false;
            tokio::time::sleep(RETRY_EVERY).await;
        }
    });
    rx
}

/// One connection's worth of listening; `Ok` when the receiver is gone,
/// else why the connection ended.
async fn listen(
    config: &tokio_postgres::Config,
    own: &str,
    tx: &mpsc::Sender<Notice>,
    first: bool,
) -> Result<(), String> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(|e| e.to_string())?;
    let (messages_tx, mut messages) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut stream = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = stream.next().await {
            match message {
                Ok(message) => {
                    if messages_tx.send(Ok(message)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = messages_tx.send(Err(e));
                    return;
                }
            }
        }
    });
    client
        .batch_execute(&format!(
            "LISTEN {NOTIFY_CHANNEL}; LISTEN {ANSWERS_CHANNEL}"
        ))
        .await
        .map_err(|e| e.to_string())?;
    if !first && tx.send(Notice::Missed).await.is_err() {
        driver.abort();
        return Ok(());
    }
    let result = loop {
        match messages.recv().await {
            Some(Ok(AsyncMessage::Notification(note))) => {
                let notice = if note.channel() == ANSWERS_CHANNEL {
                    Uuid::try_parse(note.payload()).ok().map(Notice::Answer)
                } else {
                    parse(note.payload(), own).map(Notice::Committed)
                };
                if let Some(notice) = notice {
                    if tx.send(notice).await.is_err() {
                        break Ok(());
                    }
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => break Err(e.to_string()),
            None => break Err(String::from("the connection closed")),
        }
    };
    driver.abort();
    result
}

/// `<bin> <seq> <instance>` → the bin, unless the notice is `own`.
fn parse(payload: &str, own: &str) -> Option<Uuid> {
    let mut parts = payload.split(' ');
    let bin = Uuid::try_parse(parts.next()?).ok()?;
    let _seq = parts.next()?;
    match parts.next() {
        Some(instance) if instance == own => None,
        _ => Some(bin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_names_its_bin_unless_this_instance_sent_it() {
        let bin = Uuid::new_v4();
        assert_eq!(parse(&format!("{bin} 42 other"), "mine"), Some(bin));
        assert_eq!(parse(&format!("{bin} 42 mine"), "mine"), None);
        assert_eq!(parse(&format!("{bin} 42"), "mine"), Some(bin));
        assert_eq!(parse("not-a-bin 1 x", "mine"), None);
        assert_eq!(parse("", "mine"), None);
    }
}
