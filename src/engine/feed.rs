//! Stream: the DLQ pages of every topic, in order, with at most one page fetched ahead of the
//! one being dispatched.

use crate::ports::{BoxError, DlqSource, TopicPageResult};
use cxone_replay_domain::DlqEvent;
use futures::StreamExt;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

type PageMsg = TopicPageResult;

/// What the dispatcher reads events from: a fetch task that runs ahead by one page, and the
/// page being dispatched.
pub(super) struct Feed {
    rx: mpsc::Receiver<PageMsg>,
    fetcher: JoinHandle<()>,
    current: Option<(Arc<str>, std::vec::IntoIter<DlqEvent>)>,
    ended: bool,
    error: Option<(Arc<str>, BoxError)>,
}

impl Feed {
    /// Starts fetching the pages of `topics` in order; fetching stops when `stop` is cancelled.
    pub(super) fn start(
        source: Arc<dyn DlqSource>,
        topics: Vec<Arc<str>>,
        page_size: u32,
        start_token: Option<String>,
        stop: CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::channel(1);
        // In the run's span, as the dispatcher.
        let fetcher = tokio::spawn(
            fetch_pages(source, topics, page_size, start_token, tx, stop).in_current_span(),
        );
        Feed {
            rx,
            fetcher,
            current: None,
            ended: false,
            error: None,
        }
    }

    /// The next event of the current page, if it has one left.
    pub(super) fn next_event(&mut self) -> Option<(Arc<str>, DlqEvent)> {
        let (topic, events) = self.current.as_mut()?;
        events.next().map(|e| (Arc::clone(topic), e))
    }

    /// Whether the current page is used up and another may come: then the dispatcher waits for
    /// it with [`Feed::next_page`].
    pub(super) fn wants_page(&self) -> bool {
        !self.ended && self.page_is_empty()
    }

    /// Waits for the next page (cancel-safe) and makes it the current one. The end of the
    /// source, or a fetch error, ends the feed.
    pub(super) async fn next_page(&mut self) {
        let msg = self.rx.recv().await;
        self.accept(msg);
    }

    fn accept(&mut self, msg: Option<PageMsg>) {
        match msg {
            Some(Ok((topic, page))) => self.current = Some((topic, page.events.into_iter())),
            Some(Err((topic, e))) => {
                tracing::error!(topic = %topic, error = %e, "DLQ fetch failed; finishing what was seen");
                self.error = Some((topic, e));
                self.ended = true;
            }
            None => self.ended = true,
        }
    }

    /// Whether events may be left that the dispatcher has not taken: on the current page, or
    /// still to come from a source not known to have ended.
    pub(super) fn has_more(&self) -> bool {
        !(self.ended && self.page_is_empty())
    }

    fn page_is_empty(&self) -> bool {
        self.current.as_ref().is_none_or(|(_, it)| it.len() == 0)
    }

    /// Stops the fetch task and gives the fetch error that ended the feed, if one did.
    pub(super) fn close(self) -> Option<(Arc<str>, BoxError)> {
        self.fetcher.abort();
        self.error
    }
}

async fn fetch_pages(
    source: Arc<dyn DlqSource>,
    topics: Vec<Arc<str>>,
    page_size: u32,
    start_token: Option<String>,
    tx: mpsc::Sender<PageMsg>,
    stop: CancellationToken,
) {
    let mut pages = source.topic_pages(&topics, page_size, start_token);
    loop {
        // Reserve room first: at most one page is fetched ahead of the dispatcher.
        let permit = tokio::select! {
            p = tx.reserve() => match p { Ok(p) => p, Err(_) => return },
            () = stop.cancelled() => return,
        };
        let next = tokio::select! {
            n = pages.next() => n,
            () = stop.cancelled() => return,
        };
        match next {
            Some(Ok(page)) => permit.send(Ok(page)),
            Some(Err(e)) => {
                permit.send(Err(e));
                return;
            }
            None => return,
        }
    }
}
