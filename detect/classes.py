"""The detector class names the rules read, defined once.

``HELMET`` and ``HEAD`` come from our hazard model (``models/hazards.md``): a head wearing a hard
hat and a bare head. ``PERSON`` comes from a person finder such as the COCO YOLOX model
(``models/persons.md``): a whole person, seen from any side.
"""

from __future__ import annotations

HELMET = "helmet"  # a head wearing a hard hat
HEAD = "head"  # a bare head
PERSON = "person"  # a whole person (box from head to feet, or as much as is in view)
