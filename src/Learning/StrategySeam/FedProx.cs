using FedMM.Contracts;
using FedMM.Learning.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FedMM.Learning.StrategySeam;

/// <summary>
/// FedProx's site side (Li et al. 2020, "Federated Optimization in Heterogeneous Networks"): every local
/// step adds (μ/2)·Σ‖w − w_global‖² over the shared parameters the site trains and uploads, with
/// w_global the global package the site received, so a site whose data pull it far from the others is
/// held near the federation's model. Its gradient is μ·(w − w_global). Parameters the site keeps as
/// personal layers (round.personalLayers) are not held: they never come from the global model.
/// </summary>
public sealed class FedProx : ISiteTerm
{
    private readonly double mu;
    private readonly List<(Parameter Parameter, Tensor Anchor)> held;

    /// <summary>The term over <paramref name="parameters"/>, each held to the tensor of the same name in <paramref name="global"/>.</summary>
    /// <exception cref="ArgumentException">μ is not positive and finite, no parameters, a parameter has no global tensor, or shapes differ.</exception>
    public FedProx(double mu, IEnumerable<(string Name, Parameter Parameter)> parameters, IReadOnlyDictionary<string, Tensor> global)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(global);
        if (!(mu > 0) || !double.IsFinite(mu)) throw new ArgumentException($"FedProx: μ must be positive and finite (got {mu}).", nameof(mu));
        this.mu = mu;
        held = [];
        try
        {
            foreach (var (name, parameter) in parameters)
            {
                if (!global.TryGetValue(name, out var anchor))
                    throw new ArgumentException($"FedProx: the global weights have no '{name}'.", nameof(global));
                if (!anchor.shape.SequenceEqual(parameter.shape))
                    throw new ArgumentException($"FedProx: global '{name}' has shape [{string.Join(", ", anchor.shape)}], the parameter [{string.Join(", ", parameter.shape)}].", nameof(global));
                held.Add((parameter, anchor.detach().to(parameter.dtype, parameter.device).clone()));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
        if (held.Count == 0) throw new ArgumentException("FedProx: no parameters to hold.", nameof(parameters));
    }

    /// <summary>
    /// The term for a site holding <paramref name="modalities"/>: the parameters of the groups it trains
    /// and uploads that <paramref name="global"/> holds, except its personal layers; null when none is left.
    /// </summary>
    public static FedProx? For(double mu, SharedModel shared, IReadOnlyDictionary<string, Tensor> global, Modalities modalities, PersonalLayers personal)
    {
        ArgumentNullException.ThrowIfNull(shared);
        ArgumentNullException.ThrowIfNull(global);
        var groups = SharedModel.GroupsFor(modalities);
        var parameters = shared.named_parameters()
            .Where(p => p.parameter.requires_grad && groups.Contains(SharedModel.GroupOf(p.name))
                        && !SharedModel.IsPersonal(p.name, personal) && global.ContainsKey(p.name))
            .Select(p => (p.name, p.parameter))
            .ToList();
        return parameters.Count == 0 ? null : new FedProx(mu, parameters, global);
    }

    /// <summary>μ.</summary>
    public double Mu => mu;

    /// <summary>How many parameter tensors the term holds.</summary>
    public int Parameters => held.Count;

    /// <inheritdoc />
    public Tensor Loss()
    {
        using var scope = NewDisposeScope();
        Tensor sum = held[0].Parameter.sub(held[0].Anchor).square().sum();
        for (int i = 1; i < held.Count; i++) sum = sum + held[i].Parameter.sub(held[i].Anchor).square().sum();
        return (sum * (mu / 2)).MoveToOuterDisposeScope();
    }

    /// <summary>Disposes the copies of the global weights.</summary>
    public void Dispose()
    {
        foreach (var (_, anchor) in held) anchor.Dispose();
        held.Clear();
    }
}
