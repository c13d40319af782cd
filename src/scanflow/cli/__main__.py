"""``python -m scanflow.cli``: the ``scanflow`` command."""

from . import main

if __name__ == "__main__":  # not on import (doctest collection imports every module)
    main()
