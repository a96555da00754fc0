"""`python -m edgeforge.cli`: the entry script's way into invoke (see program.py)."""

from .program import main

if __name__ == "__main__":
    main()
