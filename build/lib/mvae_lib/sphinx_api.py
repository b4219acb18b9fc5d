"""Sphinx extension of the book's API page: one object, one entry, whatever path names it.

The page (``book/api.md``) documents each object once, under the name a reader imports it
by (``mvae_lib.MVAE``, not ``mvae_lib.models.MVAE``). Type hints and docstrings name
objects otherwise: a type hint by the module that defines the object
(``mvae_lib.models.Modality``), a docstring relative to the module it is written in
(``average_precision`` in the docstring of ``mvae_lib.evaluate.macro_average_precision``,
documented as ``mvae_lib.macro_average_precision``), or through a class that inherits it
(``mvae_lib.MVAE.posterior``). When Sphinx finds no entry for such a reference, this
extension imports what it names and, if that very object has an entry on the page under
another name, links there. A reference to an object that the page does not document
still fails the strict build (``-n -W``), as it should.

Enable it in ``_config.yml`` (``sphinx: extra_extensions: [mvae_lib.sphinx_api]``).
"""
from __future__ import annotations

import importlib
import inspect

from docutils import nodes
from sphinx import addnodes

_MISSING = object()
ROOT = __name__.split(".")[0]  # only names inside this package are looked up


def lookup(name: str):
    """The object a dotted name refers to, or _MISSING.

    As Python evaluates it first (``mvae_lib.train`` is the function that the package
    re-exports, not the module of that name), else as an import path
    (``mvae_lib.train.pick_device``: the longest importable module, then attributes).
    """
    parts = name.split(".")
    found = _as_expression(parts)
    if found is not _MISSING:
        return found
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


def _as_expression(parts: list[str]):
    try:
        obj = importlib.import_module(parts[0])
    except ImportError:
        return _MISSING
    for i, attr in enumerate(parts[1:], start=2):
        if inspect.ismodule(obj) and not hasattr(obj, attr):
            try:
                importlib.import_module(".".join(parts[:i]))  # a submodule not imported yet
            except ImportError:
                return _MISSING
        obj = getattr(obj, attr, _MISSING)
        if obj is _MISSING:
            return _MISSING
    return obj


def _linkable(obj) -> bool:
    # classes, functions and properties are unique objects; a value (a default of a
    # dataclass field, a small int) may be shared by unrelated names, so never match those
    return inspect.isclass(obj) or inspect.isroutine(obj) or isinstance(obj, property)


def documented_objects(env) -> dict[int, str]:
    """id(object) -> the name the page documents it under, for every class, function,
    method and property of the Python domain."""
    table: dict[int, str] = {}
    for name, entry in env.get_domain("py").objects.items():
        if getattr(entry, "aliased", False):
            continue
        obj = lookup(name)
        if obj is not _MISSING and _linkable(obj):
            table.setdefault(id(obj), name)
    return table


def _enclosing_object(node):
    """The object whose description holds ``node`` (its docstring or its fields), if any."""
    parent = node.parent
    while parent is not None and not isinstance(parent, addnodes.desc):
        parent = parent.parent
    if parent is None:
        return _MISSING
    for sig in parent.findall(addnodes.desc_signature):
        if sig.get("fullname"):
            prefix = f"{sig['module']}." if sig.get("module") else ""
            return lookup(prefix + sig["fullname"])
    return _MISSING


def candidates(node) -> list[str]:
    """Dotted names ``node``'s target may mean: as written, in the documented name's module
    and class, and in the module (and class) where the enclosing docstring was written."""
    target = node["reftarget"].lstrip("~.")
    module, cls = node.get("py:module"), node.get("py:class")
    names = [target]
    if module:
        names += [f"{module}.{cls}.{target}"] if cls else []
        names.append(f"{module}.{target}")
    owner = _enclosing_object(node)
    if owner is not _MISSING:
        owner_cls = owner if inspect.isclass(owner) else None
        if owner_cls is None and inspect.isroutine(owner) and "." in getattr(owner, "__qualname__", ""):
            owner_cls = lookup(f"{owner.__module__}.{owner.__qualname__.rsplit('.', 1)[0]}")
        home = getattr(owner, "__module__", None)
        if owner_cls is not None and owner_cls is not _MISSING:
            names.append(f"{owner_cls.__module__}.{owner_cls.__qualname__}.{target}")
        if home:
            names.append(f"{home}.{target}")
    return names


def resolve_alias(app, env, node, contnode):
    """``missing-reference`` handler: link to the page's entry for the object the target names."""
    if node.get("refdomain") != "py":
        return None
    table = getattr(app, "_mvae_documented", None)
    if table is None:
        table = app._mvae_documented = documented_objects(env)
    for name in candidates(node):
        if name.split(".")[0] != ROOT:
            continue
        obj = lookup(name)
        if obj is _MISSING or not _linkable(obj) or id(obj) not in table:
            continue
        found = env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder, node["reftype"],
                                                  table[id(obj)], node, contnode)
        if isinstance(found, nodes.Element):
            return found
    return None


def forget(app, env) -> None:
    app._mvae_documented = None  # objects documented in this build, computed on first use


def setup(app):
    app.connect("env-updated", forget)
    app.connect("missing-reference", resolve_alias)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
