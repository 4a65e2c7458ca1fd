#!/usr/bin/env bash
# One GPU session's checks, in one script (the device has JAX but no TensorFlow and no package registry).
# Carry the small wheels and fp16 weights, which git ignores:
#   run(command="bash bench/device_session.sh", carry=[".whl", ".device"])
# .whl/: keras, namex and optree wheels for the device's Python; .device/hed_fp16.h5: vgg16-hed weights in float16
# (both made by bench/device_weights.py). Partial results land in $OUT.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1
W=.device/hed_fp16.h5
EXAMPLES=""
python3 -c "import skimage" 2>/dev/null || EXAMPLES="--examples none"  # the default examples need scikit-image
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
python3 -c "import jax, keras; print(jax.__version__, keras.__version__, jax.devices())" 2>&1 | tail -1
# In order of what the open issues need; each step has its own timeout and leaves its results in $OUT.
# 1. The full default atlas end to end (issue 4: < 40 s; issue 5: < 150 MB), then its size on disk.
start=$(date +%s)
timeout "${T1:-240}" python3 -m generator.cli build --config atlas.toml --profile full --precision mixed \
    --weights "$W" $EXAMPLES --out /tmp/full 2>&1 | grep -v "━" | tail -5 | tee "$OUT/full-atlas.log"
echo "full atlas: $(( $(date +%s) - start )) s end to end" | tee -a "$OUT/full-atlas.log"
[ -f /tmp/full/atlas.json ] || python3 -m generator.cli render /tmp/full  # cut short: pages of what finished
python3 bench/site_size.py /tmp/full --json "$OUT/site-size.json" 2>&1 | tee "$OUT/site-size.txt"
# 2. Speed: tutorial loop vs batched on Xception (random weights).
timeout "${T2:-150}" python3 bench/throughput.py --layers block2_sepconv1,block14_sepconv1 --seed-filters 2 \
    --precision mixed --atlas none --json "$OUT/throughput-jax-gpu-mixed.json" 2>&1 | grep -v "━" | tee "$OUT/throughput.log"
# 3. Quick questions: Conv2D heads on a GPU (off until measured), bfloat16 against float32 on the step.
timeout "${T3:-60}" python3 bench/heads.py --batch-size 128 --precision mixed --json "$OUT/heads-jax-gpu.json" 2>&1 \
    | grep -v "━" | tee "$OUT/heads.log"
timeout "${T3:-60}" python3 bench/precision.py --batch-size 64 --json "$OUT/precision-jax-gpu.json" 2>&1 \
    | grep -v "━" | tee "$OUT/precision.log"
# 4. Quality: both methods, the first 64 filters of every default layer.
timeout "${T4:-200}" python3 bench/quality.py --weights "$W" --figure "$OUT/classic-vs-fourier.png" \
    --json "$OUT/quality.json" --work /tmp/q 2>&1 | grep -v "━" | tee "$OUT/quality.log"
