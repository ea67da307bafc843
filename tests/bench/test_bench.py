import json
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from kernels import onednn
from kernels.choice import ModelChoice
from kernels.model import flops_per_pixel
from kernels.pretrained import CONTENT_WEIGHTS
from kernels.resolve import precision_for
from stream.bench.measure import ISA_FLAGS, gemm_candidates, int8_candidates
from tests.cli_helpers import run_cli
from tests.conftest import random_drrn

KEYS = {"device", "precision", "peak_gflops", "model_gflops", "model_fraction", "model_mpx_s", "e2e_fps",
        "model_only_fps", "e2e_fraction"}  # fmt: skip


def counted_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        fn()
    return counter.get_total_flops()


@pytest.mark.parametrize("units, channels", [(1, 8), (3, 16)])
def test_useful_work_per_pixel_is_what_the_model_computes(units, channels):
    """The bench's convention (14.75 MFLOP per output pixel at B1U25) against PyTorch's own count."""
    model = random_drrn(units=units, channels=channels)
    assert counted_flops(lambda: model(torch.rand(1, 1, 12, 10))) == flops_per_pixel(units, channels) * 12 * 10


def test_each_gemm_peak_candidate_does_the_work_it_is_credited_with():
    for name, (run, flop) in gemm_candidates(torch.device("cpu"), torch.float32).items():
        assert counted_flops(run) == flop, name


@pytest.mark.skipif(not onednn.int8_available(), reason="this torch has no oneDNN int8 convolutions")
def test_each_int8_peak_candidate_does_the_work_it_is_credited_with():
    """All are square (c -> c, n x n x n): each output element sums as many products as it has channels or columns."""
    with torch.inference_mode():
        for name, (run, flop) in int8_candidates().items():
            out = run()
            assert isinstance(out, torch.Tensor) and flop == 2 * out.numel() * out.shape[1], name


def test_bench_json_reports_the_runs_it_was_asked_for(capsys, tiny_weights, strong_weights):
    args = ["--size", "48x32", "--frames", "3", "--units", "1", "--weights", str(tiny_weights)]
    code, out, err = run_cli(["bench", *args, "--compare", str(strong_weights), "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert KEYS <= result.keys()
    auto, _ = precision_for("auto", torch.device("cpu"))  # bf16 where the CPU has it natively, else fp32
    assert result["device"] == "cpu" and result["precision"] == auto and result["size"] == "48x32"
    assert (result["units"], result["frames"], result["scale"]) == (1, 3, 2)
    assert result["tiling"] == "tiles 768 + halo 16, batch 1"  # the CPU's default
    # the useful work is counted for the model that ran: 1 unit of 8 channels (tiny_weights), not B1U25
    per_pixel = result["model_gflops"] * 1e9 / (result["model_mpx_s"] * 1e6)
    assert math.isclose(per_pixel, flops_per_pixel(1, 8), rel_tol=1e-3)
    assert set(result["busy"]) == {"decode", "model", "encode"}
    assert 0 < result["busy"]["model"] <= 1
    assert result["backend"] == "PyTorch"
    [compared] = result["compared"]  # at its own depth, said: its frames per second are a deeper model's
    assert (compared["weights"], compared["units"]) == (str(strong_weights), 2)
    assert set(result["isa"]) <= set(ISA_FLAGS)  # the record names what decides int8 and bf16 speed
    if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512", "AVX512_BF16", "AMX"):  # as PyTorch sees the CPU
        assert "avx2" in result["isa"]


def test_the_cold_run_times_the_model_measured(capsys, monkeypatch):
    """Left to --content auto, the run from a cold start judged the synthetic x264 clip and ran the set for
    compressed input (at 9 units where no --units says), where the rest measured the clean set: e2e_wall_fps, which
    counts the model's building too, read above the warm pipeline's e2e_fps."""
    from stream.bench import measure

    cold: list[ModelChoice] = []
    monkeypatch.setattr(measure, "cold_run_fps", lambda options, src, dst: cold.append(options.model) or 1.0)
    code, out, err = run_cli(["bench", "--size", "48x32", "--frames", "2", "--units", "1", "--json"], capsys)
    assert code == 0, err
    [model] = cold
    assert not model.judged and (model.weights, model.units) == (CONTENT_WEIGHTS["clean"], json.loads(out)["units"])


@pytest.mark.parametrize("size", ["320", "30x20", "321x240", "axb", "100000x100000", "8200x64"])
def test_bench_rejects_bad_sizes_in_one_line(capsys, size):
    code, _, err = run_cli(["bench", "--size", size], capsys)
    assert code == 1 and err.startswith("error:") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["bench", "enhance", "eval", "export"])
@pytest.mark.parametrize("tile", ["1", "15"])
def test_tiles_below_the_floor_are_refused_in_one_line(capsys, command, tile):
    """A core of 1 px ran a 48-px window per output pixel: bench at 720p was 2300x a whole frame's work, unsaid."""
    code, _, err = run_cli([command, *(["in.mp4", "out.mp4"] if command == "enhance" else []), "--tile", tile], capsys)
    assert code == 2 and "'--tile'" in err and "16" in err and len(err.strip().splitlines()) == 1


def test_the_pipeline_rate_is_frames_over_the_whole_run(tmp_path, monkeypatch, tiny_weights):
    """Opening the input and the encoder's flush count, so the pipeline never reads faster than the
    model it runs (issue #25 item 11: first-to-last frame written read 305% of the model at tiny
    sizes). A clock that moves only when the input is opened: all the run's time is that."""
    from kernels.choice import ModelChoice
    from stream.bench import measure
    from stream.bench.synthetic import write_clip
    from stream.video.enhance import EnhanceOptions

    clock = [0.0]

    class SlowToOpen(measure.VideoSource):
        def __init__(self, *args, **kwargs) -> None:
            clock[0] += 10.0
            super().__init__(*args, **kwargs)

    clip = write_clip(tmp_path / "in.mp4", 24, 16, 4)
    options = EnhanceOptions(scale=2, model=ModelChoice(str(tiny_weights), device="cpu"))
    restorer = options.model.load().restorer
    monkeypatch.setattr(measure.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(measure, "VideoSource", SlowToOpen)
    fps, busy = measure.pipeline_run(restorer, options, clip, tmp_path / "out.mp4")
    assert fps == 4 / 10.0 and set(busy) == {"decode", "model", "encode"}


def test_a_stop_signal_in_a_pipeline_run_stops_the_bench(tmp_path, monkeypatch, tiny_weights):
    """The pipeline takes a stop signal as its run's end and returns: bench went on, printed its figures (an
    e2e_fraction of 2.2) and exited 0."""
    import signal

    from stream.bench import measure
    from stream.bench.synthetic import write_clip
    from stream.errors import Interrupted
    from stream.video.enhance import EnhanceOptions
    from stream.video.pipeline import Pipeline

    run = Pipeline.run

    def stopped_run(self):
        self.on_signal(signal.SIGINT)  # as Ctrl-C comes to its handler
        return run(self)

    clip = write_clip(tmp_path / "in.mp4", 24, 16, 2)
    options = EnhanceOptions(scale=2, model=ModelChoice(str(tiny_weights), device="cpu"))
    monkeypatch.setattr(Pipeline, "run", stopped_run)
    with pytest.raises(Interrupted):
        measure.pipeline_run(options.model.load().restorer, options, clip, tmp_path / "out.mp4")
    with pytest.raises(Interrupted):
        measure.cold_run_fps(options, clip, tmp_path / "cold.mp4")


def test_the_int8_peak_tries_int8_matmul_only_with_amx(monkeypatch):
    """Without AMX torch._int_mm took 30 s a call (an AVX2 EPYC): the peak took 4.5 minutes, deaf to Ctrl-C."""
    from stream.bench import measure

    monkeypatch.setattr(measure, "cpu_flags", lambda: {"avx2"})
    assert not [name for name in measure.int8_candidates() if "mm" in name.split()]


def test_the_table_says_what_it_measured(capsys, tiny_weights, strong_weights):
    """The table (stdout, as saved) named the host and the ISA alone: the size, depth, precision and tiling were on
    stderr or in --json only; a file compared at another depth was said "0.09x the model worker's" frames/s, its
    work per second unweighed."""
    args = ["bench", "--size", "48x32", "--frames", "2", "--units", "1", "--weights", str(tiny_weights),
            "--precision", "fp32", "--compare", str(strong_weights)]  # fmt: skip
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    measured = next(line for line in out.splitlines() if "measured" in line)
    assert "48x32 output, x2, B1U1, fp32 with PyTorch, tiles 768 + halo 16, batch 1, 2 frames a run" in measured
    compared = next(line for line in out.splitlines() if "(PyTorch, fp32, U2)" in line)
    assert "x the model worker's; " in compared and "x its at U1" in compared
