"""`python -m srlib.train ...` and `torchrun --nproc_per_node N -m srlib.train ...`: as `srlib train`."""

import sys

from srlib.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
