"""`docs build` and `docs serve`: the documentation site generated from the index."""

from __future__ import annotations

import functools
import os
import shlex
from pathlib import Path
from typing import Optional

import typer

from .._deps import require
from ..errors import IndexNotFoundError, ZooEnvironmentError
from . import output
from .context import State

docs_app = typer.Typer(help="Build or serve the documentation site generated from the index.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(docs_app, name="docs")


@docs_app.command("build")
def build(
    ctx: typer.Context,
    out: Path = typer.Option(Path("site"), "--out", help="Folder for the built site."),
    index_path: Optional[Path] = typer.Option(None, "--index", help="Index to document (same as the global --index)."),
    upstream: Optional[Path] = typer.Option(None, "--upstream",
                                            help="Upstream page to list corrections against [default: the bundled "
                                                 "copy]."),
    pages: Optional[Path] = typer.Option(None, "--pages",
                                         help="Also keep the rendered Markdown and mkdocs.yml in this (new or empty) "
                                              "folder."),
    strict: bool = typer.Option(True, "--strict/--no-strict",
                                help="Fail on broken links and warnings (MkDocs strict)."),
    repo_url: Optional[str] = typer.Option(None, "--repo-url",
                                           help="Repository URL: links each entry to its source line."),
    site_url: Optional[str] = typer.Option(None, "--site-url",
                                           help="The site's public URL (canonical links, sitemap)."),
) -> None:
    """Render pages from the index (jinja2 templates in docs/), draw the chart, build with MkDocs Material.

    The site is built in a new folder and moved to --out, which must be new, empty, or a previous build.
    """
    _require_docs("build")
    from ..docs import build_site  # noqa: PLC0415 (the docs stack, ~0.3 GB of packages, only for this command)

    state: State = ctx.obj
    if upstream is not None and not upstream.is_file():
        raise IndexNotFoundError(f"upstream page {upstream} does not exist")
    result = build_site(out, index=index_path or state.index, upstream=upstream, pages=pages, strict=strict,
                        commands=_command_tree(ctx), repo_url=repo_url, site_url=site_url)
    output.line(f"built {result.page_count} pages ({result.corrections} corrections listed) into {out} "
                f"in {result.seconds:.1f} s")


def _require_docs(command: str) -> None:
    """The docs package imports jinja2/markupsafe at its top: without the extra, say which one is missing
    (exit 3 with the install command) before importing it, not an internal error."""
    require("jinja2", "markupsafe", "matplotlib", "mkdocs", "material", extra="docs",
            purpose=f"`docs {command}` renders pages and builds the site and")


def _command_tree(ctx: typer.Context):
    """The CLI's click command tree (the root of this command's context), handed to the docs (which never
    import the CLI) for the CLI reference."""
    return ctx.find_root().command


@docs_app.command("serve")
def serve(
    ctx: typer.Context,
    out: Path = typer.Option(Path("site"), "--out", help="Folder for the built site."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port (0 picks a free one)."),
    host: str = typer.Option("127.0.0.1", "--host"),
    index_path: Optional[Path] = typer.Option(None, "--index", help="Index to document (same as the global --index)."),
) -> None:
    """Build the site, then serve it over HTTP until Ctrl-C."""
    # noqa below: only `docs serve` starts a server
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer  # noqa: PLC0415 (only `docs serve`)

    _require_docs("serve")
    from ..docs import build_site  # noqa: PLC0415 (the docs stack, ~0.3 GB of packages, only for this command)

    state: State = ctx.obj
    index = index_path or state.index
    site = Path(os.path.abspath(os.path.expanduser(out)))
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    try:  # bound before the build: a host that does not resolve or a port in use fails fast, and cleanly
        httpd = ThreadingHTTPServer((host, port), handler)
    except (OSError, OverflowError) as exc:
        again = ["tresnet-zoo", "docs", "serve", "--out", str(out), "--port", "0"]
        again += ["--index", str(index)] if index else []
        raise ZooEnvironmentError(f"cannot serve on {host}:{port} ({getattr(exc, 'strerror', None) or exc})",
                                  hint=f"{shlex.join(again)}  # port 0 picks a free one") from None
    with httpd:
        url = f"http://{host}:{httpd.server_address[1]}/"
        output.line(f"building the site into {out} first (pages, chart, MkDocs: this takes a while); then serving it "
                    f"at {url}", err=True)
        result = build_site(out, index=index, commands=_command_tree(ctx))
        output.line(f"serving {result.site} at {url} (Ctrl-C stops)")
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
