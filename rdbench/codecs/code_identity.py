"""Which code made a record: the identity of a codec adapter's source, part of every record's key.

Why: a researcher changes a model's ``decompress``, runs again, and must get new numbers, not the
stored ones of the old code; and a mean must never mix both versions (docs/guarantees.md, "What
identifies a result"). The configuration hash covers parameters and the weights identity covers
checkpoints; this covers the code itself.

The identity is read from the source files, without importing anything:

* the files are the modules of the adapter class and of its base classes (so a plug-in built on
  :class:`rdbench.LearnedCodec` changes identity when rdbench's learned base does), plus every
  module they import from their own top-level package, transitively; inside rdbench only the
  coding stages (``rdbench.codecs``, ``rdbench.models``) count, not analysis or the CLI;
* each file is reduced to its tokens without comments, blank lines and docstrings, so editing
  documentation keeps the identity and any change of code changes it;
* a plug-in installed as a distribution is named with its version (``tinyhp 0.1 src:<hash>``);
  rdbench's own adapters read ``rdbench src:<hash>``;
* an adapter may declare ``code_version = "..."`` instead (e.g. a wrapper around a binary that
  wants only the binary's version to matter): then that string is the identity.
"""

from __future__ import annotations

import ast
import hashlib
import io
import sys
import tokenize
from functools import cache
from importlib import metadata
from pathlib import Path

#: Hex digits of the source hash kept in an identity (64 bits: no accidental collision).
HASH_CHARS = 16
#: How records stored before rdbench recorded which code made them (code '') are shown and selected.
UNRECORDED = "unrecorded"
#: Inside rdbench, the packages whose code changes what a codec produces.
_RDBENCH_CODING = ("rdbench.codecs", "rdbench.models")


def code_identity(adapter: type) -> str:
    """The identity of ``adapter``'s code (module docstring): declared, or distribution + source hash."""
    declared = getattr(adapter, "code_version", None)
    if declared:
        return f"declared {declared}"
    roots = [c.__module__ for c in adapter.__mro__ if c.__module__ not in ("builtins", "abc")]
    digest = source_hash(tuple(dict.fromkeys(roots)))
    top = adapter.__module__.split(".")[0]
    if top == "rdbench":
        return f"rdbench src:{digest}"
    dist = _distribution(top)
    return f"{dist[0]} {dist[1]} src:{digest}" if dist else f"{top} src:{digest}"


def short_code(code: str) -> str:
    """An identity for people and ``NAME@...`` selectors: the source hash (8 hex), the declared
    version, or :data:`UNRECORDED` for records stored before rdbench recorded code ('')."""
    if not code:
        return UNRECORDED
    if "src:" in code:
        return code.rsplit("src:", 1)[1][:8]
    return code.removeprefix("declared ")


@cache
def source_hash(modules: tuple[str, ...]) -> str:
    """Hash of the code of ``modules`` and what they import from their package (module docstring).

    Cached per process: Python runs the code as it was imported, so the first reading is also the
    right one for a file edited later while the process runs."""
    files: dict[str, Path] = {}
    pending = list(modules)
    while pending:
        name = pending.pop()
        if name in files:
            continue
        path = _module_file(name)
        if path is None:
            continue
        files[name] = path
        pending += [m for m in _imports(name, path) if _follows(name, m)]
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + _code_tokens(files[name]) + b"\0")
    return digest.hexdigest()[:HASH_CHARS]


def _follows(importer: str, imported: str) -> bool:
    """Whether an import belongs to the code: same top-level package; in rdbench, coding stages only."""
    if imported.split(".")[0] != importer.split(".")[0]:
        return False
    if imported.startswith("rdbench.") or imported == "rdbench":
        return imported.startswith(_RDBENCH_CODING)
    return True


def _module_file(name: str) -> Path | None:
    """The source file of module ``name``, found from its already imported top-level package's folder."""
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__file__", None):
        path = Path(module.__file__)
        return path if path.suffix == ".py" else None
    top, _, rest = name.partition(".")
    package = sys.modules.get(top)
    if package is None or not getattr(package, "__file__", None) or not rest:
        return None
    base = Path(package.__file__).parent.joinpath(*rest.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(name: str, path: Path) -> list[str]:
    """Modules ``path`` (module ``name``) imports, relative imports resolved; ``from a import b``
    gives both ``a`` and ``a.b`` (b may be a submodule; a name that is not one finds no file)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append(module)
            found += [f"{module}.{alias.name}" for alias in node.names if alias.name != "*"]
    return found


def _code_tokens(path: Path) -> bytes:
    """The file's tokens without comments, line breaks and docstrings (indentation as structure)."""
    source = path.read_bytes()
    try:
        docstrings = _docstring_starts(ast.parse(source))
        tokens = list(tokenize.tokenize(io.BytesIO(source).readline))
    except (SyntaxError, ValueError, tokenize.TokenError):
        return source
    kept = []
    after_docstring = False
    for token in tokens:
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING):
            continue
        if token.type == tokenize.STRING and token.start in docstrings:
            after_docstring = True
            continue
        if after_docstring and token.type == tokenize.NEWLINE:  # the docstring statement's end
            after_docstring = False
            continue
        after_docstring = False
        text = "" if token.type in (tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE) else token.string
        kept.append(f"{token.type}:{text}")
    return "\n".join(kept).encode()


def _docstring_starts(tree: ast.AST) -> set[tuple[int, int]]:
    """(line, column) of every module, class and function docstring."""
    starts = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                starts.add((first.lineno, first.col_offset))
    return starts


@cache
def _distribution(top: str) -> tuple[str, str] | None:
    """(name, version) of the installed distribution that provides package ``top``, if any."""
    for dist_name in metadata.packages_distributions().get(top, []):
        try:
            return dist_name, metadata.version(dist_name)
        except metadata.PackageNotFoundError:
            continue
    return None
