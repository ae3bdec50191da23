using FedMM.Contracts;
using FedMM.Learning.Federation;

namespace FedMM.Learning.Data;

/// <summary>What <c>client.json</c> says about a site.</summary>
/// <param name="Id">The site's client id (letters, digits, '.', '_' and '-').</param>
/// <param name="Modalities">The modalities the site is registered for.</param>
/// <param name="Labels">The class labels in logit order, when the folder is meant to be used on its own; null to take them from CLIENT_ROOT/labels.json.</param>
public sealed record ClientInfo(string Id, Modalities Modalities, IReadOnlyList<string>? Labels = null);
