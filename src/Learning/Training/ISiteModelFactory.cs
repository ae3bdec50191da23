using FedMM.Contracts;
using FedMM.Learning.Federation;
using FedMM.Learning.Models;

namespace FedMM.Learning.Training;

/// <summary>Builds a site's model: fresh shared part plus the private encoders for the modalities it holds.</summary>
public interface ISiteModelFactory
{
    /// <summary>
    /// Creates the model of site <paramref name="data"/>; <paramref name="seed"/> (per site) initialises
    /// the private encoders that are not pretrained. The shared part should start the same at every
    /// site of a federation (seeded from <see cref="RoundConfig.Seed"/>), as a first global model would.
    /// </summary>
    SiteModel Create(FederationConfig config, SiteData data, int seed);
}
