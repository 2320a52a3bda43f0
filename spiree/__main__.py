import sys

from spiree.cli import main

sys.exit(main())
