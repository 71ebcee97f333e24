"""tresnet-zoo benchmarks: each row is measured against a named baseline in the same run.

    python benchmarks/run.py            # every benchmark
    python benchmarks/run.py list       # only those whose name contains 'list'
    python benchmarks/run.py --quick    # fewer repeats

Prints a table: ours, the baseline, and the ratio (>1 means tresnet-zoo is better).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Row, median_process  # noqa: E402

BIN = Path(sys.executable).parent


def bench_list(repeat: int) -> list[Row]:
    """`tresnet-zoo list` against timm listing its pretrained TResNets, both as fresh processes."""
    exe = shutil.which("tresnet-zoo", path=str(BIN)) or "tresnet-zoo"
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, TRESNET_ZOO_CACHE=cache)
        ours = median_process([exe, "list"], repeat, env=env, cwd="/")
        timm = median_process(
            [sys.executable, "-c", "import timm; timm.list_models('tresnet*', pretrained=True)"],
            max(3, repeat // 3), env=env, cwd="/",
        )
    return [
        Row("list: wall time (median)", ours.seconds, timm.seconds, "timm.list_models", "s",
            f"peak RSS {ours.peak_rss_mb:.0f} MB vs {timm.peak_rss_mb:.0f} MB"),
    ]


TIMM_CHECK = """
import timm, torch
from torch.utils.flop_counter import FlopCounterMode
for name, size in [("tresnet_l", 224), ("tresnet_l", 448), ("tresnet_m", 224), ("tresnet_m", 448),
                   ("tresnet_xl", 224), ("tresnet_xl", 448)]:
    model = timm.create_model(name).eval()
    params = sum(p.numel() for p in model.parameters())
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randn(1, 3, size, size))
"""


def bench_check(repeat: int) -> list[Row]:
    """`tresnet-zoo check` of the bundled registry against timm building and FLOP-counting the same six."""
    exe = shutil.which("tresnet-zoo", path=str(BIN)) or "tresnet-zoo"
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, TRESNET_ZOO_CACHE=cache)
        ours = median_process([exe, "check"], max(3, repeat // 3), env=env, cwd="/")
        timm = median_process([sys.executable, "-c", TIMM_CHECK], 1, warmup=0, env=env, cwd="/")
    return [
        Row("check: six entries, wall (median)", ours.seconds, timm.seconds, "timm create_model + FlopCounterMode", "s",
            f"peak RSS {ours.peak_rss_mb:.0f} MB vs {timm.peak_rss_mb:.0f} MB (torch import alone ~650 MB)"),
    ]


def bench_inference(repeat: int) -> list[Row]:
    """CPU throughput of tresnet_m, batch 8 at 224 px, eval, no grad, timm's weights loaded into ours."""
    from inference import measure

    rates = measure(repeat=max(3, repeat // 2))
    return [
        Row("inference tresnet_m b8 224 (default, channels-last)", rates["ours"], rates["timm"], "timm tresnet_m",
            "img/s"),
        Row("inference tresnet_m b8 224 (contiguous: timm's ops)", rates["ours_contiguous"], rates["timm"],
            "timm tresnet_m", "img/s"),
        Row("inference tresnet_m b8 224 (fused BN, channels-last)", rates["fused"], rates["timm"], "timm tresnet_m",
            "img/s"),
    ] + ([Row("inference tresnet_m b8 224 (onnxruntime CPU, fused; predict --runtime onnx)", rates["onnxruntime"],
              rates["timm"], "timm tresnet_m eager", "img/s")] if "onnxruntime" in rates else [])


def bench_predict(repeat: int) -> list[Row]:
    """`predict` over 64 generated JPEGs at 224 px vs a plain timm script (timm model + transforms, batch 8)."""
    from predicting import measure

    r = measure(repeat=max(3, repeat // 5))
    return [
        Row("predict 64 JPEGs, tresnet_m 224 (decode threads, fused, channels-last)", r["ours_img_s"], r["timm_img_s"],
            "timm model + create_transform, batch 8", "img/s",
            f"{r['ours_s']:.2f} s vs {r['timm_s']:.2f} s; same top-1 classes"),
    ]


def bench_fetch(repeat: int) -> list[Row]:
    """A ~315 MB TResNet-XL checkpoint over loopback (python -m http.server): fetch vs curl; verify vs hashlib."""
    from fetching import measure

    r = measure(repeat=max(3, repeat // 3))
    return [
        Row(f"fetch {r['size_mb']:.0f} MB: API call (transfer+sha256+fsync+rename)", r["api_mb_s"], r["curl_mb_s"],
            "curl -o (no fsync)", "MB/s"),
        Row(f"fetch {r['size_mb']:.0f} MB: CLI wall, start-up included", r["fetch_mb_s"], r["curl_mb_s"],
            "curl -o (no fsync)", "MB/s",
            f"peak RSS {r['fetch_peak_mb']:.0f} MB; {r['small_peak_mb']:.0f} MB for a "
            f"{r['small_size_mb']:.0f} MB file"),
        Row("verify cached file (size + sha256 + record)", r["verify_s"], r["hashlib_s"], "hashlib.sha256 alone", "s",
            f"CLI `verify` wall {r['verify_cli_s']:.2f} s"),
    ]


JSONSCHEMA_ALONE = """
import json, sys, yaml
from jsonschema import Draft202012Validator
from tresnet_zoo._resources import schema_path
validator = Draft202012Validator(json.loads(schema_path().read_text()))
doc = yaml.load(open(sys.argv[1], encoding="utf-8"), Loader=yaml.CSafeLoader)
assert not any(True for _ in validator.iter_errors(doc))
"""

UNMEMOIZED_CHECK = """
import sys
from tresnet_zoo import load_index
from tresnet_zoo.measure import count_unmemoized
from tresnet_zoo.models.variants import resolve_variant
for entry in load_index(sys.argv[1]).select(sys.argv[2:]):
    count_unmemoized(resolve_variant(entry.name, entry.metadata.id), entry.metadata.image_size, entry.num_classes)
"""

# every distinct (variant, image size, classes) of the v1 entries, built and counted by timm
TIMM_DISTINCT = """
import timm, torch
from torch.utils.flop_counter import FlopCounterMode
for name, size, classes in [("tresnet_l", 224, 1000), ("tresnet_l", 448, 1000), ("tresnet_m", 224, 1000),
                            ("tresnet_m", 448, 1000), ("tresnet_xl", 224, 1000), ("tresnet_xl", 448, 1000),
                            ("tresnet_m", 224, 11221)]:
    with torch.device("meta"):
        model = timm.create_model(name, num_classes=classes).eval()
    sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False), torch.no_grad():
        model(torch.empty(1, 3, size, size, device="meta"))
"""

V1 = "tresnet_[mlx]*"  # the entries whose architecture is built today; tresnet_v2_l is issue 11's (h11)


def bench_growth(repeat: int, sizes: tuple[int, ...] = (60, 600, 6000)) -> list[Row]:
    """validate, list and check of indexes of 60/600/6000 copies of the bundled entries (issue 13)."""
    from growth import write_index

    exe = shutil.which("tresnet-zoo", path=str(BIN)) or "tresnet-zoo"
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TRESNET_ZOO_CACHE=str(Path(tmp) / "cache"))
        for n in sizes:
            path = str(write_index(Path(tmp), n))
            few = max(1, repeat // 5) if n >= 6000 else max(3, repeat // 3)
            alone = median_process([sys.executable, "-c", JSONSCHEMA_ALONE, path], 1 if n >= 6000 else few, warmup=0,
                                   env=env, cwd="/")
            ours = median_process([exe, "validate", path], few, env=env, cwd="/")
            rows.append(Row(f"validate {n} entries, wall (median)", ours.seconds, alone.seconds,
                            "jsonschema alone (libyaml load + iter_errors)", "s"))
            ours = median_process([exe, "--index", path, "list", "--json"], few, env=env, cwd="/")
            rows.append(Row(f"list --json {n} entries, wall (median)", ours.seconds, alone.seconds,
                            "jsonschema alone (libyaml load + iter_errors)", "s"))
            ours = median_process([exe, "--index", path, "check", "--json", V1], 1, env=env,
                                  cwd="/")  # rich tables of 1000s of rows cost seconds
            if n <= 60:
                base = median_process([sys.executable, "-c", UNMEMOIZED_CHECK, path, V1], 1, warmup=0, env=env, cwd="/")
                rows.append(Row(f"check {n} entries (v1), wall", ours.seconds, base.seconds,
                                "count every entry, no memo", "s"))
            else:
                base = median_process([sys.executable, "-c", TIMM_DISTINCT], 1, warmup=0, env=env, cwd="/")
                rows.append(Row(f"check {n} entries (v1), wall", ours.seconds, base.seconds,
                                "timm create_model + FlopCounterMode, distinct configs only", "s"))
        # issue 16's target: 6000 copies, and 6000 distinct head sizes, within 2x the bundled registry's check
        bundled = median_process([exe, "check", "--json", V1], 1, env=env, cwd="/")
        for heads in (False, True):
            path = str(write_index(Path(tmp), max(sizes), distinct_heads=heads))
            ours = median_process([exe, "--index", path, "check", "--json", V1], 1, warmup=0, env=env, cwd="/",
                                  codes=(0, 1))  # distinct heads: the copied Parameters and FLOPs read wrong
            what = "distinct num_classes" if heads else "copies"
            rows.append(Row(f"check {max(sizes)} entries ({what}), wall", ours.seconds, bundled.seconds,
                            "check of the bundled registry (target: ratio >= 0.5)", "s",
                            f"peak RSS {ours.peak_rss_mb:.0f} MB (target <= 1024) vs {bundled.peak_rss_mb:.0f} MB"))
    return rows


def bench_hostile(repeat: int) -> list[Row]:
    """`--index CASE list` of the hostile index corpus (tests/test_index_hostile_files.py's resource cases: alias bombs,
    devices, huge files, quadratic scans), the slowest case against `list` of the bundled registry: refusing a
    hostile index must cost about what reading a good one does."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.test_index_hostile_files import MEASURED, _materialize

    exe = shutil.which("tresnet-zoo", path=str(BIN)) or "tresnet-zoo"
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TRESNET_ZOO_CACHE=str(Path(tmp) / "cache"))
        base = median_process([exe, "list"], max(3, repeat // 3), env=env, cwd="/")
        worst, worst_name = None, ""
        for case in MEASURED:
            folder = Path(tmp) / case[0]
            folder.mkdir()
            path = _materialize(folder, case)
            run = median_process([exe, "--index", str(path), "list"], max(1, repeat // 5), env=env, cwd="/", codes=(1,))
            if worst is None or run.seconds > worst.seconds:
                worst, worst_name = run, case[0]
    return [
        Row(f"list of a hostile index, slowest of {len(MEASURED)} cases ({worst_name})", worst.seconds, base.seconds,
            "list of the bundled registry", "s", f"peak RSS {worst.peak_rss_mb:.0f} MB vs {base.peak_rss_mb:.0f} MB"),
    ]


def bench_loading(repeat: int) -> list[Row]:
    """A verified create_model("tresnet_xl", pretrained=True) from the cache vs build + torch.load + load_state_dict."""
    from loading import BUDGET, measure

    r = measure(repeat=max(5, repeat // 2))
    ratio = r["ours_s"] / r["baseline_s"]
    return [
        Row(f"create_model tresnet_xl pretrained, verified ({r['size_mb']:.0f} MB cached)", r["ours_s"],
            r["baseline_s"],
            "build + torch.load + load_state_dict, no hash", "s",
            f"cost ratio {ratio:.3f} (budget {BUDGET}); no random init before a strict load"),
        Row("  of which: read + sha256 + state from those bytes", r["io_ours_s"], r["io_baseline_s"],
            "torch.load(path), no hash", "s", "the hash's price, paid out of the skipped init"),
    ]


def bench_docs(repeat: int) -> list[Row]:
    """`docs build` of a 600-entry index (issue 13: under a minute) against plain `mkdocs build` of the same pages."""
    from docs_scale import measure

    r = measure(600)
    return [
        Row(f"docs build, {r['entries']} entries ({r['pages']} pages), wall", r["ours_s"], r["mkdocs_s"],
            "mkdocs build of the same pages", "s",
            f"target < 60 s: {'met' if r['ours_s'] < 60 else 'MISSED'}; search index lists every entry: "
            f"{r['search_has_all']}"),
    ]


def bench_object_store(repeat: int) -> list[Row]:
    """8 concurrent fetches of one ~300 MB object from a loopback S3 server (moto) vs 8 boto3 download_file."""
    from object_store import measure

    r = measure()  # one repetition: it moves 2 x 8 x 300 MB through a Python S3 server
    return [
        Row(f"s3 mirror: {r['processes']} concurrent fetches of {r['size_mb']:.0f} MB, aggregate", r["ours_mb_s"],
            r["boto_mb_s"],
            "8 x boto3 download_file", "MB/s",
            f"peak RSS per fetch {r['ours_peak_mb']:.0f} MB vs {r['boto_peak_mb']:.0f} MB; wall {r['ours_wall']:.1f} s "
            f"vs {r['boto_wall']:.1f} s"),
    ]


def bench_signing(repeat: int) -> list[Row]:
    """`verify-signature` of a 1.3 GB folder vs one hashlib sha256 pass, and vs `model_signing verify key`, the
    three run in turn in each round."""
    from signing import measure

    r = measure(repeat=max(3, repeat // 3))
    cpu = r["cpu_s"]
    note = (f"target: ratio >= {1 / 1.1:.2f} (at most 1.1x); {r['cpus']} CPUs, load "
            f"{r['load'][0]:.1f}-{r['load'][1]:.1f}; CPU s {cpu['ours']:.2f} vs {cpu['hashlib']:.2f}; "
            f"peak RSS {r['ours_peak_mb']:.0f} MB")
    return [
        Row(f"verify-signature {r['size_gb']:.1f} GB folder, CLI wall", r["ours_s"], r["hashlib_s"],
            "one single-threaded hashlib sha256 pass (own process)", "s", note),
        Row(f"verify-signature {r['size_gb']:.1f} GB folder, CLI wall", r["ours_s"], r["model_signing_s"],
            "model_signing verify key (same folder and signature)", "s",
            f"target: ratio >= 1.00; CPU s {cpu['ours']:.2f} vs {cpu['model_signing']:.2f}"),
    ]


BENCHMARKS = {"list": bench_list, "growth": bench_growth, "hostile": bench_hostile, "check": bench_check,
              "inference": bench_inference,
              "predict": bench_predict,
              "fetch": bench_fetch, "loading": bench_loading, "docs": bench_docs, "object_store": bench_object_store,
              "signing": bench_signing}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help="run benchmarks whose name contains one of these")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--sizes", default="60,600,6000", help="index sizes for the growth rows (comma-separated)")
    args = parser.parse_args(argv)
    repeat = 5 if args.quick else 15
    rows: list[Row] = []
    for name, bench in BENCHMARKS.items():
        if args.only and not any(o in name for o in args.only):
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        if bench is bench_growth:
            rows.extend(bench_growth(repeat, tuple(int(n) for n in args.sizes.split(","))))
        else:
            rows.extend(bench(repeat))

    from rich.console import Console
    from rich.table import Table

    table = Table(title="tresnet-zoo benchmarks (ratio > 1: tresnet-zoo better)")
    for col in ("benchmark", "tresnet-zoo", "baseline", "baseline is", "ratio", "note"):
        table.add_column(col, justify="right" if col in ("tresnet-zoo", "baseline", "ratio") else "left")
    for row in rows:
        fmt = (lambda v: f"{v:.3f} {row.unit}") if row.unit == "s" else (lambda v: f"{v:.1f} {row.unit}")
        table.add_row(row.name, fmt(row.ours), fmt(row.baseline), row.baseline_name, f"{row.speedup:.2f}x", row.note)
    Console(width=200).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
