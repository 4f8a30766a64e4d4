"""Server memory and latency with a huge (valid) state.json: 4 parallel GETs of /api/hyperopt/runs.

    python bench/measure_huge_state.py RUN_DIR [--mb 100]

Copies RUN_DIR into a temporary runs folder, pads its state.json with valid JSON to --mb MB,
starts `hyperopt serve --no-token` on a free port, sends 4 parallel GETs of /runs and prints
the server's RSS before and at its peak (sampled every 20 ms) and each answer's time. Issue 34:
without a read cap this took 61 s per answer and 0.3 -> 6.0 GB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        run = runs / "20990101_000000"
        shutil.copytree(args.run, run)
        state = json.loads((run / "state.json").read_text())
        state["pad"] = "x" * (args.mb << 20)
        (run / "state.json").write_text(json.dumps(state))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, "-m", "hyperopt_cli", "serve", "--no-token", "--port", str(port), "--runs-dir", str(runs)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            proc = psutil.Process(server.pid)
            before = proc.memory_info().rss
            peak = [before]
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    peak[0] = max(peak[0], proc.memory_info().rss)
                    time.sleep(0.02)

            threading.Thread(target=sample, daemon=True).start()

            def get(_: int) -> tuple[int, float]:
                started = time.monotonic()
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/hyperopt/runs", timeout=600) as answer:
                    answer.read()
                    return answer.status, time.monotonic() - started

            with ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(get, range(4)))
            done.set()
            print(
                f"state.json {args.mb} MB; server RSS before {before / 2**20:.0f} MiB, peak {peak[0] / 2**20:.0f} MiB; "
                f"answers: " + ", ".join(f"{status} in {seconds:.2f} s" for status, seconds in answers)
            )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
