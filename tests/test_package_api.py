"""The public API named in each package's ``__all__`` resolves to real objects."""

import importlib

import pytest


@pytest.mark.parametrize("package", ["kb", "psl"])
def test_every_exported_name_resolves(package):
    mod = importlib.import_module(package)
    missing = [n for n in mod.__all__ if getattr(mod, n, None) is None]
    assert missing == []


def test_psl_exports_are_the_module_objects():
    import psl
    from psl.hitrate.scorer import score
    from psl.models.checkpoint import load_model

    assert psl.score is score and psl.load_model is load_model
    with pytest.raises(AttributeError):
        psl.not_a_name  # noqa: B018
