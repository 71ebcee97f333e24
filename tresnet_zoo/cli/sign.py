"""`sign` and `verify-signature`: a mirror folder in the OpenSSF Model Signing format (the `sign` extra)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import UsageError, ZooError
from . import output
from .context import current
from .hints import hint_for
from .output import print_json

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("sign")(sign)
    app.command("verify-signature")(verify_signature)


def sign(
    folder: Path = typer.Argument(..., help="The mirror folder to sign (weights, manifest, index and lock files)."),
    private_key: Path = typer.Option(..., "--private-key", help="PEM elliptic-curve private key (P-256/384/521)."),
    signature: Optional[Path] = typer.Option(None, "--signature",
                                             help="Where to write the signature [default: FOLDER/tresnet-zoo.sig]."),
    certificate: Optional[Path] = typer.Option(None, "--certificate",
                                               help="The key's signing certificate (PEM), to sign with."),
    certificate_chain: Optional[List[Path]] = typer.Option(None, "--certificate-chain",
                                                           help="Intermediate/root certificates to include (PEM)."),
) -> None:
    """Sign every file of FOLDER: a Sigstore bundle listing each file's sha256 (OpenSSF Model Signing)."""
    from ..weights.signing import sign as sign_folder  # noqa: PLC0415 (keeps CLI start-up from loading model-signing)

    written = sign_folder(folder, private_key, signature, certificate=certificate,
                          certificate_chain=certificate_chain or ())
    output.line(f"signed {folder} -> {written}")


def verify_signature(
    folder: Path = typer.Argument(..., help="The signed folder."),
    public_key: Optional[Path] = typer.Option(None, "--public-key", envvar="TRESNET_ZOO_PUBLIC_KEY",
                                              help="PEM public key of the signer."),
    certificate_chain: Optional[List[Path]] = typer.Option(
        None, "--certificate-chain",
        help="Without --public-key: trust anchors (PEM) for the signing certificate [default: certifi's roots]."),
    signature: Optional[Path] = typer.Option(None, "--signature",
                                             help="The signature [default: FOLDER/tresnet-zoo.sig]."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable results."),
) -> None:
    """Check FOLDER against its signature: the bundle and key, then every file hashed now (exit 1 if not)."""
    from ..weights.signing import verify_signature as verify  # noqa: PLC0415 (keeps CLI start-up from loading model-signing)

    if public_key is None and not certificate_chain:
        raise UsageError("give the signer's --public-key (or TRESNET_ZOO_PUBLIC_KEY), or --certificate-chain",
                         hint="tresnet-zoo verify-signature --help  # the options")
    try:
        result = verify(folder, public_key, signature, certificate_chain=certificate_chain or ())
    except ZooError as exc:
        if not as_json:
            raise
        print_json({"ok": False, "error": exc.message, "hint": hint_for(exc, current()), "exit_code": exc.exit_code})
        raise typer.Exit(exc.exit_code) from None
    if as_json:
        print_json(result.to_dict())
        return
    output.line(f"verified: {result.signature} signs {len(result.files)} file(s) of {folder}, each hashed now "
                f"({result.signed.signer})")


def sign_target(dest: str, private_key: Optional[Path]) -> None:
    """`mirror push --sign`: refused before anything is pushed unless DEST is a folder and the key a file."""
    from ..weights.sources import mirror_folder  # noqa: PLC0415 (keeps CLI start-up from loading the weights code)

    if private_key is not None and mirror_folder(dest) is None:
        raise UsageError(f"--sign signs a mirror folder; {dest} is not one",
                         hint="tresnet-zoo sign --help  # push, then sign a local copy of the folder")
    if private_key is not None and not private_key.is_file():
        raise UsageError(f"private key {private_key} does not exist")


def after_push(dest: str, private_key: Optional[Path], *, changed: bool, as_json: bool) -> None:
    """`mirror push`: a signed folder that gained files is re-signed with ``--sign``, else said to be stale."""
    from ..weights.signing import sign as sign_folder  # noqa: PLC0415 (keeps CLI start-up from loading model-signing)
    from ..weights.signing import stale_signature  # noqa: PLC0415 (keeps CLI start-up from loading model-signing)
    from ..weights.sources import mirror_folder  # noqa: PLC0415 (keeps CLI start-up from loading the weights code)

    folder = mirror_folder(dest)
    if private_key is not None and folder is not None:
        written = sign_folder(folder, private_key)
        if not as_json:
            output.line(f"signed {folder} -> {written}")
        return
    stale = stale_signature(folder) if folder is not None and changed else None
    if stale is not None:
        output.warning(f"{stale} no longer matches the folder (files were added); sign it again with "
                       f"`tresnet-zoo sign {shlex.quote(str(folder))} --private-key KEY.pem`, "
                       "or push with --sign KEY.pem")
