//! A compressed sparse row matrix: the feature matrix of the sequence models.
//!
//! TF-IDF over word 1–2-grams is 10^4–10^5 columns wide and about 99.9 % zeros, so every
//! sequence model here works on rows of `(column, value)` pairs rather than a dense matrix.

/// A sparse `(rows, cols)` matrix of `f32` in CSR layout.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Csr {
    /// Number of columns.
    pub cols: usize,
    /// `indptr[r]..indptr[r + 1]` indexes the entries of row `r`; `rows + 1` long.
    pub indptr: Vec<usize>,
    /// Column of each stored entry (ascending within a row).
    pub indices: Vec<u32>,
    /// Value of each stored entry.
    pub values: Vec<f32>,
}

impl Csr {
    /// An empty matrix with `cols` columns and no rows.
    pub fn new(cols: usize) -> Self {
        Self {
            cols,
            indptr: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Append a row; entries are sorted by column and duplicates summed.
    ///
    /// # Panics
    /// When a column is out of range (a programming error: callers build columns from the
    /// vocabulary that sized the matrix).
    pub fn push_row(&mut self, mut entries: Vec<(u32, f32)>) {
        entries.sort_by_key(|&(c, _)| c);
        let mut last: Option<u32> = None;
        for (c, v) in entries {
            assert!(
                (c as usize) < self.cols,
                "column {c} out of range {}",
                self.cols
            );
            if last == Some(c) {
                if let Some(x) = self.values.last_mut() {
                    *x += v;
                }
            } else {
                self.indices.push(c);
                self.values.push(v);
                last = Some(c);
            }
        }
        self.indptr.push(self.indices.len());
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// The stored entries of row `r` as `(columns, values)`.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let span = self.indptr[r]..self.indptr[r + 1];
        (&self.indices[span.clone()], &self.values[span])
    }

    /// The transpose-like column view: for each column, the `(row, value)` entries in row order.
    pub fn to_columns(&self) -> Vec<Vec<(u32, f32)>> {
        let mut cols = vec![Vec::new(); self.cols];
        for r in 0..self.rows() {
            let (idx, val) = self.row(r);
            for (&c, &v) in idx.iter().zip(val) {
                cols[c as usize].push((r as u32, v));
            }
        }
        cols
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_sorted_and_duplicates_summed() {
        let mut m = Csr::new(4);
        m.push_row(vec![(3, 1.0), (1, 2.0), (3, 0.5)]);
        m.push_row(vec![]);
        m.push_row(vec![(0, 4.0)]);
        assert_eq!(m.rows(), 3);
        assert_eq!(m.row(0), (&[1u32, 3][..], &[2.0f32, 1.5][..]));
        assert_eq!(m.row(1).0.len(), 0);
        let cols = m.to_columns();
        assert_eq!(cols[0], vec![(2, 4.0)]);
        assert_eq!(cols[3], vec![(0, 1.5)]);
    }
}
