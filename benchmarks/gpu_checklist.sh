#!/usr/bin/env bash
# The GPU checklist in one run, from the repository root of a CUDA machine:
#   1. benchmarks/bench_cuda.py (GPU to itself): GACN/Fusion2Void speed, V-4 stack, app worker;
#   2. the Fusion2Void GPU recipe (python -m mffgui.training fusion2void-gpu, F=32) in the background;
#   3. meanwhile the GPU tests and the network test files with CUDA available;
#   4. the recipe's weights (each stage, best) and the bundled ones on the 20 Lytro pairs.
# Environment: MFFGUI_SHARED (data; default .gpudata/shared), OUT (results; default
# /tmp/gpu_out), BUDGET_S (whole-run budget in seconds, default 540). A Python without PySide6
# gets it from .whl/qtbundle.tar.xz when present (a trimmed PySide6 + qimage2ndarray +
# platformdirs + pytest-qt and the X/GL client libraries Qt links against).
# Make both with `python benchmarks/gpu_bundle.py` on a machine with PyPI access, then carry
# .gpudata and .whl/qtbundle.tar.xz with the run.
set -u
START=$(date +%s)
BUDGET_S=${BUDGET_S:-540}
OUT=${OUT:-/tmp/gpu_out}
W=/tmp/gpuwork
mkdir -p "$OUT" "$W"
export PYTHONUNBUFFERED=1 QT_QPA_PLATFORM=offscreen
export MFFGUI_SHARED=${MFFGUI_SHARED:-$PWD/.gpudata/shared}
PY=${PY:-python3}
left() { echo $(( START + BUDGET_S - $(date +%s) )); }

if ! $PY -c "import PySide6, qimage2ndarray, platformdirs, pytestqt" 2>/dev/null \
    && [ -f .whl/qtbundle.tar.xz ]; then
  mkdir -p /tmp/site /tmp/syslibs && tar -xJf .whl/qtbundle.tar.xz -C /tmp/site
  for f in /tmp/site/syslibs/*; do
    n=$(basename "$f")
    ldconfig -p | awk '{print $1}' | grep -qx "$n" || cp "$f" /tmp/syslibs/
  done
  export LD_LIBRARY_PATH=/tmp/syslibs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv
  $PY -c "import torch, PySide6, mffgui; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'PySide6', PySide6.__version__, 'mffgui', mffgui.__version__, 'gpu', torch.cuda.is_available())"
  ls /tmp/syslibs 2>/dev/null | tr '\n' ' '; echo; } > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

echo "== 1. CUDA benchmarks ($(left) s left)"
timeout 170 $PY benchmarks/bench_cuda.py > "$OUT/bench.txt" 2>&1
echo "bench rc=$?"; tail -12 "$OUT/bench.txt"

# Training: the rest of the budget less ~75 s for evaluation and ~30 s start-up.
TRAIN_S=$(( $(left) - 110 ))
[ "$TRAIN_S" -gt 330 ] && TRAIN_S=330
MIN=$(awk "BEGIN{printf \"%.2f\", $TRAIN_S/60}")
echo "== 2. Fusion2Void GPU recipe, $MIN min ($(left) s left)"
$PY -m training fusion2void-gpu --data "$MFFGUI_SHARED/data/train-sharp" --out "$W/f2v.pt" \
  --minutes "$MIN" --features 32 --batch-size 32 --patch-size 128 --zero-init --jsonl \
  > "$OUT/train.jsonl" 2>&1 &
TP=$!

echo "== 3. tests with CUDA ($(left) s left)"
XD=""; $PY -c "import xdist" 2>/dev/null && XD="-n 4"
timeout $(( TRAIN_S + 10 )) $PY -m pytest -q -p no:cacheprovider -rs $XD tests/test_gpu.py \
  tests/test_methods_contract.py tests/test_fusion2void_method.py tests/test_gacn.py \
  tests/test_fusion2void_model.py tests/test_gacn_memory.py > "$OUT/tests.txt" 2>&1
echo "tests rc=$?"; tail -15 "$OUT/tests.txt"
wait $TP; echo "train rc=$?"; tail -4 "$OUT/train.jsonl"

echo "== 4. Lytro evaluation ($(left) s left)"
{
  for w in "" "$W/f2v.warm.pt" "$W/f2v.best.pt" "$W/f2v.f2v.pt"; do
    [ -n "$w" ] && [ ! -f "$w" ] && continue
    echo "### weights: ${w:-bundled}"
    extra=--no-laplacian; [ -z "$w" ] && extra=""
    timeout 60 $PY benchmarks/bench_fusion2void_weights.py ${w:+--weights "$w"} --device cuda \
      $extra 2>/dev/null | tail -4
  done
} > "$OUT/eval.txt" 2>&1
cat "$OUT/eval.txt"
for f in f2v.best.pt f2v.warm.pt f2v.f2v.pt; do [ -f "$W/$f" ] && cp "$W/$f" "$OUT/"; done
echo "== done in $(( $(date +%s) - START )) s"
