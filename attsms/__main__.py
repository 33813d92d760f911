import sys

from attsms.cli.main import main

sys.exit(main())
