"""`python -m olive_lab` is `olive-lab`."""

import sys

from .cli import main

sys.exit(main())
