"""``python -m audiodiff`` (also what torchrun runs with ``-m audiodiff``)."""
import sys

from audiodiff.cli import main

sys.exit(main())
