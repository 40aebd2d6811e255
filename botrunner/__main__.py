"""`python -m botrunner`: the same click group as the `botrunner` console script."""
from cli import main

if __name__ == "__main__":
    main(prog_name="botrunner")
