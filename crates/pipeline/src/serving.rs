//! `pipeline serve`: which checkpoint and evaluation a pipeline file serves.
//!
//! The pipeline's evaluate stage (the one named, or its only one) and the train stage it reads
//! must both be up to date: the server answers with the checkpoint those artifacts hold and
//! decides as that evaluation recorded (tuned cost threshold, multi-label thresholds or
//! rejection rule). A pipeline without an evaluate stage serves its only train stage's
//! checkpoint by the most probable label. A stale stage is an error that says what to run,
//! never a silent fall-back to an older artifact.

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::runner::{PipelinePlan, PlannedStage, State};

/// The artifacts a pipeline serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The train artifact's chosen checkpoint (`checkpoints/best`).
    pub checkpoint: PathBuf,
    /// The evaluate artifact whose recorded decision rule is applied.
    pub evaluation: Option<PathBuf>,
    /// Instance names of the train and evaluate stages, for the log.
    pub stages: Vec<String>,
}

fn of_kind<'p>(plan: &'p PipelinePlan<'_>, kind: &str) -> Vec<&'p PlannedStage> {
    plan.stages.iter().filter(|s| s.plan.kind == kind).collect()
}

fn names(stages: &[&PlannedStage]) -> String {
    stages
        .iter()
        .map(|s| s.plan.instance.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn up_to_date(plan: &PipelinePlan<'_>, stage: &PlannedStage) -> Result<PathBuf> {
    match &stage.state {
        State::UpToDate => Ok(plan
            .store
            .artifact_dir(&stage.plan.instance, &stage.plan.fingerprint)),
        State::Stale(reasons) => bail!(
            "{}: stage `{}` is stale ({}); run `pipeline run {} --until {}` first",
            plan.spec.file.display(),
            stage.plan.instance,
            reasons.join("; "),
            plan.spec.file.display(),
            stage.plan.instance
        ),
    }
}

/// The checkpoint and evaluation `plan` serves; `evaluate` names the evaluate stage when the
/// pipeline has several.
pub fn locate(plan: &PipelinePlan<'_>, evaluate: Option<&str>) -> Result<Served> {
    let file = plan.spec.file.display();
    let evaluates = of_kind(plan, "evaluate");
    let eval = match evaluate {
        Some(name) => match plan.stage(name) {
            Some(s) if s.plan.kind == "evaluate" => Some(s),
            Some(s) => bail!(
                "{file}: --stage {name} is a {} stage; expected an evaluate stage ({})",
                s.plan.kind,
                names(&evaluates)
            ),
            None => bail!(
                "{file}: no stage `{name}`; its evaluate stages: {}",
                names(&evaluates)
            ),
        },
        None => match evaluates.as_slice() {
            [] => None,
            [one] => Some(*one),
            many => bail!(
                "{file} has {} evaluate stages ({}); name one with --stage",
                many.len(),
                names(many)
            ),
        },
    };
    let train = match eval {
        Some(e) => {
            let upstream: Vec<&PlannedStage> = e
                .upstream
                .iter()
                .filter_map(|u| plan.stage(u))
                .filter(|s| s.plan.kind == "train")
                .collect();
            match upstream.as_slice() {
                [one] => *one,
                other => bail!(
                    "{file}: evaluate stage `{}` reads {} train stages ({}); expected one",
                    e.plan.instance,
                    other.len(),
                    names(other)
                ),
            }
        }
        None => match of_kind(plan, "train").as_slice() {
            [one] => *one,
            [] => bail!("{file} has no train stage: nothing to serve"),
            many => bail!(
                "{file} has {} train stages ({}) and no evaluate stage to choose one",
                many.len(),
                names(many)
            ),
        },
    };
    let checkpoint = up_to_date(plan, train)?.join(flowcore::schema::train::BEST);
    if !checkpoint.join("config.json").is_file() {
        bail!(
            "{}: the train artifact has no chosen checkpoint (config.json missing)",
            checkpoint.display()
        );
    }
    let evaluation = eval.map(|e| up_to_date(plan, e)).transpose()?;
    let mut stages = vec![train.plan.instance.clone()];
    stages.extend(eval.map(|e| e.plan.instance.clone()));
    Ok(Served {
        checkpoint,
        evaluation,
        stages,
    })
}
