//! Every analysis of the report, run on in-memory inputs (no IO here).
//!
//! [`analyze`] takes the evaluated split's predictions (plus, when available, dev predictions
//! for temperature fitting, a baseline's predictions, ingest context, probe predictions and the
//! train history) and returns an [`Analysis`]: numbers with intervals and the rows behind them.
//! [`crate::findings`] turns it into ranked findings; [`crate::report`] renders both.

use std::collections::{BTreeMap, HashMap, HashSet};

use flowcore::TaskKind;
use serde::{Deserialize, Serialize};

use crate::data::{Context, MetaColumn, Split};
use crate::error::{ReflectError, Result};
use crate::history::History;
use crate::ner::{self, EntityConfidence, Spans, Taxonomy};
use crate::scores::{Metric, Scorer};
use crate::stats::bootstrap::{Bootstrap, Interval, Paired, Units, ratio};
use crate::stats::calibration::{self, Binning, Reliability, Temperature};
use crate::stats::mcnemar::{McNemar, mcnemar_exact};

/// Knobs of the analyses (the stage's params, resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Calibration bins.
    pub bins: usize,
    /// Bootstrap settings.
    pub bootstrap: Bootstrap,
    /// Examples kept per error category.
    pub max_examples: usize,
    /// Suspect labels listed.
    pub suspects: usize,
    /// Slices with fewer examples are shown but never flagged.
    pub min_slice_support: usize,
    /// Resample documents instead of sentences when `doc_id` groups sentences.
    pub document_bootstrap: bool,
    /// How an entity's confidence is made from its words'.
    pub entity_confidence: EntityConfidence,
    /// Buckets per numeric slice family (length, OOV rate, numeric metadata).
    pub buckets: usize,
    /// Categorical metadata columns with more distinct values than this are skipped.
    pub max_categories: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            bins: 15,
            bootstrap: Bootstrap::default(),
            max_examples: 5,
            suspects: 50,
            min_slice_support: 30,
            document_bootstrap: true,
            entity_confidence: EntityConfidence::Mean,
            buckets: 4,
            max_categories: 20,
        }
    }
}

/// Everything the analyses read.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The evaluated split (usually test).
    pub split: Split,
    /// The split the temperature is fitted on (usually dev).
    pub fit: Option<Split>,
    /// A baseline's predictions on the same split.
    pub baseline: Option<Split>,
    /// Ingest context of the evaluated split (doc ids, words, metadata, train vocabulary).
    pub context: Option<Context>,
    /// Train-set support per entity type / class, for "collect more data" advice.
    pub train_support: BTreeMap<String, usize>,
    /// Predictions on perturbed copies of the split, named by probe.
    pub probes: Vec<Split>,
    /// The train history.
    pub history: Option<History>,
    /// Duplicates, label conflicts and train overlap that ingest found in the evaluated split.
    pub split_quality: Option<SplitQuality>,
}

/// What ingest found (and, by default, left in place) in the evaluated split: exact
/// duplicates, copies with another label, and texts that also occur in train.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitQuality {
    /// Whether ingest removed them (`clean_eval_splits`); by default it only reports them.
    pub cleaned: bool,
    /// Exact duplicates of an earlier example of the split.
    pub duplicates: u64,
    /// Copies whose label differs from the majority label of their text.
    pub conflicting: u64,
    /// Ids of some duplicates and conflicting copies.
    pub duplicate_ids: Vec<String>,
    /// Examples whose text also occurs in train.
    pub in_train: u64,
    /// Ids of some of them.
    pub in_train_ids: Vec<String>,
}

impl SplitQuality {
    /// Reads the counts for `split` from an ingest manifest's metrics; `None` when that
    /// ingest predates these counts.
    pub fn from_ingest_metrics(metrics: &serde_json::Value, split: &str) -> Option<Self> {
        let leakage = metrics.get("leakage")?;
        let in_train = leakage.get(format!("{split}_in_train"))?.as_u64()?;
        let ids = |v: Option<&serde_json::Value>| -> Vec<String> {
            v.and_then(serde_json::Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let count = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_u64);
        Some(Self {
            cleaned: metrics
                .get("eval_splits_cleaned")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            duplicates: count(metrics.pointer(&format!("/duplicates_found/{split}"))).unwrap_or(0),
            conflicting: count(metrics.pointer(&format!("/conflicts/losing_copies_found/{split}")))
                .unwrap_or(0),
            duplicate_ids: ids(metrics.pointer(&format!("/kept_duplicate_ids/{split}"))),
            in_train,
            in_train_ids: ids(leakage.get(format!("{split}_in_train_ids"))),
        })
    }
}

/// A metric with its interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricCi {
    /// Metric name.
    pub name: String,
    /// Value and bootstrap interval.
    pub ci: Interval,
}

/// Calibration at one level (word, entity or example).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationReport {
    /// `word`, `entity` or `example`.
    pub level: String,
    /// Items scored.
    pub items: usize,
    /// Equal-width ECE with bootstrap CI.
    pub ece: Interval,
    /// Equal-mass ECE.
    pub ece_mass: f64,
    /// Maximum calibration error (equal-width bins).
    pub mce: f64,
    /// Multi-class Brier score (not for entities).
    pub brier: Option<f64>,
    /// NLL (not for entities).
    pub nll: Option<f64>,
    /// Equal-width reliability bins.
    pub reliability: Reliability,
    /// The same after temperature scaling, when a temperature was fitted.
    pub after: Option<Box<CalibrationReport>>,
}

/// Significance against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Metric compared.
    pub metric: String,
    /// Paired bootstrap (model minus baseline).
    pub paired: Paired,
    /// Exact McNemar test on accuracy (sequence tasks).
    pub mcnemar: Option<McNemar>,
    /// Examples in both prediction sets.
    pub shared: usize,
    /// Examples of the model's split missing from the baseline's.
    pub missing: usize,
}

/// One slice of the evaluated split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slice {
    /// `length`, `oov`, `type` / `label`, or `meta:<column>`.
    pub family: String,
    /// Bucket or value.
    pub name: String,
    /// Metric name.
    pub metric: String,
    /// Examples in the slice.
    pub examples: usize,
    /// Gold entities / examples of the class (for type/label slices), else examples.
    pub support: usize,
    /// Value with CI.
    pub ci: Interval,
    /// Whether the CI lies wholly below the overall value (with enough support).
    pub flagged: bool,
    /// Ids of a few examples of the slice with errors.
    pub evidence: Vec<String>,
}

/// A candidate label error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suspect {
    /// Split.
    pub split: String,
    /// Example id.
    pub id: String,
    /// Word index (token tasks).
    pub word: Option<usize>,
    /// The word or a text excerpt.
    pub token: String,
    /// The sentence with the word in `[...]`.
    pub context: String,
    /// The label in the data.
    pub given: String,
    /// The label the model is confidently sure of.
    pub suggested: String,
    /// Probability of the given label.
    pub self_confidence: f64,
    /// Probability of the suggested label.
    pub suggested_prob: f64,
}

/// Flip rate of one robustness probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Probe name (`case`, `typo`, `entity_swap`, `punct`).
    pub name: String,
    /// Items compared (words or examples).
    pub items: usize,
    /// Fraction of items whose prediction changed, with CI.
    pub flip_rate: Interval,
    /// Fraction of examples with at least one changed prediction (token tasks), with CI.
    pub example_flip_rate: Option<Interval>,
    /// Primary metric clean vs probed (paired bootstrap, clean minus probe), over the
    /// examples the probe covers word for word.
    pub metric: Option<Paired>,
    /// Examples in that metric comparison.
    pub metric_examples: usize,
    /// Ids of a few examples whose predictions flipped.
    pub evidence: Vec<String>,
}

/// A confusion matrix.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// Row/column names (gold rows, predicted columns).
    pub labels: Vec<String>,
    /// `counts[gold][pred]`.
    pub counts: Vec<Vec<u64>>,
}

/// The results of every analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Task kind.
    pub task: TaskKind,
    /// Evaluated split.
    pub split: String,
    /// Examples (sentences or texts).
    pub examples: usize,
    /// Items (words or texts).
    pub items: usize,
    /// What the bootstrap resampled: `sentence`, `document` or `example`.
    pub unit: String,
    /// Resampled units.
    pub units: usize,
    /// Bootstrap settings used.
    pub bootstrap: Bootstrap,
    /// Headline metrics, primary first.
    pub headline: Vec<MetricCi>,
    /// Primary metric on the fitting split (dev), when given.
    pub fit_metric: Option<MetricCi>,
    /// Calibration of words / examples (with temperature scaling).
    pub calibration: Option<CalibrationReport>,
    /// Calibration of predicted entities (token tasks).
    pub entity_calibration: Option<CalibrationReport>,
    /// The fitted temperature.
    pub temperature: Option<Temperature>,
    /// Split the temperature was fitted on.
    pub temperature_split: Option<String>,
    /// Significance against the baseline.
    pub baseline: Option<Comparison>,
    /// Slices.
    pub slices: Vec<Slice>,
    /// Duplicates and train overlap of the evaluated split, as ingest reported them.
    #[serde(default)]
    pub split_quality: Option<SplitQuality>,
    /// NER error taxonomy.
    pub taxonomy: Option<Taxonomy>,
    /// Confusion matrix (entity types + `O` for token tasks).
    pub confusion: Confusion,
    /// Suspect labels, most suspicious first (at most `options.suspects`).
    pub suspects: Vec<Suspect>,
    /// All suspects found before truncation.
    pub suspects_total: usize,
    /// Items the suspect search looked at.
    pub suspects_scanned: usize,
    /// Robustness probes.
    pub probes: Vec<Probe>,
    /// Train history.
    pub history: Option<History>,
    /// Train support per entity type / class.
    pub train_support: BTreeMap<String, usize>,
    /// Notes about analyses that were skipped and why.
    pub notes: Vec<String>,
}

/// Top-1 confidence (probability of the predicted label) and correctness of every item.
fn confidences(split: &Split, probs: &[Vec<Vec<f64>>]) -> (Vec<f64>, Vec<bool>) {
    let (mut c, mut ok) = (Vec::new(), Vec::new());
    for (ex, ps) in split.examples.iter().zip(probs) {
        for ((&g, &p), v) in ex.gold.iter().zip(&ex.pred).zip(ps) {
            c.push(v.get(p).copied().unwrap_or(0.0));
            ok.push(g == p);
        }
    }
    (c, ok)
}

/// Sum unit rows that share a key (documents), in order of first appearance.
fn group_units(units: &Units, keys: &[String]) -> Units {
    let mut order: Vec<&str> = Vec::new();
    let mut sums: HashMap<&str, Vec<f64>> = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        let row = units.row(i);
        let e = sums.entry(k.as_str()).or_insert_with(|| {
            order.push(k.as_str());
            vec![0.0; row.len()]
        });
        for (s, r) in e.iter_mut().zip(row) {
            *s += r;
        }
    }
    let mut out = Units::new(units.dim());
    for k in order {
        out.push(&sums[k]);
    }
    out
}

/// Bucket edges at quantiles of `values` (deduplicated), giving at most `buckets` buckets.
pub fn quantile_edges(values: &[f64], buckets: usize) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() || buckets < 2 {
        return Vec::new();
    }
    v.sort_by(f64::total_cmp);
    let mut edges: Vec<f64> = (1..buckets)
        .map(|i| crate::stats::bootstrap::quantile(&v, i as f64 / buckets as f64))
        .collect();
    edges.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
    // An edge at the maximum would leave an empty last bucket.
    let max = v[v.len() - 1];
    edges.retain(|&e| e < max);
    edges
}

/// Bucket index of `x` for `edges` (bucket `i` holds `edges[i-1] < x <= edges[i]`).
pub fn bucket_of(x: f64, edges: &[f64]) -> usize {
    edges.iter().position(|&e| x <= e).unwrap_or(edges.len())
}

/// Human names of the buckets of `edges`, formatted by `fmt`.
pub fn bucket_names(edges: &[f64], fmt: impl Fn(f64) -> String) -> Vec<String> {
    let mut names = Vec::with_capacity(edges.len() + 1);
    for i in 0..=edges.len() {
        names.push(match (i.checked_sub(1).map(|j| edges[j]), edges.get(i)) {
            (None, Some(&hi)) => format!("≤ {}", fmt(hi)),
            (Some(lo), Some(&hi)) => format!("{} – {}", fmt(lo), fmt(hi)),
            (Some(lo), None) => format!("> {}", fmt(lo)),
            (None, None) => "all".to_string(),
        });
    }
    names
}

/// Run every analysis.
pub fn analyze(inputs: &Inputs, opts: &Options) -> Result<Analysis> {
    let split = &inputs.split;
    let boot = opts.bootstrap;
    let scorer = Scorer::new(split);
    let mut notes = Vec::new();
    let spans = match split.task {
        TaskKind::Token => Some(Spans::of(split)?),
        TaskKind::Sequence => None,
    };
    let base_units = scorer.units(split, spans.as_ref());

    // Resampling unit: documents when doc ids group sentences, else examples.
    let doc_keys: Option<Vec<String>> = match (&inputs.context, split.task, opts.document_bootstrap)
    {
        (Some(ctx), TaskKind::Token, true) if !ctx.doc_id.is_empty() => {
            let keys: Vec<String> = split
                .examples
                .iter()
                .map(|e| {
                    ctx.doc_id
                        .get(&e.id)
                        .cloned()
                        .unwrap_or_else(|| format!("(no doc) {}", e.id))
                })
                .collect();
            let distinct: HashSet<&String> = keys.iter().collect();
            if distinct.len() < split.examples.len() && distinct.len() >= 20 {
                Some(keys)
            } else {
                if distinct.len() < 20 && distinct.len() < split.examples.len() {
                    notes.push(format!(
                        "only {} documents: resampling sentences instead (a document bootstrap needs at least 20)",
                        distinct.len()
                    ));
                }
                None
            }
        }
        _ => None,
    };
    let cluster = |u: &Units| -> Units {
        match &doc_keys {
            Some(keys) => group_units(u, keys),
            None => u.clone(),
        }
    };
    let units = cluster(&base_units);
    let unit = match (&doc_keys, split.task) {
        (Some(_), _) => "document",
        (None, TaskKind::Token) => "sentence",
        (None, TaskKind::Sequence) => "example",
    }
    .to_string();

    let headline: Vec<MetricCi> = scorer
        .headline_metrics()
        .into_iter()
        .map(|m| MetricCi {
            name: scorer.name(m),
            ci: boot.ci(&units, |s| scorer.value(m, s)),
        })
        .collect();
    let primary = scorer.primary();
    let overall = headline.first().map_or(f64::NAN, |h| h.ci.estimate);

    let fit_metric = match &inputs.fit {
        Some(fit) => {
            check_same_labels(split, fit)?;
            let fit_spans = match fit.task {
                TaskKind::Token => Some(Spans::of(fit)?),
                TaskKind::Sequence => None,
            };
            let u = scorer.units(fit, fit_spans.as_ref());
            Some(MetricCi {
                name: scorer.name(primary),
                ci: boot.ci(&u, |s| scorer.value(primary, s)),
            })
        }
        None => None,
    };

    // Calibration.
    let (mut calibration, mut entity_calibration, mut temperature, mut temperature_split) =
        (None, None, None, None);
    if split.has_probs {
        let probs: Vec<Vec<Vec<f64>>> = split.examples.iter().map(|e| e.probs.clone()).collect();
        if let Some(fit) = inputs.fit.as_ref().filter(|f| f.has_probs) {
            let mut lg = Vec::new();
            let mut gold = Vec::new();
            for ex in &fit.examples {
                for (p, &g) in ex.probs.iter().zip(&ex.gold) {
                    lg.push(calibration::logits(p));
                    gold.push(g);
                }
            }
            temperature = Some(calibration::fit_temperature(&lg, &gold));
            temperature_split = Some(fit.name.clone());
        } else {
            notes.push("no dev predictions with probabilities: temperature scaling skipped".into());
        }
        let scaled: Option<Vec<Vec<Vec<f64>>>> = temperature.map(|t| {
            probs
                .iter()
                .map(|p| calibration::apply_temperature(p, t.t))
                .collect()
        });
        let level = match split.task {
            TaskKind::Token => "word",
            TaskKind::Sequence => "example",
        };
        let report_for = |probs: &[Vec<Vec<f64>>]| -> CalibrationReport {
            let (conf, ok) = confidences(split, probs);
            let mut per_unit = Units::new(3 * opts.bins);
            for (ex, ps) in split.examples.iter().zip(probs) {
                let c: Vec<f64> = ex
                    .pred
                    .iter()
                    .zip(ps)
                    .map(|(&p, v)| v.get(p).copied().unwrap_or(0.0))
                    .collect();
                let k: Vec<bool> = ex.gold.iter().zip(&ex.pred).map(|(g, p)| g == p).collect();
                per_unit.push(&calibration::ece_stats(&c, &k, opts.bins));
            }
            let flat: Vec<Vec<f64>> = probs.iter().flatten().cloned().collect();
            let gold: Vec<usize> = split
                .examples
                .iter()
                .flat_map(|e| e.gold.iter().copied())
                .collect();
            let rel = calibration::reliability(&conf, &ok, opts.bins, Binning::EqualWidth);
            CalibrationReport {
                level: level.to_string(),
                items: conf.len(),
                ece: boot.ci(&cluster(&per_unit), calibration::ece_from_stats),
                ece_mass: calibration::reliability(&conf, &ok, opts.bins, Binning::EqualMass).ece,
                mce: rel.mce,
                brier: Some(calibration::brier(&flat, &gold)),
                nll: Some(calibration::nll(&flat, &gold)),
                reliability: rel,
                after: None,
            }
        };
        let mut cal = report_for(&probs);
        if let Some(sc) = &scaled {
            cal.after = Some(Box::new(report_for(sc)));
        }
        calibration = Some(cal);

        if let Some(spans) = &spans {
            let entity_report = |probs: &[Vec<Vec<f64>>]| -> CalibrationReport {
                let (conf, ok) = ner::entity_confidences(spans, probs, opts.entity_confidence);
                // Per-sentence statistics for the bootstrap: an entity belongs to its sentence.
                let mut per_unit = Units::new(3 * opts.bins);
                for i in 0..split.examples.len() {
                    let one = Spans {
                        gold: vec![spans.gold[i].clone()],
                        pred: vec![spans.pred[i].clone()],
                    };
                    let (c, k) =
                        ner::entity_confidences(&one, &probs[i..=i], opts.entity_confidence);
                    per_unit.push(&calibration::ece_stats(&c, &k, opts.bins));
                }
                let rel = calibration::reliability(&conf, &ok, opts.bins, Binning::EqualWidth);
                CalibrationReport {
                    level: "entity".into(),
                    items: conf.len(),
                    ece: boot.ci(&cluster(&per_unit), calibration::ece_from_stats),
                    ece_mass: calibration::reliability(&conf, &ok, opts.bins, Binning::EqualMass)
                        .ece,
                    mce: rel.mce,
                    brier: None,
                    nll: None,
                    reliability: rel,
                    after: None,
                }
            };
            let mut ec = entity_report(&probs);
            if let Some(sc) = &scaled {
                ec.after = Some(Box::new(entity_report(sc)));
            }
            entity_calibration = Some(ec);
        }
    } else {
        notes.push(format!(
            "{} has no probabilities: calibration and suspect labels skipped",
            split.path.display()
        ));
    }

    let baseline = match &inputs.baseline {
        Some(b) => compare_baseline(split, b, &scorer, primary, &doc_keys, boot, &mut notes)?,
        None => None,
    };

    let slices = slices(inputs, &scorer, &base_units, overall, opts, spans.as_ref());
    let taxonomy = spans
        .as_ref()
        .map(|s| ner::taxonomy(split, s, opts.max_examples));
    let confusion = confusion(split);
    let (suspects, suspects_total, suspects_scanned) =
        suspects(split, inputs.fit.as_ref(), opts.suspects);
    let mut probes = Vec::new();
    for probe in &inputs.probes {
        probes.push(probe_result(
            split, probe, &scorer, primary, &doc_keys, boot, &mut notes,
        )?);
    }

    Ok(Analysis {
        task: split.task,
        split: split.name.clone(),
        examples: split.examples.len(),
        items: split.items(),
        unit,
        units: units.len(),
        bootstrap: boot,
        headline,
        fit_metric,
        calibration,
        entity_calibration,
        temperature,
        temperature_split,
        baseline,
        slices,
        split_quality: inputs.split_quality.clone(),
        taxonomy,
        confusion,
        suspects,
        suspects_total,
        suspects_scanned,
        probes,
        history: inputs.history.clone(),
        train_support: inputs.train_support.clone(),
        notes,
    })
}

fn check_same_labels(a: &Split, b: &Split) -> Result<()> {
    if a.labels != b.labels || a.task != b.task {
        return Err(ReflectError::Invalid {
            place: b.path.display().to_string(),
            message: format!(
                "label list or task differs from {} ({} vs {}); both must come from the same labels.json",
                a.path.display(),
                b.labels.join(","),
                a.labels.join(",")
            ),
        });
    }
    Ok(())
}

/// Align a second prediction set on the first one's examples: for each example of `a`, the
/// position of the same id in `b` (when its word count matches).
fn align(a: &Split, b: &Split) -> Vec<Option<usize>> {
    let pos = b.positions();
    a.examples
        .iter()
        .map(|e| {
            pos.get(e.id.as_str())
                .copied()
                .filter(|&j| b.examples[j].gold.len() == e.gold.len())
        })
        .collect()
}

fn compare_baseline(
    split: &Split,
    base: &Split,
    scorer: &Scorer,
    primary: Metric,
    doc_keys: &Option<Vec<String>>,
    boot: Bootstrap,
    notes: &mut Vec<String>,
) -> Result<Option<Comparison>> {
    if base.task != split.task {
        return Err(ReflectError::Invalid {
            place: base.path.display().to_string(),
            message: format!(
                "baseline is a {} task, the model's a {} task",
                base.task, split.task
            ),
        });
    }
    // The baseline may order labels differently: map its ids onto ours by name.
    let map: Vec<Option<usize>> = base
        .labels
        .iter()
        .map(|l| split.labels.iter().position(|m| m == l))
        .collect();
    let aligned = align(split, base);
    let missing = aligned.iter().filter(|a| a.is_none()).count();
    let keep: Vec<usize> = (0..split.examples.len())
        .filter(|&i| aligned[i].is_some())
        .collect();
    if keep.is_empty() {
        notes.push(format!(
            "baseline {} shares no examples with the model's predictions: comparison skipped",
            base.path.display()
        ));
        return Ok(None);
    }
    let mut ours = split.clone();
    ours.examples = keep.iter().map(|&i| split.examples[i].clone()).collect();
    let mut theirs = split.clone();
    theirs.path = base.path.clone();
    theirs.examples = Vec::with_capacity(keep.len());
    for &i in &keep {
        let Some(j) = aligned[i] else { continue };
        let mut ex = split.examples[i].clone();
        let b = &base.examples[j];
        ex.pred = b
            .pred
            .iter()
            .map(|&p| {
                map.get(p)
                    .copied()
                    .flatten()
                    .ok_or_else(|| ReflectError::Invalid {
                        place: format!("{}, example `{}`", base.path.display(), b.id),
                        message: format!(
                            "predicted label `{}` is not one of the model's labels",
                            base.label(p)
                        ),
                    })
            })
            .collect::<Result<_>>()?;
        ex.probs.clear();
        theirs.examples.push(ex);
    }
    let (sa, sb) = match split.task {
        TaskKind::Token => (Some(Spans::of(&ours)?), Some(Spans::of(&theirs)?)),
        TaskKind::Sequence => (None, None),
    };
    let mut ua = scorer.units(&ours, sa.as_ref());
    let mut ub = scorer.units(&theirs, sb.as_ref());
    if let Some(keys) = doc_keys {
        let kept: Vec<String> = keep.iter().map(|&i| keys[i].clone()).collect();
        ua = group_units(&ua, &kept);
        ub = group_units(&ub, &kept);
    }
    let paired = boot.paired(&ua, &ub, |s| scorer.value(primary, s));
    let mcnemar = (split.task == TaskKind::Sequence).then(|| {
        let (mut b, mut c) = (0, 0);
        for (x, y) in ours.examples.iter().zip(&theirs.examples) {
            let (ra, rb) = (x.gold == x.pred, y.gold == y.pred);
            if ra && !rb {
                b += 1;
            }
            if !ra && rb {
                c += 1;
            }
        }
        mcnemar_exact(b, c)
    });
    if missing > 0 {
        notes.push(format!(
            "{missing} examples have no baseline prediction and are left out of the comparison"
        ));
    }
    Ok(Some(Comparison {
        metric: scorer.name(primary),
        paired,
        mcnemar,
        shared: keep.len(),
        missing,
    }))
}

fn has_error(ex: &crate::data::Example) -> bool {
    ex.gold != ex.pred
}

fn slices(
    inputs: &Inputs,
    scorer: &Scorer,
    units: &Units,
    overall: f64,
    opts: &Options,
    spans: Option<&Spans>,
) -> Vec<Slice> {
    let split = &inputs.split;
    let boot = opts.bootstrap;
    let primary = scorer.primary();
    let metric_name = scorer.name(primary);
    let mut out = Vec::new();
    let make = |family: &str, name: String, members: &[usize], out: &mut Vec<Slice>| {
        if members.is_empty() {
            return;
        }
        let set: HashSet<usize> = members.iter().copied().collect();
        let sub = units.filter(|i| set.contains(&i));
        let ci = boot.ci(&sub, |s| scorer.value(primary, s));
        let support = match split.task {
            TaskKind::Token => sub.total()[2] as usize,
            TaskKind::Sequence => members.len(),
        };
        out.push(Slice {
            family: family.to_string(),
            name,
            metric: metric_name.clone(),
            examples: members.len(),
            support,
            flagged: members.len() >= opts.min_slice_support && ci.hi < overall,
            ci,
            evidence: members
                .iter()
                .filter(|&&i| has_error(&split.examples[i]))
                .take(opts.max_examples)
                .map(|&i| split.examples[i].id.clone())
                .collect(),
        });
    };
    let words_of = |i: usize| -> Option<&Vec<String>> {
        let ex = &split.examples[i];
        if split.task == TaskKind::Token {
            Some(&ex.words)
        } else {
            inputs.context.as_ref().and_then(|c| c.words.get(&ex.id))
        }
    };
    let numeric_family = |family: &str,
                          values: Vec<Option<f64>>,
                          fmt: &dyn Fn(f64) -> String,
                          out: &mut Vec<Slice>| {
        let present: Vec<f64> = values.iter().flatten().copied().collect();
        if present.is_empty() {
            return;
        }
        let edges = quantile_edges(&present, opts.buckets);
        let names = bucket_names(&edges, fmt);
        let mut members = vec![Vec::new(); names.len()];
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v {
                members[bucket_of(*v, &edges)].push(i);
            }
        }
        for (name, m) in names.into_iter().zip(members) {
            make(family, name, &m, out);
        }
    };

    // Length in words.
    let lengths: Vec<Option<f64>> = (0..split.examples.len())
        .map(|i| words_of(i).map(|w| w.len() as f64))
        .collect();
    numeric_family("length (words)", lengths, &|x| format!("{x:.0}"), &mut out);

    // OOV rate against the train vocabulary.
    if let Some(ctx) = inputs.context.as_ref().filter(|c| !c.vocab.is_empty()) {
        let rates: Vec<Option<f64>> = (0..split.examples.len())
            .map(|i| {
                let w = words_of(i)?;
                if w.is_empty() {
                    return None;
                }
                Some(w.iter().filter(|x| !ctx.vocab.contains(*x)).count() as f64 / w.len() as f64)
            })
            .collect();
        numeric_family(
            "OOV rate",
            rates,
            &|x| format!("{:.0}%", 100.0 * x),
            &mut out,
        );
    }

    // Per entity type / class: the class's own F1 over all units.
    let all: Vec<usize> = (0..split.examples.len()).collect();
    let family = match split.task {
        TaskKind::Token => "entity type",
        TaskKind::Sequence => "label",
    };
    for (k, class) in scorer.classes.iter().enumerate() {
        let m = match split.task {
            TaskKind::Token => Metric::TypeF1(k),
            TaskKind::Sequence => Metric::ClassF1(k),
        };
        let ci = boot.ci(units, |s| scorer.value(m, s));
        let total = units.total();
        let support = scorer.support(k, &total) as usize;
        let members: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| match (split.task, spans) {
                (TaskKind::Token, Some(sp)) => sp.gold[i]
                    .iter()
                    .chain(&sp.pred[i])
                    .any(|e| &e.kind == class),
                _ => {
                    split.examples[i].gold.first() == Some(&k)
                        || split.examples[i].pred.first() == Some(&k)
                }
            })
            .collect();
        out.push(Slice {
            family: family.to_string(),
            name: class.clone(),
            metric: scorer.name(m),
            examples: members.len(),
            support,
            flagged: support >= opts.min_slice_support && ci.hi < overall,
            ci,
            evidence: members
                .iter()
                .filter(|&&i| has_error(&split.examples[i]))
                .take(opts.max_examples)
                .map(|&i| split.examples[i].id.clone())
                .collect(),
        });
    }

    // Metadata columns.
    if let Some(ctx) = &inputs.context {
        for (name, column) in &ctx.metadata {
            let family = format!("meta:{name}");
            match column {
                MetaColumn::Number(map) => {
                    let values: Vec<Option<f64>> = split
                        .examples
                        .iter()
                        .map(|e| map.get(&e.id).copied())
                        .collect();
                    let distinct: HashSet<u64> =
                        values.iter().flatten().map(|v| v.to_bits()).collect();
                    if distinct.len() <= opts.buckets.max(2) * 2 {
                        // Few distinct numbers: treat them as categories.
                        let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
                        for (i, v) in values.iter().enumerate() {
                            if let Some(v) = v {
                                groups.entry(format!("{v}")).or_default().push(i);
                            }
                        }
                        for (value, m) in groups {
                            make(&family, value, &m, &mut out);
                        }
                    } else {
                        numeric_family(&family, values, &|x| format!("{x}"), &mut out);
                    }
                }
                MetaColumn::Text(map) => {
                    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
                    for (i, e) in split.examples.iter().enumerate() {
                        if let Some(v) = map.get(&e.id) {
                            groups.entry(v.clone()).or_default().push(i);
                        }
                    }
                    if groups.len() > opts.max_categories || groups.len() < 2 {
                        continue;
                    }
                    for (value, m) in groups {
                        make(&family, value, &m, &mut out);
                    }
                }
            }
        }
    }
    out
}

fn confusion(split: &Split) -> Confusion {
    let name = |id: usize| -> String {
        let l = split.label(id);
        match split.task {
            TaskKind::Token => ner::tag_type(l).unwrap_or("O").to_string(),
            TaskKind::Sequence => l.to_string(),
        }
    };
    let mut labels: Vec<String> = match split.task {
        TaskKind::Token => {
            let mut v = vec!["O".to_string()];
            v.extend(ner::types_of(&split.labels));
            v
        }
        TaskKind::Sequence => split.labels.clone(),
    };
    labels.dedup();
    let index: HashMap<String, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), i))
        .collect();
    let mut counts = vec![vec![0u64; labels.len()]; labels.len()];
    for ex in &split.examples {
        for (&g, &p) in ex.gold.iter().zip(&ex.pred) {
            if let (Some(&a), Some(&b)) = (index.get(&name(g)), index.get(&name(p))) {
                counts[a][b] += 1;
            }
        }
    }
    Confusion { labels, counts }
}

/// Confident-learning label issues (Northcutt et al. 2021): per-class threshold `t_j` = mean
/// probability of class `j` over items labelled `j`; an item is an issue when, among the
/// classes whose probability reaches their threshold, the most probable is not its label.
/// Ranked by self-confidence (probability of the given label), lowest first.
fn suspects(split: &Split, fit: Option<&Split>, limit: usize) -> (Vec<Suspect>, usize, usize) {
    let mut found = Vec::new();
    let mut scanned = 0;
    let splits: Vec<&Split> = std::iter::once(split)
        .chain(fit)
        .filter(|s| s.has_probs)
        .collect();
    for s in splits {
        let k = s.labels.len();
        let (mut sum, mut n) = (vec![0.0; k], vec![0usize; k]);
        for ex in &s.examples {
            for (p, &g) in ex.probs.iter().zip(&ex.gold) {
                if g < k {
                    sum[g] += p.get(g).copied().unwrap_or(0.0);
                    n[g] += 1;
                }
            }
        }
        let thresholds: Vec<f64> = (0..k)
            .map(|j| {
                if n[j] == 0 {
                    f64::INFINITY
                } else {
                    sum[j] / n[j] as f64
                }
            })
            .collect();
        for ex in &s.examples {
            for (w, (p, &g)) in ex.probs.iter().zip(&ex.gold).enumerate() {
                scanned += 1;
                let best = (0..k.min(p.len()))
                    .filter(|&j| p[j] >= thresholds[j])
                    .max_by(|&a, &b| p[a].total_cmp(&p[b]).then(b.cmp(&a)));
                let Some(j) = best else { continue };
                if j == g {
                    continue;
                }
                let token_task = s.task == TaskKind::Token;
                let context = if token_task {
                    ex.words
                        .iter()
                        .enumerate()
                        .map(|(i, x)| if i == w { format!("[{x}]") } else { x.clone() })
                        .collect::<Vec<_>>()
                        .join(" ")
                } else {
                    String::new()
                };
                found.push(Suspect {
                    split: s.name.clone(),
                    id: ex.id.clone(),
                    word: token_task.then_some(w),
                    token: ex.words.get(w).cloned().unwrap_or_default(),
                    context,
                    given: s.label(g).to_string(),
                    suggested: s.label(j).to_string(),
                    self_confidence: p.get(g).copied().unwrap_or(0.0),
                    suggested_prob: p[j],
                });
            }
        }
    }
    found.sort_by(|a, b| {
        a.self_confidence
            .total_cmp(&b.self_confidence)
            .then_with(|| a.split.cmp(&b.split))
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.word.cmp(&b.word))
    });
    let total = found.len();
    found.truncate(limit);
    (found, total, scanned)
}

fn probe_result(
    split: &Split,
    probe: &Split,
    scorer: &Scorer,
    primary: Metric,
    doc_keys: &Option<Vec<String>>,
    boot: Bootstrap,
    notes: &mut Vec<String>,
) -> Result<Probe> {
    check_same_labels(split, probe)?;
    let pos = probe.positions();
    // Per example: [items, flipped items, example flipped, 1]
    let mut flips = Units::new(4);
    let mut evidence = Vec::new();
    let mut items = 0;
    let mut kept = Vec::new();
    let mut clean = split.clone();
    clean.examples.clear();
    let mut probed = split.clone();
    probed.path = probe.path.clone();
    probed.examples.clear();
    let mut unmatched = 0;
    for (i, ex) in split.examples.iter().enumerate() {
        let Some(&j) = pos.get(ex.id.as_str()) else {
            unmatched += 1;
            continue;
        };
        let other = &probe.examples[j];
        // Join on the word index (token task): a probe may drop words (punctuation, the tail
        // of a swapped entity), so positions alone would misalign.
        let probe_pred: HashMap<u32, usize> = if split.task == TaskKind::Token {
            other
                .word_index
                .iter()
                .copied()
                .zip(other.pred.iter().copied())
                .collect()
        } else {
            other
                .pred
                .iter()
                .copied()
                .enumerate()
                .map(|(k, p)| (k as u32, p))
                .collect()
        };
        let mut n = 0;
        let mut changed = 0;
        let mut full = true;
        let mut pred = ex.pred.clone();
        for (k, &clean) in ex.pred.iter().enumerate() {
            let w = ex.word_index.get(k).copied().unwrap_or(k as u32);
            match probe_pred.get(&w) {
                Some(&p) => {
                    n += 1;
                    changed += usize::from(p != clean);
                    pred[k] = p;
                }
                None => full = false,
            }
        }
        items += n;
        flips.push(&[
            n as f64,
            changed as f64,
            f64::from(u8::from(changed > 0)),
            1.0,
        ]);
        if changed > 0 && evidence.len() < 5 {
            evidence.push(ex.id.clone());
        }
        // The metric compares only examples the probe covers word for word.
        if full {
            kept.push(i);
            clean.examples.push(ex.clone());
            let mut e = ex.clone();
            e.pred = pred;
            probed.examples.push(e);
        }
    }
    if unmatched > 0 {
        notes.push(format!(
            "probe `{}`: {unmatched} examples missing from {}",
            probe.name,
            probe.path.display()
        ));
    }
    let keys = doc_keys
        .as_ref()
        .map(|k| kept.iter().map(|&i| k[i].clone()).collect::<Vec<_>>());
    let metric = if clean.examples.is_empty() {
        None
    } else {
        let (sa, sb) = match split.task {
            TaskKind::Token => (Some(Spans::of(&clean)?), Some(Spans::of(&probed)?)),
            TaskKind::Sequence => (None, None),
        };
        let mut ua = scorer.units(&clean, sa.as_ref());
        let mut ub = scorer.units(&probed, sb.as_ref());
        if let Some(k) = &keys {
            ua = group_units(&ua, k);
            ub = group_units(&ub, k);
        }
        Some(boot.paired(&ua, &ub, |s| scorer.value(primary, s)))
    };
    let example_flip_rate =
        (split.task == TaskKind::Token).then(|| boot.ci(&flips, |s| ratio(s[2], s[3])));
    Ok(Probe {
        name: probe.name.clone(),
        items,
        flip_rate: boot.ci(&flips, |s| ratio(s[1], s[0])),
        example_flip_rate,
        metric,
        metric_examples: kept.len(),
        evidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_buckets_are_named_and_assigned() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let e = quantile_edges(&v, 4);
        assert_eq!(e.len(), 3);
        assert_eq!(bucket_of(1.0, &e), 0);
        assert_eq!(bucket_of(100.0, &e), 3);
        let names = bucket_names(&e, |x| format!("{x:.0}"));
        assert_eq!(names.len(), 4);
        assert!(names[0].starts_with("≤ "));
        assert!(names[3].starts_with("> "));
        // All equal: no edges, one bucket.
        assert!(quantile_edges(&[0.0; 10], 4).is_empty());
    }
}
