"""``python -m paretojax`` runs the command line (see :mod:`paretojax.cli`)."""

import sys

from paretojax.cli import main

sys.exit(main())
