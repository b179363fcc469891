//! Fixture access and tensor comparison helpers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bert::Inputs;
use safetensors::{Dtype, SafeTensors};
use tch::{Kind, Tensor};

/// `crates/bert/tests/fixtures`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `models/all-MiniLM-L6-v2`, or a panic saying how to get it.
pub fn minilm() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").is_file(),
        "{} is missing: run `make setup` (scripts/setup.sh) to unpack the pretrained model",
        dir.display()
    );
    dir
}

/// Every tensor of a safetensors file, by name.
pub fn read_tensors(path: &Path) -> HashMap<String, Tensor> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.iter()
        .map(|(name, view)| {
            let kind = match view.dtype() {
                Dtype::F32 => Kind::Float,
                Dtype::I64 => Kind::Int64,
                Dtype::BF16 => Kind::BFloat16,
                other => panic!("{name}: unexpected dtype {other:?}"),
            };
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            (
                name.to_string(),
                Tensor::from_data_size(view.data(), &shape, kind),
            )
        })
        .collect()
}

/// The model inputs stored in a fixture.
pub fn inputs(t: &HashMap<String, Tensor>) -> Inputs {
    Inputs {
        input_ids: t["input_ids"].shallow_clone(),
        attention_mask: t["attention_mask"].shallow_clone(),
        token_type_ids: t["token_type_ids"].shallow_clone(),
    }
}

/// max |a - b|, after checking the shapes agree.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    (a - b).abs().max().double_value(&[])
}

/// ||a - b|| / ||b||.
pub fn rel_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    (a - b).norm().double_value(&[]) / b.norm().double_value(&[])
}
