using FedMM.Learning.Data;
using FedMM.Learning.Data.Datasets;
using FedMM.Learning.Data.Images;
using FedMM.Learning.Training;

namespace FedMM.Learning.Experiments;

/// <summary>Loads every client_N folder of a CLIENT_ROOT into memory as <see cref="SiteData"/>.</summary>
public static class ClientRootSites
{
    /// <summary>The class labels of the root (labels.json) and its sites with decoded images of <paramref name="imageSize"/> pixels.</summary>
    public static (IReadOnlyList<string> Labels, IReadOnlyList<SiteData> Sites) Load(string clientRoot, int imageSize)
    {
        var root = new ClientRoot(clientRoot);
        var labels = root.ReadLabels();
        var transform = new ImageTransform(imageSize);
        var sites = new List<SiteData>();
        foreach (var folder in root.Clients())
        {
            using var train = SiteDataset.Load(folder, ClientFolder.Train, transform, labels);
            using var val = SiteDataset.Load(folder, ClientFolder.Val, transform, labels);
            sites.Add(new SiteData(train.Info.Id, train.Info.Modalities, ToSplit(train), ToSplit(val)));
        }
        if (sites.Count == 0) throw new ArgumentException($"{root.Path}: no client_N folders.", nameof(clientRoot));
        return (labels, sites);
    }

    private static SiteSplit ToSplit(SiteDataset dataset) => new(
        dataset.Images?.clone(),
        dataset.Texts,
        dataset.LabelIndices.data<long>().ToArray())
    {
        ImagePresent = dataset.Images is null ? null : dataset.HasImage.data<bool>().ToArray(),
    };
}
