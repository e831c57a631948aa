"""Error reporting conventions: messages name the argument and value; paths keep their names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vslerp.errors import InputError, ModelUnavailableError, VslerpError, short_repr


def test_input_error_names_argument_value_and_problem():
    err = InputError("alpha", 7, "must be at most 3")
    assert str(err) == "alpha=7: must be at most 3"
    assert isinstance(err, ValueError) and isinstance(err, VslerpError)
    assert (err.argument, err.value, err.problem) == ("alpha", 7, "must be at most 3")


def test_arrays_are_described_not_dumped():
    text = short_repr(np.zeros((1000, 512), np.float32))
    assert text == "array(shape=(1000, 512), dtype=float32)"
    assert short_repr(torch.zeros(2, 3)) == "tensor(shape=(2, 3), dtype=torch.float32)"


def test_long_paths_keep_their_file_name():
    deep = Path("/data") / ("nested/" * 80) / "generator_outputs.npy"
    text = short_repr(deep)
    assert text.endswith("generator_outputs.npy'") and len(text) <= 400


def test_long_strings_keep_both_ends():
    text = short_repr("BEGIN" + "x" * 500 + "END", limit=60)
    assert text.startswith("'BEGIN") and text.endswith("END'") and "..." in text
    assert len(text) <= 60


def test_model_unavailable_is_a_user_error():
    assert issubclass(ModelUnavailableError, VslerpError)
