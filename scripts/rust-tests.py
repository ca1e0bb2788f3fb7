#!/usr/bin/env python3
"""Run the workspace's Rust test executables in parallel (called by scripts/test.sh).

`cargo test` runs one test executable after another, and most of ours wait on servers (Kafka
rebalances, MQTT keep-alives, timeouts that a test provokes) rather than use the CPU: run one by
one they took 220 s of the test command, of which the two cores were busy a third. Here each
executable is started the way cargo starts it (working directory = its package, the same
CARGO_* variables), several at once, the slowest of the last run first; the doc tests run as one
more job. Each job's output goes to a log that is printed only when it fails.

    python3 scripts/rust-tests.py BUILD_JSON [--jobs N] [-- DOC_TEST_COMMAND...]

BUILD_JSON is the output of `cargo test --no-run --message-format=json`. Durations are kept in
$CARGO_TARGET_DIR/rust-test-durations.json to order the next run.
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)


def test_executables(build_json: Path):
    """(name, executable, package directory) of every test target cargo built."""
    jobs = []
    for line in build_json.read_text().splitlines():
        if not line.startswith("{"):
            continue
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or not msg.get("profile", {}).get("test"):
            continue
        exe = msg.get("executable")
        if not exe:
            continue
        target = msg["target"]
        package_dir = str(Path(msg["manifest_path"]).parent)
        package = os.path.relpath(package_dir, ROOT)
        kind = target["kind"][0]
        name = f"{package} {kind}:{target['name']}"
        jobs.append((name, [exe], package_dir, msg["manifest_path"]))
    return jobs


def run(job, log_dir: Path):
    name, argv, cwd, manifest = job
    env = dict(os.environ)
    if manifest:  # a test executable; the doc-test job is cargo itself, which sets these
        env["CARGO_MANIFEST_DIR"] = cwd
        env["CARGO_MANIFEST_PATH"] = manifest
    log = log_dir / (name.replace(" ", "_").replace(":", "_").replace("/", "_") + ".log")
    started = time.monotonic()
    with open(log, "wb") as out:
        rc = subprocess.call(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    return name, rc, time.monotonic() - started, log


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_json", type=Path)
    parser.add_argument("--jobs", type=int, default=6, help="executables run at once (default 6)")
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    doc_command = argv[split + 1 :]

    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
    durations_file = target_dir / "rust-test-durations.json"
    try:
        previous = json.loads(durations_file.read_text())
    except (OSError, ValueError):
        previous = {}

    jobs = test_executables(args.build_json)
    if not jobs:
        sys.exit("no test executables in the build output: was it `cargo test --no-run --message-format=json`?")
    if doc_command:
        jobs.append(("doc tests", doc_command, ROOT, None))
    # Slowest first, so the long waits overlap instead of trailing at the end.
    jobs.sort(key=lambda job: previous.get(job[0], 1000.0), reverse=True)

    log_dir = Path(tempfile.mkdtemp(prefix="vehicleops-rust-tests-"))
    print(f"    {len(jobs)} jobs, {args.jobs} at a time; logs in {log_dir}", flush=True)
    failed = []
    times = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        running = [pool.submit(run, job, log_dir) for job in jobs]
        for done in concurrent.futures.as_completed(running):
            name, rc, secs, log = done.result()
            times[name] = round(secs, 1)
            status = "ok" if rc == 0 else f"FAILED (exit {rc})"
            print(f"    {secs:6.1f}s  {name}  {status}", flush=True)
            if rc != 0:
                failed.append((name, log))

    try:
        durations_file.write_text(json.dumps(times, indent=1, sort_keys=True))
    except OSError:
        pass
    for name, log in failed:
        print(f"\n---- {name}: {log} ----", flush=True)
        sys.stdout.write(log.read_text(errors="replace"))
    if failed:
        sys.exit(f"{len(failed)} of {len(jobs)} test jobs failed: " + ", ".join(n for n, _ in failed))
    print(f"    all {len(jobs)} test jobs passed", flush=True)


if __name__ == "__main__":
    main()
