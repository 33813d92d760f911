import sys

from attsms.cli import main

sys.exit(main())
