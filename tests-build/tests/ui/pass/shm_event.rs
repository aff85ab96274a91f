// Event structs with scalar, array and nested-event fields derive `ShmEvent`, and the layout
// table matches what the compiler laid out.
use byteor::abi::{FieldType, ShmEvent};

#[derive(Clone, Copy, ShmEvent)]
#[repr(C)]
struct Price {
    mantissa: i64,
    exponent: i8,
    _pad: [u8; 7],
}

#[derive(Clone, Copy, ShmEvent)]
#[repr(C)]
pub struct Order {
    id: u64,
    account: u64,
    qty: i64,
    price: Price,
    history: [Price; 2],
    flags: [[u16; 2]; 2],
    r#type: u32,
    ratio: f32,
}

fn main() {
    let layout = Order::LAYOUT;
    assert_eq!(layout.name, "Order");
    assert_eq!(layout.size, core::mem::size_of::<Order>());
    assert_eq!(layout.align, 8);
    let names: Vec<&str> = layout.fields.iter().map(|f| f.name).collect();
    assert_eq!(names, ["id", "account", "qty", "price", "history", "flags", "type", "ratio"]);
    let price = layout.field("price").unwrap();
    assert_eq!((price.offset, price.size), (24, 16));
    assert_eq!(price.ty, FieldType::Event(&Price::LAYOUT));
    assert_eq!(layout.field("flags").unwrap().ty.to_string(), "[[u16; 2]; 2]");
    assert_eq!(layout.field("type").unwrap().offset, 80);
    let total: usize = layout.fields.iter().map(|f| f.size).sum();
    assert_eq!(total, layout.size);
    assert!(layout.c_definition().contains("struct Price history[2];"));
}
