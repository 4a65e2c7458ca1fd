"""The machine's own rate per layer: each default layer's optimisation step in the full profile, as FLOP/s and as a
share of this machine's dense matmul rate in the precision the build uses.

Per layer: one full batch (the batch size the build would choose) of the layer's first filters, both signs, timed
for a few steps after the compiling one (workers.time_steps, as the estimate does). The work per image step is
compute_floor.py's: the convolutions' forward and input gradient, only each image's own filter at the target
layer. The matmul rate is throughput.py's, for a 2048 x 2048 product in bfloat16 (mixed precision) or float32.

    python bench/layer_rate.py --json docs/measurements/layer-rate-cpu-tensorflow.json
    python bench/layer_rate.py --quick         # tiny-cnn: checks the script
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import machine, machine_line  # noqa: E402
from throughput import forward_flops, matmul_rate  # noqa: E402

from generator.build import workers  # noqa: E402
from generator.build.plan import plan_layers  # noqa: E402
from generator.config import AtlasConfig, resolve  # noqa: E402
from generator.model import backends  # noqa: E402
from generator.model.extractors import build_extractor  # noqa: E402
from generator.model.precision import precision_policy  # noqa: E402

TIMED_STEPS = 6  # the first compiles; the other five are timed one by one


def layer_rate(settings, loaded, plan, rate: float) -> dict:
    method = dataclasses.replace(plan.method, steps=TIMED_STEPS)
    task = workers.UnitTask(settings.source, plan.info.name, method, settings.batch_size,
                            tuple(plan.units[0].filter_ids))
    timing = workers.time_steps(task)
    with precision_policy(method.precision):
        flops = 2 * forward_flops(build_extractor(loaded, plan.info.name, method.target), method.size,
                                  own_filter=True)
    achieved = flops * timing.batch_size / timing.step_seconds
    return {"layer": plan.info.name, "size": method.size, "batch_size": timing.batch_size,
            "step_seconds": timing.step_seconds, "flops_per_image_step": flops,
            "flops_per_second": achieved, "share_of_matmul_rate": round(achieved / rate, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny-cnn and a small matmul: a check of the script")
    parser.add_argument("--json", help="also write the record to this file")
    arguments = parser.parse_args()
    info = machine()
    config = AtlasConfig(model="tiny-cnn" if arguments.quick else "vgg16-hed", profile="full", examples="none",
                         out="/tmp/unused", filters="0:8" if arguments.quick else None)
    settings = resolve(config, has_gpu=backends.gpu_available(), fast_bfloat16=backends.fast_bfloat16())
    dtype = "bfloat16" if settings.method.precision == "mixed" else "float32"
    rate = matmul_rate(256 if arguments.quick else 2048, dtype)
    with precision_policy(settings.method.precision):
        loaded = settings.source.load()
        plans = plan_layers(settings, loaded)
    rows = [layer_rate(settings, loaded, plan, rate) for plan in plans]
    print(machine_line(info) + f" · precision {settings.method.precision} · matmul {rate / 1e9:.1f} GFLOP/s "
                               f"({dtype})")
    for row in rows:
        print(f"{row['layer']:<14} {row['size']:>4} px, batch {row['batch_size']:>3}: {row['step_seconds']:.3f} s "
              f"a step, {row['flops_per_second'] / 1e9:7.1f} GFLOP/s = {row['share_of_matmul_rate']:.0%} of matmul")
    record = {"machine": info, "precision": settings.method.precision, "matmul_dtype": dtype,
              "matmul_flops_per_second": rate, "layers": rows}
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
