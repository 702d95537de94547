import sys

from glowgan.cli import main

if __name__ == "__main__":  # worker processes started by spawn or forkserver import this module too
    sys.exit(main())
