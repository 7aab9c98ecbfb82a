"""Entry point of the petset-controller command."""

import sys


def main(argv: list[str] | None = None) -> int:
    """Run the controller (not available yet in this release)."""
    del argv
    print("petset-controller: the controller is not part of this release yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
