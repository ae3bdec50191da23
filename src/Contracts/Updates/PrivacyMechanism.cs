using System.Text.Json.Serialization;

namespace FedMM.Contracts;

/// <summary>
/// One Gaussian mechanism a site ran, as the privacy accountant composes it and the site reports
/// it: <paramref name="Steps"/> releases, each adding Gaussian noise of <paramref name="NoiseMultiplier"/>
/// × its L2 sensitivity to a Poisson subsample that holds each record with probability
/// <paramref name="SampleRate"/> (1: every record, the plain Gaussian mechanism).
/// </summary>
/// <param name="Name">What was released ("dp-sgd", "summary.image", "summary.cooccurrence"), for reports.</param>
/// <param name="SampleRate">Poisson sampling probability q ∈ (0, 1].</param>
/// <param name="NoiseMultiplier">Noise standard deviation over the L2 sensitivity, σ &gt; 0.</param>
/// <param name="Steps">How many times the mechanism ran.</param>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
[GenerateSerializer, Immutable, Alias("fedmm.privacy-mechanism")]
public sealed record PrivacyMechanism(
    [property: Id(0)] string Name, [property: Id(1)] double SampleRate, [property: Id(2)] double NoiseMultiplier, [property: Id(3)] long Steps)
{
    /// <summary>The mechanism's problems (empty when it can be composed).</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Name)) problems.Add("name: required.");
        if (!(SampleRate is > 0 and <= 1)) problems.Add($"sample rate {SampleRate} is outside (0, 1].");
        if (!(NoiseMultiplier > 0) || !double.IsFinite(NoiseMultiplier)) problems.Add($"noise multiplier {NoiseMultiplier} must be positive and finite.");
        if (Steps < 0) problems.Add($"steps {Steps} must be ≥ 0.");
        return problems;
    }
}
