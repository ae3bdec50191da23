using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.Privacy;

/// <summary>
/// Per-record gradients of a batch in one backward pass, for DP-SGD (<see cref="DpSgd"/>). While a
/// capture is open (<see cref="Capture"/>), the layers that route their parameters through
/// <see cref="Linear"/>, <see cref="LayerNorm"/> and <see cref="Rows"/> record what they saw and
/// produced. One backward pass to those outputs gives every record's output gradients; from them
/// and the recorded inputs each record's gradient norm follows exactly, and the clipped sum is one
/// matrix product per layer, so no record's gradient is ever materialised for a Linear layer.
/// </summary>
/// <remarks>
/// Per parameter, with a_bt the input and g_bt the output gradient of record b at token t:
/// Linear weight ∇_b = Σ_t g_bt a_btᵀ, ‖∇_b‖² = Σ_{t,s} (a_bt·a_bs)(g_bt·g_bs); Linear bias
/// Σ_t g_bt; LayerNorm weight Σ_t g_bt ⊙ x̂_bt (x̂ the normalised input), bias Σ_t g_bt; a
/// parameter used as rows (a learned embedding expanded over the batch) g_b. A layer used several
/// times in one pass counts as one longer token sequence. Exact when the records do not mix (no
/// batch statistics) and every trained parameter is reached only through these calls. A trained
/// parameter reached outside them is found by its gradient; one of theirs also reached another way
/// (a penalty on the weights) is found by <c>check</c>, which compares the per-record gradients' sum
/// with autograd's batch gradient. The per-record path of <see cref="DpSgd"/> is the reference the
/// tests compare with.
/// </remarks>
public sealed class PerSampleGradients : IDisposable
{
    [ThreadStatic] private static PerSampleGradients? open;

    private readonly PerSampleGradients? outer;
    private readonly List<Use> uses = [];
    private readonly List<Tensor> owned = [];

    private PerSampleGradients(PerSampleGradients? outer) => this.outer = outer;

    private enum UseKind { Linear, LayerNorm, Rows }

    // One call of a layer in the captured pass: the parameters it reads, its input (detached) and its output.
    private sealed record Use(UseKind Kind, nn.Module? Layer, Parameter[] Parameters, Tensor? Input, Tensor Output, double Eps = 0);

    /// <summary>Opens a capture on this thread until disposed; the layers called meanwhile are recorded.</summary>
    public static PerSampleGradients Capture() => open = new PerSampleGradients(open);

    /// <summary>Whether a capture is open on this thread.</summary>
    public static bool Capturing => open is not null;

    /// <summary><paramref name="layer"/> applied to <paramref name="input"/> [B, …, in], recorded when a capture is open.</summary>
    public static Tensor Linear(Linear layer, Tensor input)
    {
        var output = layer.call(input);
        if (open is { } capture && output.requires_grad)
            capture.Record(UseKind.Linear, layer, layer.bias is null ? [layer.weight!] : [layer.weight!, layer.bias], input, output);
        return output;
    }

    /// <summary><paramref name="layer"/> applied to <paramref name="input"/> [B, …, d], recorded when a capture is open.</summary>
    public static Tensor LayerNorm(LayerNorm layer, Tensor input)
    {
        var output = layer.call(input);
        if (open is { } capture && output.requires_grad && layer.weight is not null)
        {
            if (layer.normalized_shape.Length != 1)
                throw new NotSupportedException($"{layer.GetName()}: per-record gradients cover LayerNorm over the last dimension only (normalized shape [{string.Join(", ", layer.normalized_shape)}]).");
            capture.Record(UseKind.LayerNorm, layer, layer.bias is null ? [layer.weight] : [layer.weight, layer.bias], input, output, layer.eps);
        }
        return output;
    }

    /// <summary>
    /// <paramref name="parameter"/> repeated as the <paramref name="batch"/> rows of a batch ([B, …shape]),
    /// recorded when a capture is open: record b's gradient is the gradient of row b.
    /// </summary>
    public static Tensor Rows(Parameter parameter, long batch)
    {
        var rows = parameter.unsqueeze(0).expand([batch, .. parameter.shape]);
        if (open is { } capture && rows.requires_grad) capture.Record(UseKind.Rows, null, [parameter], null, rows);
        return rows;
    }

    private void Record(UseKind kind, nn.Module? layer, Parameter[] parameters, Tensor? input, Tensor output, double eps = 0)
    {
        // The layers' own dispose scopes end before the backward pass: the capture keeps what it needs.
        var keptInput = input?.detach().DetachFromDisposeScope();
        if (keptInput is not null) owned.Add(keptInput);
        owned.Add(output.DetachFromDisposeScope());
        uses.Add(new Use(kind, layer, parameters, keptInput, output, eps));
    }

    /// <summary>
    /// The result of <see cref="ClippedSum"/>: per-parameter clipped sums and each record's gradient norm
    /// (with <c>check</c>, also the plain sums), or why the one pass cannot serve (then no sums).
    /// </summary>
    public sealed record Result(Tensor[]? Sums, double[] Norms, string? Unavailable, Tensor[]? UnclippedSums = null);

    /// <summary>
    /// From the captured pass whose per-record losses are <paramref name="losses"/> [B]: each record's
    /// gradient norm over <paramref name="parameters"/> together and Σ_b min(1, C/‖∇_b‖)·∇_b per parameter.
    /// With <paramref name="check"/>, the per-record gradients must also add up to autograd's batch gradient of
    /// Σ_b loss_b (one more set of weight gradients, for a first step), else the one pass is unavailable.
    /// </summary>
    public Result ClippedSum(Tensor losses, IReadOnlyList<Parameter> parameters, double clipNorm, bool check = false)
    {
        long batch = losses.shape[0];
        var index = new Dictionary<Parameter, int>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < parameters.Count; i++) index[parameters[i]] = i;

        var trainedUses = uses.Where(u => u.Parameters.Any(index.ContainsKey)).ToList();
        foreach (var use in trainedUses)
        {
            if (use.Parameters.Any(p => !index.ContainsKey(p)))
                return Unavailable($"{Describe(use)} trains some of its parameters and not others");
            if (use.Output.dim() == 0 || use.Output.shape[0] != batch)
                return Unavailable($"{Describe(use)} was applied to [{string.Join(", ", use.Output.shape)}], not to the batch's {batch} records");
        }
        var covered = new HashSet<Parameter>(trainedUses.SelectMany(u => u.Parameters), ReferenceEqualityComparer.Instance);
        var uncovered = parameters.Where(p => !covered.Contains(p) && p.requires_grad).ToList();

        // One backward pass, to the layers' outputs (and to any trained parameter the capture did not see, to prove it unused).
        var targets = trainedUses.Select(u => u.Output).Concat(uncovered.Select(p => (Tensor)p)).ToList();
        var checkedParameters = check ? covered.ToList() : [];
        targets.AddRange(checkedParameters);
        if (targets.Count == 0) return new Result(parameters.Select(p => zeros_like(p)).ToArray(), new double[batch], null);
        var gradients = torch.autograd.grad([losses.sum()], targets, allow_unused: true);
        for (int i = 0; i < uncovered.Count; i++)
            if (Defined(gradients[trainedUses.Count + i]))
                return Unavailable($"a trained parameter of shape [{string.Join(", ", uncovered[i].shape)}] is used outside the layers that record per-record gradients");

        using var noGrad = no_grad();
        // Squared norms add up in float32 (positive terms: relative error ~1e-7); each layer is a few small ops.
        var norms = zeros(batch, dtype: losses.dtype);
        var layers = new List<ILayerGradient>();
        foreach (var group in trainedUses.Select((u, i) => (Use: u, Gradient: gradients[i])).GroupBy(u => (object?)u.Use.Layer ?? u.Use.Parameters[0], ReferenceEqualityComparer.Instance))
        {
            var members = group.Where(m => Defined(m.Gradient)).ToList();
            if (members.Count == 0) continue;
            var first = members[0].Use;
            ILayerGradient layer = first.Kind switch
            {
                UseKind.Linear => new LinearGradient(first, members.Select(m => (m.Use, m.Gradient)).ToList(), batch),
                UseKind.LayerNorm => new LayerNormGradient(first, members.Select(m => (m.Use, m.Gradient)).ToList(), batch),
                _ => new RowsGradient(first, members.Select(m => m.Gradient).ToList(), batch),
            };
            norms.add_(layer.SquaredNorms());
            layers.Add(layer);
        }
        norms.sqrt_();
        var factors = (clipNorm / norms).clamp_max(1);
        var sums = new Tensor[parameters.Count];
        Tensor[]? plain = check ? new Tensor[parameters.Count] : null;
        using var ones = torch.ones_like(factors);
        foreach (var layer in layers)
        {
            Collect(sums, layer.WeightedSums(factors), layer);
            if (plain is not null) Collect(plain, layer.WeightedSums(ones), layer);
        }
        // A trained parameter the pass never read has a zero gradient for every record.
        for (int i = 0; i < parameters.Count; i++)
        {
            sums[i] ??= zeros_like(parameters[i], requires_grad: false);
            if (plain is not null) plain[i] ??= zeros_like(parameters[i], requires_grad: false);
        }
        if (plain is not null)
        {
            // The per-record gradients must add up to the batch gradient autograd computes: a parameter
            // also reached another way (a penalty on the weights) would make them differ.
            int offset = trainedUses.Count + uncovered.Count;
            for (int i = 0; i < checkedParameters.Count; i++)
            {
                var expected = Defined(gradients[offset + i]) ? gradients[offset + i] : zeros_like(checkedParameters[i]);
                var actual = plain[index[checkedParameters[i]]];
                double scale = expected.norm().item<float>() + actual.norm().item<float>();
                double difference = (expected - actual).norm().item<float>();
                if (difference > 1e-4 * scale + 1e-6)
                    return Unavailable($"the per-record gradients of a parameter of shape [{string.Join(", ", checkedParameters[i].shape)}] do not add up to its batch gradient (relative difference {difference / Math.Max(scale, 1e-30):G3}): it is reached outside the recording layers");
            }
        }
        return new Result(sums, norms.to_type(ScalarType.Float64).data<double>().ToArray(), null, plain);

        Result Unavailable(string why) => new(null, [], why);

        void Collect(Tensor[] into, Tensor[] gradients, ILayerGradient layer)
        {
            for (int i = 0; i < gradients.Length; i++)
            {
                int at = index[layer.Parameters[i]];
                into[at] = into[at] is null ? gradients[i] : into[at].add_(gradients[i]);
            }
        }
    }

    private static bool Defined(Tensor? gradient) => gradient is not null && !gradient.IsInvalid;

    private static string Describe(Use use) => use.Layer is null ? $"a parameter of shape [{string.Join(", ", use.Parameters[0].shape)}] used as rows" : $"{use.Kind} '{use.Layer.GetName()}'";

    /// <summary>Closes the capture and frees what it kept.</summary>
    public void Dispose()
    {
        if (ReferenceEquals(open, this)) open = outer;
        foreach (var tensor in owned) tensor.Dispose();
        owned.Clear();
        uses.Clear();
    }

    // One layer's (or row parameter's) per-record gradients, from all its uses in the pass.
    private interface ILayerGradient
    {
        Parameter[] Parameters { get; }

        // ‖∇_b‖² over the layer's parameters, [B].
        Tensor SquaredNorms();

        // Σ_b w_b ∇_b per parameter.
        Tensor[] WeightedSums(Tensor weights);
    }

    private sealed class LinearGradient : ILayerGradient
    {
        private readonly Tensor inputs;   // [B, T, in]
        private readonly Tensor outputs;  // [B, T, out]: the output gradients

        public LinearGradient(Use first, List<(Use Use, Tensor Gradient)> members, long batch)
        {
            Parameters = first.Parameters;
            long inFeatures = Parameters[0].shape[1], outFeatures = Parameters[0].shape[0];
            inputs = members.Count == 1 ? members[0].Use.Input!.reshape(batch, -1, inFeatures) : cat(members.Select(m => m.Use.Input!.reshape(batch, -1, inFeatures)).ToArray(), 1);
            outputs = members.Count == 1 ? members[0].Gradient.reshape(batch, -1, outFeatures) : cat(members.Select(m => m.Gradient.reshape(batch, -1, outFeatures)).ToArray(), 1);
        }

        public Parameter[] Parameters { get; }

        public Tensor SquaredNorms()
        {
            if (inputs.shape[1] == 1)
            {
                // One token: ‖g a‖² = ‖g‖²‖a‖², and the bias adds ‖g‖².
                var outputSquares = outputs.square().sum([1, 2]);
                var inputSquares = inputs.square().sum([1, 2]);
                return Parameters.Length > 1 ? outputSquares.mul_(inputSquares.add_(1)) : outputSquares.mul_(inputSquares);
            }
            var weight = (inputs.bmm(inputs.transpose(1, 2)) * outputs.bmm(outputs.transpose(1, 2))).sum([1, 2]);
            return Parameters.Length > 1 ? weight.add_(outputs.sum(1).square().sum(1)) : weight;
        }

        public Tensor[] WeightedSums(Tensor weights)
        {
            var scaled = (outputs * weights.view(-1, 1, 1)).reshape(-1, outputs.shape[2]);
            var weight = scaled.t().matmul(inputs.reshape(-1, inputs.shape[2]));
            return Parameters.Length > 1 ? [weight, scaled.sum(dim: 0)] : [weight];
        }
    }

    private sealed class LayerNormGradient : ILayerGradient
    {
        private readonly Tensor weight; // [B, d]
        private readonly Tensor? bias;  // [B, d]

        public LayerNormGradient(Use first, List<(Use Use, Tensor Gradient)> members, long batch)
        {
            Parameters = first.Parameters;
            long dim = Parameters[0].shape[0];
            foreach (var (use, gradient) in members)
            {
                var normalised = nn.functional.layer_norm(use.Input!, [dim], eps: use.Eps).reshape(batch, -1, dim);
                var g = gradient.reshape(batch, -1, dim);
                var w = (g * normalised).sum(1);
                weight = weight is null ? w : weight + w;
                if (Parameters.Length > 1) bias = bias is null ? g.sum(1) : bias + g.sum(1);
            }
            weight ??= zeros(batch, dim);
        }

        public Parameter[] Parameters { get; }

        public Tensor SquaredNorms()
        {
            var norms = weight.square().sum(1);
            return bias is null ? norms : norms.add_(bias.square().sum(1));
        }

        public Tensor[] WeightedSums(Tensor weights)
        {
            var w = weights.unsqueeze(1);
            return bias is null ? [(weight * w).sum(dim: 0)] : [(weight * w).sum(dim: 0), (bias * w).sum(dim: 0)];
        }
    }

    private sealed class RowsGradient : ILayerGradient
    {
        private readonly Tensor rows; // [B, numel]

        public RowsGradient(Use first, List<Tensor> gradients, long batch)
        {
            Parameters = first.Parameters;
            rows = gradients.Select(g => g.reshape(batch, -1)).Aggregate((a, b) => a + b);
        }

        public Parameter[] Parameters { get; }

        public Tensor SquaredNorms() => rows.square().sum(1);

        public Tensor[] WeightedSums(Tensor weights) => [(rows * weights.unsqueeze(1)).sum(dim: 0).view(Parameters[0].shape)];
    }
}
