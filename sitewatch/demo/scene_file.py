"""``python -m sitewatch.demo.scene_file PATH``: render the demo scene (the one ``sitewatch
demo`` serves) to ``PATH`` unless it is there already, for demos that run ``sitewatch run``
processes (``make demo-fleet``)."""

from __future__ import annotations

import sys
from pathlib import Path

from sitewatch.demo.scene import ensure_scene
from sitewatch.demo.session import DEMO_SCENE


def main(argv: list[str]) -> int:
    """Render to ``argv[0]``; exit 2 without a path."""
    if len(argv) != 1:
        print("usage: python -m sitewatch.demo.scene_file PATH.mp4", file=sys.stderr)
        return 2
    ensure_scene(Path(argv[0]), DEMO_SCENE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
