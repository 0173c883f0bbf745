"""`python -m rnnlab.inspect RUN ...` runs `rnnlab inspect RUN ...`."""

import sys

from rnnlab.inspect.cli import main

sys.exit(main())
