using FedMM.Contracts;
using FedMM.Learning.Data;
using FedMM.Learning.Federation;
using FedMM.Learning.Training;

namespace FedMM.Site;

/// <summary>Loads one client folder into memory as the trainer's <see cref="SiteData"/>.</summary>
public static class SiteDataLoader
{
    /// <summary>
    /// The site's train and val splits with images at the federation's input size and labels in the
    /// federation's order. The data is keyed by the folder's own id (client.json), not by the
    /// id the site is registered under: a site's random streams are seeded from it, so the same
    /// folder trains the same way here and in the in-process experiment runner.
    /// Bad data throws <see cref="DataFormatException"/> naming file, line and field.
    /// </summary>
    public static SiteData Load(string clientFolder, FederationConfig config)
    {
        var folder = new ClientFolder(clientFolder);
        if (!File.Exists(folder.InfoPath)) throw new SiteException($"{folder.Path} is not a client folder: {ClientFolder.InfoFileName} is missing.");
        return SiteDataFolders.Load(folder, config.Labels, config.Model.ImageSize);
    }
}
