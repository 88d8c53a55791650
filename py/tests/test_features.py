"""The package imports from an extension built without its optional cargo features (``log``,
``serve``: ``maturin build --no-default-features``): the classes they bring are then absent, and
using one names the feature. Checked here without a second build, by loading the package's
``__init__.py`` over a stand-in extension that lacks ``Log`` and ``Server``."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

import zcopy
from zcopy import _zcopy


def load_without(monkeypatch: pytest.MonkeyPatch, missing: tuple[str, ...]) -> types.ModuleType:
    name = "zcopy_without_features"
    fake = types.ModuleType(f"{name}._zcopy")
    for attr in dir(_zcopy):
        if attr not in missing:
            setattr(fake, attr, getattr(_zcopy, attr))
    monkeypatch.setitem(sys.modules, f"{name}._zcopy", fake)
    init = Path(zcopy.__file__)
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(init.parent)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, f"{name}._aio", raising=False)
    spec.loader.exec_module(module)
    return module


def test_without_log_and_serve_the_package_imports_and_names_the_missing_features(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    z = load_without(monkeypatch, ("Log", "Server"))
    assert "Log" not in z.__all__ and "Server" not in z.__all__
    assert callable(z.transfer) and z.prepare is zcopy.prepare
    for name, feature in (("Log", "log"), ("Server", "serve")):
        with pytest.raises(AttributeError, match=f"zcopy.{name} is not in this build.*cargo feature '{feature}'"):
            getattr(z, name)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        getattr(z, "nope")


def test_without_one_feature_the_other_class_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    z = load_without(monkeypatch, ("Server",))
    assert z.Log is zcopy.Log and "Log" in z.__all__ and "Server" not in z.__all__
    with pytest.raises(AttributeError, match="cargo feature 'serve'"):
        getattr(z, "Server")


def test_the_default_build_has_both() -> None:
    assert "Log" in zcopy.__all__ and "Server" in zcopy.__all__
    assert not hasattr(zcopy, "__getattr__")
