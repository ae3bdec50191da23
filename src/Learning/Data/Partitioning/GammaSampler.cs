namespace FedMM.Learning.Data.Partitioning;

/// <summary>Gamma and Dirichlet draws from a seeded <see cref="Random"/>, so partitions repeat exactly for a seed.</summary>
internal static class GammaSampler
{
    /// <summary>One Gamma(shape, 1) draw (Marsaglia and Tsang; boosted for shape &lt; 1).</summary>
    public static double Gamma(Random random, double shape)
    {
        if (!(shape > 0)) throw new ArgumentOutOfRangeException(nameof(shape), shape, "Gamma shape must be positive.");
        if (shape < 1)
        {
            // Gamma(a) = Gamma(a + 1) · U^(1/a).
            double u = 1.0 - random.NextDouble();
            return Gamma(random, shape + 1) * Math.Pow(u, 1.0 / shape);
        }
        double d = shape - 1.0 / 3.0, c = 1.0 / Math.Sqrt(9.0 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = Normal(random);
                v = 1.0 + c * x;
            } while (v <= 0);
            v = v * v * v;
            double u = 1.0 - random.NextDouble();
            if (u < 1 - 0.0331 * x * x * x * x) return d * v;
            if (Math.Log(u) < 0.5 * x * x + d * (1 - v + Math.Log(v))) return d * v;
        }
    }

    /// <summary>One draw from a symmetric Dirichlet(alpha) over <paramref name="size"/> outcomes.</summary>
    public static double[] Dirichlet(Random random, int size, double alpha)
    {
        var draws = new double[size];
        double total = 0;
        for (int i = 0; i < size; i++) total += draws[i] = Gamma(random, alpha);
        if (total > 0 && double.IsFinite(total))
        {
            for (int i = 0; i < size; i++) draws[i] /= total;
            return draws;
        }
        // A tiny alpha can underflow every draw: the limit is all mass on one outcome.
        Array.Clear(draws);
        draws[random.Next(size)] = 1;
        return draws;
    }

    private static double Normal(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
