namespace FedMM.Api.Uploads;

/// <summary>One shared parameter a site's weights may hold: name, shape and group ("image", "text", "fusion").</summary>
public sealed record ExpectedParameter(string Name, long[] Shape, string Group);
