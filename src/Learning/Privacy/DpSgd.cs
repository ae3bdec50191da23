using FedMM.Contracts;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.Privacy;

/// <summary>
/// Sample-level DP-SGD (Abadi et al. 2016) for what a site trains (docs/PRIVACY.md, "Weights"):
/// each step takes a Poisson sample of the site's records (each in the step with probability q, as
/// the accountant assumes), computes every sampled record's gradient on its own, clips it to L2
/// norm ≤ C over all trained parameters together, sums, adds N(0, σ²C²) to every coordinate and
/// divides by the expected batch size q·n. The optimizer then steps on that gradient as usual
/// (AdamW or any other: post-processing keeps the guarantee).
/// </summary>
/// <remarks>
/// Two ways to the per-record gradients, chosen per step. Given a batched loss whose layers record
/// their inputs and output gradients (<see cref="PerSampleGradients"/>: the shared heads on frozen
/// features), one forward and one backward pass serve the whole batch; the first such step checks that
/// the per-record gradients add up to autograd's batch gradient. Otherwise (no batched loss, or a
/// trained parameter the recording layers do not cover, such as a text encoder's) one backward pass
/// per record: exact for any model, including layers that mix a batch's records (they never see
/// more than one). Objectives that need several records at once (a batch-contrastive alignment
/// term) do not contribute under DP-SGD.
/// </remarks>
public sealed class DpSgd
{
    private readonly Parameter[] parameters;

    /// <summary>DP-SGD over <paramref name="parameters"/> (every parameter the step changes).</summary>
    /// <param name="parameters">The trained parameters; noise is added to each of them every step.</param>
    /// <param name="records">n: records the site trains on.</param>
    /// <param name="expectedBatch">Expected records per step; q = expectedBatch / n (at most 1).</param>
    /// <param name="clipNorm">C: the largest L2 norm of one record's gradient.</param>
    /// <param name="noiseMultiplier">σ: noise standard deviation over C.</param>
    /// <exception cref="ArgumentException">No parameters, no records, or C, σ out of range.</exception>
    public DpSgd(IEnumerable<Parameter> parameters, int records, int expectedBatch, double clipNorm, double noiseMultiplier)
    {
        this.parameters = parameters?.ToArray() ?? throw new ArgumentNullException(nameof(parameters));
        if (this.parameters.Length == 0) throw new ArgumentException("DP-SGD needs at least one parameter to train.", nameof(parameters));
        if (records < 1) throw new ArgumentException($"DP-SGD needs at least one record (was {records}).", nameof(records));
        if (expectedBatch < 1) throw new ArgumentException($"The expected batch must be ≥ 1 (was {expectedBatch}).", nameof(expectedBatch));
        if (!(clipNorm > 0) || !double.IsFinite(clipNorm)) throw new ArgumentException($"The clip norm must be positive and finite (was {clipNorm}).", nameof(clipNorm));
        if (!(noiseMultiplier > 0) || !double.IsFinite(noiseMultiplier)) throw new ArgumentException($"The noise multiplier must be positive and finite (was {noiseMultiplier}).", nameof(noiseMultiplier));
        Records = records;
        SampleRate = SampleRateFor(records, expectedBatch);
        ClipNorm = clipNorm;
        NoiseMultiplier = noiseMultiplier;
        StepsPerEpoch = StepsPerEpochAt(SampleRate);
    }

    /// <summary>q for <paramref name="records"/> records at an expected batch of <paramref name="expectedBatch"/>: expectedBatch / n, at most 1.</summary>
    public static double SampleRateFor(int records, int expectedBatch) => Math.Min(1, expectedBatch / (double)records);

    /// <summary>Steps that make one epoch in expectation at sample rate <paramref name="sampleRate"/>: ⌈1/q⌉.</summary>
    public static int StepsPerEpochAt(double sampleRate) => (int)Math.Ceiling(1 / sampleRate);

    /// <summary>n: records the site trains on.</summary>
    public int Records { get; }

    /// <summary>q: probability that a record is in a step.</summary>
    public double SampleRate { get; }

    /// <summary>C: per-record gradient norm bound.</summary>
    public double ClipNorm { get; }

    /// <summary>σ: noise multiplier.</summary>
    public double NoiseMultiplier { get; }

    /// <summary>Steps that make one epoch in expectation: ⌈1/q⌉.</summary>
    public int StepsPerEpoch { get; }

    /// <summary>The accountant's entry for <paramref name="steps"/> steps.</summary>
    public PrivacyMechanism Mechanism(long steps) => new("dp-sgd", SampleRate, NoiseMultiplier, steps);

    /// <summary>A Poisson sample of the records 0..n−1: each independently with probability q (possibly none).</summary>
    public int[] Sample(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var rows = new List<int>();
        for (int i = 0; i < Records; i++)
            if (random.NextDouble() < SampleRate) rows.Add(i);
        return [.. rows];
    }

    /// <summary>
    /// Why the one-pass path (<see cref="PerSampleGradients"/>) cannot serve this model: set when a
    /// step found a trained parameter it does not cover, after which every step takes the per-record path.
    /// </summary>
    public string? OnePassUnavailable { get; private set; }

    /// <summary>Whether the last step computed its per-record gradients in one batched pass (else one pass per record).</summary>
    public bool LastStepInOnePass { get; private set; }

    // The first one-pass step also checks that the per-record gradients add up to autograd's batch gradient.
    private bool onePassChecked;

    /// <summary>
    /// Writes the private gradient of one step into the parameters' <c>grad</c>: the clipped
    /// per-record gradients of <paramref name="records"/>, summed, plus N(0, σ²C²), over q·n.
    /// </summary>
    /// <param name="records">The step's Poisson sample (<see cref="Sample"/>); may be empty (noise only).</param>
    /// <param name="lossOf">The loss of one record, a scalar tensor that depends on the parameters.</param>
    /// <param name="generator">Source of the noise.</param>
    /// <param name="lossesOf">
    /// Optional: the losses of many records [B] in one batched forward pass, record b's loss
    /// depending on record b alone, every trained parameter reached only through
    /// <see cref="PerSampleGradients"/>' layers. When given, the step computes the per-record
    /// gradients in that one pass; when a trained parameter turns out not to be covered it falls back to
    /// <paramref name="lossOf"/>, record by record, for this step and the following ones.
    /// </param>
    /// <returns>The mean per-record gradient norm before clipping and the fraction of records clipped.</returns>
    public (double MeanNorm, double ClippedFraction) ComputeGradients(IReadOnlyList<int> records, Func<int, Tensor> lossOf, Generator? generator, Func<IReadOnlyList<int>, Tensor>? lossesOf = null)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(lossOf);
        LastStepInOnePass = false;
        Tensor[]? sums = null;
        double[] norms = [];
        if (lossesOf is not null && OnePassUnavailable is null && records.Count > 0)
        {
            (sums, norms) = OnePass(records, lossesOf);
            LastStepInOnePass = sums is not null;
        }
        if (sums is null) (sums, norms) = RecordByRecord(records, lossOf);
        AddNoise(sums, generator);
        return (records.Count == 0 ? 0 : norms.Sum() / records.Count, records.Count == 0 ? 0 : norms.Count(n => n > ClipNorm) / (double)records.Count);
    }

    // All records' clipped gradients from one batched pass, or null when the model is not covered.
    private (Tensor[]? Sums, double[] Norms) OnePass(IReadOnlyList<int> records, Func<IReadOnlyList<int>, Tensor> lossesOf)
    {
        using var scope = NewDisposeScope();
        using var capture = PerSampleGradients.Capture();
        var losses = lossesOf(records);
        if (losses.dim() != 1 || losses.shape[0] != records.Count)
            throw new ArgumentException($"The batched losses must be one per record, [{records.Count}]; they have shape [{string.Join(", ", losses.shape)}].", nameof(lossesOf));
        var result = capture.ClippedSum(losses, parameters, ClipNorm, check: !onePassChecked);
        if (result.Unavailable is not null)
        {
            OnePassUnavailable = result.Unavailable;
            return (null, []);
        }
        onePassChecked = true;
        foreach (var sum in result.Sums!) sum.MoveToOuterDisposeScope();
        return (result.Sums, result.Norms);
    }

    // Each record's gradient from its own backward pass: exact for any model.
    private (Tensor[] Sums, double[] Norms) RecordByRecord(IReadOnlyList<int> records, Func<int, Tensor> lossOf)
    {
        var sums = parameters.Select(p => zeros_like(p, requires_grad: false)).ToArray();
        var norms = new double[records.Count];
        for (int r = 0; r < records.Count; r++)
        {
            int record = records[r];
            using var scope = NewDisposeScope();
            foreach (var p in parameters) p.grad?.zero_();
            var loss = lossOf(record);
            if (loss.numel() != 1) throw new ArgumentException($"The loss of record {record} must be a scalar; it has shape [{string.Join(", ", loss.shape)}].", nameof(lossOf));
            loss.backward();
            using var noGrad = no_grad();
            double squares = 0;
            foreach (var p in parameters)
                if (p.grad is { } g) squares += g.square().sum().to_type(ScalarType.Float64).item<double>();
            double norm = Math.Sqrt(squares);
            norms[r] = norm;
            double factor = norm > ClipNorm ? ClipNorm / norm : 1;
            for (int i = 0; i < parameters.Length; i++)
                if (parameters[i].grad is { } g) sums[i].add_(g, alpha: factor);
        }
        return (sums, norms);
    }

    private void AddNoise(Tensor[] sums, Generator? generator)
    {
        using var _ = no_grad();
        double scale = 1 / (SampleRate * Records);
        for (int i = 0; i < parameters.Length; i++)
        {
            // (sum + N(0, σ²C²)) / (q·n), drawn straight into the gradient: two operations a parameter.
            var p = parameters[i];
            var g = p.grad ?? (p.grad = zeros_like(p, requires_grad: false));
            g.normal_(0, NoiseMultiplier * ClipNorm * scale, generator).add_(sums[i], alpha: scale);
            sums[i].Dispose();
        }
    }
}
