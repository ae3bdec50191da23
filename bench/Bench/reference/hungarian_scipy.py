"""Reference for the "hungarian" benchmark: SciPy's linear_sum_assignment on the same matrix.
Args: matrix.bin (float64, row-major) n repetitions fedmm_total. Prints the median "seconds=S"."""
import statistics
import sys
import time

import numpy as np
from scipy.optimize import linear_sum_assignment

path, n, repetitions, fedmm_total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
cost = np.fromfile(path, dtype=np.float64).reshape(n, n)
rows, cols = linear_sum_assignment(cost)  # warm-up
times = []
for _ in range(max(1, repetitions)):
    start = time.perf_counter()
    rows, cols = linear_sum_assignment(cost)
    times.append(time.perf_counter() - start)
total = cost[rows, cols].sum()
if abs(total - fedmm_total) > 1e-9 * max(1.0, abs(total)):
    print(f"total cost differs: scipy {total!r} fedmm {fedmm_total!r}", file=sys.stderr)
    sys.exit(1)
print(f"seconds={statistics.median(times)}")
