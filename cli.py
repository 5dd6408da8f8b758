"""Command line entry point: ``python cli.py --help`` (the commands live in mmgraph/cli.py)."""

from mmgraph.cli import main

if __name__ == "__main__":
    main()
