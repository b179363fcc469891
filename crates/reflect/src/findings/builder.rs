//! The [`Builder`] the generic rules push their findings into: the analysis they read and the
//! predictions file their evidence rows point into.

use super::types::{Evidence, Finding};
use crate::analysis::Analysis;

/// The findings of one analysis as the rules derive them, before ranking.
pub(super) struct Builder<'a> {
    /// The analysis the rules read.
    pub(super) a: &'a Analysis,
    /// The evaluated predictions file's name, which evidence rows point into.
    pub(super) file: String,
    /// The findings so far, in the order the rules pushed them.
    pub(super) out: Vec<Finding>,
}

impl Builder<'_> {
    /// Adds a finding.
    pub(super) fn push(&mut self, f: Finding) {
        self.out.push(f);
    }

    /// Evidence rows for example ids of the predictions file.
    pub(super) fn ids(&self, ids: &[String]) -> Vec<Evidence> {
        ids.iter()
            .map(|id| Evidence {
                file: self.file.clone(),
                id: id.clone(),
                word: None,
            })
            .collect()
    }
}
