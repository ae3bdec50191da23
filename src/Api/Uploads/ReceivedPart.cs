using FedMM.Storage;

namespace FedMM.Api.Uploads;

/// <summary>A validated upload part staged under its final blob name, not yet committed.</summary>
public sealed record ReceivedPart(string Kind, StagedBlob Blob, long Size, string Sha256, string ContentType);
