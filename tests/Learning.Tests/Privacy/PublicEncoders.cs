using FedMM.Contracts;
using FedMM.Learning.Models;
using FedMM.Learning.Tests.Training;
using FedMM.Learning.Training;

namespace FedMM.Learning.Tests.Privacy;

/// <summary>
/// TinySites' encoders, the same at every site and frozen (as pretrained encoders are): the
/// attacker can rebuild them, and every site starts from the same round-1 model.
/// </summary>
internal sealed class PublicEncoders : ISiteModelFactory
{
    private readonly TinySites.Factory inner = new();

    public SiteModel Create(FederationConfig config, SiteData data, int seed)
    {
        var model = inner.Create(config, data with { Modalities = Modalities.Both }, seed: 4242);
        return new SiteModel(model.Shared, model.ImageEncoder, model.TextEncoder, model.Tokenize) { TextEncoderFrozen = true };
    }
}
