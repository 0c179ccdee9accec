//! The user-item interaction matrix: dense id maps and CSR by user and by item.

/// A dense, deterministic map from external `i64` ids to `0..n` (sorted by id) and back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap {
    ids: Vec<i64>,
}

impl IdMap {
    /// Builds the map from any ids (duplicates allowed); index `i` is the `i`-th smallest id.
    pub fn from_ids(ids: impl IntoIterator<Item = i64>) -> Self {
        let mut ids: Vec<i64> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        assert!(ids.len() <= u32::MAX as usize, "too many ids for u32 indices");
        Self { ids }
    }

    /// The dense index of `id`, if it is known.
    pub fn index(&self, id: i64) -> Option<u32> {
        self.ids.binary_search(&id).ok().map(|i| i as u32)
    }

    /// The external id of dense index `index` (panics when out of range).
    pub fn id(&self, index: u32) -> i64 {
        self.ids[index as usize]
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// All ids, ascending (position = index).
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }
}

/// A compressed sparse row matrix with `u32` column indices (ascending within a row) and `f32` values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Csr {
    n_rows: usize,
    n_cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    data: Vec<f32>,
}

impl Csr {
    /// Builds from `(row, col, value)` triples in any order: duplicates are summed, and entries
    /// whose summed value is not `> 0` are dropped (implicit feedback has no negative listens).
    /// Panics if a triple is out of range.
    pub fn from_triples(n_rows: usize, n_cols: usize, triples: &[(u32, u32, f32)]) -> Self {
        // Counting sort by row, then sort each row by column: O(nnz log row_len), deterministic.
        let mut counts = vec![0usize; n_rows + 1];
        for &(r, c, _) in triples {
            assert!((r as usize) < n_rows && (c as usize) < n_cols, "triple ({r}, {c}) out of range");
            counts[r as usize + 1] += 1;
        }
        for i in 0..n_rows {
            counts[i + 1] += counts[i];
        }
        let mut next = counts.clone();
        let mut cells = vec![(0u32, 0f32); triples.len()];
        for &(r, c, v) in triples {
            let slot = &mut next[r as usize];
            cells[*slot] = (c, v);
            *slot += 1;
        }
        let mut indptr = Vec::with_capacity(n_rows + 1);
        let mut indices = Vec::with_capacity(triples.len());
        let mut data = Vec::with_capacity(triples.len());
        indptr.push(0);
        for r in 0..n_rows {
            let row = &mut cells[counts[r]..counts[r + 1]];
            // Stable, so duplicates are summed in input order: bit-reproducible for a given input.
            row.sort_by_key(|&(c, _)| c);
            let mut i = 0;
            while i < row.len() {
                let (c, mut v) = row[i];
                i += 1;
                while i < row.len() && row[i].0 == c {
                    v += row[i].1;
                    i += 1;
                }
                if v > 0.0 {
                    indices.push(c);
                    data.push(v);
                }
            }
            indptr.push(indices.len());
        }
        Self { n_rows, n_cols, indptr, indices, data }
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Number of stored (non-zero) entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Row `r` as (column indices ascending, values).
    #[inline]
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[a..b], &self.data[a..b])
    }

    /// Number of entries in row `r`.
    #[inline]
    pub fn row_len(&self, r: usize) -> usize {
        self.indptr[r + 1] - self.indptr[r]
    }

    /// Whether `(r, c)` is stored (binary search within the row).
    pub fn contains(&self, r: usize, c: u32) -> bool {
        self.row(r).0.binary_search(&c).is_ok()
    }

    /// The transpose (CSR by column), columns of each output row ascending.
    pub fn transpose(&self) -> Csr {
        let mut indptr = vec![0usize; self.n_cols + 1];
        for &c in &self.indices {
            indptr[c as usize + 1] += 1;
        }
        for i in 0..self.n_cols {
            indptr[i + 1] += indptr[i];
        }
        let mut next = indptr.clone();
        let mut indices = vec![0u32; self.nnz()];
        let mut data = vec![0f32; self.nnz()];
        // Rows are visited in ascending order, so each output row comes out sorted.
        for r in 0..self.n_rows {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let slot = &mut next[c as usize];
                indices[*slot] = r as u32;
                data[*slot] = v;
                *slot += 1;
            }
        }
        Csr { n_rows: self.n_cols, n_cols: self.n_rows, indptr, indices, data }
    }
}

/// A user x item interaction matrix held both ways: by user (for user solves, exclusion of listened
/// items) and by item (for item solves, item popularity).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interactions {
    pub by_user: Csr,
    pub by_item: Csr,
}

impl Interactions {
    /// From `(user index, item index, weight)` triples; duplicates summed (see [`Csr::from_triples`]).
    pub fn from_triples(n_users: usize, n_items: usize, triples: &[(u32, u32, f32)]) -> Self {
        let by_user = Csr::from_triples(n_users, n_items, triples);
        let by_item = by_user.transpose();
        Self { by_user, by_item }
    }

    pub fn n_users(&self) -> usize {
        self.by_user.n_rows()
    }

    pub fn n_items(&self) -> usize {
        self.by_user.n_cols()
    }

    pub fn nnz(&self) -> usize {
        self.by_user.nnz()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_map_is_sorted_and_round_trips() {
        let m = IdMap::from_ids([30, -5, 30, 7]);
        assert_eq!(m.ids(), &[-5, 7, 30]);
        assert_eq!(m.index(7), Some(1));
        assert_eq!(m.index(8), None);
        assert_eq!(m.id(2), 30);
    }

    #[test]
    fn csr_sums_duplicates_drops_non_positive_and_transposes() {
        let t = [(1, 2, 1.0), (0, 1, 2.0), (1, 0, 3.0), (1, 2, 0.5), (0, 0, -1.0), (2, 1, 1.0)];
        let x = Interactions::from_triples(3, 3, &t);
        assert_eq!(x.by_user.row(0), (&[1u32][..], &[2.0f32][..]));
        assert_eq!(x.by_user.row(1), (&[0u32, 2][..], &[3.0f32, 1.5][..]));
        assert_eq!(x.nnz(), 4);
        assert_eq!(x.by_item.row(1), (&[0u32, 2][..], &[2.0f32, 1.0][..]));
        assert_eq!(x.by_item.row(2), (&[1u32][..], &[1.5f32][..]));
        assert_eq!(x.by_item.transpose(), x.by_user);
        assert!(x.by_user.contains(1, 2) && !x.by_user.contains(2, 2));
    }
}
