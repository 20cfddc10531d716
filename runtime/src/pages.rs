//! The one page loop: every caller that walks a request's pages — jobs and backfills,
//! `plugin call`, stream gap recovery, the harness — pulls them from [`Pages`], so cursors
//! are followed, repeated cursors caught and endless pagination stopped by one set of
//! rules. What a caller does between pages (budgets, permits, writing) stays its own.
//! Corporate actions, observations and listings are small: [`Plugin::all_actions`],
//! [`Plugin::all_series`] and [`Plugin::all_instruments`] gather a request's pages into one
//! answer by the same rules.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::{CallError, Plugin};
use mdhost_core::domain::{
    ActionsPage, ActionsRequest, Adjustment, BarsRequest, InstrumentsPage, InstrumentsRequest,
    ProviderError, RawBar, SeriesPage, SeriesRequest,
};

/// One page as the loop saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageRecord {
    /// The cursor the page was asked with.
    pub cursor: Option<String>,
    /// How many bars it held.
    pub bars: usize,
    pub next_cursor: Option<String>,
    /// What the provider had adjusted each symbol's bars for (raw ones not listed): the
    /// store keeps it with the bars.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub adjusted: BTreeMap<String, Adjustment>,
}

/// Why a walk ended before or at its last page.
#[derive(Debug, thiserror::Error)]
pub enum End {
    /// The last page came without a cursor: the answer is whole.
    #[error("complete")]
    Complete,
    /// The plugin returned a classified error.
    #[error("{0}")]
    Provider(ProviderError),
    /// The call failed in the sandbox (trap, deadline, memory cap, contract breach).
    #[error("{kind} failure: {0}", kind = .0.kind())]
    Call(CallError),
    /// Page `page` named a cursor an earlier page already gave. That page is not handed
    /// on: a checkpoint with its cursor would send the next run round the same loop.
    #[error(
        "page {page} returned cursor {cursor:?}, which an earlier page already gave: pagination does not terminate"
    )]
    Repeated { page: u32, cursor: String },
    /// `max` pages came and the last still named another.
    #[error("no last page after {max} pages")]
    Endless { max: u32 },
}

/// What [`Pages::next`] gives.
#[derive(Debug)]
pub enum Next {
    /// A page; `record.next_cursor` is `None` on the last one.
    Page {
        record: PageRecord,
        bars: Vec<RawBar>,
    },
    End(End),
}

/// A request's pages, pulled one at a time.
pub struct Pages<'a> {
    plugin: &'a Plugin,
    req: BarsRequest,
    max_pages: u32,
    seen: HashSet<String>,
    fetched: u32,
    /// Set once the last page has been handed on.
    over: bool,
}

impl Plugin {
    /// The pages of `req`, from its cursor on, at most `max_pages` of them.
    pub fn pages(&self, req: &BarsRequest, max_pages: u32) -> Pages<'_> {
        Pages {
            plugin: self,
            seen: req.cursor.iter().cloned().collect(),
            req: req.clone(),
            max_pages,
            fetched: 0,
            over: false,
        }
    }
}

impl Pages<'_> {
    /// The request the next page will be asked with.
    pub fn request(&self) -> &BarsRequest {
        &self.req
    }

    /// Pages handed on so far.
    pub fn fetched(&self) -> u32 {
        self.fetched
    }

    /// The next page, or how the walk ended: `End::Complete` after the last page. After
    /// a failed page, `next` asks for that page again (a caller's retry).
    pub async fn next(&mut self) -> Next {
        if self.over {
            return Next::End(End::Complete);
        }
        if self.fetched >= self.max_pages {
            return Next::End(End::Endless {
                max: self.max_pages,
            });
        }
        let page = match self.plugin.fetch_bars(&self.req).await {
            Ok(Ok(page)) => page,
            Ok(Err(e)) => return Next::End(End::Provider(e)),
            Err(e) => return Next::End(End::Call(e)),
        };
        if let Some(c) = &page.next_cursor
            && !self.seen.insert(c.clone())
        {
            return Next::End(End::Repeated {
                page: self.fetched + 1,
                cursor: c.clone(),
            });
        }
        self.fetched += 1;
        let record = PageRecord {
            cursor: self.req.cursor.clone(),
            bars: page.bars.len(),
            next_cursor: page.next_cursor.clone(),
            adjusted: page.adjusted,
        };
        match &page.next_cursor {
            Some(c) => self.req.cursor = Some(c.clone()),
            None => self.over = true,
        }
        Next::Page {
            record,
            bars: page.bars,
        }
    }
}

impl Plugin {
    /// Every page of `req`'s corporate actions gathered into one answer, and how the walk
    /// ended ([`End::Complete`] once a page came without a cursor). What came before an
    /// error is returned with it.
    pub async fn all_actions(&self, req: &ActionsRequest, max_pages: u32) -> (ActionsPage, End) {
        let mut all = ActionsPage::default();
        let fetch = |cursor| {
            let req = ActionsRequest {
                cursor,
                ..req.clone()
            };
            async move { self.fetch_actions(&req).await }
        };
        let end = gather(req.cursor.clone(), max_pages, fetch, |p: ActionsPage| {
            all.splits.extend(p.splits);
            all.dividends.extend(p.dividends);
            p.next_cursor
        })
        .await;
        (all, end)
    }

    /// Every page of `req`'s observations gathered into one answer (the metadata of the
    /// first page that has it), and how the walk ended.
    pub async fn all_series(&self, req: &SeriesRequest, max_pages: u32) -> (SeriesPage, End) {
        let mut all = SeriesPage {
            series_id: req.series_id.clone(),
            meta: None,
            observations: vec![],
            next_cursor: None,
        };
        let fetch = |cursor| {
            let req = SeriesRequest {
                cursor,
                ..req.clone()
            };
            async move { self.fetch_series(&req).await }
        };
        let end = gather(req.cursor.clone(), max_pages, fetch, |p: SeriesPage| {
            // The answer is about the series the plugin names; a page naming another is
            // kept so that the host's rules see it.
            all.series_id = p.series_id;
            all.meta = all.meta.take().or(p.meta);
            all.observations.extend(p.observations);
            p.next_cursor
        })
        .await;
        (all, end)
    }

    /// Every page of `req`'s instrument listing gathered into one, and how the walk ended.
    pub async fn all_instruments(
        &self,
        req: &InstrumentsRequest,
        max_pages: u32,
    ) -> (InstrumentsPage, End) {
        let mut all = InstrumentsPage::default();
        let fetch = |cursor| {
            let req = InstrumentsRequest {
                cursor,
                ..req.clone()
            };
            async move { self.fetch_instruments(&req).await }
        };
        let end = gather(
            req.cursor.clone(),
            max_pages,
            fetch,
            |p: InstrumentsPage| {
                all.instruments.extend(p.instruments);
                p.next_cursor
            },
        )
        .await;
        (all, end)
    }
}

/// The page walk of the gathered kinds: `fetch` asks for the page at a cursor (`first`,
/// then each page's next), `absorb` keeps a page and gives its next cursor; a cursor seen
/// before, `max_pages` pages, an error or a sandbox failure ends the walk.
async fn gather<P, F>(
    first: Option<String>,
    max_pages: u32,
    mut fetch: impl FnMut(Option<String>) -> F,
    mut absorb: impl FnMut(P) -> Option<String>,
) -> End
where
    // A plain closure returning a future (not an async closure): the walk's future must be
    // Send for the scheduler's tasks, which rustc cannot yet prove through async closures.
    F: std::future::Future<Output = Result<Result<P, ProviderError>, CallError>>,
{
    let mut cursor = first;
    let mut seen = HashSet::new();
    for page in 1..=max_pages {
        let p = match fetch(cursor.take()).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return End::Provider(e),
            Err(e) => return End::Call(e),
        };
        match absorb(p) {
            None => return End::Complete,
            Some(c) if !seen.insert(c.clone()) => return End::Repeated { page, cursor: c },
            Some(c) => cursor = Some(c),
        }
    }
    End::Endless { max: max_pages }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks pages whose next cursors are `cursors` (a page per entry), each page's
    /// content its index: what was kept and how the walk ended.
    async fn walk(cursors: &[Option<&str>], max_pages: u32) -> (Vec<usize>, String) {
        let mut asked = 0;
        let fetch = |_cursor: Option<String>| {
            let i = asked;
            asked += 1;
            std::future::ready(Ok(Ok(i)))
        };
        let mut kept = vec![];
        let end = gather(None, max_pages, fetch, |i: usize| {
            kept.push(i);
            cursors.get(i).copied().flatten().map(str::to_owned)
        })
        .await;
        (kept, end.to_string())
    }

    #[tokio::test]
    async fn the_gathered_walk_ends_at_the_last_page_a_repeat_or_the_cap() {
        assert_eq!(walk(&[None], 10).await, (vec![0], "complete".into()));
        assert_eq!(
            walk(&[Some("a"), Some("b"), None], 10).await,
            (vec![0, 1, 2], "complete".into())
        );
        let (kept, end) = walk(&[Some("a"), Some("b"), Some("a")], 10).await;
        assert_eq!(kept, vec![0, 1, 2]);
        assert!(end.starts_with("page 3 returned cursor \"a\""), "{end}");
        let (kept, end) = walk(&[Some("a"), Some("b"), Some("c"), Some("d")], 3).await;
        assert_eq!(
            (kept.len(), end.as_str()),
            (3, "no last page after 3 pages")
        );
    }
}
