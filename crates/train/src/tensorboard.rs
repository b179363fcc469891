//! TensorBoard event files (`train.report_to = ["tensorboard"]`): the history lines of a run
//! as scalars, written while it trains, so `tensorboard --logdir <artifacts>/train` shows
//! the curves live, as with HF `Trainer`'s `report_to="tensorboard"`.
//!
//! The format is TensorBoard's own, written without TensorFlow: a TFRecord file (each record:
//! length as u64 LE, masked CRC-32C of the length, the bytes, masked CRC-32C of the bytes) of
//! `tensorflow.Event` protocol buffers. The first event holds `file_version = "brain.Event:2"`;
//! each later one a step, a wall time and a `Summary` of `simple_value` scalars. Only the
//! handful of protobuf fields those need are encoded here (field numbers from TensorBoard's
//! `event.proto` and `summary.proto`).
//!
//! Tags ([`scalars`]): a training line gives `train/loss`, `train/learning_rate`,
//! `train/grad_norm`, `train/tokens_per_s` and `train/epoch`; an evaluation line gives
//! `eval/score` (the selection metric), `train/score` (the same metric on the training
//! sample) and every fractional metric of the dev metrics JSON under `eval/` with its dotted
//! path (`eval/entity/micro/f1`, `eval/accuracy`, …); counts (supports, sentences) are left
//! out. Values are `float32`, as in every TensorBoard scalar.
//!
//! A resumed run starts a new event file next to the first; TensorBoard merges the files of a
//! directory, and steps between the resumed checkpoint and the kill appear twice (HF does the
//! same).
//!
//! [`read_scalars`] reads such files back (checking both CRCs): the tests compare it with
//! `history.jsonl`, and a fixture made with TensorBoard's own reader
//! (`scripts/fixtures/tensorboard/make_tensorboard_fixture.py`) pins the format.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, TrainError};

/// The directory of the event files inside a train artifact.
pub const DIR: &str = "tensorboard";

/// One scalar of an event file.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The optimizer step.
    pub step: u64,
    /// The tag (`train/loss`, `eval/score`, …).
    pub tag: String,
    /// The value, as TensorBoard stores it.
    pub value: f32,
}

/// Writes the scalars of history lines into one event file, flushed after each line so a
/// running TensorBoard sees them.
#[derive(Debug)]
pub struct EventWriter {
    path: PathBuf,
    file: std::io::BufWriter<fs_err::File>,
}

impl EventWriter {
    /// Creates `dir/events.out.tfevents.<seconds>.bertflow.<pid>` and writes its version
    /// event at `wall` (seconds since the Unix epoch).
    pub fn create(dir: &Path, wall: f64) -> Result<Self> {
        fs_err::create_dir_all(dir)?;
        let name = format!(
            "events.out.tfevents.{}.bertflow.{}",
            wall.floor() as u64,
            std::process::id()
        );
        Self::create_at(dir.join(name), wall)
    }

    /// Creates the event file `path` (its directory must exist) and writes its version event.
    pub fn create_at(path: PathBuf, wall: f64) -> Result<Self> {
        let file = std::io::BufWriter::new(fs_err::File::create(&path)?);
        let mut writer = Self { path, file };
        let mut event = Vec::new();
        put_f64(&mut event, 1, wall);
        put_bytes(&mut event, 3, b"brain.Event:2");
        writer.record(&event)?;
        Ok(writer)
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the scalars of one history line (nothing when it has none) at `wall`.
    pub fn line(&mut self, line: &serde_json::Value, wall: f64) -> Result<()> {
        let values = scalars(line);
        let Some(step) = line.get("step").and_then(|s| s.as_u64()) else {
            return Ok(());
        };
        if values.is_empty() {
            return Ok(());
        }
        let mut summary = Vec::new();
        for (tag, value) in &values {
            let mut v = Vec::new();
            put_bytes(&mut v, 1, tag.as_bytes());
            put_f32(&mut v, 2, *value as f32);
            put_bytes(&mut summary, 1, &v);
        }
        let mut event = Vec::new();
        put_f64(&mut event, 1, wall);
        put_varint_field(&mut event, 2, step);
        put_bytes(&mut event, 5, &summary);
        self.record(&event)
    }

    /// One TFRecord: length, its masked CRC, the bytes, their masked CRC; then a flush.
    fn record(&mut self, data: &[u8]) -> Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        self.file.write_all(&len)?;
        self.file.write_all(&masked_crc(&len).to_le_bytes())?;
        self.file.write_all(data)?;
        self.file.write_all(&masked_crc(data).to_le_bytes())?;
        self.file.flush()?;
        Ok(())
    }
}

/// The event file of a run in progress: written where the run works (the stage's work
/// directory, stable while it trains, so TensorBoard can watch it), moved into the output
/// directory at the end.
#[derive(Debug)]
pub struct Board {
    writer: EventWriter,
    dir: PathBuf,
    final_dir: PathBuf,
}

impl Board {
    /// Starts a new event file in `root/tensorboard` (files of earlier, interrupted runs of the
    /// same work directory stay beside it).
    pub fn start(root: &Path, out_dir: &Path) -> Result<Self> {
        let dir = root.join(DIR);
        let wall = now();
        let writer = EventWriter::create(&dir, wall)?;
        tracing::info!(
            "TensorBoard events in {} (watch with `tensorboard --logdir {}`)",
            writer.path().display(),
            dir.display()
        );
        Ok(Self {
            writer,
            dir,
            final_dir: out_dir.join(DIR),
        })
    }

    /// Writes the scalars of a history line, now.
    pub fn line(&mut self, line: &serde_json::Value) -> Result<()> {
        self.writer.line(line, now())
    }

    /// Closes the file and moves the event files into the output directory.
    pub fn finish(self) -> Result<()> {
        let Self {
            writer,
            dir,
            final_dir,
        } = self;
        drop(writer);
        if dir != final_dir {
            if final_dir.exists() {
                fs_err::remove_dir_all(&final_dir)?;
            }
            if let Some(parent) = final_dir.parent() {
                fs_err::create_dir_all(parent)?;
            }
            fs_err::rename(&dir, &final_dir)?;
        }
        Ok(())
    }
}

/// Seconds since the Unix epoch.
fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The scalars of a history line, by tag (see the module documentation for the names).
pub fn scalars(line: &serde_json::Value) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let Some(map) = line.as_object() else {
        return out;
    };
    if map.contains_key("dev_score") {
        if let Some(v) = map.get("dev_score").and_then(|v| v.as_f64()) {
            out.push(("eval/score".to_string(), v));
        }
        if let Some(v) = map.get("train_score").and_then(|v| v.as_f64()) {
            out.push(("train/score".to_string(), v));
        }
        if let Some(dev) = map.get("dev") {
            flatten("eval", dev, &mut out);
        }
    } else {
        for (key, tag) in [
            ("loss", "train/loss"),
            ("lr", "train/learning_rate"),
            ("grad_norm", "train/grad_norm"),
            ("tokens_per_s", "train/tokens_per_s"),
            ("epoch", "train/epoch"),
        ] {
            if let Some(v) = map.get(key).and_then(|v| v.as_f64()) {
                out.push((tag.to_string(), v));
            }
        }
    }
    out
}

/// The fractional numbers under `value` as `prefix/a/b` tags; integers (counts) are skipped.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, f64)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                flatten(&format!("{prefix}/{key}"), v, out);
            }
        }
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(v) = n.as_f64() {
                out.push((prefix.to_string(), v));
            }
        }
        _ => {}
    }
}

/// The scalars of every event file directly inside `dir`, in file-name order (the creation
/// time is in the name), then record order.
pub fn read_dir_scalars(dir: &Path) -> Result<Vec<Scalar>> {
    let mut files: Vec<PathBuf> = fs_err::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("events.out.tfevents."))
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        out.extend(read_scalars(&f)?);
    }
    Ok(out)
}

/// The scalars of one event file; an error names the file, the byte offset and what was wrong
/// (a truncated record, a CRC mismatch, a malformed event).
pub fn read_scalars(path: &Path) -> Result<Vec<Scalar>> {
    let bytes = fs_err::read(path)?;
    let bad = |offset: usize, message: &str| TrainError::Data {
        place: format!("{} at byte {offset}", path.display()),
        message: format!("not a TensorBoard event file: {message}"),
    };
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let header = bytes
            .get(at..at + 12)
            .ok_or_else(|| bad(at, "truncated record header"))?;
        let len = u64::from_le_bytes(header[..8].try_into().unwrap_or_default()) as usize;
        if u32::from_le_bytes(header[8..12].try_into().unwrap_or_default())
            != masked_crc(&header[..8])
        {
            return Err(bad(at, "length CRC mismatch"));
        }
        let data = bytes
            .get(at + 12..at + 12 + len)
            .ok_or_else(|| bad(at, "truncated record"))?;
        let crc = bytes
            .get(at + 12 + len..at + 16 + len)
            .ok_or_else(|| bad(at, "truncated record CRC"))?;
        if u32::from_le_bytes(crc.try_into().unwrap_or_default()) != masked_crc(data) {
            return Err(bad(at, "data CRC mismatch"));
        }
        event_scalars(data, &mut out).ok_or_else(|| bad(at, "malformed event"))?;
        at += 16 + len;
    }
    Ok(out)
}

/// Appends the `simple_value` scalars of one `Event` (none for the version event).
fn event_scalars(event: &[u8], out: &mut Vec<Scalar>) -> Option<()> {
    let mut step = 0;
    let mut summaries = Vec::new();
    for (field, value) in Fields::new(event) {
        match (field?, value) {
            (2, Field::Varint(s)) => step = s,
            (5, Field::Bytes(b)) => summaries.push(b),
            _ => {}
        }
    }
    for summary in summaries {
        for (field, value) in Fields::new(summary) {
            let (1, Field::Bytes(v)) = (field?, value) else {
                continue;
            };
            let (mut tag, mut number) = (None, None);
            for (field, value) in Fields::new(v) {
                match (field?, value) {
                    (1, Field::Bytes(t)) => tag = Some(String::from_utf8(t.to_vec()).ok()?),
                    (2, Field::Fixed32(x)) => number = Some(f32::from_le_bytes(x)),
                    _ => {}
                }
            }
            if let (Some(tag), Some(value)) = (tag, number) {
                out.push(Scalar { step, tag, value });
            }
        }
    }
    Some(())
}

/// A protobuf field's value (the wire types used here).
enum Field<'a> {
    Varint(u64),
    Fixed64,
    Fixed32([u8; 4]),
    Bytes(&'a [u8]),
}

/// The fields of a protobuf message: `(Some(number), value)`, or `(None, _)` once at the
/// first malformed byte (and nothing after it).
struct Fields<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            failed: false,
        }
    }

    fn next_field(&mut self) -> Option<(u64, Field<'a>)> {
        let key = varint(&mut self.rest)?;
        let value = match key & 7 {
            0 => Field::Varint(varint(&mut self.rest)?),
            1 => {
                self.rest = self.rest.get(8..)?;
                Field::Fixed64
            }
            2 => {
                let len = varint(&mut self.rest)? as usize;
                let b = self.rest.get(..len)?;
                self.rest = &self.rest[len..];
                Field::Bytes(b)
            }
            5 => {
                let b: [u8; 4] = self.rest.get(..4)?.try_into().ok()?;
                self.rest = &self.rest[4..];
                Field::Fixed32(b)
            }
            _ => return None,
        };
        Some((key >> 3, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (Option<u64>, Field<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match self.next_field() {
            Some((n, v)) => Some((Some(n), v)),
            None => {
                self.failed = true;
                Some((None, Field::Fixed64))
            }
        }
    }
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    put_varint(out, field << 3);
    put_varint(out, v);
}

fn put_f64(out: &mut Vec<u8>, field: u64, v: f64) {
    put_varint(out, (field << 3) | 1);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_f32(out: &mut Vec<u8>, field: u64, v: f32) {
    put_varint(out, (field << 3) | 5);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), masked as TFRecord masks it.
fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    (crc.rotate_right(15)).wrapping_add(0xa282_ead8)
}

fn crc32c(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0x82F6_3B78 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crc32c_matches_the_published_check_value() {
        // RFC 3720 / the CRC catalogue: CRC-32C of "123456789" is 0xE3069283.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    }

    #[test]
    fn lines_round_trip_through_an_event_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path(), 1_700_000_000.5).unwrap();
        let train = json!({"step": 20, "epoch": 0.19, "loss": 1.25, "lr": 2.5e-6,
            "grad_norm": 4.5, "tokens_per_s": 918.0});
        let eval = json!({"step": 40, "epoch": 0.38, "dev_metric": "primary", "dev_score": 0.5,
            "train_score": 0.75, "train_examples": 821,
            "dev": {"accuracy": 0.5, "macro": {"f1": 0.25, "support": 9}, "task": "sequence"}});
        w.line(&train, 1_700_000_001.0).unwrap();
        w.line(&eval, 1_700_000_002.0).unwrap();
        let got = read_dir_scalars(dir.path()).unwrap();
        let tags: Vec<(u64, &str, f32)> = got
            .iter()
            .map(|s| (s.step, s.tag.as_str(), s.value))
            .collect();
        assert_eq!(
            tags,
            vec![
                (20, "train/loss", 1.25),
                (20, "train/learning_rate", 2.5e-6),
                (20, "train/grad_norm", 4.5),
                (20, "train/tokens_per_s", 918.0),
                (20, "train/epoch", 0.19),
                (40, "eval/score", 0.5),
                (40, "train/score", 0.75),
                (40, "eval/accuracy", 0.5),
                (40, "eval/macro/f1", 0.25),
            ]
        );
    }

    #[test]
    fn a_damaged_file_is_refused_with_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path(), 1.0).unwrap();
        w.line(&json!({"step": 1, "loss": 0.5}), 2.0).unwrap();
        let path = w.path().to_path_buf();
        drop(w);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 6;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let err = read_scalars(&path).unwrap_err().to_string();
        assert!(
            err.contains("CRC mismatch") && err.contains("at byte"),
            "{err}"
        );
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&path, &bytes).unwrap();
        let err = read_scalars(&path).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
