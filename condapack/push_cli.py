"""The push command: ``condapack push``, an OCI image (format ``oci``) to a registry.

One class (a :class:`condapack.command.Command`), beside the package it calls: the parser
is built for every command line, and importing :mod:`condapack.oci.registry` loads the
distribution client.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import ClassVar, Optional

import attrs

from .command import Environ, Terminal, add_json, add_quiet

__all__ = ["Push"]


@attrs.frozen
class Push:
    """Send the blobs the registry lacks, then the manifest; say what was sent."""

    name: ClassVar[str] = "push"
    help: ClassVar[str] = "Push an OCI image (format oci) to a registry; only missing blobs are sent."
    description: ClassVar[str] = help

    image: Path
    target: str
    sbom: Optional[Path]
    insecure: bool
    timeout: float
    terminal: Terminal
    environ: Environ

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("image", metavar="IMAGE", help="An OCI layout directory or archive (--format oci).")
        parser.add_argument("target", metavar="REGISTRY/REPOSITORY:TAG", help="Where to push it.")
        parser.add_argument("--sbom", metavar="FILE", type=Path,
                            help="Attach this CycloneDX SBOM (pack --sbom writes IMAGE.cdx.json) as a referrer.")
        parser.add_argument("--insecure", action="store_true",
                            help="Allow plain HTTP to a registry that is not on this machine.")
        parser.add_argument("--timeout", metavar="SECONDS", type=float, default=30.0,
                            help="Give up on a registry silent this long (each request is tried 4 times; default 30).")
        add_quiet(parser)
        add_json(parser, "Print the reference, manifest digest and the blobs uploaded and skipped as JSON.")

    @classmethod
    def of(cls, ns: argparse.Namespace, environ: Environ) -> Push:
        return cls(Path(ns.image), ns.target, ns.sbom, ns.insecure, ns.timeout, Terminal.of(ns, environ), environ)

    def run(self) -> int:
        """Push the image; report on stderr (with --json, on stdout)."""
        from .oci.registry import push

        result = push(self.image, self.target, sbom=self.sbom, insecure=self.insecure, timeout=self.timeout,
                      environ=self.environ)
        if self.terminal.json:
            print(json.dumps(attrs.asdict(result), indent=2))
        elif not self.terminal.quiet:
            print(f"Pushed {result.reference}@{result.digest}: {len(result.uploaded)} blobs uploaded "
                  f"({result.uploaded_bytes} bytes with the manifest), {len(result.skipped)} already there",
                  file=sys.stderr)
        return 0
