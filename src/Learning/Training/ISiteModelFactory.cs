using FedMM.Learning.Federation;
using FedMM.Learning.Models;

namespace FedMM.Learning.Training;

/// <summary>Builds a site's model: fresh shared part plus the private encoders for the modalities it holds.</summary>
public interface ISiteModelFactory
{
    /// <summary>
    /// Creates the model of site <paramref name="data"/>; <paramref name="seed"/> initialises
    /// everything that is not pretrained.
    /// </summary>
    SiteModel Create(FederationConfig config, SiteData data, int seed);
}
