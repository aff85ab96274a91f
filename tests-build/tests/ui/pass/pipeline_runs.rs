// A macro-built pipeline runs: every published event reaches every stage.
use byteor::prelude::*;
use tests_build::*;

#[byteor::pipeline(capacity = 16)]
fn orders() -> SingleRing<Order> {
    ingress("orders_in");
    egress("fills_out");
    let parse = stage(Parse { max_qty: 5 });
    let risk = stage(Risk::default()).after([parse]);
    let audit = stage(Audit::default()).after([parse]);
    let publish = stage(Publish::default()).after([risk, audit]);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut producer, control) = orders()?.spawn()?;
    for id in 0..100 {
        producer.publish(|o| {
            o.id = id;
            o.qty = 10;
        })?;
    }
    drop(producer);
    let report = control.join()?;
    for stage in ["parse", "risk", "audit", "publish"] {
        assert_eq!(report.processed(stage), 100, "{stage}");
    }
    Ok(())
}
