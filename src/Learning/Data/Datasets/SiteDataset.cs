using FedMM.Contracts;
using FedMM.Learning.Data.Images;
using FedMM.Learning.Federation;
using TorchSharp;

namespace FedMM.Learning.Data.Datasets;

/// <summary>
/// One split of a site, loaded into memory: images decoded and transformed once into a single
/// [N, 3, S, S] float32 tensor (zeros where a sample has none), texts as strings, labels as an
/// int64 tensor of class indices, and per-sample presence of each modality. Tensors live on the
/// CPU; the trainer moves each batch to <see cref="Runtime.TorchDevice.Current"/>.
/// </summary>
public sealed class SiteDataset : IDisposable
{
    private SiteDataset(ClientInfo info, IReadOnlyList<string> labels, SplitManifest manifest, torch.Tensor? images, torch.Tensor labelIndices, torch.Tensor hasImage, torch.Tensor hasText)
    {
        Info = info;
        Labels = labels;
        Manifest = manifest;
        Images = images;
        LabelIndices = labelIndices;
        HasImage = hasImage;
        HasText = hasText;
        Texts = manifest.Samples.Select(s => s.Text).ToArray();
    }

    /// <summary>The site's registration.</summary>
    public ClientInfo Info { get; }

    /// <summary>Class labels in logit order.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>The validated manifest the data came from.</summary>
    public SplitManifest Manifest { get; }

    /// <summary>"train" or "val".</summary>
    public string Split => Manifest.Split;

    /// <summary>The samples, in manifest order.</summary>
    public IReadOnlyList<Sample> Samples => Manifest.Samples;

    /// <summary>Number of samples.</summary>
    public int Count => Manifest.Samples.Count;

    /// <summary>[N, 3, S, S] float32, ImageNet-normalised; null when the site is not registered for images.</summary>
    public torch.Tensor? Images { get; }

    /// <summary>Each sample's text; null where it has none.</summary>
    public IReadOnlyList<string?> Texts { get; }

    /// <summary>[N] int64 class indices into <see cref="Labels"/>.</summary>
    public torch.Tensor LabelIndices { get; }

    /// <summary>[N] bool: the sample has a real image.</summary>
    public torch.Tensor HasImage { get; }

    /// <summary>[N] bool: the sample has real text.</summary>
    public torch.Tensor HasText { get; }

    /// <summary>Loads one split of a client folder (labels as <see cref="ClientFolder.Load"/> resolves them).</summary>
    public static SiteDataset Load(ClientFolder folder, string split, ImageTransform transform, IReadOnlyList<string>? labels = null, ManifestOptions? options = null)
    {
        // Images are decoded below anyway; decoding them twice to validate would double the cost.
        var checking = (options ?? new ManifestOptions()) with { DecodeImages = false };
        var data = folder.Load(labels, checking);
        var manifest = split switch
        {
            ClientFolder.Train => data.Train,
            ClientFolder.Val => data.Val,
            _ => throw new ArgumentException($"Unknown split '{split}'; a client folder has '{ClientFolder.Train}' and '{ClientFolder.Val}'.", nameof(split)),
        };
        return FromManifest(data.Info, data.Labels, manifest, transform, checking.MaxErrors);
    }

    /// <summary>Decodes the images of a validated manifest; undecodable ones are reported by manifest line.</summary>
    public static SiteDataset FromManifest(ClientInfo info, IReadOnlyList<string> labels, SplitManifest manifest, ImageTransform transform, int maxErrors = 50)
    {
        int count = manifest.Samples.Count;
        var labelIndex = labels.Select((label, index) => (label, index)).ToDictionary(p => p.label, p => (long)p.index, StringComparer.Ordinal);
        var indices = new long[count];
        var hasImage = new bool[count];
        var hasText = new bool[count];
        for (int i = 0; i < count; i++)
        {
            var sample = manifest.Samples[i];
            if (!labelIndex.TryGetValue(sample.Label, out indices[i]))
                throw new DataFormatException(manifest.ManifestPath, manifest.Lines[i], "label", $"unknown label '{sample.Label}'.");
            hasImage[i] = sample.Image is not null;
            hasText[i] = sample.Text is not null;
        }

        torch.Tensor? images = null;
        if (info.Modalities.HasFlag(Modalities.Image))
        {
            int length = transform.Length;
            if ((long)count * length > Array.MaxLength)
                throw new InvalidOperationException(
                    $"{manifest.ManifestPath}: {count} images of {transform.Size}×{transform.Size} do not fit in one in-memory tensor; use a smaller image size or split the site.");
            var pixels = new float[(long)count * length];
            var problems = new string?[count];
            Parallel.For(0, count, i =>
            {
                var path = manifest.ImagePath(manifest.Samples[i]);
                if (path is null) return; // stays zero; HasImage says it is absent
                if (!ImageDecoder.TryDecode(path, out var bitmap, out var problem))
                {
                    problems[i] = $"undecodable image {path}: {problem}";
                    return;
                }
                using (bitmap) transform.Apply(bitmap!, pixels.AsSpan((int)((long)i * length), length));
            });
            var errors = new DataErrorCollector(maxErrors);
            for (int i = 0; i < count; i++)
                if (problems[i] is string problem) errors.Add(manifest.ManifestPath, manifest.Lines[i], "image", problem);
            errors.ThrowIfAny();
            images = torch.tensor(pixels, [count, 3, transform.Size, transform.Size]);
        }
        return new SiteDataset(info, labels, manifest, images,
            torch.tensor(indices, [count]), torch.tensor(hasImage, [count]), torch.tensor(hasText, [count]));
    }

    /// <summary>The samples at the given positions as a batch (tensors copied; the caller disposes the batch).</summary>
    public SiteBatch Batch(IReadOnlyList<long> positions)
    {
        using var index = torch.tensor(positions.ToArray(), [positions.Count]);
        return new SiteBatch(
            Images?.index_select(0, index),
            positions.Select(p => Texts[checked((int)p)]).ToArray(),
            LabelIndices.index_select(0, index),
            HasImage.index_select(0, index),
            HasText.index_select(0, index));
    }

    /// <summary>Disposes the tensors.</summary>
    public void Dispose()
    {
        Images?.Dispose();
        LabelIndices.Dispose();
        HasImage.Dispose();
        HasText.Dispose();
    }
}
