using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>K-Means with k-means++ seeding for a site's own representations (unit weights), seeded.</summary>
internal static class LocalKMeans
{
    /// <summary>Centroids [k, d] and each row's centroid index.</summary>
    public static (Tensor Centroids, long[] Assignment) Fit(Tensor data, int k, int iterations, int seed)
    {
        using var scope = NewDisposeScope();
        var random = new Random(seed);
        long n = data.shape[0];
        var chosen = new List<long> { random.NextInt64(n) };
        var nearest = cdist(data, data[chosen[0]].unsqueeze(0)).squeeze(1).pow(2);
        while (chosen.Count < k)
        {
            var weights = nearest.data<float>().ToArray();
            double total = weights.Sum(w => (double)w);
            long next;
            if (total <= 0) next = Enumerable.Range(0, (int)n).First(i => !chosen.Contains(i));
            else
            {
                double r = random.NextDouble() * total, acc = 0;
                next = n - 1;
                for (int i = 0; i < n; i++) { acc += weights[i]; if (acc >= r) { next = i; break; } }
            }
            chosen.Add(next);
            nearest = minimum(nearest, cdist(data, data[next].unsqueeze(0)).squeeze(1).pow(2));
        }
        var centroids = data.index_select(0, tensor(chosen.ToArray())).clone();
        var assignment = cdist(data, centroids).argmin(1);
        for (int iteration = 0; iteration < iterations; iteration++)
        {
            var onehot = nn.functional.one_hot(assignment, k).to_type(ScalarType.Float32);
            var counts = onehot.sum(0L);
            var sums = onehot.t().matmul(data);
            var occupied = counts.gt(0).unsqueeze(1);
            centroids = where(occupied, sums / counts.clamp_min(1).unsqueeze(1), centroids);
            var updated = cdist(data, centroids).argmin(1);
            bool converged = updated.eq(assignment).all().item<bool>();
            assignment = updated;
            if (converged) break;
        }
        return (centroids.MoveToOuterDisposeScope(), assignment.data<long>().ToArray());
    }
}
