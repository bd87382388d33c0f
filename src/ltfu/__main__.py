import sys

from ltfu.cli import console

sys.exit(console())
