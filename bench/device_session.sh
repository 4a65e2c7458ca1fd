#!/usr/bin/env bash
# One GPU session's checks, in one script (the device has JAX but no TensorFlow and no package registry).
# Carry the small wheels and fp16 weights, which git ignores:
#   run(command="bash bench/device_session.sh", carry=[".whl", ".device"])
# .whl/: keras, namex and optree wheels for the device's Python; .device/hed_fp16.h5: vgg16-hed weights in float16
# (both made by bench/device_weights.py). Each step has its own timeout and leaves its results in $OUT.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax PYTHONUNBUFFERED=1
W=.device/hed_fp16.h5
FILTERS=${FILTERS:-0:64}
LAYERS=${LAYERS:+--layers $LAYERS}  # default: the default atlas's layers
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/gpu.txt"
python3 -c "import jax, keras; print(jax.__version__, keras.__version__, jax.devices())" 2>&1 | tail -1
STEPS=${STEPS:-quality estimate unit}  # which of the checks below to run
# 1. Quality: fourier, then maco, on the first 64 filters of every default layer (self-recognition, silent filters).
if [[ " $STEPS " == *" quality "* ]]; then
    for method in fourier maco; do
        timeout "${T1:-150}" python3 bench/quality.py --methods $method --filters "$FILTERS" $LAYERS --weights "$W" \
            --json "$OUT/quality-$method-gpu-jax.json" --work /tmp/q 2>&1 | grep -v "━" | tee "$OUT/quality-$method.log"
    done
fi
# 2. The preview's estimate against a measured full build of the same filters, per layer (images and facets).
if [[ " $STEPS " == *" estimate "* ]]; then
    timeout "${T2:-200}" python3 bench/estimate.py --weights "$W" --filters "$FILTERS" $LAYERS \
        --record "$OUT/estimate-gpu-jax.json" 2>&1 | grep -v "━" | tee "$OUT/estimate.log"
fi
# 3. The same for one whole GPU unit (256 filters) of the deepest layer.
if [[ " $STEPS " == *" unit "* ]]; then
    timeout "${T3:-130}" python3 bench/estimate.py --weights "$W" --filters 0:256 --layers block5_conv3 \
        --record "$OUT/estimate-unit-gpu-jax.json" 2>&1 | grep -v "━" | tee "$OUT/estimate-unit.log"
fi
# 4. Conv2D own-filter heads on a GPU (off there until measured faster): STEPS=heads.
if [[ " $STEPS " == *" heads "* ]]; then
    timeout "${T4:-60}" python3 bench/variants.py --variant heads --batch-size 128 --precision mixed \
        --json "$OUT/heads-jax-gpu.json" 2>&1 | grep -v "━" | tee "$OUT/heads.log"
fi
# 5. The full default atlas end to end through `atlas build` (atlas.toml's per-layer steps, facets, dataset examples):
#    STEPS=full. Wall time and peak memory from /usr/bin/time; the plain progress lines give each layer's seconds,
#    which with bench/compute_floor.py's FLOPs per layer give its TFLOP/s.
if [[ " $STEPS " == *" full "* ]]; then
    /usr/bin/time -v timeout "${T5:-500}" python3 -m generator.cli build --config atlas.toml --profile full \
        --weights "$W" --out /tmp/full-atlas 2>&1 | tee "$OUT/full-atlas.log" | grep -v "━" | tail -30
    cp /tmp/full-atlas/run.json "$OUT/full-atlas-run.json" 2>/dev/null
    python3 bench/compute_floor.py --json "$OUT/full-atlas-floor-gpu-jax.json" 2>&1 | tail -8
fi
