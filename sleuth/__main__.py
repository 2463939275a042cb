"""``python -m sleuth`` runs the command line, the same as the ``sleuth`` script."""
from .cli import main

main()
