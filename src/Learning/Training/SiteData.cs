using FedMM.Contracts;
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

    /// <summary>
    /// The samples that carry at least one of <paramref name="modalities"/>, holding only those: the
    /// view of a common test that a site with these modalities can be evaluated on.
    /// </summary>
    public SiteSplit Restrict(Modalities modalities)
    {
        bool image = modalities.HasFlag(Modalities.Image), text = modalities.HasFlag(Modalities.Text);
        var keep = Enumerable.Range(0, Count).Where(i => (image && HasImage(i)) || (text && HasText(i))).ToArray();
        var index = tensor(keep.Select(i => (long)i).ToArray());
        var images = image && Images is not null ? Images.index_select(0, index) : null;
        index.Dispose();
        var texts = text ? keep.Select(i => HasText(i) ? Texts[i] : null).ToList() : keep.Select(_ => (string?)null).ToList();
        return new SiteSplit(images, texts, keep.Select(i => Labels[i]).ToArray())
        {
            ImagePresent = images is null ? null : keep.Select(HasImage).ToArray(),
        };
    }

    /// <summary>Share of each class among the labels, smoothed by one sample per class (never 0).</summary>
    public double[] LabelPrior(int classes)
    {
        var counts = new double[classes];
        foreach (var label in Labels) counts[label]++;
        return counts.Select(c => (c + 1) / (Count + classes)).ToArray();
    }

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
public sealed record SiteData(string ClientId, Modalities Modalities, SiteSplit Train, SiteSplit Val)
{
    /// <summary>
    /// The common test in this site's modalities (<see cref="SiteSplit.Restrict"/>), or null: held-out
    /// data no site trains or selects on, evaluated by experiments only.
    /// </summary>
    public SiteSplit? Test { get; init; }
}

/// <summary>Which of a site's splits.</summary>
public enum SplitKind
{
    /// <summary>The site's training data.</summary>
    Train,
    /// <summary>The site's val data: model selection and the site's own view.</summary>
    Val,
    /// <summary>The common test (<see cref="SiteData.Test"/>).</summary>
    Test,
}
