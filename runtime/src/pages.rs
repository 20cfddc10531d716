//! The one page loop: every caller that walks a request's pages — jobs and backfills,
//! `plugin call`, stream gap recovery, the harness — pulls them from [`Pages`], so cursors
//! are followed, repeated cursors caught and endless pagination stopped by one set of
//! rules. What a caller does between pages (budgets, permits, writing) stays its own.
//! Corporate actions are few: [`Plugin::all_actions`] gathers a request's pages into one
//! answer by the same rules.

use std::collections::HashSet;

use serde::Serialize;

use super::{CallError, Plugin};
use mdhost_core::domain::{ActionsPage, ActionsRequest, BarsRequest, ProviderError, RawBar};

/// One page as the loop saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageRecord {
    /// The cursor the page was asked with.
    pub cursor: Option<String>,
    /// How many bars it held.
    pub bars: usize,
    pub next_cursor: Option<String>,
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
        let mut req = req.clone();
        let mut seen = HashSet::new();
        for page in 1..=max_pages {
            let p = match self.fetch_actions(&req).await {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => return (all, End::Provider(e)),
                Err(e) => return (all, End::Call(e)),
            };
            all.splits.extend(p.splits);
            all.dividends.extend(p.dividends);
            match p.next_cursor {
                None => return (all, End::Complete),
                Some(c) if !seen.insert(c.clone()) => {
                    return (all, End::Repeated { page, cursor: c });
                }
                Some(c) => req.cursor = Some(c),
            }
        }
        (all, End::Endless { max: max_pages })
    }
}
