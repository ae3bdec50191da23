using FedMM.Contracts;
using FedMM.Learning.Data;
using FedMM.Learning.Training;

namespace FedMM.Learning.Experiments;

/// <summary>Loads every client_N folder of a CLIENT_ROOT into memory as <see cref="SiteData"/>.</summary>
public static class ClientRootSites
{
    /// <summary>
    /// The class labels of the root (labels.json) and its sites with decoded images of
    /// <paramref name="imageSize"/> pixels; when the root has a common test, each site gets it in its
    /// own modalities (<see cref="SiteData.Test"/>).
    /// </summary>
    public static (IReadOnlyList<string> Labels, IReadOnlyList<SiteData> Sites) Load(string clientRoot, int imageSize)
    {
        var root = new ClientRoot(clientRoot);
        var labels = root.ReadLabels();
        var sites = root.Clients().Select(folder => SiteDataFolders.Load(folder, labels, imageSize)).ToList();
        if (sites.Count == 0) throw new ArgumentException($"{root.Path}: no client_N folders.", nameof(clientRoot));
        if (root.CommonTest() is { } folder)
        {
            var test = SiteDataFolders.LoadCommonTest(folder, labels, imageSize);
            sites = sites.Select(site => site with { Test = test.Restrict(site.Modalities) }).ToList();
        }
        return (labels, sites);
    }
}
