"""The encoder's preset follows where the model runs (issue #23 item 3)."""

from stream.video.sink import GPU_PRESET, EncodeOptions


def test_the_default_preset_keeps_up_with_the_model():
    assert EncodeOptions().for_model_on("cpu").preset == "medium"  # the model is the slow stage there
    assert EncodeOptions().for_model_on("cuda").preset == GPU_PRESET == "veryfast"
    assert EncodeOptions(preset="slow").for_model_on("cuda").preset == "slow"  # asked for: kept
