"""Reference for the "kmeans" benchmark: scikit-learn KMeans(algorithm="lloyd", n_init=1, max_iter, tol=0)
with its default greedy k-means++ seeding, on the same float32 points.
Args: points.bin n d k iterations repetitions fedmm_inertia. Prints "inertia=I", "iterations=N" of the last
run and the median "seconds=S"."""
import statistics
import sys
import time

import numpy as np
from sklearn.cluster import KMeans

path, n, d, k, iterations, repetitions, fedmm_inertia = sys.argv[1], *map(int, sys.argv[2:7]), float(sys.argv[7])
points = np.fromfile(path, dtype=np.float32).reshape(n, d)
times = []
model = None
for r in range(max(1, repetitions)):
    start = time.perf_counter()
    model = KMeans(n_clusters=k, algorithm="lloyd", n_init=1, max_iter=iterations, tol=0, random_state=r).fit(points)
    times.append(time.perf_counter() - start)
print(f"sklearn inertia {model.inertia_:.6g} after {model.n_iter_} iterations (FedMM {fedmm_inertia:.6g})", file=sys.stderr)
print(f"inertia={float(model.inertia_)!r}")
print(f"iterations={model.n_iter_}")
print(f"seconds={statistics.median(times)}")
