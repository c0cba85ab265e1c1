"""`python -m kellyapi`: the same as the `kellyapi` command."""

import sys

from kellyapi.cli import main

sys.exit(main())
