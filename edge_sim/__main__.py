import sys

from edge_sim.cli import main

sys.exit(main())
