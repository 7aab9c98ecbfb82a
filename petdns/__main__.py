"""`python -m petdns`."""

from petdns.cli import main

raise SystemExit(main())
