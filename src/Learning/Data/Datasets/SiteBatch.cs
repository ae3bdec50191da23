using TorchSharp;

namespace FedMM.Learning.Data.Datasets;

/// <summary>A mini-batch of a <see cref="SiteDataset"/>; the caller disposes its tensors.</summary>
/// <param name="Images">[B, 3, S, S] float32 (zeros where a sample has no image); null when the site holds no images.</param>
/// <param name="Texts">Each sample's text; null where it has none.</param>
/// <param name="Labels">[B] int64 class indices.</param>
/// <param name="HasImage">[B] bool, whether each sample's image is real.</param>
/// <param name="HasText">[B] bool, whether each sample's text is real.</param>
public sealed record SiteBatch(torch.Tensor? Images, IReadOnlyList<string?> Texts, torch.Tensor Labels, torch.Tensor HasImage, torch.Tensor HasText) : IDisposable
{
    /// <summary>Samples in the batch.</summary>
    public int Count => Texts.Count;

    /// <summary>Disposes the tensors.</summary>
    public void Dispose()
    {
        Images?.Dispose();
        Labels.Dispose();
        HasImage.Dispose();
        HasText.Dispose();
    }
}
