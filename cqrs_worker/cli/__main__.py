import sys

from cqrs_worker.cli import main

sys.exit(main())
