"""What Lightning's DDP launcher re-runs for the other ranks: `python <this file> [overrides]` = `rwkd train`.

Lightning restarts the script in sys.argv[0] with the same arguments; `rwkd train` is a console script
plus a sub-command, so the CLI points sys.argv[0] here.
"""

import sys

from rwkd.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
