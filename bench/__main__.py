"""`make bench`: every benchmark in turn; each writes its JSON under bench/results/."""

import runpy
import sys

for module in ("bench.sync", "bench.portfolio", "bench.webpage", "bench.webhooks"):
    try:
        __import__(module)
    except ImportError:
        continue
    print(f"== {module}", flush=True)
    sys.argv = [module]
    runpy.run_module(module, run_name="__main__")
