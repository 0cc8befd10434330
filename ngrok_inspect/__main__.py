"""``python -m ngrok_inspect`` runs the command-line tool."""

from ngrok_inspect.cli import main

if __name__ == "__main__":
    main()
