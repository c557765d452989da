"""Frame codec speed: encode + decode round trips per second on one core.

Target (issue #2): at least 40,000 round trips/s for a 170-byte message.
Run: python bench/frame_codec.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from hcpy.protocol.frame import TO_CLIENT, FrameCodec  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--size", type=int, default=170)
    args = parser.parse_args()

    psk, iv = os.urandom(32), os.urandom(16)
    client = FrameCodec(psk, iv)
    appliance = FrameCodec(psk, iv, outgoing=TO_CLIENT)
    text = ('{"sID":1,"msgID":2,"resource":"/ro/values","version":1,"action":"NOTIFY","data":[' + "x" * 200)[
        : args.size
    ]
    count = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    deadline = start + args.seconds
    while time.perf_counter() < deadline:
        for _ in range(1000):
            appliance.decode(client.encode(text))
        count += 1000
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    print(f"message size        {len(text)} bytes")
    print(f"round trips         {count}")
    print(f"round trips/s       {count / wall:,.0f} (wall)")
    print(f"round trips/CPU-s   {count / cpu:,.0f}")
    print("target              40,000/s")


if __name__ == "__main__":
    main()
