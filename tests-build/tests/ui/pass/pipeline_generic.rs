// A `#[pipeline]` function may be generic, have a `where` clause and name stages with raw
// identifiers; stage values may use its parameters.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline(capacity = 32)]
pub(crate) fn with_custom_stage<S>(custom: S, max_qty: i64) -> SingleRing<Order>
where
    S: Stage<Order> + Send + 'static,
{
    ingress("orders_in");
    egress("fills_out");
    let r#match = stage(Parse { max_qty });
    let custom = stage(custom).after([r#match]);
}

fn main() -> Result<(), BuildError> {
    let pipeline = with_custom_stage(Publish::default(), 7)?;
    let names: Vec<&str> = pipeline.plan().stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["match", "custom"]);
    assert_eq!(pipeline.plan().stages[1].after, ["match"]);
    assert_eq!(pipeline.plan().name, "with_custom_stage");
    Ok(())
}
