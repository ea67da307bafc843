import json
import math

import pytest
import torch

from kernels.inference import resolve_precision
from tests.cli_helpers import run_cli

KEYS = {"device", "precision", "peak_gflops", "model_gflops", "model_fraction", "model_mpx_s", "e2e_fps",
        "model_only_fps", "e2e_fraction"}  # fmt: skip


def test_bench_json_reports_the_three_measurements_consistently(capsys, tiny_weights):
    code, out, err = run_cli(
        ["bench", "--size", "48x32", "--frames", "3", "--units", "1", "--weights", str(tiny_weights), "--json"], capsys
    )
    assert code == 0, err
    result = json.loads(out)
    assert KEYS <= result.keys()
    auto = resolve_precision("auto", torch.device("cpu"))  # bf16 where the CPU has it natively, else fp32
    assert result["device"] == "cpu" and result["precision"] == auto and result["size"] == "48x32"
    assert result["peak_gflops"] > 0 and result["model_gflops"] > 0 and result["e2e_fps"] > 0
    # fractions are rounded to 3 decimals: small ones (a busy machine) only that closely
    ratio = result["model_gflops"] / result["peak_gflops"]
    assert math.isclose(result["model_fraction"], ratio, rel_tol=0.01, abs_tol=0.0005)
    ratio = result["e2e_fps"] / result["model_only_fps"]
    assert math.isclose(result["e2e_fraction"], ratio, rel_tol=0.01, abs_tol=0.0005)
    mpx = result["model_only_fps"] * 48 * 32 / 1e6
    assert math.isclose(result["model_mpx_s"], mpx, rel_tol=0.01, abs_tol=0.00005)  # rounded to 4 decimals
    assert set(result["busy"]) == {"decode", "model", "encode"}
    assert 0 < result["busy"]["model"] <= 1


@pytest.mark.parametrize("size", ["320", "30x20", "321x240", "axb"])
def test_bench_rejects_bad_sizes_in_one_line(capsys, size):
    code, _, err = run_cli(["bench", "--size", size], capsys)
    assert code == 1 and err.startswith("error:") and len(err.strip().splitlines()) == 1
