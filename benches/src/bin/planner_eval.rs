//! Planner evaluation runner: reads `{"id", "description"}` lines on stdin
//! and writes one plan JSON line per description on stdout, in the format
//! of `planner-eval/README.md` (scored by `scripts/planner-eval.sh`).

use std::io::{self, BufWriter};
use std::process::ExitCode;

use nexwatt_engine::planner::{plan_jsonl, DeterministicPlanner};

fn main() -> ExitCode {
    let catalog = match nexwatt_connectors::catalog() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("planner_eval: the connector catalog does not load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let planner = DeterministicPlanner::new(catalog);
    let stdin = io::stdin();
    let stdout = io::stdout();
    match plan_jsonl(&planner, stdin.lock(), BufWriter::new(stdout.lock())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("planner_eval: {e}");
            ExitCode::FAILURE
        }
    }
}
