"""Every public name of ltfu.stats resolves to the function or class, even after every submodule has
been imported (a submodule sharing a public name would shadow it)."""

import importlib
import pkgutil

import ltfu.stats


def test_public_names_are_not_shadowed_by_submodules():
    for mod in pkgutil.iter_modules(ltfu.stats.__path__):
        importlib.import_module(f"ltfu.stats.{mod.name}")
    for name in ltfu.stats.__all__:
        obj = getattr(ltfu.stats, name)
        assert not isinstance(obj, type(ltfu.stats)), f"ltfu.stats.{name} is a module"
        assert callable(obj), name
