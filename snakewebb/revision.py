"""The git commit of this package's checkout, read without a ``git`` process.

Standard library only: the job adapters' resume fingerprint (:mod:`snakewebb.resume`)
and the provenance of every product (CAL_VCS) read it.
"""

from pathlib import Path

__all__ = ["source_revision"]


def _git_dir(root):
    dot_git = root / ".git"
    if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
        text = dot_git.read_text().strip()
        if text.startswith("gitdir:"):
            return (root / text[len("gitdir:"):].strip()).resolve()
        return None
    return dot_git if dot_git.is_dir() else None


def _resolve_ref(git_dir, ref):
    """The commit a ref names, from the loose ref file or packed-refs (None if absent)."""
    for base in (git_dir, _common_dir(git_dir)):
        loose = base / ref
        if loose.is_file():
            return loose.read_text().strip()
        packed = base / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
    return None


def _common_dir(git_dir):
    common = git_dir / "commondir"  # worktrees keep branches in the main repository
    return (git_dir / common.read_text().strip()).resolve() if common.is_file() else git_dir


def source_revision(root=None):
    """The git commit of the source tree at ``root`` (default: this package's checkout).

    Read from the repository's files (no ``git`` process): the commit ``HEAD`` names,
    directly or through its branch. ``RELEASE`` when ``root`` is not a git checkout (an
    installed release) or its ``HEAD`` cannot be resolved.
    """
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    try:
        git_dir = _git_dir(root)
        if git_dir is None:
            return "RELEASE"
        head = (git_dir / "HEAD").read_text().strip()
        commit = _resolve_ref(git_dir, head[4:].strip()) if head.startswith("ref:") else head
    except OSError:
        return "RELEASE"
    return commit or "RELEASE"
