# Fetches the corpus packages BY NAME into a scratch tree outside the repository:
#   binary packages: apt-get download NAME, then dpkg -x into SCRATCH/root/NAME
#   source packages: apt-get source --download-only NAME into SCRATCH/src/NAME, through a private
#                    apt configuration with deb-src lines (the system's sources are not touched)
# Nothing is installed and no version is pinned (a 404 on the newest source retries NAME/bookworm).
# Usage: python3 training/data/fetch.py [--scratch /work/scratch] [--eval]
#   --eval also fetches the packages reserved for evaluation, into SCRATCH/eval/ (never read by
#   corpus.py).
import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import packages  # noqa: E402

SOURCES_LIST = """deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm-updates main
deb-src http://deb.debian.org/debian-security bookworm-security main
"""


def apt_src_options(scratch):
    apt = scratch / "apt"
    (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text(SOURCES_LIST)
    return ["-o", f"Dir::Etc::SourceList={apt / 'sources.list'}",
            "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={apt / 'lists'}"]


def run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return r.returncode, r.stdout


def fetch_binary(name, debs, root):
    dest = root / name
    if dest.exists() and any(dest.iterdir()):
        return "cached"
    debs.mkdir(parents=True, exist_ok=True)
    for old in debs.glob(f"{name}_*.deb"):
        old.unlink()
    rc, out = run(["apt-get", "download", name], debs)
    found = sorted(debs.glob(f"{name}_*.deb"))
    if rc != 0 or not found:
        raise RuntimeError(f"apt-get download {name} failed:\n{out}")
    dest.mkdir(parents=True, exist_ok=True)
    rc, out = run(["dpkg", "-x", str(found[-1]), str(dest)], debs)
    if rc != 0:
        raise RuntimeError(f"dpkg -x {found[-1]} failed:\n{out}")
    return found[-1].name


def fetch_source(name, src, opts):
    dest = src / name
    if dest.exists() and list(dest.glob("*.orig*.tar.*")):
        return "cached"
    dest.mkdir(parents=True, exist_ok=True)
    for attempt in (name, f"{name}/bookworm"):
        rc, out = run(["apt-get", *opts, "source", "--download-only", attempt], dest)
        if rc == 0 and list(dest.glob("*.orig*.tar.*")):
            return ", ".join(p.name for p in dest.glob("*.orig*.tar.*"))
    raise RuntimeError(f"apt-get source {name} failed:\n{out}")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--scratch", default="/work/scratch")
    ap.add_argument("--eval", action="store_true", help="also fetch the evaluation-only packages")
    args = ap.parse_args(argv)
    scratch = Path(args.scratch).resolve()
    opts = apt_src_options(scratch)
    rc, out = run(["apt-get", *opts, "update"], scratch)
    if rc != 0:
        raise SystemExit(f"apt-get update (deb-src) failed:\n{out}")
    for name, *_ in packages.BINARY:
        packages.assert_trainable(name)
        got = fetch_binary(name, scratch / "debs", scratch / "root")
        print(f"binary {name}: {got}", flush=True)
    for name in packages.SOURCE:
        packages.assert_trainable(name)
        print(f"source {name}: {fetch_source(name, scratch / 'src', opts)}", flush=True)
    if args.eval:
        ev = scratch / "eval"
        for name, *_ in packages.EVAL_BINARY:
            print(f"eval binary {name}: {fetch_binary(name, ev / 'debs', ev / 'root')}", flush=True)
        for name in packages.EVAL_SOURCE:
            print(f"eval source {name}: {fetch_source(name, ev / 'src', opts)}", flush=True)


if __name__ == "__main__":
    main()
