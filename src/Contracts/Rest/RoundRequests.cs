using System.Text.Json.Serialization;

namespace FedMM.Contracts;

/// <summary>Body of POST /api/federations/{fid}/rounds.</summary>
/// <param name="Rounds">How many rounds to queue (default 1, at most 100: the federation grain's RoundRequest.MaxCount); left out of the body when null.</param>
/// <param name="Participants">Client ids taking part (default: every registered client); left out of the body when null.</param>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record StartRoundsRequest(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Rounds = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<string>? Participants = null);

/// <summary>The rounds queued by POST /api/federations/{fid}/rounds.</summary>
/// <param name="Rounds">Their numbers, in the order they run.</param>
public sealed record StartRoundsResponse(IReadOnlyList<int> Rounds);

/// <summary>The latest completed round of a federation (GET .../global/latest).</summary>
/// <param name="Round">Its number; its global package is the current one.</param>
public sealed record LatestGlobalResponse(int Round);
