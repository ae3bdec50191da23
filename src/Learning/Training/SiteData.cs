using FedMM.Learning.Federation;
using static TorchSharp.torch;

namespace FedMM.Learning.Training;

/// <summary>
/// One split of a site's data in memory. <paramref name="Images"/> is [N, 3, H, W] (zeros where a
/// sample has no image) or null when no sample has one; <paramref name="Texts"/> holds null where a
/// sample has no text; <paramref name="Labels"/> are class indices.
/// </summary>
public sealed record SiteSplit(Tensor? Images, IReadOnlyList<string?> Texts, long[] Labels)
{
    /// <summary>Number of samples.</summary>
    public int Count => Labels.Length;

    /// <summary>Whether sample <paramref name="index"/> carries an image.</summary>
    public bool HasImage(int index) => Images is not null && (ImagePresent?[index] ?? true);

    /// <summary>Per-sample image presence; null means every sample has an image when <see cref="Images"/> is set.</summary>
    public bool[]? ImagePresent { get; init; }

    /// <summary>Whether sample <paramref name="index"/> carries a text.</summary>
    public bool HasText(int index) => Texts.Count > index && Texts[index] is not null;

    /// <summary>Checks that sizes agree and labels are in range; names the site and split when not.</summary>
    public void Validate(string clientId, string split, int classes)
    {
        if (Images is not null && (Images.dim() != 4 || Images.shape[0] != Count || Images.shape[1] != 3))
            throw new ArgumentException($"Site {clientId}, {split}: images must be [{Count}, 3, H, W], got [{string.Join(", ", Images.shape)}].");
        if (Texts.Count != 0 && Texts.Count != Count)
            throw new ArgumentException($"Site {clientId}, {split}: {Texts.Count} texts for {Count} labels.");
        if (ImagePresent is not null && ImagePresent.Length != Count)
            throw new ArgumentException($"Site {clientId}, {split}: image presence has {ImagePresent.Length} entries for {Count} labels.");
        for (int i = 0; i < Count; i++)
        {
            if (Labels[i] < 0 || Labels[i] >= classes)
                throw new ArgumentException($"Site {clientId}, {split}, sample {i}: label {Labels[i]} outside 0..{classes - 1}.");
            if (!HasImage(i) && !HasText(i))
                throw new ArgumentException($"Site {clientId}, {split}, sample {i}: carries neither image nor text.");
        }
    }
}

/// <summary>Joining splits of several sites.</summary>
public static class SiteSplits
{
    /// <summary>
    /// The samples of all <paramref name="splits"/> in order, keeping each sample's modalities
    /// (zero images with presence false where a split has no images).
    /// </summary>
    public static SiteSplit Concat(IReadOnlyList<SiteSplit> splits)
    {
        var withImages = splits.FirstOrDefault(s => s.Images is not null)?.Images;
        Tensor? images = null;
        bool[]? present = null;
        if (withImages is not null)
        {
            var shape = withImages.shape;
            images = cat(splits.Select(s => s.Images ?? zeros(s.Count, shape[1], shape[2], shape[3])).ToList(), 0);
            present = splits.SelectMany(s => Enumerable.Range(0, s.Count).Select(s.HasImage)).ToArray();
        }
        var texts = splits.SelectMany(s => s.Texts.Count == 0 ? Enumerable.Repeat<string?>(null, s.Count) : s.Texts).ToList();
        return new SiteSplit(images, texts, splits.SelectMany(s => s.Labels).ToArray()) { ImagePresent = present };
    }
}

/// <summary>A site's training and validation data and the modalities it holds.</summary>
public sealed record SiteData(string ClientId, Modalities Modalities, SiteSplit Train, SiteSplit Val);
