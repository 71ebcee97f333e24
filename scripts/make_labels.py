#!/usr/bin/env python3
"""Generate tresnet-zoo's bundled class-name files from public WordNet synset lists.

    python scripts/make_labels.py                  # reads timm's installed synset lists (timm/data/_info/)
    python scripts/make_labels.py --from DIR       # or any folder holding the same three files
    python scripts/make_labels.py --check          # exit 1 if the committed files differ from a fresh run

Inputs (facts, one item a line): ``imagenet_synsets.txt`` (the 1000 ImageNet-1k WordNet ids in class
order), ``imagenet21k_miil_synsets.txt`` (the 11221 ImageNet-21K-P classes of the MIIL weights, in class
order), ``imagenet_synset_to_lemma.txt`` (``wnid<TAB>lemmas``). Outputs, in ``tresnet_zoo/models/labels/``:
``imagenet-1k.tsv`` and ``imagenet-21k-miil.tsv.gz``, one ``wnid<TAB>lemmas`` line per class in class
order; the gzip stream carries no name and no time, so the same input gives the same bytes.

The synset lists are located without importing timm (``importlib.util.find_spec`` reads no module code).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import io
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tresnet_zoo" / "models" / "labels"
SETS = {  # output file -> (synset list, expected count)
    "imagenet-1k.tsv": ("imagenet_synsets.txt", 1000),
    "imagenet-21k-miil.tsv.gz": ("imagenet21k_miil_synsets.txt", 11221),
}
LEMMAS = "imagenet_synset_to_lemma.txt"
WNID = re.compile(r"^n\d{8}$")


def timm_info_dir() -> Path:
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("error: timm is not installed; pass --from DIR with the synset lists")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "_info"


def read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build(source: Path) -> dict[str, bytes]:
    lemmas: dict[str, str] = {}
    for line in read_lines(source / LEMMAS):
        wnid, _, text = line.partition("\t")
        lemmas[wnid] = " ".join(text.split())  # one line, single spaces: no tab or newline can leak out
    out: dict[str, bytes] = {}
    for name, (synsets, count) in SETS.items():
        wnids = read_lines(source / synsets)
        bad = [w for w in wnids if not WNID.match(w)]
        if bad or len(wnids) != count or len(set(wnids)) != count:
            raise SystemExit(f"error: {synsets}: expected {count} distinct WordNet ids, got {len(wnids)} ({bad[:3]})")
        missing = [w for w in wnids if not lemmas.get(w)]
        if missing:
            raise SystemExit(f"error: {LEMMAS} has no lemma for {len(missing)} ids of {synsets} ({missing[:3]})")
        text = "".join(f"{w}\t{lemmas[w]}\n" for w in wnids).encode("utf-8")
        if name.endswith(".gz"):
            buf = io.BytesIO()
            with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
                gz.write(text)
            text = buf.getvalue()
        out[name] = text
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", type=Path, help="folder with the synset lists [default: timm's]")
    parser.add_argument("--check", action="store_true", help="compare with the committed files; write nothing")
    args = parser.parse_args(argv)
    files = build(args.source or timm_info_dir())
    stale = [name for name, data in files.items() if not (OUT / name).is_file() or (OUT / name).read_bytes() != data]
    if args.check:
        for name in stale:
            print(f"{OUT / name}: differs from a fresh generation", file=sys.stderr)
        return 1 if stale else 0
    for name, data in files.items():
        tmp = OUT / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(OUT / name)
        print(f"wrote {OUT / name} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
