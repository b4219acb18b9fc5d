"""The API page (book/api.md): every name it documents exists, every model states its bound
and names the chapter that derives it, and the page builds on its own with the book's
strict settings (-W -n), where a broken reference to the library still fails."""
from __future__ import annotations

import importlib
import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mvae_lib.models import MODEL_SPECS


def model_classes():
    return {name: spec.cls for name, spec in MODEL_SPECS.items()}

ROOT = Path(__file__).resolve().parents[1]
API = ROOT / "book" / "api.md"
DIRECTIVE = re.compile(r"^\.\. auto(\w+)::\s*(\S+)", re.M)
CHAPTER = re.compile(r'chapter "([^"]+)" \(``(book/\w+\.md)``\)')


def documented() -> list[tuple[str, str]]:
    """(directive, name) for every ``.. auto<directive>:: <name>`` line of the page."""
    return DIRECTIVE.findall(API.read_text())


def lookup(directive: str, name: str):
    """What autodoc documents for ``.. auto<directive>:: <name>``: a module, or an attribute
    of the module named by all but the last part."""
    if directive == "module":
        return importlib.import_module(name)
    module, attr = name.rsplit(".", 1)
    return getattr(importlib.import_module(module), attr)


def title(md: Path) -> str:
    return next(line[2:].strip() for line in md.read_text().splitlines() if line.startswith("# "))


def test_the_page_documents_each_name_once():
    names = [name for _, name in documented()]
    assert len(names) > 40, "the page lost its directives (or the pattern no longer finds them)"
    assert len(names) == len(set(names)), [n for n in names if names.count(n) > 1]


@pytest.mark.parametrize("directive, name", documented())
def test_every_documented_name_exists(directive, name):
    try:
        obj = lookup(directive, name)
    except (ImportError, AttributeError) as err:
        pytest.fail(f"book/api.md documents {name}, which mvae_lib does not have ({err})")
    expected = {"module": inspect.ismodule, "class": inspect.isclass, "function": inspect.isroutine,
                "exception": lambda o: inspect.isclass(o) and issubclass(o, BaseException),
                "data": lambda o: not (inspect.ismodule(o) or inspect.isclass(o) or inspect.isroutine(o))}
    assert expected[directive](obj), f"book/api.md documents {name} with auto{directive}"


def test_every_model_kind_is_on_the_page():
    on_page = {id(lookup(directive, name)) for directive, name in documented() if directive == "class"}
    missing = [kind for kind, cls in model_classes().items() if id(cls) not in on_page]
    assert not missing, f"add these models to book/api.md: {missing}"


@pytest.mark.parametrize("kind", sorted(model_classes()))
def test_each_model_states_its_bound_and_names_its_chapter(kind):
    doc = inspect.getdoc(model_classes()[kind])
    assert ".. math::" in doc, f"{kind}'s docstring has no .. math:: block with its bound"
    found = CHAPTER.search(" ".join(doc.split()))
    assert found, f'{kind}\'s docstring names no chapter as: chapter "<title>" (``book/<file>.md``)'
    name, path = found.groups()
    assert (ROOT / path).exists(), f"{kind}'s docstring names {path}, which does not exist"
    assert name == title(ROOT / path), f"{kind}'s docstring calls {path} {name!r}; it is {title(ROOT / path)!r}"


def test_nitpick_ignores_no_name_of_the_library():
    """Other packages' names are ignored by pattern; a broken mvae_lib reference must still fail."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    patterns = config["nitpick_ignore_regex"]
    names = [name for _, name in documented()]
    names += [n.rsplit(".", 1)[-1] for n in names] + ["mvae_lib", "mvae_lib.models.Modality", "mvae_lib.nope"]
    for kind, target in patterns:
        hits = [n for n in names if re.fullmatch(target, n)]
        assert not hits, f"nitpick_ignore_regex {target!r} would hide broken references to {hits}"


def test_the_extension_looks_names_up_as_python_and_as_import_paths():
    from mvae_lib import sphinx_api, train

    assert sphinx_api.lookup("mvae_lib.train") is train  # the re-exported function, not the module
    assert sphinx_api.lookup("mvae_lib.train.pick_device") is train.__globals__["pick_device"]
    assert sphinx_api.lookup("mvae_lib.MVAE.posterior") is lookup("class", "mvae_lib.VariationalModel").posterior
    assert sphinx_api.lookup("mvae_lib.no_such_name") is sphinx_api._MISSING


# --------------------------------------------------------------------------- builds

def build(folder: Path, page: str) -> subprocess.CompletedProcess:
    """Build a one-page book whose root page is ``page`` (MyST), with the book's _config.yml,
    strictly, inside ``folder``; this checkout's mvae_lib is the one imported."""
    src = folder / "src"
    (src / "book").mkdir(parents=True)
    (src / "book" / "page.md").write_text(page)
    shutil.copy(ROOT / "book" / "references.bib", src / "book" / "references.bib")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (src / "_toc.yml").write_text(yaml.safe_dump({"format": "jb-book", "root": "book/page"}))
    exe = Path(sys.executable).with_name("jupyter-book")
    exe = str(exe) if exe.exists() else shutil.which("jupyter-book")
    # everything it writes lands in ``folder``: the build, caches under HOME, no bytecode
    env = {**os.environ, "HOME": str(folder), "XDG_CACHE_HOME": str(folder / "cache"),
           "MPLCONFIGDIR": str(folder / "mpl"), "JUPYTER_DATA_DIR": str(folder / "jupyter"),
           "JUPYTER_CONFIG_DIR": str(folder / "jupyter"), "JUPYTER_RUNTIME_DIR": str(folder / "jupyter"),
           "IPYTHONDIR": str(folder / "ipython"), "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([exe, "build", "-W", "-n", "--keep-going", str(src)], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_api_page_builds_strictly_on_its_own(tmp_path):
    result = build(tmp_path, API.read_text())
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    html = (tmp_path / "src/_build/html/book/page.html").read_text()
    for directive, name in documented():
        anchor = f"module-{name}" if directive == "module" else name
        assert f'id="{anchor}"' in html, f"the built page has no entry for {name}"
    assert html.count('class="math notranslate nohighlight"') >= len(model_classes())


@pytest.mark.slow
def test_a_broken_reference_to_the_library_fails_the_build(tmp_path):
    page = """# Broken references

```{eval-rst}
.. autofunction:: mvae_lib.kl_normal

A defining module's path finds the public entry: :func:`mvae_lib.objectives.kl_normal`.
Neither a name the library lacks, :func:`mvae_lib.no_such_function`, nor one the page does
not document, :class:`mvae_lib.settings.Setting`, resolves.
```
"""
    result = build(tmp_path, page)
    warnings = [line for line in (result.stdout + result.stderr).splitlines() if "WARNING" in line]
    assert result.returncode != 0
    assert any("mvae_lib.no_such_function" in w for w in warnings), warnings
    assert any("mvae_lib.settings.Setting" in w for w in warnings), warnings
    assert not any("mvae_lib.objectives.kl_normal" in w for w in warnings), warnings
