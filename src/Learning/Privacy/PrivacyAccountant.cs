using FedMM.Contracts;

namespace FedMM.Learning.Privacy;

/// <summary>
/// The one Rényi-DP accountant of a site (docs/PRIVACY.md): composes every Gaussian mechanism the
/// site runs — DP-SGD steps, noisy summary releases — over steps, epochs and rounds by adding their
/// RDP curves order by order, and converts the total to ε at the federation's δ.
/// </summary>
/// <remarks>
/// RDP composes additively at each order, so the state is the list of mechanisms run; the curve of
/// each distinct (q, σ) is computed once. Not thread-safe: one accountant belongs to one site.
/// </remarks>
public sealed class PrivacyAccountant
{
    private readonly List<PrivacyMechanism> _mechanisms = [];
    private readonly Dictionary<(double Q, double Sigma), double[]> _curves = [];

    /// <summary>An accountant over <paramref name="orders"/> (default <see cref="RenyiDp.DefaultOrders"/>).</summary>
    public PrivacyAccountant(IReadOnlyList<double>? orders = null)
    {
        Orders = orders?.ToArray() ?? RenyiDp.DefaultOrders;
        if (Orders.Count == 0 || Orders.Any(a => !(a > 1))) throw new ArgumentException("Rényi orders must be > 1, at least one.", nameof(orders));
    }

    /// <summary>The Rényi orders α the curves are evaluated at.</summary>
    public IReadOnlyList<double> Orders { get; }

    /// <summary>Every mechanism composed so far, in order.</summary>
    public IReadOnlyList<PrivacyMechanism> Mechanisms => _mechanisms;

    /// <summary>Adds <paramref name="mechanism"/> to the composition.</summary>
    /// <exception cref="ArgumentException">The mechanism's parameters are out of range.</exception>
    public void Compose(PrivacyMechanism mechanism)
    {
        ArgumentNullException.ThrowIfNull(mechanism);
        var problems = mechanism.Problems();
        if (problems.Count > 0) throw new ArgumentException($"Mechanism '{mechanism.Name}': {string.Join(" ", problems)}", nameof(mechanism));
        _mechanisms.Add(mechanism);
    }

    /// <summary>The composed RDP curve, one value per order.</summary>
    public double[] Rdp() => Rdp(_mechanisms);

    /// <summary>ε at <paramref name="delta"/> of everything composed so far (0 before anything ran).</summary>
    public double Epsilon(double delta, EpsilonConversion conversion = EpsilonConversion.Improved)
        => _mechanisms.Count == 0 ? 0 : RenyiDp.ToEpsilon(Orders, Rdp(), delta, conversion).Epsilon;

    /// <summary>ε at <paramref name="delta"/> if <paramref name="planned"/> ran as well: what a budget check asks before running them.</summary>
    public double EpsilonWith(IEnumerable<PrivacyMechanism> planned, double delta, EpsilonConversion conversion = EpsilonConversion.Improved)
    {
        var all = _mechanisms.Concat(planned).ToList();
        return all.Count == 0 ? 0 : RenyiDp.ToEpsilon(Orders, Rdp(all), delta, conversion).Epsilon;
    }

    private double[] Rdp(IEnumerable<PrivacyMechanism> mechanisms)
    {
        var total = new double[Orders.Count];
        foreach (var mechanism in mechanisms)
        {
            if (mechanism.Steps == 0) continue;
            var curve = Curve(mechanism.SampleRate, mechanism.NoiseMultiplier);
            for (int i = 0; i < total.Length; i++) total[i] += mechanism.Steps * curve[i];
        }
        return total;
    }

    // Curves at the default orders are shared by every accountant in the process: a site's ledger, the
    // round grain's check of each submission and the aggregator's check of the same update all ask for
    // the same (q, σ), and one curve costs a fraction of a second.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(double Q, double Sigma), double[]> DefaultCurves = new();

    private double[] Curve(double q, double sigma)
    {
        if (ReferenceEquals(Orders, RenyiDp.DefaultOrders))
            return DefaultCurves.GetOrAdd((q, sigma), key => RenyiDp.DefaultOrders.Select(a => RenyiDp.SubsampledGaussian(key.Q, key.Sigma, a)).ToArray());
        if (_curves.TryGetValue((q, sigma), out var curve)) return curve;
        curve = Orders.Select(a => RenyiDp.SubsampledGaussian(q, sigma, a)).ToArray();
        _curves[(q, sigma)] = curve;
        return curve;
    }
}
