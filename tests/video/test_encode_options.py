"""The encoder's settings: the preset follows where the model runs (issue #23 item 3); what an encoder takes none of
is said."""

from stream.video.sink import GPU_PRESET, EncodeOptions
from tests.cli_helpers import run_cli
from tests.media import make_clip


def test_the_default_preset_keeps_up_with_the_model():
    assert EncodeOptions().for_model_on("cpu").default_preset == "medium"  # the model is the slow stage there
    assert EncodeOptions().for_model_on("cuda").default_preset == GPU_PRESET == "veryfast"
    assert EncodeOptions(preset="slow").for_model_on("cuda").preset == "slow"  # asked for: kept


def test_settings_an_encoder_takes_none_of_are_said_where_asked():
    """--crf 30 into FFV1 (lossless) and --preset slow into SVT-AV1 (whose presets are numbers) were dropped without
    a word; the default CRF, not asked, is nothing to say."""
    assert EncodeOptions(crf=30, preset="slow").unused_by("ffv1") == ["--crf 30", "--preset slow"]
    assert EncodeOptions(crf=30, preset="slow").unused_by("libsvtav1") == ["--preset slow"]
    assert EncodeOptions(crf=30, preset="slow").unused_by("libx265") == []
    assert EncodeOptions(crf=8).unused_by("mpeg2video") == []  # its quantiser follows the CRF
    assert EncodeOptions().unused_by("ffv1") == [] and EncodeOptions().quality == 18


def test_an_unused_crf_is_said_in_the_run(tmp_path, tiny_weights, capsys):
    clip = make_clip(tmp_path / "in.mp4", width=32, height=24, pts_ms=[0, 40], audio=False)
    args = [str(clip), str(tmp_path / "out.mkv"), "--weights", str(tiny_weights), "--codec", "ffv1", "--crf", "30"]
    code, _, err = run_cli(args, capsys)
    assert code == 0 and "--crf 30: ffv1 takes no such setting (x264 and x265 take both); left out" in err, err
