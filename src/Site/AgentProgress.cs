using System.Text.Json;
using FedMM.Contracts;

namespace FedMM.Site;

/// <summary>
/// The agent's progress, kept in the site folder as state.json so a restarted agent (or one
/// that outlived an API restart) neither retrains nor re-uploads a round it finished.
/// </summary>
public sealed record AgentProgress
{
    /// <summary>File name inside the site folder.</summary>
    public const string FileName = "state.json";

    /// <summary>Federation the site belongs to.</summary>
    public required string FederationId { get; init; }

    /// <summary>The site's client id.</summary>
    public required string ClientId { get; init; }

    /// <summary>Last round whose update the API acknowledged.</summary>
    public int? LastUploadedRound { get; init; }

    /// <summary>Last round whose update files were produced (trained but maybe not yet uploaded).</summary>
    public int? LastTrainedRound { get; init; }

    /// <summary>Last global package applied to the local model.</summary>
    public int? LastAppliedGlobalRound { get; init; }

    /// <summary>When this was written.</summary>
    public DateTimeOffset UpdatedAt { get; init; } = DateTimeOffset.UtcNow;


    /// <summary>The state in <paramref name="siteFolder"/>, or a fresh one; refuses a folder that belongs to another site.</summary>
    public static AgentProgress Load(string siteFolder, string federationId, string clientId)
    {
        string path = Path.Combine(siteFolder, FileName);
        if (!File.Exists(path)) return new AgentProgress { FederationId = federationId, ClientId = clientId };
        AgentProgress? state;
        try
        {
            state = JsonSerializer.Deserialize<AgentProgress>(File.ReadAllText(path), ContractJson.Options);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a valid site state ({e.Message}); delete it to start the site afresh.");
        }
        if (state is null) throw new InvalidDataException($"{path} is empty; delete it to start the site afresh.");
        if (state.FederationId != federationId || state.ClientId != clientId)
            throw new InvalidDataException($"{path} belongs to client {state.ClientId} of federation {state.FederationId}, not {clientId} of {federationId}.");
        return state;
    }

    /// <summary>The state in <paramref name="siteFolder"/> whoever it belongs to; null when there is none.</summary>
    public static AgentProgress? TryLoad(string siteFolder)
    {
        string path = Path.Combine(siteFolder, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<AgentProgress>(File.ReadAllText(path), ContractJson.Options);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a valid site state ({e.Message}).");
        }
    }

    /// <summary>Writes the state atomically (temp file + rename), so a crash never leaves half a file.</summary>
    public void Save(string siteFolder)
    {
        Directory.CreateDirectory(siteFolder);
        string path = Path.Combine(siteFolder, FileName);
        string temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(this with { UpdatedAt = DateTimeOffset.UtcNow }, ContractJson.Indented));
        File.Move(temp, path, overwrite: true);
    }
}
