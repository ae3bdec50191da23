using System.Text.Json.Serialization;
using FedMM.Contracts;
using FedMM.Learning.Federation;

namespace FedMM.Learning.Data;

/// <summary>One line of a split's <c>samples.jsonl</c>.</summary>
/// <param name="Id">Unique within the split.</param>
/// <param name="Label">One of the federation's class labels.</param>
/// <param name="Image">Image path relative to the split folder, under <c>images/</c>; null when the sample has no image.</param>
/// <param name="Text">The sample's text; null when it has none.</param>
public sealed record Sample(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("label")] string Label,
    [property: JsonPropertyName("image"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Image = null,
    [property: JsonPropertyName("text"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Text = null)
{
    /// <summary>The modalities this sample carries.</summary>
    [JsonIgnore]
    public Modalities Modalities =>
        (Image is null ? Modalities.None : Modalities.Image) | (Text is null ? Modalities.None : Modalities.Text);
}
