"""``python -m audiodiff.cli``: the same as ``python -m audiodiff``."""
import sys

from audiodiff.cli import main

sys.exit(main())
