"""A stranger's attacks on the weights side (cache, servers, mirrors, checkpoints, predict), each one that
once got through kept here as a test: real files and loopback servers, nothing mocked."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile

import pytest
import torch

from tresnet_zoo.errors import CheckpointError
from tresnet_zoo.models.tresnet import build
from tresnet_zoo.predict import _checkpoint_classes

from .helpers.paths import PYTHON, UPSTREAM, python_env


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("img") / "a.png"
    Image.new("RGB", (40, 30), (10, 200, 30)).save(path)
    return path


@pytest.fixture(scope="module")
def expanded_head(tmp_path_factory):
    """A real tresnet_m state dict whose classifier is a stride-0 view declaring 10**8 rows: torch.save
    keeps one row of bytes, the pickle declares the rest (a ~117 MB file claiming an 819 GB head)."""
    state = {k: v.clone() for k, v in build("tresnet_m").state_dict().items()}
    state["head.fc.weight"] = torch.zeros(1, state["head.fc.weight"].shape[1]).expand(10**8, -1)
    state["head.fc.bias"] = torch.zeros(1).expand(10**8)
    path = tmp_path_factory.mktemp("ckpt") / "expanded.pth"
    torch.save(state, path)
    return path


def test_predict_checkpoint_head_rows_must_be_backed_by_bytes(cli, image, expanded_head):
    """The class count read from --checkpoint sized a fresh classifier before the file was loaded: 10**8
    declared rows asked for 819 GB and ended in exit 70. Rows the file does not hold do not count."""
    assert _checkpoint_classes(expanded_head) is None
    result = cli("predict", "tresnet_m", image, "--checkpoint", expanded_head)
    assert result.code == 1, result.text
    assert "internal error" not in result.text
    assert "head.fc.weight" in result.err


def _pickle_bomb(path, inflated: int) -> None:
    """A torch zip whose data.pkl is DEFLATE-compressed: a huge string (popped), then a real state dict."""
    buf = io.BytesIO()
    torch.save({"head.fc.weight": torch.zeros(3, 2)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if not info.filename.endswith("data.pkl"):
                out.writestr(info, data)
                continue
            zinfo = zipfile.ZipInfo(info.filename)
            zinfo.compress_type = zipfile.ZIP_DEFLATED
            with out.open(zinfo, "w", force_zip64=True) as handle:
                handle.write(b"\x80\x02X" + inflated.to_bytes(4, "little"))
                chunk = b"a" * (16 << 20)
                for _ in range(inflated // len(chunk)):
                    handle.write(chunk)
                handle.write(b"a" * (inflated % len(chunk)) + b"0" + data[2:])


def test_predict_checkpoint_compressed_pickle_refused_before_it_inflates(tmp_path, image):
    """Reading the class count ran torch.load on the uninspected file: a 1 MB zip whose pickle inflates to
    1.2 GB took ~4 GB of memory before the loader's own inspection refused it."""
    bomb = tmp_path / "bomb.pth"
    _pickle_bomb(bomb, 1_200_000_000)
    assert bomb.stat().st_size < 5 << 20
    with pytest.raises(CheckpointError, match="compressed"):
        _checkpoint_classes(bomb)
    code = (
        "import sys\n"
        "from tresnet_zoo.cli import main\n"
        f"code = main(['predict', 'tresnet_m', {str(image)!r}, '--checkpoint', {str(bomb)!r}])\n"
        # VmHWM: this process's own peak (ru_maxrss would carry the forking test process's peak over exec)
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print('maxrss_kb', hwm)\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=python_env(), timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "compressed" in proc.stderr
    rss_kb = int(proc.stdout.split("maxrss_kb")[1])
    assert rss_kb < 1_200_000, f"peak RSS {rss_kb} kB"


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tresnet_m-random.pth"
    torch.save(build("tresnet_m").state_dict(), path)
    return path


def test_predict_extreme_aspect_ratio_is_a_bounded_image_error(tmp_path, cli, image, random_checkpoint):
    """A 390-byte 2x30000 PNG (60k pixels, far under the header limit) resized its short side to 256 and
    its long side to 3.84 million: 4.7 GB of memory and 35 s; a 1x1000000 PNG ended in exit 70. The
    resize target is held to the pixel limit, and the other images still get their predictions."""
    from PIL import Image

    thin, thinner = tmp_path / "thin.png", tmp_path / "thinner.png"
    Image.new("RGB", (2, 30000), (1, 2, 3)).save(thin)
    Image.new("RGB", (1, 1_000_000), (1, 2, 3)).save(thinner)
    result = cli("predict", "tresnet_m", thin, thinner, image, "--checkpoint", random_checkpoint, "--json", "-q")
    assert result.code == 1, result.text
    assert "internal error" not in result.text
    assert "2 of 3 images failed" in result.err
    assert result.err.count("resizes to") == 2, result.err
    assert result.out.count('"predictions"') == 1, result.out


def _run_cli(args, *, timeout: float = 30, env: dict | None = None) -> tuple[int | str, str]:
    """The CLI in a child process, so that a hang is a failed assertion rather than a stuck test run."""
    code = "import sys; from tresnet_zoo.cli import main; sys.exit(main(sys.argv[1:]))"
    try:
        proc = subprocess.run([PYTHON, "-c", code, *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, env={**python_env(), **(env or {})})
    except subprocess.TimeoutExpired:
        return "hang", ""
    return proc.returncode, proc.stdout + proc.stderr


def test_special_files_in_a_mirror_folder_or_lock_never_block(cli, zoo, checkpoints, tmp_path):
    """A FIFO under the manifest's name made `mirror push` and `fetch --mirror` wait forever, as did a FIFO
    under a weight file's name in the push destination and a FIFO as the lock file; a manifest or lock nested
    100000 deep was exit 70. Each is now one clean error, in bounded time, and nothing is written through."""
    import os

    ckpt = checkpoints["tresnet_m"]
    assert cli(*zoo.args("fetch", "tresnet_m", "--quiet")).code == 0
    fifo_manifest = tmp_path / "m1"
    fifo_manifest.mkdir()
    os.mkfifo(fifo_manifest / "tresnet-zoo-manifest.json")
    fifo_file = tmp_path / "m2"
    fifo_file.mkdir()
    os.mkfifo(fifo_file / ckpt.filename)
    deep = tmp_path / "m3"
    deep.mkdir()
    (deep / "tresnet-zoo-manifest.json").write_text("[" * 100_000)
    fresh = ["--index", zoo.index, "--cache-dir", tmp_path / "fresh", "fetch", "tresnet_m", "--quiet", "--mirror"]

    got = _run_cli(zoo.args("mirror", "push", fifo_manifest, "tresnet_m"))
    assert got[0] == 1 and "not a regular file" in got[1], got
    got = _run_cli([*fresh, fifo_manifest])
    assert got[0] == 1 and "not a regular file" in got[1], got
    got = _run_cli(zoo.args("mirror", "push", fifo_file, "tresnet_m"))
    assert got[0] == 1 and "not a regular file" in got[1] and "does not replace it" in got[1], got
    assert not (fifo_file / "tresnet-zoo-manifest.json").exists()
    got = _run_cli([*fresh, deep])
    assert got[0] == 1 and "not valid JSON" in got[1], got

    lock = tmp_path / "fifo.lock.json"
    os.mkfifo(lock)
    got = _run_cli(zoo.args("fetch", "tresnet_m", "--quiet"), env={"TRESNET_ZOO_LOCK": str(lock)})
    assert got[0] == 1 and "not a regular file" in got[1], got
    lock.unlink()
    lock.write_text("{" * 100_000)
    got = _run_cli(zoo.args("fetch", "tresnet_m", "--quiet"), env={"TRESNET_ZOO_LOCK": str(lock)})
    assert got[0] == 1 and "not valid JSON" in got[1], got


def test_dripping_mirror_manifest_is_bounded_by_the_timeout(zoo, server, checkpoints, tmp_path):
    """An http mirror's manifest was read with a fixed 30 s read timeout and no deadline: a server sending a
    byte every 0.2 s kept `fetch --mirror URL --timeout 2` waiting ~2 days for a 1 MiB manifest. The whole
    manifest now has the fetch's timeout, and the error says so."""
    import json

    ckpt = checkpoints["tresnet_m"]
    manifest = {"format": "tresnet-zoo-mirror/1", "files": [
        {"entry": "tresnet_m", "file": ckpt.filename, "size": ckpt.size, "sha256": ckpt.sha256}]}
    server.add("mirror/tresnet-zoo-manifest.json", json.dumps(manifest).encode() + b" " * (1 << 20))
    server.always("mirror/tresnet-zoo-manifest.json", "drip", interval=0.2)
    got = _run_cli(["--index", zoo.index, "--cache-dir", tmp_path / "c", "fetch", "tresnet_m", "--quiet",
                    "--mirror", server.url("/mirror/"), "--timeout", "2"], timeout=40)
    assert got[0] == 3, got
    assert "not received within 2 s" in got[1], got  # the deadline the fetch reports having hit
    assert len(server.hits("mirror/tresnet-zoo-manifest.json")) == 1  # one request, given up: not retried
    assert not (tmp_path / "c" / ckpt.filename).exists()


@pytest.mark.parametrize("kind", ["file", "fifo", "loop", "dangling"])
def test_cache_root_that_is_not_a_folder_is_said_so_by_info_and_clear(cli, zoo, tmp_path, kind):
    """A cache folder name holding a symbolic link loop made `cache clear` exit 70; a file, FIFO or dangling
    link there made `cache info` and `cache clear` print an empty cache and "removed 0 file(s)", exit 0.
    Both now say what is in the way (exit 3, like fetch), and touch nothing."""
    import os

    root = tmp_path / "cache-root"
    if kind == "file":
        root.write_text("mine")
    elif kind == "fifo":
        os.mkfifo(root)
    elif kind == "loop":
        os.symlink(root, root)
    else:
        os.symlink(tmp_path / "nowhere", root)
    commands = (["cache", "info"], ["cache", "info", "--json"], ["cache", "clear"], ["cache", "clear", "--partials"])
    for command in commands:
        got = cli("--index", zoo.index, "--cache-dir", root, *command)
        assert got.code == 3, (command, got.text)
        assert "is not a folder" in got.err and "internal error" not in got.text, got.text
    assert os.path.lexists(root) and not (tmp_path / "nowhere").exists()
    if kind == "file":
        assert root.read_text() == "mine"


def test_missing_cache_folder_is_an_empty_cache(cli, zoo, tmp_path):
    got = cli("--index", zoo.index, "--cache-dir", tmp_path / "absent", "cache", "clear")
    assert got.code == 0 and "removed 0 file(s)" in got.out, got.text
    got = cli("--index", zoo.index, "--cache-dir", tmp_path / "absent", "cache", "info", "--json")
    assert got.code == 0, got.text


def _links_index(tmp_path, server, routes) -> object:
    lines = ["Models:"]
    for i, path in enumerate(routes):
        lines += [f"- Name: tresnet_m_l{i}", "  Metadata:", "    File Size: 100", f"  Weights: {server.url(path)}"]
    index = tmp_path / "links.yml"
    index.write_text("\n".join(lines) + "\n")
    return index


def test_check_links_hostile_headers_are_verdicts_not_crashes(tmp_path):
    """Content-Length '²' passes str.isdigit() and fails int(); 5000 digits exceed int()'s limit: each made a
    probe raise ValueError, and `check --links` exit 70. A size header that is not a plain ASCII number now
    counts as no size announced; the others' verdicts stand."""
    from .helpers.servers import LinkServer, Route

    routes = {
        "/sup/tresnet_m-00000001.pth": Route(200, 100, raw_length="\u00b2"),
        "/long/tresnet_m-00000002.pth": Route(200, 100, raw_length="9" * 5000),
        "/rsup/tresnet_m-00000003.pth": Route(200, 100, head=405, raw_range="bytes 0-0/\u00b9\u00b2"),
        "/rlong/tresnet_m-00000004.pth": Route(200, 100, head=405, raw_range="bytes 0-0/" + "7" * 5000),
        "/ok/tresnet_m-00000005.pth": Route(200, 100),
        "/wrong/tresnet_m-00000006.pth": Route(200, 100, raw_length="101"),
    }
    server = LinkServer(routes)
    try:
        got = _run_cli(["check", "--index", _links_index(tmp_path, server, routes), "--links", "--json"], timeout=60)
    finally:
        server.close()
    assert got[0] == 1, got
    assert "internal error" not in got[1]
    import json

    links = {item["name"]: item for item in json.loads(got[1][got[1].index("{"):])["links"]}
    assert [links[f"tresnet_m_l{i}"]["status"] for i in range(6)] == ["alive"] * 5 + ["size"], links


def test_check_links_dripped_headers_end_within_the_deadline(tmp_path):
    """A server sending one header byte every 0.3 s never trips the per-read timeout: the report came at the
    overall deadline, but the process then waited for the probe's thread at exit, for as long as the server
    went on. The process ends at its deadline: the server drips until it is closed, which is only after the
    child has exited (a child that waited for the probe would be "hang")."""
    from .helpers.servers import LinkServer, Route

    routes = {"/drip/tresnet_m-00000001.pth": Route(drip=0.3), "/ok/tresnet_m-00000002.pth": Route(200, 100)}
    server = LinkServer(routes)
    code = (
        "import json, sys\n"
        "from tresnet_zoo.index import load_index\n"
        "from tresnet_zoo.weights.links import check_links\n"
        "report = check_links(load_index(sys.argv[1]).select(None), timeout=1, deadline=2)\n"
        "print(json.dumps(report.to_dict()))\n"
    )
    try:
        proc = subprocess.run([PYTHON, "-c", code, str(_links_index(tmp_path, server, routes))], capture_output=True,
                              text=True, timeout=60, env=python_env())
        exited = True
    except subprocess.TimeoutExpired:
        exited = False
    finally:
        server.close()
    assert exited, "check_links outlived its deadline"
    assert proc.returncode == 0, proc.stderr
    links = {item["name"]: item for item in json.loads(proc.stdout)["links"]}
    assert links["tresnet_m_l0"]["status"] == "unreachable", links
    assert "no answer within the overall limit of 2 s" in links["tresnet_m_l0"]["message"], links
    assert links["tresnet_m_l1"]["status"] == "alive", links
    assert ("GET", "/ok/tresnet_m-00000002.pth") not in server.seen  # the healthy link cost one HEAD


@pytest.mark.parametrize("text", ["\u00b2", "9" * 5000])
def test_download_with_a_hostile_content_length_is_not_a_crash(cli, zoo, server, checkpoints, text):
    """The same header text that crashed `check --links` reached `int()` in the download (exit 70): a
    Content-Length that is not a plain number is no announced length; the bytes are still held to the index."""
    ckpt = checkpoints["tresnet_m"]
    server.fault(ckpt.filename, "raw_length", text=text)
    got = cli(*zoo.args("fetch", "tresnet_m", "--quiet"))
    assert got.code == 0, got.text
    assert zoo.final().read_bytes() == ckpt.data


def test_predict_json_with_a_file_name_that_is_not_utf8(tmp_path, random_checkpoint):
    """A file name that is not UTF-8 (bytes b'\\xff\\xfe') reaches --json as lone surrogates: with a strict
    UTF-8 stdout (any UTF-8 locale but C.UTF-8) writing them was exit 70. They are now written as JSON
    escapes: valid UTF-8 JSON that reads back as the same name."""
    import json
    import os

    from PIL import Image

    folder = tmp_path / "odd"
    folder.mkdir()
    odd = os.fsdecode(bytes(folder) + b"/\xff\xfe.png")
    Image.new("RGB", (40, 30), (9, 9, 9)).save(odd)
    for encoding in ("utf-8:strict", "ascii:strict"):
        code = "import sys; from tresnet_zoo.cli import main; sys.exit(main(sys.argv[1:]))"
        proc = subprocess.run([PYTHON, "-c", code, "predict", "tresnet_m", str(folder), "--checkpoint",
                               str(random_checkpoint), "--json", "-q"], capture_output=True, timeout=120,
                              env={**python_env(), "PYTHONIOENCODING": encoding})
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        data = json.loads(proc.stdout.decode("utf-8"))
        assert [r["file"] for r in data["results"]] == [odd]


def test_cache_names_a_neighbour_planted_are_shown_escaped(tmp_path):
    """The cache is shared: a neighbour's file name is theirs to choose. `cache clear` printed such names raw
    (ESC sequences reached the terminal: a title change, a cleared screen), and a name that is not UTF-8 made
    `cache info` and `cache clear` exit 70 under a strict UTF-8 stdout. Both show them escaped, and leave them."""
    import os

    root = tmp_path / "shared"
    (root / "records").mkdir(parents=True)
    names = [b"evil\x1b]0;PWNED\x07\x1b[2J.part", b"\xff\xfebad", b"records/\x1b[31mred.json"]
    for name in names:
        (root / os.fsdecode(name)).write_text("not yours")
    for command in (["cache", "info"], ["cache", "clear"]):
        proc = subprocess.run(
            [PYTHON, "-c", "import sys; from tresnet_zoo.cli import main; sys.exit(main(sys.argv[1:]))",
             "--cache-dir", str(root), *command],
            capture_output=True, timeout=120, env={**python_env(), "PYTHONIOENCODING": "utf-8:strict"})
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        out = proc.stdout.decode("utf-8")
        assert "\x1b" not in out and "\x07" not in out, out
        assert "evil\\x1b]0;PWNED\\x07\\x1b[2J.part" in out and "\\udcff\\udcfebad" in out, out
    assert all((root / os.fsdecode(name)).read_text() == "not yours" for name in names)


def test_lock_output_that_is_a_planted_link_is_refused_and_its_target_untouched(cli, tmp_path):
    """`lock --output NAME` where NAME is a symbolic link to someone else's file: the lock is neither read
    through the link nor written through it; the file it points at keeps its bytes."""
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    link = tmp_path / "team.lock"
    link.symlink_to(outside)
    page = tmp_path / "page.md"
    page.write_bytes(UPSTREAM.read_bytes())
    result = cli("--index", page, "lock", "--output", link)
    assert result.code == 1, result.text
    assert "not a link" in result.text and "Traceback" not in result.text
    assert link.is_symlink() and outside.read_text() == "precious"
