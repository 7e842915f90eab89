//! The DLQ as a lazy stream of pages or events.

use crate::client::Client;
use crate::error::Error;
use cxone_replay_domain::{DlqEvent, DlqPage};
use futures::{Stream, StreamExt, TryStreamExt, stream};
use std::collections::HashSet;

/// A request for the DLQ of one topic; turn it into a stream with [`pages`](Self::pages) or
/// [`events`](Self::events).
///
/// The stream is lazy (nothing is fetched until it is polled, and one page at a time is held),
/// follows `nextPageToken` until the server sends none (a short page with a token is *not* the
/// end), and ends after its first error. Every page token sent is remembered: a token the server
/// hands out twice (which would loop forever) ends the stream with
/// [`Error::RepeatedPageToken`] after the page that carried it, and a server that answers page
/// after page with no event but a new token ends it with [`Error::EmptyPages`] once
/// [`max_empty_pages`](crate::ClientBuilder::max_empty_pages) such pages came in a row (default
/// 100). Each page request retries
/// 429 (waiting `Retry-After`), 5xx and network errors within the client's retry policy.
///
/// ```no_run
/// use futures::TryStreamExt;
/// # async fn run(client: cxone_eventbridge::Client) -> Result<(), cxone_eventbridge::Error> {
/// let mut events = std::pin::pin!(client.dlq("topic_pub_conversations").page_size(100).events());
/// while let Some(event) = events.try_next().await? {
///     println!("{} (retryCount {})", event.event_id, event.retry_count());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a DlqRequest does nothing until turned into a stream and polled"]
pub struct DlqRequest {
    client: Client,
    topic: String,
    page_size: Option<u32>,
    start_token: Option<String>,
}

/// Where the pagination stands.
enum Cursor {
    /// Fetch the page of this token (`None`: the first page).
    Fetch(Option<String>),
    /// The server repeated this token on page `page`: fail.
    Repeated { token: String, page: u64 },
    /// No more pages.
    Done,
}

struct State {
    client: Client,
    topic: String,
    page_size: Option<u32>,
    cursor: Cursor,
    seen: HashSet<String>,
    pages: u64,
    /// Empty pages with a next token, in a row.
    empty: u32,
}

impl DlqRequest {
    pub(crate) fn new(client: Client, topic: String) -> Self {
        DlqRequest {
            client,
            topic,
            page_size: None,
            start_token: None,
        }
    }

    /// The `limit` sent with each page request (default: the server's). `0` is refused with
    /// [`Error::InvalidArgument`] when the stream is polled.
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// Starts from a saved page token instead of the first page.
    pub fn start_token(mut self, token: Option<String>) -> Self {
        self.start_token = token.filter(|t| !t.is_empty());
        self
    }

    /// The stream of pages.
    pub fn pages(self) -> impl Stream<Item = Result<DlqPage, Error>> + Send + 'static {
        let mut seen = HashSet::new();
        if let Some(t) = &self.start_token {
            seen.insert(t.clone());
        }
        let state = State {
            client: self.client,
            topic: self.topic,
            page_size: self.page_size,
            cursor: Cursor::Fetch(self.start_token),
            seen,
            pages: 0,
            empty: 0,
        };
        stream::try_unfold(state, |mut st| async move {
            let token = match std::mem::replace(&mut st.cursor, Cursor::Done) {
                Cursor::Done => return Ok(None),
                Cursor::Repeated { token, page } => {
                    return Err(Error::RepeatedPageToken {
                        topic: st.topic,
                        token,
                        page,
                    });
                }
                Cursor::Fetch(token) => token,
            };
            if st.page_size == Some(0) {
                return Err(Error::InvalidArgument {
                    name: "page_size",
                    problem: "must be at least 1".into(),
                });
            }
            let page = st
                .client
                .dlq_page(&st.topic, st.page_size, token.as_deref())
                .await?;
            st.pages += 1;
            if page.events.is_empty() && page.next_page_token.is_some() {
                st.empty += 1;
                if st.empty >= st.client.inner.max_empty_pages {
                    return Err(Error::EmptyPages {
                        topic: st.topic,
                        count: st.empty,
                    });
                }
            } else {
                st.empty = 0;
            }
            st.cursor = match &page.next_page_token {
                None => Cursor::Done,
                Some(next) if !st.seen.insert(next.clone()) => Cursor::Repeated {
                    token: next.clone(),
                    page: st.pages,
                },
                Some(next) => Cursor::Fetch(Some(next.clone())),
            };
            tracing::debug!(
                topic = %st.topic,
                page = st.pages,
                events = page.events.len(),
                more = page.next_page_token.is_some(),
                "DLQ page"
            );
            Ok(Some((page, st)))
        })
    }

    /// The stream of events, page after page. Malformed events are not errors: they come
    /// through with [`DlqEvent::defect`] set.
    pub fn events(self) -> impl Stream<Item = Result<DlqEvent, Error>> + Send + 'static {
        self.pages()
            .map_ok(|page| stream::iter(page.events.into_iter().map(Ok)))
            .try_flatten()
            .fuse()
    }
}
