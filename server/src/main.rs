//! `nexwatt`: the command line lands with the `cli` module.
fn main() {}
