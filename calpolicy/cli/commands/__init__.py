"""One module per ``calpolicy`` subcommand, each with ``add_parser(subparsers)`` and ``run(args) -> int``."""
