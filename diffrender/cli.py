"""Command-line interface (placeholder, filled in by the CLI work)."""


def main():  # pragma: no cover
    raise SystemExit("diffrender: CLI not implemented yet")
