//! A plain text table: a header row and left-aligned columns two spaces
//! apart, each as wide as its widest cell, without trailing blanks.

/// A table being filled row by row.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|&h| h.to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are blank, extra ones are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines, each ending with a newline.
    pub fn render(&self) -> String {
        let width = |cell: &String| cell.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(width).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', w - width(cell)));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `text` cut to at most `max` characters, ending with `…` when cut; its
/// line breaks shown as spaces, so a cell stays on one line.
pub fn truncate(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_without_trailing_blanks() {
        let mut table = Table::new(&["ID", "STATE", "COMMAND"]);
        table.row(vec!["7".into(), "running".into(), "sleep 10".into()]);
        table.row(vec!["1234".into(), "queued".into(), String::new()]);
        table.row(vec!["5".into()]);
        assert_eq!(
            table.render(),
            "ID    STATE    COMMAND\n\
             7     running  sleep 10\n\
             1234  queued\n\
             5\n"
        );
    }

    #[test]
    fn width_counts_characters_not_bytes() {
        let mut table = Table::new(&["A", "B"]);
        table.row(vec!["é…".into(), "x".into()]);
        assert_eq!(table.render(), "A   B\né…  x\n");
        assert!(!table.is_empty());
    }

    #[test]
    fn long_cells_are_cut_and_kept_on_one_line() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("a long command line", 8), "a long …");
        assert_eq!(truncate("two\nlines", 20), "two lines");
    }
}
