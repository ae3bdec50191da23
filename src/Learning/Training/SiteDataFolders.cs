using FedMM.Contracts;
using FedMM.Learning.Data;
using FedMM.Learning.Data.Datasets;
using FedMM.Learning.Data.Images;

namespace FedMM.Learning.Training;

/// <summary>Reads a client folder into memory as <see cref="SiteData"/>: the one loading the site agent and the experiment runner share.</summary>
public static class SiteDataFolders
{
    /// <summary>
    /// The folder's train and val splits with images decoded at <paramref name="imageSize"/> pixels
    /// and labels indexed in <paramref name="labels"/>' order, keyed by the folder's own id.
    /// Bad data throws <see cref="DataFormatException"/> naming file, line and field.
    /// </summary>
    public static SiteData Load(ClientFolder folder, IReadOnlyList<string> labels, int imageSize)
    {
        var transform = new ImageTransform(imageSize);
        using var train = SiteDataset.Load(folder, ClientFolder.Train, transform, labels);
        using var val = SiteDataset.Load(folder, ClientFolder.Val, transform, labels);
        return new SiteData(train.Info.Id, train.Info.Modalities, ToSplit(train), ToSplit(val));
    }

    /// <summary>
    /// The common test folder's test split (<see cref="ClientRoot.CommonTestFolderName"/>), decoded like
    /// <see cref="Load"/>; bad data throws <see cref="DataFormatException"/> naming file, line and field.
    /// </summary>
    public static SiteSplit LoadCommonTest(ClientFolder folder, IReadOnlyList<string> labels, int imageSize)
    {
        var info = folder.ReadInfo();
        var manifest = folder.LoadSplit(ClientFolder.Test, info, labels, new ManifestOptions { DecodeImages = false });
        using var test = SiteDataset.FromManifest(info, labels, manifest, new ImageTransform(imageSize));
        return ToSplit(test);
    }

    // Tensors are copied so that the dataset can be disposed.
    private static SiteSplit ToSplit(SiteDataset dataset) => new(
        dataset.Images?.clone(),
        dataset.Texts,
        dataset.LabelIndices.data<long>().ToArray())
    {
        ImagePresent = dataset.Images is null ? null : dataset.HasImage.data<bool>().ToArray(),
    };
}
