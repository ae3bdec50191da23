namespace FedMM.Contracts;

/// <summary>The answer to a registration: the only time the site's token is ever returned.</summary>
/// <param name="ClientId">Registered client.</param>
/// <param name="Modalities">"image", "text" or "image+text".</param>
/// <param name="Token">The secret bearer token; only its SHA-256 hash is stored.</param>
/// <param name="TokenExpiresAt">When the token stops being accepted; null: never.</param>
/// <param name="ExpectedSamples">The training-set size declared for the site; null: none.</param>
[GenerateSerializer, Immutable, Alias("fedmm.client-registration")]
public sealed record ClientRegistration(
    [property: Id(0)] string ClientId,
    [property: Id(1)] string Modalities,
    [property: Id(2)] string Token,
    [property: Id(3)] DateTimeOffset? TokenExpiresAt = null,
    [property: Id(4)] int? ExpectedSamples = null);
