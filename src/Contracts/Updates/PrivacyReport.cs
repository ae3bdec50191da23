using System.Text.Json.Serialization;

namespace FedMM.Contracts;

/// <summary>
/// What protected a site's update and what it cost (metrics.json "privacy", docs/PRIVACY.md): the
/// support of the summary rows it uploads and the differentially private mechanisms of the round,
/// with the ε the site has spent so far.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
[GenerateSerializer, Immutable, Alias("fedmm.privacy-report")]
public sealed record PrivacyReport
{
    /// <summary>The privacy.minSupport the site summarised with.</summary>
    [Id(0)]
    public required int MinSupport { get; init; }

    /// <summary>Smallest count of any uploaded summary row (centroid), at least <see cref="MinSupport"/>.</summary>
    [Id(1)]
    public double SmallestSupport { get; init; }

    /// <summary>Summary rows that rested on fewer than <see cref="MinSupport"/> samples and were merged into their nearest neighbour.</summary>
    [Id(2)]
    public int MergedRows { get; init; }

    /// <summary>Noisy summary rows withheld because their released count was below one sample.</summary>
    [Id(3)]
    public int WithheldRows { get; init; }

    /// <summary>Whether per-sample vectors were uploaded (minimum support and noise turned off by name).</summary>
    [Id(4)]
    public bool SampleVectors { get; init; }

    /// <summary>The differentially private mechanisms this round ran, as the accountant composed them.</summary>
    [Id(5)]
    public IReadOnlyList<PrivacyMechanism> Mechanisms { get; init; } = [];

    /// <summary>ε of this round's mechanisms alone, at <see cref="Delta"/>.</summary>
    [Id(6)]
    public double RoundEpsilon { get; init; }

    /// <summary>ε the site has spent over every round so far, this one included, at <see cref="Delta"/>.</summary>
    [Id(7)]
    public double Epsilon { get; init; }

    /// <summary>δ the ε values hold at.</summary>
    [Id(8)]
    public double Delta { get; init; }
}
