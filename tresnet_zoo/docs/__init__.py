"""The docs site: Markdown pages rendered from the index with jinja2, a chart, then MkDocs Material."""

from .build import BuildResult, build_site, render_pages

__all__ = ["BuildResult", "build_site", "render_pages"]
