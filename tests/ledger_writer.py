"""Writes alerts to a ledger as fast as it can until killed (for crash tests).

python tests/ledger_writer.py LEDGER_PATH SEED
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from alerts.contract import Topics
from alerts.ledger import Ledger
from alerts.service import AlertService
from core.vocabulary import Hazard
from detect.observations import Observation, Phase


def main() -> None:
    """Open/update/end incidents on 20 zones forever."""
    path, seed = Path(sys.argv[1]), int(sys.argv[2])
    ledger = Ledger(path)
    service = AlertService(
        ledger, Topics("sw", "crash"), path.parent, "http://h", {}, min_update_interval_s=0.0
    )
    rng = random.Random(seed)
    open_zones: set[str] = {a.zone for a in service.open_alerts()}
    print("ready", flush=True)
    while True:
        zone = f"z{rng.randrange(20)}"
        phase = rng.choice([Phase.UPDATE, Phase.END]) if zone in open_zones else Phase.START
        obs = Observation("cam", zone, Hazard.BLOCKED_EXIT, phase, time.time(), rng.random())
        service.handle(obs, None)
        if phase is Phase.START:
            open_zones.add(zone)
        elif phase is Phase.END:
            open_zones.discard(zone)


if __name__ == "__main__":
    main()
