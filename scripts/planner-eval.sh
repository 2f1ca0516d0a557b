#!/usr/bin/env bash
# Scores the deterministic planner with the shared scorer
# (../shared/planner-eval/score.py) on the shared dev set and on the
# project's own sets: tests/planner/extra.jsonl (written alongside the
# planner) and tests/planner/blind.jsonl (written from the catalog's rules
# before reading the planner), printing every metric. Exits non-zero when a dev threshold is missed.
#
#   scripts/planner-eval.sh            # summaries
#   scripts/planner-eval.sh --details  # plus what went wrong, per description
set -euo pipefail
cd "$(dirname "$0")/.."

EVAL_DIR="${PLANNER_EVAL_DIR:-../shared/planner-eval}"
DEV="$EVAL_DIR/dev.jsonl"
SCORE="$EVAL_DIR/score.py"
EXTRA="tests/planner/extra.jsonl"
BLIND="tests/planner/blind.jsonl"
DETAILS="${1:-}"

for f in "$DEV" "$SCORE"; do
    [ -f "$f" ] || { echo "planner-eval: missing $f" >&2; exit 2; }
done

cargo build --release -q -p nexwatt-benches --bin planner_eval
BIN="${CARGO_TARGET_DIR:-target}/release/planner_eval"

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

status=0
for set in dev extra blind; do
    case "$set" in
        dev) gold="$DEV" ;;
        extra) gold="$EXTRA" ;;
        *) gold="$BLIND" ;;
    esac
    [ -f "$gold" ] || continue
    "$BIN" < "$gold" > "$OUT/$set.pred.jsonl"
    echo "== $set ($(grep -c . "$gold") descriptions)"
    if [ "$DETAILS" = "--details" ]; then
        python3 "$SCORE" "$gold" "$OUT/$set.pred.jsonl" --details
    else
        python3 "$SCORE" "$gold" "$OUT/$set.pred.jsonl"
    fi
    python3 "$SCORE" "$gold" "$OUT/$set.pred.jsonl" --json > "$OUT/$set.json"
done

# Thresholds of the planner issue, on dev.
python3 - "$OUT/dev.json" <<'PY' || status=1
import json, sys
m = json.load(open(sys.argv[1]))
need = {"trigger_acc": 0.95, "step_f1": 0.92, "order_f1": 0.90, "flag_f1": 0.85,
        "param_acc": 0.85, "reject_acc": 1.0}
bad = [f"{k} {m[k]} < {v}" for k, v in need.items() if m[k] < v]
if m["wrong_rejects"] != 0:
    bad.append(f"wrong_rejects {m['wrong_rejects']} != 0")
if bad:
    print("dev thresholds missed: " + "; ".join(bad))
    sys.exit(1)
print("dev thresholds met")
PY
exit $status
