//! Content hashes of files and directories, and stable fingerprints of JSON values.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::Result;

/// Hex SHA-256 of a file's bytes, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Hex SHA-256 of bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Every regular file under `dir`, sorted, as paths relative to `dir`. Hidden entries (names
/// starting with `.`) are skipped: they are lock and scratch files, not content.
pub fn list_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    walk(dir, Path::new(""), &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs_err::read_dir(root.join(rel))? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let child = rel.join(&name);
        let ty = entry.file_type()?;
        if ty.is_dir() {
            walk(root, &child, out)?;
        } else if ty.is_file() || (ty.is_symlink() && root.join(&child).is_file()) {
            out.push(child);
        }
    }
    Ok(())
}

/// Content hash of a raw input: a file's SHA-256, or for a directory the hash of the sorted
/// `(relative path, file hash)` list, so renaming or editing any file changes it.
pub fn sha256_path(path: &Path) -> Result<String> {
    if path.is_dir() {
        let mut hasher = Sha256::new();
        for rel in list_files(path)? {
            hasher.update(rel.to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update(sha256_file(&path.join(&rel))?.as_bytes());
            hasher.update([0]);
        }
        Ok(hex::encode(hasher.finalize()))
    } else {
        sha256_file(path)
    }
}

/// Canonical JSON: object keys sorted (serde_json's default map is ordered), no whitespace.
pub fn canonical_json(value: &serde_json::Value) -> String {
    fn sort(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let mut sorted: Vec<_> = map.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                serde_json::Value::Object(
                    sorted
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sort(v)))
                        .collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(sort).collect())
            }
            other => other.clone(),
        }
    }
    sort(value).to_string()
}

/// A 16-hex-digit fingerprint of a JSON value (the first 64 bits of its canonical SHA-256).
pub fn fingerprint(value: &serde_json::Value) -> String {
    sha256_bytes(canonical_json(value).as_bytes())[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_key_order() {
        let a = serde_json::json!({"b": 1, "a": {"y": 2, "x": [1, 2]}});
        let b = serde_json::json!({"a": {"x": [1, 2], "y": 2}, "b": 1});
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let c = serde_json::json!({"a": {"x": [2, 1], "y": 2}, "b": 1});
        assert_ne!(fingerprint(&a), fingerprint(&c));
    }

    #[test]
    fn directory_hash_sees_edits_and_renames() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("a.txt"), "hello").unwrap();
        let h1 = sha256_path(dir.path()).unwrap();
        fs_err::write(dir.path().join("a.txt"), "hellO").unwrap();
        let h2 = sha256_path(dir.path()).unwrap();
        fs_err::rename(dir.path().join("a.txt"), dir.path().join("b.txt")).unwrap();
        let h3 = sha256_path(dir.path()).unwrap();
        assert_ne!(h1, h2);
        assert_ne!(h2, h3);
    }
}
