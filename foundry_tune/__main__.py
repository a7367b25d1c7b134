import sys

from foundry_tune.cli import main

sys.exit(main())
