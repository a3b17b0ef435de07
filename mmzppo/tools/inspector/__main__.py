"""`python -m mmzppo.tools.inspector`: see `mmzppo.tools.inspector.cli`. Bad paths are a one-line error."""

import sys

from mmzppo.tools.inspector.cli import main

if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, NotADirectoryError, ValueError) as e:  # no samples.jsonl, no shards, ...
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
