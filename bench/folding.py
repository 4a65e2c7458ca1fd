"""What folding batch normalisation into convolutions (generator/folding.py) buys: the batched classic step on
Xception (random weights, 200x200, 10 steps) through the folded and the unfolded extractor, alternating, in one
process. Prints filters per second per layer and records the machine.

    python bench/folding.py                          # block2, block4, block12 and block14_sepconv1
    python bench/folding.py --layers block4_sepconv1 --batch-size 8 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from throughput import SEED_LAYERS, machine, optimiser_rate  # noqa: E402

import generator  # noqa: E402,F401
from generator.model.extractors import build_extractor
from generator.model.models import load_model  # noqa: E402
from generator.model.quiet_keras import keras  # noqa: E402
from generator.optimisation.methods import MethodSettings  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", default=",".join(SEED_LAYERS))
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2, help="alternations of unfolded and folded per layer")
    parser.add_argument("--json", type=Path, default=Path("bench/results/folding.json"))
    options = parser.parse_args()
    info = machine()
    print(f"# {info['device']} · {info['cpu']} ({info['cpu_cores']} cores) · {info['backend']}")
    loaded = load_model("xception", "none")
    method = MethodSettings(name="classic", steps=10, learning_rate=10.0, size=200, target="output")
    rows = []
    print(f"{'layer':<18} {'unfolded':>9} {'folded':>9} {'gain':>6}   (filters per second, batch {options.batch_size})")
    for layer in options.layers.split(","):
        folded = build_extractor(loaded, layer)
        unfolded = keras.Model(loaded.model.inputs, loaded.model.get_layer(layer).output)
        rates = {"unfolded": [], "folded": []}
        for _ in range(options.repeats):
            for name, extractor in (("unfolded", unfolded), ("folded", folded)):
                result = optimiser_rate(extractor, method, options.batch_size, 1, loaded.preprocessing)
                rates[name].append(result["filters_per_second"])
        best = {name: max(values) for name, values in rates.items()}
        rows.append({"layer": layer, "batch_size": options.batch_size, "filters_per_second": rates,
                     "gain": best["folded"] / best["unfolded"]})
        print(f"{layer:<18} {best['unfolded']:>9.2f} {best['folded']:>9.2f} {rows[-1]['gain'] - 1:>+6.0%}")
    print("(best of the repeats)")
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
