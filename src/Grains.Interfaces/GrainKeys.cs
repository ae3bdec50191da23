namespace FedMM.Grains.Interfaces;

/// <summary>How grain keys are built, so the API and the grains address the same grains.</summary>
public static class GrainKeys
{
    /// <summary>The single registry grain's key.</summary>
    public const string Registry = "all";

    /// <summary>Key of the client grain of <paramref name="clientId"/> in <paramref name="federationId"/>: "fid/cid".</summary>
    public static string Client(string federationId, string clientId) => $"{federationId}/{clientId}";

    /// <summary>Key of round <paramref name="round"/> of <paramref name="federationId"/>: "fid/r".</summary>
    public static string Round(string federationId, int round) => $"{federationId}/{round}";

    /// <summary>Splits a "fid/x" key into its federation id and the rest.</summary>
    public static (string FederationId, string Part) Split(string key)
    {
        int slash = key.IndexOf('/');
        if (slash <= 0 || slash == key.Length - 1)
            throw new ArgumentException($"Grain key '{key}' is not of the form 'federation/part'.", nameof(key));
        return (key[..slash], key[(slash + 1)..]);
    }
}
