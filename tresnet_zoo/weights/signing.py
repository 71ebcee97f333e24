"""Signed mirrors in the OpenSSF Model Signing format (the ``model-signing`` package, the ``sign`` extra).

A signature is a Sigstore bundle (v0.3) whose DSSE envelope holds an in-toto statement listing every file
of a folder with its sha256 (predicate ``https://model_signing/signature/v1.0``, serialization ``files``).
``model-signing`` builds and checks the bundle, the envelope, the statement and the key or certificate
chain; tresnet-zoo reads the signature with a byte bound, checks the names it lists, and compares each
signed sha256 with one it computes itself while reading the file (regular files only, opened without
following a link, under folders opened the same way). A signature at ``DIR/tresnet-zoo.sig`` is not part of
what it signs.

``fetch`` from a mirror with a public key: ``signed_pins`` verifies the mirror's ``tresnet-zoo.sig`` first,
then each file's signed sha256 is one more pin, like a lock line (the download hashes while streaming and
refuses other bytes; the loader hashes again what it loads).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import stat
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from .._fs import ReadOnlyTargetError, atomic_write
from .._urls import redact
from ..errors import IntegrityError, UsageError, ZooEnvironmentError, ZooError

__all__ = [
    "SIGNATURE",
    "PUBLIC_KEY_ENV",
    "SignatureError",
    "SignedFiles",
    "Verified",
    "read_signature",
    "sign",
    "verify_signature",
    "signed_pins",
    "signed_digest",
    "stale_signature",
]

SIGNATURE = "tresnet-zoo.sig"  # at the root of a mirror; never part of what it signs
PUBLIC_KEY_ENV = "TRESNET_ZOO_PUBLIC_KEY"
MAX_SIGNATURE_BYTES = 4 << 20  # ~20,000 files; the same bound as a mirror manifest
MAX_KEY_BYTES = 1 << 20  # a PEM key or certificate chain
MAX_DEPTH = 32  # JSON nesting of a bundle is under 10
MAX_FILES = 100_000
MAX_FOLDER_DEPTH = 64
_GIT = (".git", ".gitattributes", ".github", ".gitignore")  # model-signing leaves these out by default
_READ = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_LOADING = threading.Lock()
_BLOCK = 1 << 20  # 1 MiB reads into one buffer: hashed while still in the CPU's cache (8 MiB: ~30% more CPU)


class SignatureError(ZooError):
    """A signature does not verify, does not cover the folder, or disagrees with a file or another pin (exit 1)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or "these are not the files the key's owner signed: restore them from "
                                               "the signer, or have the signer sign the folder again")


@dataclass(frozen=True)
class SignedFiles:
    """What a verified signature vouches for: file name -> sha256, and the paths it leaves out."""

    digests: dict[str, str]
    ignored: tuple[str, ...] = ()
    signer: str = ""  # "key sha256:<hash of the public key>" or "certificate <subject>"
    where: str = ""

    def is_ignored(self, name: str) -> bool:
        path = PurePosixPath(name)
        return any(path == PurePosixPath(p) or PurePosixPath(p) in path.parents for p in self.ignored)


@dataclass
class Verified:
    """A folder whose files were hashed now and match its signature."""

    folder: Path
    signature: Path
    signed: SignedFiles
    files: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> (size, sha256) hashed now

    def to_dict(self) -> dict:
        return {
            "ok": True,
            "folder": str(self.folder),
            "signature": str(self.signature),
            "signer": self.signed.signer,
            "ignored": list(self.signed.ignored),
            "files": [{"file": name, "size": size, "sha256": digest}
                      for name, (size, digest) in sorted(self.files.items())],
        }


# --- the model-signing library (the `sign` extra) -------------------------------------------------------


def _require(purpose: str) -> None:
    from .._deps import require  # noqa: PLC0415 (only the signing commands look for the extra)

    require("model_signing", "OpenSSL", extra="sign", purpose=purpose)


def _model_signing() -> None:
    """Make ``model_signing._signing.*`` importable without running ``model_signing/__init__.py``, which
    imports its keyless-Sigstore signer (sigstore, tuf, requests, and boto3 when installed: ~0.3 s of CPU)
    that key and certificate signatures never use. The package's own modules do all the work; a submodule
    named on the package is imported when first used, and ``__version__`` / ``__all__`` run the real
    ``__init__``."""
    with _LOADING:
        if "model_signing" not in sys.modules:
            sys.modules["model_signing"] = _model_signing_package()


def _model_signing_package():
    import importlib  # noqa: PLC0415 (only the signing commands)
    import importlib.util  # noqa: PLC0415 (only the signing commands)

    spec = importlib.util.find_spec("model_signing")
    package = importlib.util.module_from_spec(spec)

    def load(name: str):
        if name.isidentifier() and not name.startswith("__") and importlib.util.find_spec(f"model_signing.{name}"):
            return importlib.import_module(f"model_signing.{name}")
        if name not in ("__version__", "__all__"):
            raise AttributeError(f"module 'model_signing' has no attribute {name!r}")
        del package.__getattr__
        spec.loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = load
    return package


class _Held:
    """Bytes already read (with a bound, without following links) where model-signing expects a path: it
    only calls ``read_bytes`` / ``read_text`` on what it is given."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data, self.name = data, name

    def read_bytes(self) -> bytes:
        return self.data

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.data.decode(encoding)

    def __str__(self) -> str:
        return self.name


def _read_file(path: Path, limit: int, what: str, missing: type[ZooError] = UsageError, *,
               follow: bool = False) -> bytes:
    """A regular file's bytes (no FIFO; no link unless ``follow``: a key the user names may be one), at most
    ``limit``; a missing one is ``missing``."""
    try:
        fd = os.open(path, _READ & ~getattr(os, "O_NOFOLLOW", 0) if follow else _READ)
    except FileNotFoundError:
        raise missing(f"{what} {path} does not exist") from None
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise _read_error(path, exc) from None
        raise SignatureError(f"{what} {path} is a symbolic link; it must be a regular file") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SignatureError(f"{what} {path}: not a regular file")
        data = _read_at_most(fd, limit)
    except OSError as exc:
        raise _read_error(path, exc) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise SignatureError(f"{what} {path}: more than {limit} bytes")
    return data


def _pem(path, what: str) -> _Held:
    """A key or certificate file the user names, read with a bound (a link to it is followed)."""
    return _Held(_read_file(Path(path), MAX_KEY_BYTES, what, follow=True), str(path))


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks, total = [], 0
    while total <= limit and (block := os.read(fd, min(1 << 20, limit + 1 - total))):
        chunks.append(block)
        total += len(block)
    return b"".join(chunks)


def _read_error(path: Path, exc: OSError) -> ZooError:
    """A file or folder that cannot be read: permissions or the disk (exit 3), else the folder changed (exit 1)."""
    why = exc.strerror or str(exc)
    if isinstance(exc, PermissionError) or exc.errno in (errno.EIO, errno.ENOMEM):
        return ZooEnvironmentError(f"{path}: cannot be read ({why})")
    return SignatureError(f"{path}: cannot be read ({why}); did it change while it was read?")


def _depth(data: object) -> int:
    """The nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


def _name_problem(name: object) -> str | None:
    """Why a signed file name cannot name a file inside the folder, or None."""
    if not isinstance(name, str) or not name:
        return "an empty or non-text name"
    if any(ord(c) < 32 or c in "\\\x7f" for c in name):
        return f"{name!r} holds a control character or a backslash"
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or str(path) != name or name == ".":
        return f"{name!r} is not a plain relative name inside the folder"
    return None


def _signer_of(bundle) -> str:
    material = bundle.verification_material
    if getattr(material, "public_key", None) is not None and material.public_key.hint:
        return f"key sha256:{material.public_key.hint}"
    chain = getattr(material, "x509_certificate_chain", None)
    if chain is not None and chain.certificates:
        from cryptography import x509  # noqa: PLC0415 (the sign extra: only when a signature is read)

        return f"certificate {x509.load_der_x509_certificate(chain.certificates[0].raw_bytes).subject.rfc4514_string()}"
    return "key"


def read_signature(raw: bytes, *, public_key: Path | None = None, certificate_chain=(), where: str = SIGNATURE
                   ) -> SignedFiles:
    """Verify a signature's bundle, envelope and statement with model-signing against ``public_key`` (a PEM
    file) or, without one, the signing certificate's chain up to ``certificate_chain`` (PEM files; none:
    certifi's roots). Returns what it signs; SignatureError when anything does not verify."""
    _require("verifying a signature")
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise SignatureError(f"signature {where}: more than {MAX_SIGNATURE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
        parsed = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SignatureError(f"signature {where}: not a JSON Sigstore bundle ({str(exc)[:120]})") from None
    if not isinstance(parsed, dict) or _depth(parsed) > MAX_DEPTH:
        raise SignatureError(f"signature {where}: not a Sigstore bundle (not an object, or nested too deep)")
    verifier = _verifier(public_key, certificate_chain)
    from model_signing._signing import sign_sigstore_pb  # noqa: PLC0415 (the sign extra: imported by _verifier)

    try:
        signature = sign_sigstore_pb.Signature.read(_Held(raw, where))
    except Exception as exc:  # noqa: BLE001 - model-signing/pydantic on hostile JSON: any error is a bad bundle
        raise SignatureError(f"signature {where}: not a Sigstore bundle ({_why(exc)})") from None
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a warning for bundles without a key hint
            manifest = verifier.verify(signature)
    except Exception as exc:  # noqa: BLE001 - model-signing/cryptography/OpenSSL: every failure means "does not verify"
        trust = f"the public key {public_key}" if public_key else "the certificate chain"
        raise SignatureError(f"signature {where} does not verify with {trust}: {_why(exc)}") from None
    return _signed_files(signature, manifest, where)


def _signed_files(signature, manifest, where: str) -> SignedFiles:
    def bad(why: str) -> SignatureError:
        return SignatureError(f"signature {where}: {why}")

    serialization = manifest.serialization_type
    if serialization.get("method") != "files" or serialization.get("hash_type") != "sha256":
        raise bad(f"signs {serialization.get('method')!r} with {serialization.get('hash_type')!r}; tresnet-zoo "
                  "checks signatures of whole files by sha256 (model-signing's default)")
    ignored = serialization.get("ignore_paths") or []
    if not isinstance(ignored, list) or any(_name_problem(p) for p in ignored):
        bad_path = next((p for p in ignored if _name_problem(p)), ignored) if isinstance(ignored, list) else ignored
        raise bad(f"field ignore_paths: {_name_problem(bad_path) or 'not a list'}")
    try:  # the payload is verified: read the names as signed (the manifest has normalised and de-duplicated them)
        resources = json.loads(signature.bundle.dsse_envelope.payload)["predicate"]["resources"]
        names = [r["name"] for r in resources]
    except (ValueError, KeyError, TypeError) as exc:
        raise bad(f"field predicate.resources: {_why(exc)}") from None
    seen: set[str] = set()
    for name in names:
        problem = _name_problem(name)
        if problem:
            raise bad(f"field predicate.resources: {problem}")
        if name in seen:
            raise bad(f"field predicate.resources: {name!r} is listed twice")
        seen.add(name)
    digests = {}
    for descriptor in manifest.resource_descriptors():
        if descriptor.digest.algorithm != "sha256":
            raise bad(f"{descriptor.identifier}: signed with {descriptor.digest.algorithm}, not sha256")
        digests[descriptor.identifier] = descriptor.digest.digest_hex
    if set(digests) != seen:
        raise bad("field predicate.resources: the names do not match the statement")
    try:
        signer = _signer_of(signature.bundle)
    except Exception:  # noqa: BLE001 - only a label for the output; the signature has verified
        signer = "key"
    return SignedFiles(digests, tuple(str(p) for p in ignored), signer, where)


def _why(exc: BaseException) -> str:
    text = (str(exc).splitlines() or [""])[0][:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _verifier(public_key: Path | None, certificate_chain):
    _model_signing()
    if public_key is not None:
        from model_signing._signing import sign_ec_key as verifying  # noqa: PLC0415 (the sign extra: ~0.15 s of CPU)
    else:
        from model_signing._signing import sign_certificate as verifying  # noqa: PLC0415 (the sign extra, and pyOpenSSL)
    try:
        if public_key is not None:
            return verifying.Verifier(_pem(public_key, "public key"))
        return verifying.Verifier([_pem(p, "certificate") for p in certificate_chain])
    except ZooError:
        raise
    except Exception as exc:  # noqa: BLE001 - cryptography on a user's PEM file: unreadable, wrong type, wrong curve
        what = f"public key {public_key}" if public_key is not None else "certificate chain"
        raise UsageError(f"{what}: not a usable PEM elliptic-curve key or certificate ({_why(exc)})",
                         hint="make one with `openssl ecparam -name prime256v1 -genkey -noout -out key.pem` and "
                              "`openssl ec -in key.pem -pubout -out pub.pem`") from None


# --- a folder: walk it without following links, hash every file -------------------------------------


class _Folder:
    """A folder's regular files (relative names), each parent held open as a descriptor: no file is reached
    through a link, and a folder renamed while we read does not redirect a read."""

    def __init__(self, root: Path, skip: str | None) -> None:
        self.root = root
        self.fds: list[int] = []
        self.files: dict[str, tuple[int, str]] = {}  # name -> (parent fd, base name)
        self.sizes: dict[str, int] = {}  # name -> size when listed: the largest files are hashed first
        try:
            top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise UsageError(f"folder {root} does not exist") from None
        except OSError as exc:
            raise UsageError(f"{root} cannot be read as a folder ({exc.strerror or exc})") from None
        self.fds.append(top)
        try:
            self._walk(top, skip)
        except OSError as exc:  # a folder we may not list, a file removed while we walk
            self.close()
            raise _read_error(Path(exc.filename or root), exc) from None
        except BaseException:
            self.close()
            raise

    def _walk(self, top: int, skip: str | None) -> None:
        stack = [(top, "", 0)]
        while stack:
            fd, prefix, depth = stack.pop()
            for entry in sorted(os.scandir(fd), key=lambda e: e.name):
                name = prefix + entry.name
                if name == skip or (not prefix and entry.name in _GIT):
                    continue
                info = entry.stat(follow_symlinks=False)
                mode = info.st_mode
                if stat.S_ISLNK(mode):
                    raise SignatureError(f"{self.root / name} is a symbolic link; signed folders hold regular "
                                         "files only (as model-signing requires by default)")
                if stat.S_ISDIR(mode):
                    if depth >= MAX_FOLDER_DEPTH:
                        raise SignatureError(f"{self.root / name}: folders nested more than {MAX_FOLDER_DEPTH} deep")
                    try:
                        sub = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0)
                                      | getattr(os, "O_CLOEXEC", 0), dir_fd=fd)
                    except OSError as exc:
                        raise SignatureError(f"{self.root / name}: cannot be read ({exc.strerror or exc})") from None
                    self.fds.append(sub)
                    stack.append((sub, name + "/", depth + 1))
                elif stat.S_ISREG(mode):
                    if len(self.files) >= MAX_FILES:
                        raise SignatureError(f"{self.root}: more than {MAX_FILES} files")
                    self.files[name] = (fd, entry.name)
                    self.sizes[name] = info.st_size
                else:
                    raise SignatureError(f"{self.root / name} is not a regular file or folder (a FIFO, socket or "
                                         "device)")

    def hash(self, name: str, stop: threading.Event | None = None) -> tuple[int, str] | None:
        """(size, sha256) of the file, read through one descriptor opened without following a link; None
        when ``stop`` is set before the end."""
        parent, base = self.files[name]
        try:
            fd = os.open(base, _READ, dir_fd=parent)
        except OSError as exc:
            raise SignatureError(f"{self.root / name}: cannot be read ({exc.strerror or exc})") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise SignatureError(f"{self.root / name}: not a regular file")
            digest, size, buffer, raw = hashlib.sha256(), 0, bytearray(_BLOCK), io.FileIO(fd, closefd=False)
            view = memoryview(buffer)
            while count := raw.readinto(buffer):  # the read and the hash both run without the interpreter lock
                if stop is not None and stop.is_set():
                    return None
                digest.update(view[:count])
                size += count
            return size, digest.hexdigest()
        except OSError as exc:  # an I/O error of the disk
            raise _read_error(self.root / name, exc) from None
        finally:
            os.close(fd)

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


def _inside(folder: Path, signature: Path) -> str | None:
    """The signature's name relative to ``folder`` when it lies directly or deeper inside it, else None."""
    try:
        rel = Path(os.path.abspath(signature)).relative_to(os.path.abspath(folder))
    except ValueError:
        return None
    return rel.as_posix()


def verify_signature(folder, public_key=None, signature=None, *, certificate_chain=()) -> Verified:
    """Verify ``folder`` against its signature (default ``folder/tresnet-zoo.sig``) with ``public_key`` or a
    certificate chain: the bundle with model-signing, and every file hashed now (in parallel, starting while
    model-signing loads) against its signed sha256. SignatureError names the first file or field that does
    not match; hashing stops at the first problem."""
    folder = Path(folder)
    signature = Path(signature) if signature is not None else folder / SIGNATURE
    _require("verifying a signature")
    raw = _read_file(signature, MAX_SIGNATURE_BYTES, "signature")
    tree = _Folder(folder, _inside(folder, signature))  # links and the like are refused before the key is read
    stop = threading.Event()
    # hashing starts now, largest file first: reads and sha256 release the interpreter lock, so on a second
    # core it overlaps loading model-signing (pure Python); nothing is trusted before the signature verifies
    pool = ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1, len(tree.files))))
    try:
        pending = {name: pool.submit(tree.hash, name, stop)
                   for name in sorted(tree.files, key=lambda n: (-tree.sizes[n], n))}
        signed = read_signature(raw, public_key=public_key, certificate_chain=certificate_chain, where=str(signature))
        present = {name for name in tree.files if not signed.is_ignored(name)}
        _compare_names(folder, set(signed.digests), present)
        result = Verified(folder, signature, signed)
        for name in sorted(present):
            size, digest = pending[name].result()
            if digest != signed.digests[name]:
                raise SignatureError(f"{folder / name}: sha256 {digest} differs from the signed "
                                     f"{signed.digests[name]}")
            result.files[name] = (size, digest)
        return result
    finally:
        stop.set()  # files left (ignored ones, or after a problem) stop within one read
        pool.shutdown(wait=True, cancel_futures=True)
        tree.close()


def _compare_names(folder: Path, signed: set[str], present: set[str]) -> None:
    missing = sorted(signed - present)
    added = sorted(present - signed)
    problems = [f"{folder / n} is signed but not in the folder" for n in missing]
    problems += [f"{folder / n} is in the folder but not signed" for n in added]
    if problems:
        more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
        raise SignatureError("; ".join(sorted(problems, key=lambda p: p.split(" is ")[0])[:2]) + more)


def sign(folder, private_key, signature=None, *, certificate=None, certificate_chain=()) -> Path:
    """Sign every regular file of ``folder`` with ``private_key`` (a PEM elliptic-curve key; with
    ``certificate``, its signing certificate and ``certificate_chain``) and write the signature (default
    ``folder/tresnet-zoo.sig``, left out of what is signed) by temp file and rename. Returns its path."""
    folder = Path(folder)
    signature = Path(signature) if signature is not None else folder / SIGNATURE
    _require("signing")
    inside = _inside(folder, signature)
    tree = _Folder(folder, inside)  # links, FIFOs and the like are refused before anything is hashed
    try:
        if not tree.files:
            raise UsageError(f"{folder} holds no file to sign")
    finally:
        tree.close()
    from model_signing import hashing  # noqa: PLC0415 (the sign extra: ~0.4 s to import)
    from model_signing._signing import sign_certificate, sign_ec_key  # noqa: PLC0415 (the sign extra)
    from model_signing._signing import signing as ms_signing  # noqa: PLC0415 (the sign extra)

    key = _pem(private_key, "private key")
    try:
        if certificate is None:
            signer = sign_ec_key.Signer(key)
        else:
            chain = [_pem(p, "certificate") for p in certificate_chain]
            signer = sign_certificate.Signer(key, _pem(certificate, "certificate"), chain)
    except Exception as exc:  # noqa: BLE001 - cryptography on a user's PEM file: unreadable, encrypted, wrong curve
        raise UsageError(f"private key {private_key}: not a usable unencrypted PEM elliptic-curve key (P-256, P-384 "
                         f"or P-521){' matching its certificate' if certificate else ''} ({_why(exc)})",
                         hint="make one with `openssl ecparam -name prime256v1 -genkey -noout -out key.pem`") from None
    config = hashing.Config().set_ignored_paths(paths=[inside] if inside else [], ignore_git_paths=True)
    try:
        bundle = signer.sign(ms_signing.Payload(config.hash(folder))).bundle.to_json()
    except Exception as exc:  # noqa: BLE001 - model-signing hashing the folder: a file changed or vanished meanwhile
        raise SignatureError(f"{folder}: cannot be signed ({_why(exc)})") from None
    try:
        atomic_write(signature, bundle)
    except ReadOnlyTargetError as exc:
        raise SignatureError(f"signature {signature}: {exc.strerror}; not written") from None
    except OSError as exc:
        raise UsageError(f"signature {signature}: cannot be written ({exc.strerror or exc})") from None
    return signature


def stale_signature(folder) -> Path | None:
    """The signature at a mirror folder's root, if any: a push changes the folder, so it no longer matches."""
    path = Path(folder) / SIGNATURE
    return path if os.path.lexists(path) else None


# --- fetch: the mirror's signature as one more pin -----------------------------------------------------


def _mirror_file(mirror: str, name: str, timeout: float) -> bytes | None:
    """A small file at the mirror's root, at most the signature bound, or None when the mirror has none."""
    from .mirror import read_root_file  # noqa: PLC0415 (import cycle: fetch -> this module -> mirror -> fetch's pins)

    try:
        return read_root_file(mirror, name, MAX_SIGNATURE_BYTES, timeout)
    except OSError as exc:
        raise _read_error(Path(mirror) / name, exc) from None


def signed_pins(entry, planned: list, options, say) -> list:
    """``planned`` (``pins.Planned``) held to the mirror's signature when a public key is given and a
    mirror is in use: the signature verified first (SignatureError), then each file's signed sha256 is its
    pin. A file the signature does not list is not fetched from the mirror; a lock line, index hash or
    manifest line that disagrees with the signature is an IntegrityError naming both."""
    from .sources import is_local_mirror, mirror_folder  # noqa: PLC0415 (import cycle: sources calls us)

    key, mirror = getattr(options, "public_key", None), getattr(options, "mirror", None)
    if not key or not mirror or (getattr(options, "offline", False) and not is_local_mirror(mirror)):
        return planned  # a key without a mirror changes nothing
    try:
        folder = mirror_folder(mirror)
    except UsageError:
        return planned  # fetch_sources refuses a file:// URL naming another host
    if folder is not None and not folder.is_dir():
        return planned  # fetch_sources says the folder is missing, with the push that fills it
    config = getattr(options, "config", None)
    timeout = config.read_timeout if config is not None else 30.0
    where = redact(mirror.rstrip("/") + "/" + SIGNATURE)
    raw = _mirror_file(mirror, SIGNATURE, timeout)
    if raw is None:
        unreached = "" if folder is not None else " (or it could not be reached)"
        raise SignatureError(f"the mirror {redact(mirror)} has no signature {SIGNATURE}{unreached}, and a public key "
                             "was given",
                             hint="sign the mirror folder (tresnet-zoo sign), or fetch without a public key")
    signed = read_signature(raw, public_key=Path(key), where=where)
    manifest = _signed_manifest(mirror, signed, timeout)
    kept = [replace(p, expected=_pin(entry, p.expected, signed, manifest, where)) for p in planned
            if p.expected.filename in signed.digests]
    if not kept:
        names = ", ".join(p.expected.filename for p in planned)
        raise SignatureError(f"{entry.name}: {names} is not signed by the mirror's signature {where}",
                             hint="sign the mirror folder again after pushing the file")
    if len(kept) < len(planned):
        say(f"note: {entry.name}: only the files the mirror's signature lists are fetched from it")
    return kept


_SIGNED: dict[tuple[str, str], SignedFiles] = {}


def signed_digest(filename: str, *, mirror: str | None = None, public_key: str | None = None) -> str | None:
    """The sha256 that the mirror's signature pins for ``filename``, or None (no mirror or no key, or the file
    is not listed). ``mirror`` and ``public_key`` default to ``$TRESNET_ZOO_MIRROR`` and
    ``$TRESNET_ZOO_PUBLIC_KEY``; the signature is verified once per process (``check`` counts such a file as
    pinned, as ``fetch`` does). SignatureError when the mirror has no signature or it does not verify."""
    mirror = mirror or os.environ.get("TRESNET_ZOO_MIRROR") or None
    public_key = public_key or os.environ.get(PUBLIC_KEY_ENV) or None
    if not mirror or not public_key:
        return None
    if (mirror, public_key) not in _SIGNED:
        raw = _mirror_file(mirror, SIGNATURE, 30.0)
        if raw is None:
            raise SignatureError(f"the mirror {redact(mirror)} has no signature {SIGNATURE}, and a public key was "
                                 "given")
        where = redact(mirror.rstrip("/") + "/" + SIGNATURE)
        _SIGNED[(mirror, public_key)] = read_signature(raw, public_key=Path(public_key), where=where)
    return _SIGNED[(mirror, public_key)].digests.get(filename)


def _signed_manifest(mirror: str, signed: SignedFiles, timeout: float) -> dict:
    """The mirror's manifest lines, its bytes checked against the signature when it lists the manifest."""
    from .mirror import MANIFEST, _parse_manifest  # noqa: PLC0415 (import cycle: mirror imports sources)

    raw = _mirror_file(mirror, MANIFEST, timeout)
    if raw is None:
        return {}
    if MANIFEST in signed.digests and hashlib.sha256(raw).hexdigest() != signed.digests[MANIFEST]:
        raise SignatureError(f"the mirror's manifest {redact(mirror.rstrip('/') + '/' + MANIFEST)} differs from the "
                             f"one signed in {signed.where}",
                             hint="push the mirror again, then sign it")
    return _parse_manifest(redact(mirror), raw)


def _pin(entry, expected, signed: SignedFiles, manifest: dict, where: str):
    from .lockfile import lock_path, read_lock  # noqa: PLC0415 (import cycle: lockfile imports sources)

    digest = signed.digests[expected.filename]
    line = manifest.get(expected.filename)
    if line is not None and line.sha256 != digest:
        other = f"the mirror's manifest pins sha256 {line.sha256}"
    elif expected.sha256 and expected.sha256 != digest:
        lock = read_lock(lock_path(entry))
        if lock is not None and expected.filename in lock.files:
            other = f"the lock file {lock.path} pins sha256 {expected.sha256}"
        else:
            other = f"the index pins sha256 {expected.sha256}"
    elif expected.hash_problem(digest):
        other = f"its name carries the hash prefix {expected.sha256_prefix}"
    else:
        return replace(expected, sha256=digest)
    raise IntegrityError(f"{expected.filename}: the mirror's signature {where} signs sha256 {digest}, but {other}",
                         hint="the mirror was signed from other files: find which is right, then sign or lock again")
