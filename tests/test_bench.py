"""The benchmark scripts run in a reduced form, so they cannot rot (the figures come from `make bench`)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_throughput_quick_runs_and_records_its_figures(tmp_path):
    output = tmp_path / "throughput.json"
    subprocess.run([sys.executable, str(ROOT / "bench/throughput.py"), "--quick", "--json", str(output)],
                   cwd=ROOT, check=True, capture_output=True, text=True)
    result = json.loads(output.read_text())
    assert result["machine"]["backend"] in ("tensorflow", "jax") and result["matmul_flops_per_second"]["float32"] > 0
    row = result["seed_comparison"][0]
    assert row["seed_loop_filters_per_second"] > 0 and row["batched"]["filters_per_second"] > 0
    assert row["batched"]["traces"] == 1 and row["step_flop_rate"] > 0
    assert result["atlas"]["num_filters"] == 36 and result["atlas"]["peak_host_rss_bytes"] > 0


def test_examples_scan_quick_runs_and_records_its_figures(tmp_path):
    output = tmp_path / "examples.json"
    subprocess.run([sys.executable, str(ROOT / "bench/examples_scan.py"), "--quick", "--json", str(output)],
                   cwd=ROOT, check=True, capture_output=True, text=True)
    result = json.loads(output.read_text())
    assert result["speed"]["images"] == 8 and result["speed"]["images_per_second"] > 0
    assert [row["images"] for row in result["memory"]] == [20, 60]
    assert all(row["peak_rss_bytes"] >= row["rss_before_scan_bytes"] > 0 for row in result["memory"])
