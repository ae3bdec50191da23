using FedMM.Contracts;
using FedMM.Learning.Privacy;
using static TorchSharp.torch;

namespace FedMM.Learning.Tests.Privacy;

/// <summary>The Gaussian sum mechanism: clipping bound, sensitivity and noise scale against the formula.</summary>
[Trait("Category", "Unit")]
public sealed class GaussianSumsTests
{
    // Rows with norms from 0.1·C to 10·C, in 4 groups.
    private static (Tensor Features, long[] Groups) Constructed(int n, int d, double clip, int seed)
    {
        var generator = new Generator((ulong)seed);
        var direction = nn.functional.normalize(randn(n, d, generator: generator), dim: 1);
        var norms = linspace(0.1 * clip, 10 * clip, n).unsqueeze(1);
        return (direction * norms, Enumerable.Range(0, n).Select(i => (long)(i % 4)).ToArray());
    }

    [Fact]
    public void Clipping_bounds_every_contribution_and_keeps_short_rows()
    {
        const double clip = 2.0;
        var (features, groups) = Constructed(64, 16, clip, 1);
        var clipped = GaussianSums.Clip(features.to_type(ScalarType.Float64), clip);
        var norms = clipped.norm(1).data<double>().ToArray();
        var original = features.norm(1).data<float>().ToArray();
        for (int i = 0; i < norms.Length; i++)
        {
            Assert.True(norms[i] <= clip + 1e-9, $"row {i}: clipped norm {norms[i]} > {clip}");
            if (original[i] <= clip) Assert.Equal(original[i], norms[i], 1e-5);
            else Assert.Equal(clip, norms[i], 1e-9);
        }

        // Without noise, removing one sample moves one sum by ≤ C and one count by exactly 1.
        using var all = GaussianSums.Release(features, groups, 4, clip, 0, null);
        Assert.Null(all.Mechanism);
        for (int removed = 0; removed < 64; removed += 7)
        {
            var keep = tensor(Enumerable.Range(0, 64).Where(i => i != removed).Select(i => (long)i).ToArray());
            var rest = groups.Where((_, i) => i != removed).ToArray();
            using var neighbour = GaussianSums.Release(features.index_select(0, keep), rest, 4, clip, 0, null);
            double sumChange = (all.Sums - neighbour.Sums).norm().item<float>();
            double countChange = (all.Counts - neighbour.Counts).abs().sum().item<float>();
            Assert.True(sumChange <= clip + 1e-4, $"removing sample {removed} moved the sums by {sumChange} > C = {clip}");
            Assert.Equal(1, countChange, 1e-6);
        }
    }

    [Fact]
    public void Noise_has_the_standard_deviation_of_the_formula()
    {
        const double clip = 1.5, sigma = 0.8;
        var (features, groups) = Constructed(200, 32, clip, 2);
        using var exact = GaussianSums.Release(features, groups, 4, clip, 0, null, squares: true);
        var sumNoise = new List<double>();
        var countNoise = new List<double>();
        var squareNoise = new List<double>();
        var generator = new Generator(42);
        for (int trial = 0; trial < 100; trial++)
        {
            using var noisy = GaussianSums.Release(features, groups, 4, clip, sigma, generator, squares: true);
            sumNoise.AddRange((noisy.Sums - exact.Sums).to_type(ScalarType.Float64).data<double>().ToArray());
            countNoise.AddRange((noisy.Counts - exact.Counts).to_type(ScalarType.Float64).data<double>().ToArray());
            squareNoise.AddRange((noisy.SquareSums! - exact.SquareSums!).to_type(ScalarType.Float64).data<double>().ToArray());
            Assert.Equal(sigma / Math.Sqrt(3), noisy.Mechanism!.NoiseMultiplier, 1e-12);
            Assert.Equal(1, noisy.Mechanism.SampleRate);
        }
        // 12800 sum values: the std estimate is within ~1.3 % (2σ); counts: 400 values, within ~7 %.
        Assert.Equal(sigma * clip, Std(sumNoise), 0.03 * sigma * clip);
        Assert.Equal(0, sumNoise.Average(), 0.03 * sigma * clip);
        Assert.Equal(sigma * clip * clip, Std(squareNoise), 0.03 * sigma * clip * clip);
        Assert.Equal(sigma, Std(countNoise), 0.15 * sigma);
    }

    [Fact]
    public void Means_and_variances_follow_from_the_sums()
    {
        var features = tensor(new float[] { 1, 0, 3, 0, 0, 2, 0, 4 }).reshape(4, 2);
        using var sums = GaussianSums.Release(features, [0, 0, 1, 1], 2, 100, 0, null, squares: true);
        Assert.Equal(new float[] { 2, 0, 0, 3 }, sums.Means().data<float>().ToArray());
        Assert.Equal(new float[] { 1, 0, 0, 1 }, sums.Variances()!.data<float>().ToArray());
    }

    [Fact]
    public void Bad_input_is_refused_with_what_is_wrong()
    {
        var features = zeros(3, 2);
        Assert.Contains("group 5", Assert.Throws<ArgumentException>(() => GaussianSums.Release(features, [0, 1, 5], 2, 1, 1, null)).Message);
        Assert.Contains("2 group indices for 3", Assert.Throws<ArgumentException>(() => GaussianSums.Release(features, [0, 1], 2, 1, 1, null)).Message);
        Assert.Contains("clip", Assert.Throws<ArgumentException>(() => GaussianSums.Release(features, [0, 1, 1], 2, 0, 1, null)).Message);
        Assert.Contains("noise", Assert.Throws<ArgumentException>(() => GaussianSums.Release(features, [0, 1, 1], 2, 1, -1, null)).Message);
    }

    private static double Std(List<double> values)
    {
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
    }
}
