"""``python -m sitewatch.demo.rtsp_server_main ARGS``: aio-rtsp-toolkit's ``rtsp-server``
(same arguments) with its packet hand-off made safe on a loaded machine.

Its file-reading thread hands each packet to the event loop and waits
``QUEUE_PUT_POLL_INTERVAL`` (50 ms) for the hand-off; past that it cancels and sends the packet
again. When the loop was merely slow, the first hand-off had gone through, so clients got that
frame twice (Chromium refuses a clip with a repeated frame; see ``alerts.clip_writer``). With a
long wait the re-send only happens to a client that stopped reading.
"""

from __future__ import annotations

import sys

HAND_OFF_WAIT_S = 2.0


def main() -> int:
    """Run the server with the longer hand-off wait."""
    import aio_rtsp_toolkit.server_streaming as streaming
    from server_demo import main as server_main  # the rtsp-server script's module

    if hasattr(streaming, "QUEUE_PUT_POLL_INTERVAL"):
        streaming.QUEUE_PUT_POLL_INTERVAL = HAND_OFF_WAIT_S
    sys.argv[0] = "rtsp-server"
    server_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
