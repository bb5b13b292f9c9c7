"""`make bench`: speed benchmarks first (quiet machine), then the study accuracy targets.

python -m benchmarks                 # everything
python -m benchmarks overhead        # trainer overhead + loader share only
python -m benchmarks studies         # accuracy targets (long: trains the built-in studies)
"""
import sys

from benchmarks import studies, trainer_overhead

which = sys.argv[1:] or ["overhead", "studies"]
if "overhead" in which:
    trainer_overhead.main()
if "studies" in which:
    studies.main()
