//! What a graph knows of each plan node beyond the plan: the event type it emits and, for a
//! stage, how to start its role.

use std::any::Any;
use std::sync::Arc;

use crate::exec::StageInfo;
use crate::vocab::OnFull;

use super::ends::{InEnd, OutEnd};
use super::runtime::{end, run_stage, LaneOps, RoleBody};
use super::stage::LaneStage;
use super::state::{GraphRuntime, LaneEvent};

/// Starts a stage's role given what it learns at start, its input reader and output writer
/// (erased), the output lane's `on_full`, and the runtime.
pub(super) type StageStarter = Box<
    dyn FnOnce(
            StageInfo,
            Box<dyn Any + Send>,
            Box<dyn Any + Send>,
            OnFull,
            Arc<GraphRuntime>,
        ) -> Result<RoleBody, String>
        + Send,
>;

/// What the builder knows of one plan node beyond the plan: its output event type, and a stage's
/// implementation.
pub(super) struct Node {
    pub(super) output: Option<Arc<dyn LaneOps>>,
    pub(super) stage: Option<StageStarter>,
}

impl Node {
    /// A stage node reading `In` and emitting `Out`, whose output lanes `ops` makes.
    pub(super) fn stage<In: LaneEvent, Out: LaneEvent, S: LaneStage<In, Out>>(
        stage: S,
        ops: Arc<dyn LaneOps>,
    ) -> Node {
        let starter: StageStarter = Box::new(move |info, input, output, on_full, rt| {
            let input = end::<InEnd<In>>(input, &info.stage)?;
            let output = end::<OutEnd<Out>>(output, &info.stage)?;
            Ok(Box::new(move || run_stage(info, stage, input, output, on_full, &rt)) as RoleBody)
        });
        Node {
            output: Some(ops),
            stage: Some(starter),
        }
    }

    /// An ingress node emitting what `ops` carries.
    pub(super) fn ingress(ops: Arc<dyn LaneOps>) -> Node {
        Node {
            output: Some(ops),
            stage: None,
        }
    }
}
