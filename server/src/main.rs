//! `nexwatt`: serve the API, manage keys, plan descriptions, list connectors,
//! and drive a running server. See `nexwatt --help`.

fn main() -> std::process::ExitCode {
    nexwatt_server::cli::main()
}
