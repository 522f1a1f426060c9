"""``calpolicy keygen``: the Ed25519 key that signs job statements, and its public half in the trusted folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from calpolicy.cli.commands.common import config_from
from calpolicy.vocabulary.verdict import EXIT_GO, EXIT_USAGE


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keygen", help="make the Ed25519 key pair that signs job statements")
    parser.add_argument("--private-key", help="where to write the private key (default: signing.private_key)")
    parser.add_argument("--trusted-dir", help="where to put the public key (default: signing.trusted_keys_dir)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from calpolicy.review.signing import SigningError, generate_keypair  # cryptography: only once the command runs

    config = config_from(args)
    private = Path(args.private_key or config.signing.private_key)
    trusted = Path(args.trusted_dir or config.signing.trusted_keys_dir)
    try:
        public = generate_keypair(private, trusted)
    except SigningError as error:
        print(f"calpolicy keygen: {error}")
        return EXIT_USAGE
    print(f"private key: {private} (mode 0600; keep it on this host, back it up offline)")
    print(f"public key:  {public} (trusted by `calpolicy verify` on this host; copy it to other verifiers)")
    return EXIT_GO
