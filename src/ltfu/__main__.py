import sys

from ltfu.cli import main

sys.exit(main())
