"""Run a command and print its wall time and peak RSS as JSON: ``python measure_child.py CMD...``.

A process forked from a large parent (the benchmark runner holds torch and models) starts with that
parent's pages counted in its peak RSS; measuring from this small helper, as GNU time does, keeps the
number the command's own.
"""

import json
import os
import subprocess
import sys
import time

start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(proc.pid, 0)
seconds = time.perf_counter() - start
err = proc.stderr.read().decode(errors="replace")
print(json.dumps({"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                  "peak_rss_kb": usage.ru_maxrss, "code": os.waitstatus_to_exitcode(status),
                  "stderr": err[-500:]}))
