"""``python -m modelplane``: the same command line as the ``modelplane`` script."""

from modelplane.cli.app import main

if __name__ == "__main__":
    main()
