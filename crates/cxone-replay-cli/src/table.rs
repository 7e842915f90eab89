//! Aligned plain-text tables.

use cxone_dlq_replay::StatusCounts;
use cxone_replay_domain::ReplayStatus;
use std::collections::BTreeMap;

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Left (text).
    Left,
    /// Right (numbers).
    Right,
}

/// A table with a header row; columns are as wide as their widest cell.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Table {
            headers: columns.iter().map(|(h, _)| (*h).to_string()).collect(),
            align: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are blank, extra cells are dropped).
    pub fn row<I, S>(&mut self, cells: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut r: Vec<String> = cells.into_iter().map(Into::into).collect();
        r.resize(self.headers.len(), String::new());
        self.rows.push(r);
        self
    }

    /// The rows only (no header line), indented by `indent` spaces.
    pub fn render_rows(&self, indent: usize) -> String {
        let all = self.render(indent);
        all.split_once('\n')
            .map_or(String::new(), |(_, rest)| rest.to_string())
    }

    /// The table, indented by `indent` spaces, one line per row, each ending in `\n`.
    pub fn render(&self, indent: usize) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let line = |cells: &[String], out: &mut String| {
            let mut s = " ".repeat(indent);
            for (i, c) in cells.iter().enumerate() {
                let pad = widths[i].saturating_sub(c.chars().count());
                if i > 0 {
                    s.push_str("  ");
                }
                match self.align[i] {
                    Align::Left => {
                        s.push_str(c);
                        s.push_str(&" ".repeat(pad));
                    }
                    Align::Right => {
                        s.push_str(&" ".repeat(pad));
                        s.push_str(c);
                    }
                }
            }
            out.push_str(s.trim_end());
            out.push('\n');
        };
        line(&self.headers, &mut out);
        for r in &self.rows {
            line(r, &mut out);
        }
        out
    }
}

/// `s` cut to at most `max` characters, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// A duration as its two largest units: `3d 4h`, `5m 10s`, `42s`.
pub fn age(d: chrono::TimeDelta) -> String {
    let secs = d.num_seconds();
    if secs < 0 {
        return "in the future".into();
    }
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (size, name) in units {
        if rest >= size || (parts.is_empty() && size == 1) {
            parts.push(format!("{}{name}", rest / size));
            rest %= size;
        } else if !parts.is_empty() {
            // keep the two units adjacent: 3d 0h, not 3d 5m
            parts.push(format!("0{name}"));
        }
        if parts.len() == 2 {
            break;
        }
    }
    parts.join(" ")
}

/// A status table (`SUCCESS` … `DRY_RUN`, in that order) under `title`, with the rows not yet
/// rendered so that callers can add totals.
pub fn status_table(title: &str, counts: &StatusCounts) -> Table {
    let mut t = Table::new(&[(title, Align::Left), ("EVENTS", Align::Right)]);
    for st in ReplayStatus::ALL {
        t.row([st.to_string(), counts.get(st).to_string()]);
    }
    t
}

/// Appends a blank line and a `title | EVENTS` table of `counts`, unless `counts` is empty.
pub fn push_breakdown<K: std::fmt::Display>(
    out: &mut String,
    title: &str,
    counts: &BTreeMap<K, u64>,
    indent: usize,
) {
    if counts.is_empty() {
        return;
    }
    let mut t = Table::new(&[(title, Align::Left), ("EVENTS", Align::Right)]);
    for (k, v) in counts {
        t.row([k.to_string(), v.to_string()]);
    }
    out.push('\n');
    out.push_str(&t.render(indent));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_aligned() {
        let mut t = Table::new(&[("NAME", Align::Left), ("COUNT", Align::Right)]);
        t.row(["a", "1"]).row(["longer", "1234567"]);
        assert_eq!(
            t.render(2),
            "  NAME      COUNT\n  a             1\n  longer  1234567\n"
        );
    }

    #[test]
    fn ages_and_truncation() {
        assert_eq!(age(chrono::TimeDelta::seconds(42)), "42s");
        assert_eq!(
            age(chrono::TimeDelta::seconds(3 * 86_400 + 4 * 3600 + 7)),
            "3d 4h"
        );
        assert_eq!(age(chrono::TimeDelta::seconds(3 * 86_400 + 60)), "3d 0h");
        assert_eq!(age(chrono::TimeDelta::seconds(0)), "0s");
        assert_eq!(age(chrono::TimeDelta::seconds(-5)), "in the future");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
