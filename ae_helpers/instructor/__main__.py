"""``python -m ae_helpers.instructor``: the ``ae-course`` command."""
import sys

from .cli import main

sys.exit(main())
