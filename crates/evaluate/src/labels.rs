//! Matching a checkpoint's labels (`id2label` of its `config.json`) with the data's
//! (`labels.json`): the same set in another order is mapped by name, anything else is an
//! error listing the differences. The one exception is the out-of-scope label of an
//! evaluation (CLINC150's `oos`): a checkpoint trained without it still scores data that holds
//! it, giving it probability 0, so only a rejection threshold can decide it.

use crate::error::{EvaluateError, Result};
use infer::WindowOutput;

/// Index in [`reconcile`]'s result of a data label the checkpoint lacks (probability 0).
pub const ABSENT: usize = usize::MAX;

/// For every data label (in data order), the index of the same label in the checkpoint's
/// output, or [`ABSENT`] for `absent_ok` (the out-of-scope label) when the checkpoint lacks it.
/// `checkpoint_place` / `data_place` name the sources in the error.
pub fn reconcile(
    checkpoint: &[String],
    data: &[String],
    checkpoint_place: &str,
    data_place: &str,
    absent_ok: Option<&str>,
) -> Result<Vec<usize>> {
    let only_checkpoint: Vec<String> = checkpoint
        .iter()
        .filter(|l| !data.contains(l))
        .cloned()
        .collect();
    let only_data: Vec<String> = data
        .iter()
        .filter(|l| !checkpoint.contains(l) && Some(l.as_str()) != absent_ok)
        .cloned()
        .collect();
    let absent = data
        .iter()
        .filter(|l| Some(l.as_str()) == absent_ok && !checkpoint.contains(l))
        .count();
    if !only_checkpoint.is_empty()
        || !only_data.is_empty()
        || checkpoint.len() + absent != data.len()
    {
        return Err(EvaluateError::LabelMismatch {
            checkpoint: checkpoint_place.to_owned(),
            data: data_place.to_owned(),
            only_checkpoint,
            only_data,
        });
    }
    let perm: Vec<usize> = data
        .iter()
        .map(|l| checkpoint.iter().position(|c| c == l).unwrap_or(ABSENT))
        .collect();
    if absent > 0 {
        tracing::info!(
            label = absent_ok.unwrap_or_default(),
            "the checkpoint has no out-of-scope label: its probability is 0, only the rejection threshold decides it"
        );
    }
    if perm.iter().enumerate().any(|(i, &p)| i != p) {
        tracing::info!(
            checkpoint = ?checkpoint,
            data = ?data,
            "the checkpoint orders its labels differently; mapping by name"
        );
    }
    Ok(perm)
}

/// Whether `perm` (from [`reconcile`]) leaves every label where it is.
pub fn is_identity(perm: &[usize]) -> bool {
    perm.iter().enumerate().all(|(i, &p)| i == p)
}

/// Reorders every probability row from checkpoint order into data order.
pub fn reorder(outputs: &mut [WindowOutput], perm: &[usize]) {
    if is_identity(perm) {
        return;
    }
    for out in outputs {
        for row in &mut out.probs {
            let old = std::mem::take(row);
            *row = perm
                .iter()
                .map(|&p| match p {
                    ABSENT => 0.0,
                    p => old.get(p).copied().unwrap_or(f32::NAN),
                })
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn same_set_other_order_maps_by_name() {
        let perm = reconcile(
            &s(&["B-PER", "O", "I-PER"]),
            &s(&["O", "B-PER", "I-PER"]),
            "c",
            "d",
            None,
        )
        .unwrap();
        assert_eq!(perm, [1, 0, 2]);
        let mut outs = vec![WindowOutput {
            words: vec![0],
            probs: vec![vec![0.2, 0.7, 0.1]],
        }];
        reorder(&mut outs, &perm);
        assert_eq!(outs[0].probs[0], [0.7, 0.2, 0.1]);
    }

    #[test]
    fn an_out_of_scope_label_the_checkpoint_lacks_gets_probability_zero() {
        let data = s(&["a", "b", "oos"]);
        let perm = reconcile(&s(&["b", "a"]), &data, "c", "d", Some("oos")).unwrap();
        assert_eq!(perm, [1, 0, ABSENT]);
        let mut outs = vec![WindowOutput {
            words: vec![0],
            probs: vec![vec![0.3, 0.7]],
        }];
        reorder(&mut outs, &perm);
        assert_eq!(outs[0].probs[0], [0.7, 0.3, 0.0]);
        // Any other missing label is still an error, and so is `oos` without the exception.
        assert!(reconcile(&s(&["a"]), &data, "c", "d", Some("oos")).is_err());
        assert!(reconcile(&s(&["a", "b"]), &data, "c", "d", None).is_err());
    }

    #[test]
    fn different_sets_list_the_differences() {
        let err = reconcile(
            &s(&["O", "B-PER"]),
            &s(&["O", "B-LOC", "I-LOC"]),
            "ckpt/config.json",
            "labels.json",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("only in the checkpoint: [\"B-PER\"]"), "{err}");
        assert!(
            err.contains("only in the data: [\"B-LOC\", \"I-LOC\"]"),
            "{err}"
        );
        assert!(
            err.contains("ckpt/config.json") && err.contains("labels.json"),
            "{err}"
        );
    }
}
