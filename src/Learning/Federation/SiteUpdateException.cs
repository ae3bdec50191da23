namespace FedMM.Learning.Federation;

/// <summary>A site's update that cannot be aggregated; names the client so the round can drop or refuse it.</summary>
public sealed class SiteUpdateException(string clientId, int round, string problem)
    : ArgumentException($"Round {round}, client '{clientId}': {problem}")
{
    /// <summary>The client whose update is at fault.</summary>
    public string ClientId { get; } = clientId;

    /// <summary>The round being aggregated.</summary>
    public int Round { get; } = round;
}
