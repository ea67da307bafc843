import os
import pickle
import struct
import subprocess
import sys
import types
from collections import OrderedDict
from pathlib import Path

import pytest
import safetensors.torch
import torch
from torch import nn

from kernels.errors import WeightsError
from kernels.pretrained import DEFAULT_PRETRAINED, PRETRAINED, depth_table, metadata, pretrained_path
from kernels.weights import KEY_MAP, Weights, load_drrn, read_weights, save_weights
from tests.conftest import random_drrn


def mxnet_params_bytes(named: dict[str, torch.Tensor]) -> bytes:
    """Write MXNet's NDArray-list format the way mx.nd.save does (float32, CPU)."""
    out = [struct.pack("<QQQ", 0x112, 0, len(named))]
    for t in named.values():
        out.append(struct.pack("<IiI", 0xF993FAC9, 0, t.dim()) + struct.pack(f"<{t.dim()}q", *t.shape))
        out.append(struct.pack("<iii", 1, 0, 0) + t.numpy().astype("<f4").tobytes())
    out.append(struct.pack("<Q", len(named)))
    for name in named:
        out.append(struct.pack("<Q", len(name)) + name.encode())
    return b"".join(out)


@pytest.fixture
def model() -> nn.Module:
    return random_drrn(units=3, channels=8)


def assert_same_weights(loaded: Weights, model: nn.Module) -> None:
    assert set(loaded.state_dict) == set(KEY_MAP)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict[name], tensor, rtol=0, atol=0)


def test_safetensors_round_trip_keeps_metadata(tmp_path, model):
    path = tmp_path / "w.safetensors"
    save_weights(path, Weights(model.state_dict(), {"units": "3", "psnr": "[37.6]"}))
    loaded = read_weights(path)
    assert_same_weights(loaded, model)
    assert loaded.units == 3
    assert loaded.metadata["psnr"] == "[37.6]"
    assert loaded.metadata["format"] == "drrn-stream"


def test_mxnet_params_convert_by_key_map(tmp_path, model):
    sd = model.state_dict()
    names = ["arg:learned_0", "arg:learned_1", "arg:learned_2", "arg:learned_3"]
    ours = ["conv_in.weight", "conv_a.weight", "conv_b.weight", "conv_out.weight"]
    path = tmp_path / "w.params"
    path.write_bytes(mxnet_params_bytes({n: sd[o] for n, o in zip(names, ours, strict=True)}))
    loaded = read_weights(path)
    assert_same_weights(loaded, model)
    assert loaded.metadata["converted_from"] == "mxnet:w.params"


class UpstreamDRRN(nn.Module):
    """The upstream port's layer names: input, conv1, conv2, output, no biases."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.input = nn.Conv2d(1, c, 3, padding=1, bias=False)
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.output = nn.Conv2d(c, 1, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)


def save_upstream_checkpoint(path: Path, model: nn.Module, legacy: bool) -> None:
    """Pickle a whole model object from a module `drrn` that will not exist at load time."""
    module = types.ModuleType("drrn")
    cls = type("DRRN", (UpstreamDRRN,), {"__module__": "drrn"})
    module.DRRN = cls
    sys.modules["drrn"] = module
    try:
        upstream = cls()
        for ours, (theirs, _) in KEY_MAP.items():
            getattr(upstream, theirs.split(".")[0]).weight.data.copy_(model.state_dict()[ours])
        torch.save({"epoch": 7, "model": nn.DataParallel(upstream)}, path, _use_new_zipfile_serialization=not legacy)
    finally:
        del sys.modules["drrn"]


@pytest.mark.filterwarnings("ignore:Couldn.t retrieve source code")
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_upstream_pytorch_checkpoint_loads_without_its_code(tmp_path, model, legacy):
    path = tmp_path / "model_epoch_7.pth"
    save_upstream_checkpoint(path, model, legacy)
    assert "drrn" not in sys.modules
    assert_same_weights(read_weights(path), model)


def test_plain_state_dicts(tmp_path, model):
    wrapped = OrderedDict((f"module.{theirs}", model.state_dict()[ours]) for ours, (theirs, _) in KEY_MAP.items())
    torch.save(wrapped, tmp_path / "sd.pth")
    assert_same_weights(read_weights(tmp_path / "sd.pth"), model)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "nested.pth")
    assert_same_weights(read_weights(tmp_path / "nested.pth"), model)
    safetensors.torch.save_file(dict(wrapped), str(tmp_path / "sd.safetensors"))
    loaded = read_weights(tmp_path / "sd.safetensors")
    assert_same_weights(loaded, model)
    assert loaded.units == 25  # foreign files carry no unit count: DRRN's published default


class CreatesFile:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("container", ["pickle", "torch-zip"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, container):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    payload = {"model": CreatesFile(marker)}
    if container == "pickle":
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path)
    assert not marker.exists()
    with pytest.raises(WeightsError, match=r"refused.*posix\.system|refused.*os\.system") as info:
        read_weights(path)
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_convert_cli_refuses_malicious_pickle_in_one_line(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"model": CreatesFile(marker)}, protocol=2))
    proc = subprocess.run(
        [sys.executable, "-m", "stream", "convert", str(path), str(tmp_path / "out.safetensors")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and "refused" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()


def test_weights_say_the_set_their_scores_are_on():
    """A run validated on its own pictures was said to score "Set5 x2 38.85", inflating what it measured."""
    from kernels.weights import describe

    scores = {"psnr": '{"2": 38.85}'}
    mine = Weights({}, {"units": "1", "validation": "set2, whole images"} | scores, source="run.safetensors")
    assert describe(mine) == "run.safetensors (B1U1), set2 x2 38.85 dB"
    assert describe(Weights({}, {"units": "25"} | scores, source="old.safetensors")).endswith(", Set5 x2 38.85 dB")
    assert describe(read_weights(pretrained_path(DEFAULT_PRETRAINED))).startswith(f"{DEFAULT_PRETRAINED} (B1U25), Set5")


def test_saved_weights_are_as_readable_as_the_umask_says(tmp_path):
    """safetensors' save_file writes through a private temporary file: every weights file came out 0600 under a
    022 umask, unreadable by the others meant to share them."""
    old = os.umask(0o022)
    try:
        save_weights(tmp_path / "w.safetensors", Weights(random_drrn(units=1, channels=8).state_dict(), {"units": "1"}))
    finally:
        os.umask(old)
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == 0o644
    assert read_weights(tmp_path / "w.safetensors").units == 1


@pytest.mark.parametrize("dst, said", [("nowhere/out.safetensors", "nowhere: no such folder"),
                                       ("folder.safetensors", "folder.safetensors: is a folder")])  # fmt: skip
def test_convert_to_where_it_cannot_write_is_one_line(tmp_path, tiny_weights, dst, said, capsys):
    """It was safetensors' "unexpected SafetensorError ... at path /nowhere/.tmpBBEIli" (a file it made up)."""
    from tests.cli_helpers import run_cli

    (tmp_path / "folder.safetensors").mkdir()
    code, _, err = run_cli(["convert", str(tiny_weights), str(tmp_path / dst), "-y"], capsys)
    assert code == 1 and err == f"error: {tmp_path / said}\n", err


def test_convert_keeps_the_depth_weights_say_they_were_trained_at(tmp_path, tiny_weights, capsys):
    """--units records the trained depth of foreign weights (MXNet's, upstream's: DRRN's 25 is only a guess);
    weights trained here say theirs, and --units 9 of B1U1 weights was written as trained at 9 units."""
    from tests.cli_helpers import run_cli

    code, _, err = run_cli(["convert", str(tiny_weights), str(tmp_path / "out.safetensors"), "--units", "9"], capsys)
    assert code == 1 and err == f"error: {tiny_weights}: trained as B1U1 (its metadata says), not --units 9\n", err
    assert not (tmp_path / "out.safetensors").exists()
    code, _, err = run_cli(["convert", str(tiny_weights), str(tmp_path / "out.safetensors"), "--units", "1"], capsys)
    assert code == 0 and read_weights(tmp_path / "out.safetensors").units == 1, err
    torch.save(read_weights(tiny_weights).state_dict, tmp_path / "foreign.pth")  # a state dict: no depth said
    code, _, err = run_cli(["convert", str(tmp_path / "foreign.pth"), str(tmp_path / "f.safetensors"), "--units", "9"],
                           capsys)  # fmt: skip
    assert code == 0 and read_weights(tmp_path / "f.safetensors").units == 9, err


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "unknown weights format"),
        (b"hello world, not weights", "unknown weights format"),
        (struct.pack("<QQQ", 0x112, 0, 4) + b"\x00" * 10, "corrupt MXNet"),
        (b"\x80\x02garbage", "not a readable PyTorch checkpoint"),
    ],
)
def test_corrupt_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=message) as info:
        read_weights(path)
    assert "\n" not in str(info.value)


def test_a_checkpoint_cut_short_anywhere_is_one_line_naming_it(tmp_path, model):
    """Cut in its records, torch's reader raised a bare OSError: "error: Invalid argument", no file named."""
    torch.save(model.state_dict(), tmp_path / "whole.pth")
    data, cut = (tmp_path / "whole.pth").read_bytes(), tmp_path / "cut.pth"
    for length in range(64, len(data), 97):
        cut.write_bytes(data[:length])
        with pytest.raises(WeightsError, match=r"cut\.pth: ") as info:
            read_weights(cut)
        assert "\n" not in str(info.value)


def test_weights_that_are_not_finite_are_refused(tmp_path, model):
    """NaN weights ran: eval printed NaN scores (no JSON: a strict parser refused it), enhance wrote NaN frames."""
    state = dict(model.state_dict())
    state["conv_out.weight"] = state["conv_out.weight"].clone()
    state["conv_out.weight"][0, 0, 1, 1] = float("nan")
    safetensors.torch.save_file(state, str(tmp_path / "nan.safetensors"))
    with pytest.raises(WeightsError, match=r"nan\.safetensors: its weights hold NaN or infinity"):
        read_weights(tmp_path / "nan.safetensors")


def test_wrong_shapes_and_missing_tensors_are_named(tmp_path, model):
    sd = dict(model.state_dict())
    sd["conv_out.weight"] = torch.zeros(2, 8, 3, 3)
    safetensors.torch.save_file(sd, str(tmp_path / "shape.safetensors"))
    with pytest.raises(WeightsError, match=r"conv_out.weight has shape \(2, 8, 3, 3\)"):
        read_weights(tmp_path / "shape.safetensors")
    del sd["conv_out.weight"]
    safetensors.torch.save_file(sd, str(tmp_path / "missing.safetensors"))
    with pytest.raises(WeightsError, match=r"missing conv_out\.weight"):
        read_weights(tmp_path / "missing.safetensors")
    with pytest.raises(WeightsError, match="no such weights file"):
        read_weights(tmp_path / "absent.safetensors")


def test_reference_weights_load_as_b1u25(reference_weights, tmp_path):
    model, weights = load_drrn(reference_weights)
    assert model.config.units == 25 and sum(p.numel() for p in model.parameters()) == 297_216
    converted = tmp_path / "ref.safetensors"
    save_weights(converted, weights)
    assert_same_weights(read_weights(converted), model)


def test_every_shipped_weights_file_loads_with_its_metadata():
    for name in PRETRAINED:
        model, weights = load_drrn(name)
        assert weights.metadata["name"] == name and weights.metadata["scales"] == "2,3,4"
        assert model.config.units == weights.units and "trained" in weights.metadata
        assert pretrained_path(name).stat().st_size < 2 * 2**20  # ships inside the package
        assert metadata(name) == weights.metadata  # the header, read without torch
    assert load_drrn()[1].metadata["name"] == DEFAULT_PRETRAINED
    assert min(depth_table()) == 1 and max(depth_table()) == 25  # the depths --units quotes in its help


def test_the_default_depth_is_the_cheapest_close_to_the_best_on_every_curve():
    import json

    from kernels.weights import Weights

    set5 = {"x2": {"9": 37.0, "17": 37.25, "25": 37.26}, "x4": {"9": 31.29, "17": 31.29, "25": 31.30}}
    clips = {"clean": {"17": 40.50, "25": 40.53}}  # 17 is 0.03 short here: 25 it is
    meta = {"units": "25", "psnr_by_units_Set5": json.dumps(set5)}
    assert Weights({}, meta).run_units == 17  # 9 is 0.26 short at x2
    assert Weights({}, meta | {"psnr_by_units_clips_x2": json.dumps(clips)}).run_units == 25
    assert Weights({}, {"units": "9"}).run_units == 9  # no curve: the trained depth


def test_heavily_compressed_input_has_its_own_depth_curves():
    import json

    from kernels.weights import curve_depth

    heavy = {"x2 x264:crf=28": {"1": 33.19, "3": 33.49, "5": 33.48, "17": 33.44},
             "x2 x264:crf=33": {"1": 31.13, "3": 31.27, "5": 31.24, "17": 31.20}}  # fmt: skip
    meta = {"units": "25", "psnr_by_units_clips_heavy": json.dumps(heavy)}
    assert curve_depth(meta, "heavy") == 3  # 5 is 0.03 short at CRF 33
    assert curve_depth(meta) is None and curve_depth({"units": "25"}, "heavy") is None  # none recorded
