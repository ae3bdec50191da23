namespace FedMM.Contracts;

/// <summary>Which modalities a site holds or a sample carries.</summary>
[Flags]
public enum Modalities
{
    /// <summary>Neither modality.</summary>
    None = 0,

    /// <summary>Images (CT/MR).</summary>
    Image = 1,

    /// <summary>Clinical text.</summary>
    Text = 2,

    /// <summary>Images and text ("image+text").</summary>
    Both = Image | Text,
}

/// <summary>Parsing and naming of <see cref="Modalities"/> as they appear in files and requests.</summary>
public static class ModalityNames
{
    /// <summary>"image", "text" or "image+text".</summary>
    public static string ToName(this Modalities modalities) => modalities switch
    {
        Modalities.Image => "image",
        Modalities.Text => "text",
        Modalities.Both => "image+text",
        _ => throw new ArgumentOutOfRangeException(nameof(modalities), modalities, "A site holds image, text or both."),
    };

    /// <summary>Parses "image", "text", "image+text" (also "both", "text+image"); null when not one of them.</summary>
    public static Modalities? TryParse(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        "image" => Modalities.Image,
        "text" => Modalities.Text,
        "image+text" or "text+image" or "both" => Modalities.Both,
        _ => null,
    };
}
