"""`mirror push` (cache -> folder or object store, manifest last) and `lock` (pin sizes and full sha256s)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..index import load_index
from ..weights import Cache
from . import output
from .context import State
from .hints import command
from .output import print_json

mirror_app = typer.Typer(help="Copy verified weights to a shared folder or an object store.", no_args_is_help=True)

__all__ = ["register"]

# what `check --links` found, by cause: a local file that is not there is missing, not a dead link
_LABELS = {"dead": "dead link", "size": "size differs", "unreachable": "unreachable", "missing": "missing file"}


def register(app: typer.Typer) -> None:
    app.add_typer(mirror_app, name="mirror")
    app.command("lock")(lock)


@mirror_app.command("push")
def push(
    ctx: typer.Context,
    dest: str = typer.Argument(..., help="A folder, file:// URL or object store (s3://bucket/prefix)."),
    names: Optional[List[str]] = typer.Argument(
        None, help="Model names or patterns [default: every cached file of the index]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results."),
    sign_key: Optional[Path] = typer.Option(None, "--sign", help="Sign the folder again after the push with this "
                                            "PEM private key (its tresnet-zoo.sig would be stale)."),
) -> None:
    """Copy cached, verified weight files to DEST (hashing while reading), then write its manifest last."""
    from ..weights.mirror import push as push_files  # noqa: PLC0415 (keeps CLI start-up from loading the weights code)
    from .sign import after_push, sign_target  # noqa: PLC0415 (--sign: sign.py)

    state: State = ctx.obj
    sign_target(dest, sign_key)
    index = state.load_index()
    entries = index.select(names or None)
    report = push_files(dest, entries, Cache(state.cache_root()), require_all=bool(names))
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "dest": report.dest,
                "manifest": report.manifest,
                "pushed": [line.to_dict() for line in report.pushed],
                "already": [line.to_dict() | {"checked_by": report.checked_by.get(line.file)}
                            for line in report.already],
                "not_cached": [{"name": n, "file": f} for n, f in report.not_cached],
                "problems": report.problems,
            }
        )
    else:
        for line in report.pushed:
            output.line(f"pushed: {line.entry}: {line.file} ({line.size} bytes, sha256 {line.sha256})")
        for line in report.already:
            how = ("its ETag is the MD5 of these bytes" if report.checked_by.get(line.file) == "etag"
                   else "sha256 verified")
            output.line(f"already there: {line.entry}: {line.file} (same {line.size} bytes, {how})")
        for problem in report.problems:
            output.error(problem)
        if report.problems:
            again = command(state, "mirror", "push", dest, *(names or []))
            output.line(f"manifest not written: {report.dest} is incomplete", err=True)
            output.line(f"hint: {again}  # again, once the errors above are fixed", err=True)
        elif report.manifest:
            count = len(report.pushed) + len(report.already)
            output.line(f"manifest: {report.manifest} ({count} file(s) of this push)")
        else:
            output.line("nothing to push: no file of these entries is in the cache")
            output.line(f"hint: {command(state, 'fetch', *(names or ['--all']))}  # fills the cache first", err=True)
    if report.problems:
        raise typer.Exit(1)
    after_push(dest, sign_key, changed=bool(report.pushed), as_json=as_json)


def lock(
    ctx: typer.Context,
    names: Optional[List[str]] = typer.Argument(None, help="Model names or patterns [default: every entry]."),
    out_path: Optional[Path] = typer.Option(
        None, "--output", "-o", help="Write this lock file instead of <index stem>.lock next to the index."
    ),
    update: bool = typer.Option(
        False, "--update", help="Replace lock lines that disagree with the cached, index-verified file."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results."),
) -> None:
    """Pin the exact size and full sha256 of every weight file verified in the cache (hashed now)."""
    from ..weights.lockfile import write_lock  # noqa: PLC0415 (keeps CLI start-up from loading the weights code)

    state: State = ctx.obj
    entries = state.load_index().select(names or None)
    report = write_lock(entries, Cache(state.cache_root()), output=out_path, update=update)
    nothing = report.ok and not report.locked and not report.written  # a lock of nothing would hold nothing
    if as_json:
        print_json(
            {
                "ok": report.ok and not nothing,
                "written": [str(p) for p in report.written],
                "locked": [{"name": n, "file": f, "size": s, "sha256": h} for n, f, s, h in report.locked],
                "not_cached": [{"name": n, "file": f} for n, f in report.not_cached],
                "problems": report.problems,
            }
        )
    else:
        for name, file, size, digest in report.locked:
            output.line(f"locked: {name}: {file} {size} bytes sha256 {digest}")
        for name, file in report.not_cached:
            output.line(f"not locked: {name}: {file} is not in the cache")
        for problem in report.problems:
            output.error(problem)
        for path in report.written:
            output.line(f"wrote {path}")
    # only what can be fetched: an entry whose weights have no hash is refused by fetch, so never hinted
    missing = [name for name, _ in report.not_cached if _fetchable(entries, name)]
    if not as_json and (nothing or missing):
        if nothing:
            output.error("nothing to lock: no file of these entries is in the cache; no lock file written")
        if missing:
            again = command(state, "lock", *(["--output", str(out_path)] if out_path else []), *(names or []))
            output.line(f"hint: {command(state, 'fetch', *missing)} && {again}  # fetch (verified), then lock",
                        err=True)
    if not report.ok or nothing:
        raise typer.Exit(1)


def _fetchable(entries, name: str) -> bool:
    return any(e.name == name and any(s.pinned for s in e.sources) for e in entries)


def check_links_command(paths, names, *, as_json: bool, timeout: float) -> None:
    """`check --links`: one line per problem; exit 1 on a dead link or a size mismatch, 3 when only unreachable."""
    from ..weights.links import check_links, links_offline  # noqa: PLC0415 (keeps CLI start-up from loading the weights code)

    index = load_index(paths)  # an invalid index is InvalidIndexError (exit 1), as for `check`
    report = check_links(index.select(names or None), offline=links_offline(), timeout=timeout)
    if as_json:
        print_json(report.to_dict())
    elif report.skipped:
        output.line(f"skipped: offline: {report.skipped}")
    else:
        for result in report.results:
            if result.problem:
                output.line(f"{_LABELS[result.status]}: {result.entry}: source {result.source} {result.url}: "
                            f"{result.message}")
        alive = sum(not r.problem for r in report.results)
        output.line(f"{alive} of {len(report.results)} links alive with the index's size ({report.seconds:.1f} s)")
    if report.no_dns:  # not one host name resolved: the network, not the index
        output.error("no host name of any source resolved: the network (or DNS) is unreachable from here",
                     "TRESNET_ZOO_OFFLINE=1 tresnet-zoo check --links  # skips the links; run it again where the "
                     "network is reachable")
        raise typer.Exit(1 if report.bad else 3)  # a dead source that needed no DNS is still the data's
    if report.bad:
        raise typer.Exit(1)
    if report.unreachable:
        raise typer.Exit(3)
