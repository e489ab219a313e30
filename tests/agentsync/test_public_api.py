"""`agentsync.__all__` is the public API: complete, importable, and nothing private leaks."""

from __future__ import annotations

import importlib
import pkgutil

import agentsync


def test_every_name_in_all_is_importable() -> None:
    for name in agentsync.__all__:
        assert hasattr(agentsync, name), name


def test_all_has_no_duplicates_and_no_private_names() -> None:
    assert len(agentsync.__all__) == len(set(agentsync.__all__))
    assert not [n for n in agentsync.__all__ if n.startswith("_") and n != "__version__"]


def test_public_classes_and_functions_defined_in_the_package_are_exported() -> None:
    """Anything a private module lists in its own __all__ and that users need must be
    re-exported; this catches a new public class that was never added to the package."""
    exported = set(agentsync.__all__)
    required = {"SyncedStore", "AsyncSyncedStore", "Escalation", "Contender", "AnthropicResolver"}
    assert required <= exported
    for info in pkgutil.iter_modules(agentsync.__path__):
        if not info.name.startswith("_"):
            continue
        module = importlib.import_module(f"agentsync.{info.name}")
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, Exception):
                assert name in exported, f"error {name} from {info.name} is not exported"


def test_errors_share_one_base() -> None:
    for name in agentsync.__all__:
        obj = getattr(agentsync, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, agentsync.AgentSyncError), name


def test_stores_are_langgraph_stores() -> None:
    from langgraph.store.base import BaseStore

    assert issubclass(agentsync.SyncedStore, BaseStore)
    assert issubclass(agentsync.AsyncSyncedStore, BaseStore)


def test_every_public_class_and_function_names_the_package_as_its_module() -> None:
    import inspect
    import pickle

    claimed = []
    for name in agentsync.__all__:
        obj = getattr(agentsync, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__ == "agentsync", f"{name}.__module__ == {obj.__module__!r}"
            assert obj.__qualname__ == name
            claimed.append(name)
    assert {"SyncedStore", "Escalation", "StaleEscalationError", "prefer_agents"} <= set(claimed)
    assert repr(agentsync.SyncedStore).startswith("<class 'agentsync.SyncedStore'")
    esc = agentsync.Escalation(("ns",), "k", "f", (agentsync.Contender("a", "op", 1),), ("f",))
    assert pickle.loads(pickle.dumps(esc)) == esc
    error = agentsync.StaleEscalationError("stale", esc, (esc,))
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), again.escalation, again.current) == ("stale", esc, (esc,))
