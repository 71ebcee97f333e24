"""Fetching beyond single faults: concurrency, SIGKILL and resume, offline, verify/repair, the cache
commands, the Python API and pickled code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

FAST = ("--timeout", "5", "--retries", "2", "--quiet")


def tool_env(zoo) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRESNET_ZOO")}
    env["TRESNET_ZOO_CACHE"] = str(zoo.cache)
    return env


def size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # renamed into place (or claimed) since it was listed
        return 0


def spawn(zoo, *args: str) -> subprocess.Popen:
    code = "import sys; from tresnet_zoo.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, *zoo.args(*args)], env=tool_env(zoo),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_six_processes_download_once(zoo, server, checkpoints):
    ckpt = checkpoints["tresnet_m"]
    server.always(ckpt.filename, "slow", rate=60 << 20)  # ~2 s for the file: the processes overlap
    procs = [spawn(zoo, "fetch", "tresnet_m", *FAST, "--json") for _ in range(6)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [o[1] for o in outputs]
    results = [json.loads(out)["results"][0] for out, _ in outputs]
    assert sum(r["downloaded"] for r in results) == 1
    assert {r["sha256"] for r in results} == {ckpt.sha256}
    assert len(server.hits(ckpt.filename)) == 1
    assert zoo.final().read_bytes() == ckpt.data and not zoo.partials()


def test_sigkill_mid_download_leaves_no_final_file_and_the_next_fetch_resumes(cli, zoo, server, checkpoints):
    ckpt = checkpoints["tresnet_m"]
    server.always(ckpt.filename, "slow", rate=8 << 20)  # ~16 s for the whole file
    proc = spawn(zoo, "fetch", "tresnet_m", *FAST)
    while proc.poll() is None:  # until 4 MiB are on disk (the child ending first fails the asserts below)
        parts = zoo.partials()
        if parts and parts[0].stat().st_size >= 4 << 20:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert not zoo.final().exists()
    (partial,) = zoo.partials()
    kept = partial.stat().st_size
    assert 0 < kept < ckpt.size
    server.reset()
    result = cli(*zoo.args("fetch", "tresnet_m", *FAST))
    assert result.code == 0, result.text
    (request,) = server.hits(ckpt.filename)
    assert request["Range"] == f"bytes={kept}-"
    assert zoo.final().read_bytes() == ckpt.data and not zoo.partials()


def test_pickled_code_is_refused_by_fetch_verify(cli, zoo, server, checkpoints, tmp_path):
    import hashlib

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned > /dev/null",))

    evil = tmp_path / "evil.pth"
    torch.save({"model": Payload()}, evil)
    data = evil.read_bytes()
    name = f"tresnet_m-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    server.add(name, data)
    zoo.write(tresnet_m={"filename": name, "size": len(data)})
    result = cli(*zoo.args("fetch", "tresnet_m", "--verify", *FAST))
    assert result.code == 1 and "Traceback" not in result.text
    assert "refused to load: the checkpoint holds pickled code or objects" in result.err
    assert "torch.load(weights_only=True)" in result.err


@pytest.mark.parametrize("name, layout", [("tresnet_m", "timm"), ("tresnet_m_release", "release")])
def test_fetch_verify_loads_both_layouts(cli, zoo, name, layout):
    result = cli(*zoo.args("fetch", name, "--verify", *FAST, "--json"))
    assert result.code == 0, result.text
    (record,) = json.loads(result.out)["results"]
    assert record["checks"] == {"size": "ok", "sha256": "ok", "deep": "ok"}
    assert record["deep"]["layout"] == layout and record["deep"]["parameters"] == 31389032
    assert record["deep"]["logits_shape"] == [1, 1000]


def test_fetch_all_and_argument_errors(cli, zoo):
    result = cli(*zoo.args("fetch", "--all", *FAST))
    assert result.code == 0 and "2 of 2 files ok" in result.out
    assert cli(*zoo.args("fetch", *FAST)).code == 2
    assert cli(*zoo.args("fetch", "tresnet_m", "--all", *FAST)).code == 2
    assert cli(*zoo.args("fetch", "tresnet_q", *FAST)).code == 2


def test_offline_uses_the_cache_and_never_the_network(cli, zoo, server, checkpoints):
    result = cli(*zoo.args("fetch", "tresnet_m", "--offline", *FAST))
    assert result.code == 2 and "offline mode forbids downloading" in result.err  # a usage error
    assert not server.hits(checkpoints["tresnet_m"].filename)
    assert cli(*zoo.args("fetch", "tresnet_m", *FAST)).code == 0
    server.reset()
    result = cli(*zoo.args("fetch", "tresnet_m", "--offline", *FAST))
    assert result.code == 0 and "already cached" in result.out
    assert not server.hits(checkpoints["tresnet_m"].filename)


def test_offline_env_in_the_python_api(zoo, monkeypatch):
    import tresnet_zoo
    from tresnet_zoo.errors import OfflineError

    monkeypatch.setenv("TRESNET_ZOO_OFFLINE", "1")
    with pytest.raises(OfflineError):
        tresnet_zoo.fetch("tresnet_m", index=zoo.index, cache_dir=zoo.cache)


def test_verify_detects_tampering_and_truncation_and_repairs(cli, zoo, server, checkpoints):
    assert cli(*zoo.args("fetch", "--all", *FAST)).code == 0
    ok = cli(*zoo.args("verify"))
    assert ok.code == 0 and sum(line.endswith("  ok") for line in ok.out.splitlines()) == 2, ok.out
    tampered, truncated = zoo.final("tresnet_m"), zoo.final("tresnet_m_release")
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    truncated.write_bytes(truncated.read_bytes()[:1000])
    bad = cli(*zoo.args("verify", "--json"))
    assert bad.code == 1
    files = {f["name"]: f for f in json.loads(bad.out)["files"]}
    assert any("does not start with" in p for p in files["tresnet_m"]["problems"])
    assert any("size 1000 bytes" in p for p in files["tresnet_m_release"]["problems"])
    assert cli(*zoo.args("list", "--json")).code == 0
    repaired = cli(*zoo.args("verify", "--repair", "--deep"))
    assert repaired.code == 0, repaired.text
    assert repaired.out.count("(repaired: fetched again)") == 2 and "deep ok" in repaired.out
    assert tampered.read_bytes() == checkpoints["tresnet_m"].data


def test_cache_info_and_clear(cli, zoo, checkpoints):
    assert cli(*zoo.args("fetch", "tresnet_m", *FAST)).code == 0
    (zoo.cache / "notes.txt").write_text("not ours")
    (zoo.cache / (checkpoints["tresnet_m_release"].filename + ".abc.part")).write_bytes(b"123")
    from tresnet_zoo.weights.partials import this_host

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    live = zoo.cache / f"{checkpoints['tresnet_m_release'].filename}.{sleeper.pid}@{this_host()}.x1y2z3.part"
    live.write_bytes(b"12345")  # a download another process on this machine is writing now
    try:
        info = json.loads(cli(*zoo.args("cache", "info", "--json")).out)
        assert [f["file"] for f in info["files"] if f["verified"]] == [checkpoints["tresnet_m"].filename]
        assert sorted((p["size"], p["writer_alive"]) for p in info["partials"]) == [(3, None), (5, True)]
        cleared = cli(*zoo.args("cache", "clear", "--partials"))
        assert cleared.code == 0 and "kept 1 partial download(s) that a running process is writing" in cleared.out
        assert zoo.partials() == [live] and zoo.final().exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert cli(*zoo.args("cache", "clear", "--partials")).code == 0  # its writer is gone now
    assert not zoo.partials() and zoo.final().exists()
    assert cli(*zoo.args("cache", "clear")).code == 0
    assert not zoo.final().exists() and (zoo.cache / "notes.txt").exists()


def test_create_model_pretrained_loads_the_fetched_weights(zoo, checkpoints, tmp_path):
    import io

    import tresnet_zoo

    for name in ("tresnet_m", "tresnet_m_release"):
        model = tresnet_zoo.create_model(name, pretrained=True, index=zoo.index, cache_dir=zoo.cache)
        expected = torch.load(io.BytesIO(checkpoints["tresnet_m"].data), weights_only=True)
        got = model.state_dict()
        for key in ("body.conv1.conv.weight", "head.fc.weight", "body.layer3.0.conv2.conv.weight"):
            torch.testing.assert_close(got[key], expected[key])
    path = tresnet_zoo.fetch("tresnet_m", index=zoo.index, cache_dir=zoo.cache, verify=True)
    assert path == zoo.final()


def test_a_lock_that_is_never_released_does_not_block_forever(zoo, checkpoints, caplog):
    from filelock import FileLock

    from tresnet_zoo import load_index
    from tresnet_zoo.weights import Cache, DownloadConfig, FetchOptions, fetch_entry

    cache = Cache(zoo.cache)
    entry = load_index(zoo.index).get("tresnet_m")
    cache.lock_path(entry.weights_filename).parent.mkdir(parents=True, exist_ok=True)
    holder = FileLock(str(cache.lock_path(entry.weights_filename)))
    with holder.acquire():  # held (by a live owner) for longer than the fetch is willing to wait
        import threading

        box = {}
        worker = threading.Thread(target=lambda: box.update(
            r=fetch_entry(entry, FetchOptions(cache=cache, lock_timeout=0.5, config=DownloadConfig(read_timeout=5)))))
        worker.start()
        worker.join(timeout=60)
    assert box["r"].downloaded and box["r"].sha256 == checkpoints["tresnet_m"].sha256
    assert "lock not released after 0 s; downloading anyway" in caplog.text  # a logged warning, not a print


def test_cache_stays_correct_where_locks_do_nothing(zoo, server, checkpoints, monkeypatch):
    """NFS/Lustre: flock silently succeeds for everyone. Concurrent downloads must not corrupt the cache."""
    import threading

    import filelock

    from tresnet_zoo import load_index
    from tresnet_zoo.weights import Cache, DownloadConfig, FetchOptions, fetch_entry

    class NoLock:
        def __init__(self, *args, **kwargs):
            pass

        def acquire(self, *args, **kwargs):
            return self

        def release(self):
            pass

    monkeypatch.setattr(filelock, "FileLock", NoLock)
    ckpt = checkpoints["tresnet_m"]
    server.always(ckpt.filename, "slow", rate=100 << 20)
    entry = load_index(zoo.index).get("tresnet_m")
    results, errors = [], []

    def run():
        try:
            results.append(fetch_entry(entry, FetchOptions(cache=Cache(zoo.cache),
                                                           config=DownloadConfig(read_timeout=10))))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    threads[0].start()
    while not any(size_or_zero(p) > 0 for p in zoo.partials()) and threads[0].is_alive():
        time.sleep(0.01)
    assert zoo.partials(), "the first download never started"
    for t in threads[1:]:  # they start while the first one's partial is being written: never theirs to take
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == 3
    assert len(server.hits(ckpt.filename)) >= 2  # no lock: they really did download side by side
    assert zoo.final().read_bytes() == ckpt.data and not zoo.partials()
    assert Cache(zoo.cache).read_record(ckpt.filename).sha256 == ckpt.sha256


def test_a_partial_is_resumed_only_once_its_writer_is_gone(tmp_path):
    """Who may resume a partial: not while a thread of this process or a live process on this host
    writes it; yes once that writer is dead, or (another host) once it has not changed for a while."""
    from tresnet_zoo.weights import partials

    root = tmp_path
    name = "tresnet_m-5ad91da0.pth"
    mine = partials.create(root, name)
    assert partials.claim(root, name, stale_after=60) is None  # a thread here is writing it
    partials.release(mine)
    taken = partials.claim(root, name, stale_after=60)
    assert taken is not None and not mine.path.exists()
    assert [p for p, _ in partials.list_partials(root, name)[0]] == [taken.path]
    partials.release(taken)
    taken.path.unlink()

    def partial_of(pid: int, host: str) -> Path:
        path = tmp_path / f"{name}.{pid}@{host}.abcd1234.part"
        path.write_bytes(b"x")
        return path

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = partial_of(sleeper.pid, partials.this_host())
        assert partials.claim(root, name, stale_after=60) is None  # its writer is alive
    finally:
        sleeper.kill()
        sleeper.wait()
    taken = partials.claim(root, name, stale_after=60)  # now it is dead
    assert taken is not None and not alive.exists()
    partials.release(taken)
    taken.path.unlink()

    elsewhere = partial_of(os.getpid(), "another-host.example")
    assert partials.claim(root, name, stale_after=60) is None  # fresh, and no way to ask its writer
    old = time.time() - 120
    os.utime(elsewhere, (old, old))
    taken = partials.claim(root, name, stale_after=60)
    assert taken is not None and not elsewhere.exists()
    partials.release(taken)
    taken.path.unlink()

    for pid in (0, 10**19, 2**22 + 1):  # no live process has such a pid: never "alive forever"
        odd = partial_of(pid, partials.this_host())
        taken = partials.claim(root, name, stale_after=60)
        assert taken is not None and not odd.exists()
        partials.release(taken)
        taken.path.unlink()


def test_disk_full_mid_download_is_a_clean_error_and_the_next_fetch_resumes(zoo, server, checkpoints):
    """The writes to the partial fail part-way (RLIMIT_FSIZE: the kernel refuses to grow a file past
    3 MiB, as a full disk would): one clear line, no final file, and once there is room again the
    next fetch continues from what was written."""
    import resource

    ckpt = checkpoints["tresnet_m"]
    limit = 3 << 20

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    code = "import sys; from tresnet_zoo.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", code, *zoo.args("fetch", "tresnet_m", *FAST)], env=tool_env(zoo),
                          capture_output=True, text=True, preexec_fn=small_disk, timeout=120)
    assert proc.returncode == 3, proc.stderr  # the environment failed
    assert "the disk is full" in proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert f"error: tresnet_m: {ckpt.filename}: cannot write to the cache" in proc.stderr
    assert not zoo.final().exists()
    (partial,) = zoo.partials()
    assert 0 < partial.stat().st_size <= limit
    kept = partial.stat().st_size
    assert ckpt.data.startswith(partial.read_bytes())  # what was written is a clean prefix
    done = subprocess.run([sys.executable, "-c", code, *zoo.args("fetch", "tresnet_m", *FAST)], env=tool_env(zoo),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert server.hits(ckpt.filename)[-1].get("Range") == f"bytes={kept}-"  # resumed, not started over
    assert zoo.final().read_bytes() == ckpt.data and not zoo.partials()

