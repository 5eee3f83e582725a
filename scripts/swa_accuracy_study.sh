#!/usr/bin/env bash
# Perplexity against sparsity for Sparse Window Attention and its two baselines (a plain recent
# window; a whole-history accumulated score, H2O-like), by teacher forcing through the decode
# path. Prints a Markdown table and each run's command.
#   scripts/swa_accuracy_study.sh [MODEL] [TEXT] [CONTEXT] [BYTES]
# BYTES > 0 takes the text's first BYTES bytes (a quicker study). Needs build/alisa (or $ALISA).
set -euo pipefail
model=${1:-configs/demo-models/opt-code}
text=${2:-$model/heldout.txt}
context=${3:-1024}
bytes=${4:-0}
alisa=${ALISA:-build/alisa}
sparsities=(0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9)
scores=(window recent history)

if [ "$bytes" -gt 0 ]; then
  cut=$(mktemp --suffix=.txt)
  trap 'rm -f "$cut"' EXIT
  head -c "$bytes" "$text" > "$cut"
  text_used=$cut
else
  text_used=$text
fi

perplexity() {  # extra flags -> perplexity
  "$alisa" perplexity --model "$model" --text "$text_used" --context-length "$context" \
    --device cpu "$@" 2>/dev/null | python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["perplexity"])'
}

echo "model $model, text $text (first $bytes bytes; 0: all), context $context"
echo "command: $alisa perplexity --model $model --text TEXT --context-length $context --device cpu [--swa-sparsity S --swa-score SCORE]"
echo
dense=$(perplexity)
echo "| sparsity | SWA (window score) | recent window | history score (H2O-like) |"
echo "| ---: | ---: | ---: | ---: |"
echo "| 0 (dense) | $dense | $dense | $dense |"
for s in "${sparsities[@]}"; do
  row="| $s"
  for score in "${scores[@]}"; do
    row="$row | $(perplexity --swa-sparsity "$s" --swa-score "$score")"
  done
  echo "$row |"
done
