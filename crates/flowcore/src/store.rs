//! The versioned on-disk artifact store.
//!
//! ```text
//! <root>/<pipeline>/<stage>/<fingerprint>/manifest.json + files   one immutable stage run
//! <root>/<pipeline>/<stage>/latest                                newest complete fingerprint
//! <root>/<pipeline>/<stage>/.lock                                 held while a run writes
//! <root>/<pipeline>/<stage>/.tmp-<fingerprint>-<pid>-<nanos>/     a run in progress
//! <root>/<pipeline>/<stage>/.work-<fingerprint>/                   what a re-run resumes from
//! ```
//! A run writes into a `.tmp-*` sibling and renames it into place when complete, so a killed
//! run leaves no directory under its fingerprint; leftovers are removed by the next run that
//! holds the lock. Readers verify the layout version and every file's size and SHA-256.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::hash::{list_files, sha256_file};
use crate::{CoreError, Result};

/// Version of the directory layout and manifest format. Bump on incompatible changes.
pub const LAYOUT_VERSION: u32 = 1;
/// Name of the manifest inside an artifact directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Name of the pointer file naming the newest complete fingerprint of a stage.
pub const LATEST_FILE: &str = "latest";

/// An input artifact a run read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRef {
    /// The upstream stage instance.
    pub stage: String,
    /// Its fingerprint.
    pub fingerprint: String,
}

/// A raw input file (or directory) and its content hash, taken before the stage ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawInput {
    /// Path as given in the params.
    pub path: PathBuf,
    /// SHA-256 of the content (see [`crate::hash::sha256_path`]).
    pub sha256: String,
}

/// One file of an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the artifact directory, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content.
    pub sha256: String,
    /// Row count, for tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

/// A short description of the machine that produced an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    /// Host name.
    pub hostname: String,
    /// Operating system and architecture.
    pub os: String,
    /// Logical CPUs.
    pub cpus: usize,
}

impl Host {
    /// The current machine.
    pub fn current() -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Self {
            hostname,
            os: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// `manifest.json`: what made an artifact, from what, and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`LAYOUT_VERSION`] at write time.
    pub layout_version: u32,
    /// Stage instance name (the key in the pipeline file).
    pub stage: String,
    /// Stage kind (which implementation ran).
    pub kind: String,
    /// The stage's output format version.
    pub stage_version: u32,
    /// Fingerprint = directory name.
    pub fingerprint: String,
    /// Resolved params.
    pub params: serde_json::Value,
    /// Upstream artifacts.
    pub inputs: Vec<InputRef>,
    /// Raw files read, with their content hashes.
    pub raw_inputs: Vec<RawInput>,
    /// Every file in the artifact.
    pub files: Vec<FileEntry>,
    /// Start time, RFC 3339.
    pub started: String,
    /// End time, RFC 3339.
    pub finished: String,
    /// Wall time of the run in seconds.
    pub duration_s: f64,
    /// Version of the tool that wrote it.
    pub tool_version: String,
    /// The machine.
    pub host: Host,
    /// Stage metrics (row accounting, scores, timings).
    pub metrics: serde_json::Value,
}

impl Manifest {
    /// Read and check the layout version of `<dir>/manifest.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = fs_err::read_to_string(&path)?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| CoreError::Json {
                path: path.clone(),
                source,
            })?;
        let found = value
            .get("layout_version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0) as u32;
        if found != LAYOUT_VERSION {
            return Err(CoreError::LayoutVersion {
                path,
                found,
                expected: LAYOUT_VERSION,
            });
        }
        serde_json::from_value(value).map_err(|source| CoreError::Json { path, source })
    }

    /// The file entry for a relative path.
    pub fn file(&self, rel: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.path == rel)
    }
}

/// A committed, verified artifact directory.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl Artifact {
    /// Open an artifact directory and verify every file's size and hash.
    pub fn open(dir: &Path) -> Result<Self> {
        let artifact = Self::open_unverified(dir)?;
        artifact.verify()?;
        Ok(artifact)
    }

    /// Open an artifact directory checking only the manifest's layout version.
    pub fn open_unverified(dir: &Path) -> Result<Self> {
        let manifest = Manifest::read(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// Check that every listed file exists with the recorded size and SHA-256.
    pub fn verify(&self) -> Result<()> {
        for entry in &self.manifest.files {
            let path = self.dir.join(&entry.path);
            let meta = std::fs::metadata(&path).map_err(|e| CoreError::Integrity {
                path: path.clone(),
                what: format!("listed in the manifest but cannot be read: {e}"),
                dir: self.dir.clone(),
            })?;
            if meta.len() != entry.bytes {
                return Err(CoreError::Integrity {
                    path,
                    what: format!(
                        "size is {} bytes, manifest says {}",
                        meta.len(),
                        entry.bytes
                    ),
                    dir: self.dir.clone(),
                });
            }
            let sha = sha256_file(&path)?;
            if sha != entry.sha256 {
                return Err(CoreError::Integrity {
                    path,
                    what: format!("SHA-256 is {sha}, manifest says {}", entry.sha256),
                    dir: self.dir.clone(),
                });
            }
        }
        Ok(())
    }

    /// Path of a file inside the artifact, checked to be listed in the manifest.
    pub fn file(&self, rel: &str) -> Result<PathBuf> {
        if self.manifest.file(rel).is_none() {
            return Err(CoreError::Integrity {
                path: self.dir.join(rel),
                what: format!(
                    "not part of this `{}` artifact (it holds: {})",
                    self.manifest.kind,
                    self.manifest
                        .files
                        .iter()
                        .map(|f| f.path.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                dir: self.dir.clone(),
            });
        }
        Ok(self.dir.join(rel))
    }

    /// Path of a sub-directory inside the artifact (e.g. a checkpoint), checked to hold files.
    pub fn subdir(&self, rel: &str) -> Result<PathBuf> {
        let prefix = format!("{}/", rel.trim_end_matches('/'));
        if !self
            .manifest
            .files
            .iter()
            .any(|f| f.path.starts_with(&prefix))
        {
            return Err(CoreError::Integrity {
                path: self.dir.join(rel),
                what: format!(
                    "no such directory in this `{}` artifact",
                    self.manifest.kind
                ),
                dir: self.dir.clone(),
            });
        }
        Ok(self.dir.join(rel))
    }

    /// Whether the artifact lists a file.
    pub fn has(&self, rel: &str) -> bool {
        self.manifest.file(rel).is_some()
    }
}

/// The store of one pipeline: `<root>/<pipeline>/`.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// An exclusive lock on one stage's directory, released on drop.
#[derive(Debug)]
pub struct StageLock {
    _file: std::fs::File,
}

impl Store {
    /// The store of `pipeline` under `root` (usually `artifacts/`).
    pub fn new(root: &Path, pipeline: &str) -> Self {
        Self {
            dir: root.join(pipeline),
        }
    }

    /// `<root>/<pipeline>`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<root>/<pipeline>/<stage>`.
    pub fn stage_dir(&self, stage: &str) -> PathBuf {
        self.dir.join(stage)
    }

    /// `<root>/<pipeline>/<stage>/<fingerprint>`.
    pub fn artifact_dir(&self, stage: &str, fingerprint: &str) -> PathBuf {
        self.stage_dir(stage).join(fingerprint)
    }

    /// Whether a complete artifact exists for this fingerprint.
    pub fn exists(&self, stage: &str, fingerprint: &str) -> bool {
        self.artifact_dir(stage, fingerprint)
            .join(MANIFEST_FILE)
            .is_file()
    }

    /// The fingerprint `latest` points to, if any.
    pub fn latest_fingerprint(&self, stage: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.stage_dir(stage).join(LATEST_FILE)).ok()?;
        let fp = text.trim().to_string();
        (!fp.is_empty()).then_some(fp)
    }

    /// The manifest of the latest artifact, if any (unverified: for status and diffs).
    pub fn latest_manifest(&self, stage: &str) -> Option<Manifest> {
        let fp = self.latest_fingerprint(stage)?;
        Manifest::read(&self.artifact_dir(stage, &fp)).ok()
    }

    /// Take the exclusive lock of a stage directory, waiting for another run to finish.
    pub fn lock(&self, stage: &str) -> Result<StageLock> {
        let dir = self.stage_dir(stage);
        fs_err::create_dir_all(&dir)?;
        let path = dir.join(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        if file.try_lock().is_err() {
            tracing::info!(stage, "another run holds {}; waiting", path.display());
            file.lock()
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        }
        Ok(StageLock { _file: file })
    }

    /// The work directory of a fingerprint: kept when a run fails or is killed (unlike its
    /// `.tmp-*` directory), so the next run of the same fingerprint can resume from what it
    /// holds; removed after a successful commit.
    pub fn work_dir(&self, stage: &str, fingerprint: &str) -> PathBuf {
        self.stage_dir(stage).join(format!(".work-{fingerprint}"))
    }

    /// Create a fresh temporary directory for a run of `stage` (hold the lock first), after
    /// removing leftovers of runs that died while writing.
    pub fn begin(&self, stage: &str, fingerprint: &str, _lock: &StageLock) -> Result<PathBuf> {
        let dir = self.stage_dir(stage);
        for entry in fs_err::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                tracing::warn!(
                    "removing {} left by an interrupted run",
                    entry.path().display()
                );
                fs_err::remove_dir_all(entry.path())?;
            }
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let tmp = dir.join(format!(".tmp-{fingerprint}-{}-{nanos}", std::process::id()));
        fs_err::create_dir_all(&tmp)?;
        Ok(tmp)
    }

    /// List the files written into `tmp`, write the manifest, and rename `tmp` into place as
    /// `<stage>/<fingerprint>`; then point `latest` at it. A previous artifact under the same
    /// fingerprint (a forced re-run) is replaced.
    pub fn commit(
        &self,
        tmp: &Path,
        mut manifest: Manifest,
        rows: &BTreeMap<String, u64>,
        _lock: &StageLock,
    ) -> Result<Artifact> {
        let mut files = Vec::new();
        for rel in list_files(tmp)? {
            let rel_str = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            if rel_str == MANIFEST_FILE {
                continue;
            }
            let path = tmp.join(&rel);
            let bytes = fs_err::metadata(&path)?.len();
            files.push(FileEntry {
                rows: rows.get(&rel_str).copied(),
                path: rel_str,
                bytes,
                sha256: sha256_file(&path)?,
            });
        }
        manifest.files = files;
        let text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| CoreError::Invalid(format!("manifest: {e}")))?;
        write_synced(&tmp.join(MANIFEST_FILE), text.as_bytes())?;

        let final_dir = self.artifact_dir(&manifest.stage, &manifest.fingerprint);
        if final_dir.exists() {
            let old = self.stage_dir(&manifest.stage).join(format!(
                ".tmp-replaced-{}-{}",
                manifest.fingerprint,
                std::process::id()
            ));
            fs_err::rename(&final_dir, &old)?;
            fs_err::rename(tmp, &final_dir)?;
            fs_err::remove_dir_all(&old)?;
        } else {
            fs_err::rename(tmp, &final_dir)?;
        }
        self.set_latest(&manifest.stage, &manifest.fingerprint)?;
        Ok(Artifact {
            dir: final_dir,
            manifest,
        })
    }

    /// Point `latest` at a fingerprint (atomically).
    pub fn set_latest(&self, stage: &str, fingerprint: &str) -> Result<()> {
        let dir = self.stage_dir(stage);
        let tmp = dir.join(format!(".latest-{}", std::process::id()));
        write_synced(&tmp, format!("{fingerprint}\n").as_bytes())?;
        fs_err::rename(&tmp, dir.join(LATEST_FILE))?;
        Ok(())
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = fs_err::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Current time as RFC 3339 (UTC).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
