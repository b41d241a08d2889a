"""errors: the error tree (each error also is the matching builtin), messages, and `require`."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from openbind import errors
from openbind.errors import (
    BadInput,
    CheckpointMismatch,
    ChecksumMismatch,
    ConfigError,
    DecodeError,
    DownloadError,
    IndexMismatch,
    LimitExceeded,
    MissingExtra,
    MissingModality,
    MissingWeights,
    OpenbindError,
    RequestTimeout,
    SpaceMismatch,
    UnknownId,
    UnknownModel,
    VectorIndexError,
    WeightsError,
    require,
)

TREE = [
    (BadInput, (ValueError,)),
    (DecodeError, (BadInput, ValueError)),
    (UnknownModel, (KeyError,)),
    (MissingModality, (KeyError,)),
    (SpaceMismatch, (ValueError,)),
    (WeightsError, ()),
    (MissingWeights, (WeightsError, FileNotFoundError)),
    (ChecksumMismatch, (WeightsError,)),
    (CheckpointMismatch, (WeightsError,)),
    (DownloadError, (WeightsError,)),
    (MissingExtra, (ImportError,)),
    (ConfigError, (ValueError,)),
    (VectorIndexError, ()),
    (IndexMismatch, (VectorIndexError, SpaceMismatch)),
]


@pytest.mark.parametrize(("error", "bases"), TREE)
def test_error_tree(error, bases):
    assert issubclass(error, OpenbindError)
    for base in bases:
        assert issubclass(error, base)


def test_every_public_error_is_in_the_tree():
    public = [
        v for k, v in vars(errors).items() if isinstance(v, type) and issubclass(v, Exception)
    ]
    assert {e for e, _ in TREE} < set(public)
    assert all(issubclass(e, OpenbindError) for e in public)


@pytest.mark.parametrize("error", [UnknownModel, MissingModality])
def test_key_errors_print_their_message_unquoted(error):
    assert str(error("unknown model 'x'")) == "unknown model 'x'"
    assert str(error()) == ""


@pytest.mark.parametrize(
    ("source", "prefix"),
    [
        (Path("cat.jpg"), "cat.jpg"),
        ("short.wav", "short.wav"),
        ("x" * 81, "str[81]"),
        (b"abcde", "bytes[5]"),
        (3, "3"),
    ],
)
def test_bad_input_names_its_source(source, prefix):
    e = DecodeError("not an image", source=source)
    assert str(e) == f"{prefix}: not an image"
    assert e.source is source


def test_bad_input_without_source():
    e = BadInput("empty text")
    assert str(e) == "empty text" and e.source is None


def test_require_imports_or_names_the_extra():
    assert require("json", "core") is json
    with pytest.raises(MissingExtra) as e:
        require("openbind_no_such_module", "index")
    assert str(e.value) == (
        "openbind_no_such_module is needed for this; install it with: pip install 'openbind[index]'"
    )
    assert isinstance(e.value.__cause__, ImportError)


def test_every_error_survives_pickling_with_its_type_message_and_fields():
    from openbind.serve.inputs import InputError

    errors = [
        InputError("input[2]", "is empty"),
        LimitExceeded("too many pixels", setting="max_pixels", limit=5, source="a.png"),
        BadInput("cannot decode").at(3, "image"),
        RequestTimeout(5.0, "embedding the labels"),
        UnknownId(7, where="the library"),
    ]
    for e in errors:
        copy = pickle.loads(pickle.dumps(e))
        assert type(copy) is type(e) and str(copy) == str(e) and copy.args == e.args
        assert copy.__dict__ == e.__dict__
