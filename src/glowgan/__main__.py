import sys

from glowgan.cli import main

sys.exit(main())
