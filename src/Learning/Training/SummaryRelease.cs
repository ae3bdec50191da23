using FedMM.Contracts;
using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>
/// What <see cref="RepresentationSummary.Summarise"/> releases: the vector summaries (names in
/// docs/ARTIFACTS.md; the caller owns the tensors) and what protected them, with the mechanisms
/// the site's accountant composes (ε is added by the caller, which holds the accountant).
/// </summary>
public sealed record SummaryRelease(Dictionary<string, Tensor> Vectors, PrivacyReport Report);
