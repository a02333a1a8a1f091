"""``python -m chaos``: see ``chaos.harness.main``."""

from chaos.harness import main

raise SystemExit(main())
