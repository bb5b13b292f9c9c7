"""Test set-up: make headless Chromium available for the report test (Debian's package).

Run by `make test` before pytest. Installs `chromium` with apt-get when it is missing and this
process may (root); otherwise prints why the browser test will be skipped. Never fails the run.
"""
import os
import shutil
import subprocess
import sys


def main() -> int:
    if shutil.which("chromium") or shutil.which("chromium-browser"):
        return 0
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print("setup_browser: chromium not found and cannot install it (not root / no apt-get): the browser test will skip")
        return 0
    print("setup_browser: installing Debian's chromium for the report test (one time) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]):
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as e:
            print(f"setup_browser: {' '.join(cmd)} failed ({e}); the browser test will skip")
            return 0
        if done.returncode != 0:
            print(f"setup_browser: {' '.join(cmd)} failed: {done.stderr.strip()[-300:]}; the browser test will skip")
            return 0
    print("setup_browser: chromium installed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
