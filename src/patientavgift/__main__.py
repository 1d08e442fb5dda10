"""`python -m patientavgift` is the same program as the `patientavgift` command."""

import sys

from .cli import main

sys.exit(main())
