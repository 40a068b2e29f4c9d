"""`python -m bot` runs the `veille` command."""

from bot.cli import main

if __name__ == "__main__":
    main()
