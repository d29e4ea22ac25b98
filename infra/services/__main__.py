"""Entry point of ``python -m infra.services``."""

import sys

from infra.services.cli import main

sys.exit(main())
