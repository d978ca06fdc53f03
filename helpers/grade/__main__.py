"""``python -m helpers.grade``: see :mod:`helpers.grade`."""

import sys

from helpers.grade.grader import main

sys.exit(main())
